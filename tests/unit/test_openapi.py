"""The OpenAPI document: exported copy in sync, operation ids {tag}-{name}, examples on
every endpoint, and examples that are themselves correct (offsets slice, models validate)."""

from __future__ import annotations

import json
import re

import pytest

from services.api import examples
from services.api.app import get_application
from services.api.openapi import EXPORT_PATH, render
from services.api.schemas import DocumentIn, JobOut
from services.core.settings import Settings

METHODS = {"get", "post", "put", "patch", "delete"}


@pytest.fixture(scope="module")
def app():
    return get_application(Settings(_env_file=None, api_keys="", redis_url="redis://127.0.0.1:1/0"))


@pytest.fixture(scope="module")
def schema(app) -> dict:
    return app.openapi()


def _operations(schema: dict):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield path, method, operation


def test_exported_schema_is_in_sync(app):
    exported = EXPORT_PATH.read_text(encoding="utf-8") if EXPORT_PATH.exists() else ""
    assert exported == render(app), "docs/openapi.json is stale: run '.venv/bin/python -m services.api.openapi' and commit it"


def test_operation_ids_are_tag_dash_name_and_unique(schema):
    ids = []
    for path, method, operation in _operations(schema):
        tag = operation["tags"][0]
        assert re.fullmatch(rf"{re.escape(tag)}-[a-z][a-z0-9_]*", operation.get("operationId", "")), (method, path, operation.get("operationId"))
        ids.append(operation["operationId"])
    assert len(ids) == len(set(ids))


def test_every_endpoint_is_documented_with_examples(schema):
    for path, method, operation in _operations(schema):
        assert operation.get("summary"), (method, path)
        success = next(r for code, r in operation["responses"].items() if code.startswith("2"))
        contents = success.get("content", {})
        if "text/html" in contents:
            continue  # pages for people, not API calls
        assert any("example" in c or "examples" in c for c in contents.values()), (method, path)
        if "requestBody" in operation:
            body = operation["requestBody"]["content"]["application/json"]
            assert "example" in body or "examples" in body, (method, path)


def test_every_v1_endpoint_requires_the_bearer_key(schema):
    assert schema["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    for path, method, operation in _operations(schema):
        if path.startswith("/v1/"):
            assert operation["security"] == [{"bearer": []}], (method, path)


def test_every_ref_resolves_and_errors_have_one_shape(schema):
    text = json.dumps(schema)
    refs = set(re.findall(r'"#/components/schemas/([^"]+)"', text))
    assert refs <= set(schema["components"]["schemas"]), refs - set(schema["components"]["schemas"])
    assert "HTTPValidationError" not in text
    for path, method, operation in _operations(schema):
        for code, response in operation["responses"].items():
            if code.startswith(("4", "5")) and "application/json" in response.get("content", {}):
                assert response["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorResponse"}, (method, path, code)


def test_seed_examples_are_valid_and_offsets_slice():
    DocumentIn.model_validate(examples.DOCUMENT_REQUEST["value"])
    DocumentIn.model_validate(examples.DOCUMENT_REQUEST_WEBHOOK["value"])
    for job in (examples.JOB_QUEUED, examples.JOB_SUCCEEDED, examples.JOB_PARTIAL, examples.JOB_WITH_WEBHOOK):
        JobOut.model_validate(job)
    text = examples.SEED_TEXT
    seed = open("seeds/000_53360ea83f30db1c.txt", encoding="utf-8").read()
    assert all(line in seed for line in text.splitlines())
    tasks = examples.JOB_SUCCEEDED["tasks"]
    spans = tasks["entities"]["result"]["entities"] + tasks["summary"]["result"]["sentences"]
    for span in spans:
        assert text[span["start"]:span["end"]] == span["text"], span
    assert examples.JOB_SUCCEEDED["document"]["chars"] == len(text)


def test_routes_sit_on_the_app_router_itself(app):
    # FastAPI's include_router adds a wrapper that recomputes the included routes' version
    # on every request (13 % of the API's CPU per POST under wrk); the app copies the
    # routes instead, and every one of them must still be there, with its tags.
    from fastapi.routing import APIRoute

    kinds = {type(r).__name__ for r in app.router.routes}
    assert "_IncludedRouter" not in kinds
    paths = {(r.path, m) for r in app.router.routes if isinstance(r, APIRoute) for m in r.methods}
    assert {("/v1/documents", "POST"), ("/v1/jobs/{job_id}", "GET"), ("/healthz", "GET")} <= paths
    post = next(r for r in app.router.routes if isinstance(r, APIRoute) and r.path == "/v1/documents")
    assert post.tags == ["documents"]
