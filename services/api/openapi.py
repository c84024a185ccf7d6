"""The OpenAPI document: FastAPI's schema plus what it cannot infer (our one error shape
for 422s, tag descriptions, auth), and its export to ``docs/openapi.json``.

Regenerate the committed copy after changing an endpoint:
``.venv/bin/python -m services.api.openapi`` (``tests/unit/test_openapi.py`` fails until then).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from services.api import examples
from services.api.schemas import BatchIn, DocumentIn

EXPORT_PATH = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"

DESCRIPTION = """\
Language detection, named entities and extractive summaries with exact code-point offsets
(`text[start:end] == entity.text`), for Arabic, English and more.

Submit a document (`POST /v1/documents`), then follow the job: poll `GET /v1/jobs/{id}`,
stream `GET /v1/jobs/{id}/events` (server-sent events), or give a `callback_url` and get a
signed webhook when it ends.

**Auth**: when the service has API keys, send `Authorization: Bearer <key>` on every `/v1/`
call; jobs are visible only to the key's tenant.

**Errors** always have the shape `{"error": {"code", "message", "details"}}`.
"""

TAGS = [
    {"name": "documents", "description": "Submit documents (JSON text, file uploads, batches)."},
    {"name": "jobs", "description": "Job status and results, extracted text, live events, cancellation."},
    {"name": "health", "description": "Liveness and readiness probes, Prometheus metrics."},
]


def build(app: FastAPI) -> dict[str, Any]:
    schema = get_openapi(
        title=app.title,
        version=app.version,
        summary=app.summary,
        description=DESCRIPTION,
        routes=app.routes,
        tags=TAGS,
    )
    schema.setdefault("components", {}).setdefault("securitySchemes", {})["bearer"] = {
        "type": "http",
        "scheme": "bearer",
        "description": "An API key from DOCENRICH_API_KEYS (not needed when the service runs open).",
    }
    for path, operations in schema.get("paths", {}).items():
        for operation in operations.values():
            if path.startswith("/v1/"):
                operation["security"] = [{"bearer": []}]
            _errors_as_json(operation)
            invalid = operation.get("responses", {}).get("422")
            if invalid and "HTTPValidationError" in json.dumps(invalid):
                # Our error handler answers validation failures in the one error shape.
                operation["responses"]["422"] = {
                    "description": "Invalid field",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}, "example": examples.INVALID_FIELD}},
                }
    components = schema["components"].setdefault("schemas", {})
    # The request bodies are parsed by hand (JSON or multipart), so FastAPI does not see
    # their models: add them for the $refs in the routes' openapi_extra.
    for model in (DocumentIn, BatchIn):
        model_schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(model_schema.pop("$defs", {}))
        components[model.__name__] = model_schema
    if "HTTPValidationError" not in json.dumps(schema.get("paths", {})):
        components.pop("HTTPValidationError", None)
        components.pop("ValidationError", None)
    schema["components"]["schemas"] = dict(sorted(components.items()))
    return schema


def _errors_as_json(operation: dict[str, Any]) -> None:
    """Errors are JSON even where the success is text (FastAPI files them under the route's media type)."""
    error_ref = {"$ref": "#/components/schemas/ErrorResponse"}
    for code, response in operation.get("responses", {}).items():
        content = response.get("content")
        if not code.startswith(("4", "5")) or not content or "application/json" not in content:
            continue
        for media in [m for m in content if m != "application/json"]:
            if content[media].get("schema") == error_ref:
                del content[media]
        content["application/json"].setdefault("schema", error_ref)


def install(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def render(app: FastAPI) -> str:
    return json.dumps(app.openapi(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    from services.api.app import get_application
    from services.core.settings import Settings

    target = Path((argv or sys.argv[1:] or [str(EXPORT_PATH)])[0])
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render(get_application(Settings())), encoding="utf-8")
    print(f"wrote {target}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
