"""Structured logs: JSON lines with request/job/task/tenant context, never document text."""

from __future__ import annotations

import io
import logging

import httpx
import orjson
import pytest

from services.api.app import get_application
from services.core import logging as log_setup
from services.core.settings import Settings
from tests.utils import aio

SECRET_TEXT = "أمرت وزارة الدفاع الأميركية — confidential document text"


@pytest.fixture()
def captured():
    stream = io.StringIO()
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    log_setup.configure("INFO", "json", stream=stream)
    yield lambda: [orjson.loads(line) for line in stream.getvalue().splitlines()]
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])
    log_setup.clear_context()


def test_lines_carry_context_and_only_known_extras(captured):
    log = logging.getLogger("docenrich.test")
    with log_setup.log_context(job_id="abc123", task="entities", tenant="alice"):
        log.warning("engine slow", extra={"duration_ms": 12.5, "text": SECRET_TEXT})
    log.info("outside")
    first, second = captured()
    assert first["message"] == "engine slow" and first["level"] == "warning" and first["logger"] == "docenrich.test"
    assert (first["job_id"], first["task"], first["tenant"], first["duration_ms"]) == ("abc123", "entities", "alice", 12.5)
    assert "text" not in first
    assert first["ts"].endswith("Z")
    assert "job_id" not in second


def test_exceptions_keep_the_stack_but_not_the_message(captured):
    try:
        raise ValueError(f"could not parse {SECRET_TEXT}")
    except ValueError:
        logging.getLogger("docenrich.test").exception("engine failed")
    [line] = captured()
    assert line["exc_type"] == "builtins.ValueError"
    assert "test_exceptions_keep_the_stack" in line["stack"]
    assert SECRET_TEXT not in orjson.dumps(line).decode()


def test_text_format_has_the_same_guarantees():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(log_setup.TextFormatter())
    log = logging.getLogger("docenrich.text-test")
    log.addHandler(handler)
    try:
        with log_setup.log_context(job_id="j1"):
            try:
                raise RuntimeError(SECRET_TEXT)
            except RuntimeError:
                log.exception("failed")
    finally:
        log.removeHandler(handler)
    out = stream.getvalue()
    assert "failed" in out and "job_id=j1" in out and "RuntimeError" in out and SECRET_TEXT not in out


def _request(app, path: str, headers: dict[str, str] | None = None) -> httpx.Response:
    async def run() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as client:
            return await client.get(path, headers=headers)

    return aio.run(run)


def test_api_access_lines_have_request_id_route_status_and_tenant(captured):
    app = get_application(Settings(_env_file=None, api_keys="k-alice:alice", redis_url="redis://127.0.0.1:1/0"))
    given = _request(app, "/healthz", {"X-Request-Id": "req-42", "Authorization": "Bearer k-alice"})
    generated = _request(app, "/healthz", {"X-Request-Id": "bad id with spaces\n"})
    missing = _request(app, "/v1/jobs/0123456789abcdef01234567")
    assert given.headers["x-request-id"] == "req-42"
    assert len(generated.headers["x-request-id"]) == 32
    assert missing.status_code == 401
    lines = [line for line in captured() if line["logger"] == "docenrich.access"]
    assert lines[0] | {"duration_ms": 0} == {
        **lines[0], "request_id": "req-42", "tenant": "alice", "route": "/healthz", "status": 200, "method": "GET", "duration_ms": 0,
    }
    assert lines[1]["request_id"] == generated.headers["x-request-id"]
    assert lines[2]["route"] == "/v1/jobs/{job_id}" and lines[2]["status"] == 401 and lines[2]["job_id"] == "0123456789abcdef01234567"
    assert "tenant" not in lines[2]
