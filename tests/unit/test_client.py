"""The client library against a scripted HTTP transport: request shapes, typed results,
server-sent events parsing, errors, and the CLI's progress bar."""

from __future__ import annotations

import io

import httpx
import orjson
import pytest

from services.client import ApiError, AsyncClient, Client, parse_sse
from services.client_cli import ProgressBar
from tests.utils import aio

JOB_ID = "0123456789abcdef01234567"


def _job(status: str, language: str = "pending") -> dict:
    return {
        "id": JOB_ID,
        "status": status,
        "tasks": {"language": {"status": language, "started_at": None, "finished_at": None, "error": None, "result": None}},
    }


def _sse(*events: tuple[str, dict]) -> bytes:
    out = b"retry: 2000\n\n: keepalive\n\n"
    for name, body in events:
        out += b"event: " + name.encode() + b"\ndata: " + orjson.dumps(body) + b"\n\n"
    return out


def _handler(requests: list[httpx.Request], stream: bytes | None = None):
    def handle(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        path = request.url.path
        if request.method == "POST" and path == "/v1/documents":
            return httpx.Response(202, json=_job("queued"), headers={"Location": f"/v1/jobs/{JOB_ID}"})
        if path == f"/v1/jobs/{JOB_ID}/events":
            return httpx.Response(200, content=stream, headers={"content-type": "text/event-stream"})
        if path == f"/v1/jobs/{JOB_ID}":
            return httpx.Response(200, json=_job("succeeded", "succeeded"))
        if path == f"/v1/jobs/{JOB_ID}/text":
            return httpx.Response(200, text="نص عربي", headers={"content-type": "text/plain; charset=utf-8"})
        return httpx.Response(404, json={"error": {"code": "job_not_found", "message": "No such job.", "details": {"job_id": "x"}}})

    return handle


def test_submit_sends_the_documented_body_and_key():
    requests: list[httpx.Request] = []
    with Client("http://api", api_key="k-123", transport=httpx.MockTransport(_handler(requests))) as client:
        job = client.submit("Paris", tasks=["language"], callback_url="https://example.com/hook", idempotency_key="idem-1")
    assert job["status"] == "queued"
    request = requests[0]
    assert request.headers["authorization"] == "Bearer k-123"
    assert request.headers["idempotency-key"] == "idem-1"
    assert orjson.loads(request.content) == {"text": "Paris", "tasks": ["language"], "language": None, "callback_url": "https://example.com/hook"}


def test_submit_file_is_multipart(tmp_path):
    requests: list[httpx.Request] = []
    path = tmp_path / "doc.txt"
    path.write_text("مرحبا", encoding="utf-8")
    with Client("http://api", transport=httpx.MockTransport(_handler(requests))) as client:
        client.submit_file(path, tasks=["language", "summary"], language="ar")
    body = requests[0].content
    assert requests[0].headers["content-type"].startswith("multipart/form-data")
    assert b'filename="doc.txt"' in body and "مرحبا".encode() in body and b"language,summary" in body


def test_errors_become_api_error_with_code_and_details():
    with Client("http://api", transport=httpx.MockTransport(_handler([]))) as client:
        with pytest.raises(ApiError) as info:
            client.get("ffffffffffffffffffffffff")
    assert info.value.status == 404 and info.value.code == "job_not_found" and info.value.details == {"job_id": "x"}


def test_text_is_returned_verbatim():
    with Client("http://api", transport=httpx.MockTransport(_handler([]))) as client:
        assert client.text(JOB_ID) == "نص عربي"


def test_parse_sse_handles_comments_crlf_and_multiline_data():
    lines = [": hi", "event: job", "data: {\"a\":", "data: 1}", "", "data: plain\r", "\r", "event: end", "data: {}", ""]
    assert list(parse_sse(lines)) == [("job", '{"a":\n1}'), ("message", "plain"), ("end", "{}")]


def test_events_yield_each_state_and_stop_at_end():
    stream = _sse(("job", _job("queued")), ("job", _job("running", "running")), ("job", _job("succeeded", "succeeded")), ("end", _job("succeeded", "succeeded")), ("job", _job("never")))
    with Client("http://api", transport=httpx.MockTransport(_handler([], stream))) as client:
        statuses = [job["status"] for job in client.events(JOB_ID)]
    assert statuses == ["queued", "running", "succeeded"]


def test_error_event_raises():
    body = {"error": {"code": "job_not_found", "message": "The job expired.", "details": {}}}
    with Client("http://api", transport=httpx.MockTransport(_handler([], _sse(("job", _job("queued")), ("error", body))))) as client:
        events = client.events(JOB_ID)
        assert next(events)["status"] == "queued"
        with pytest.raises(ApiError) as info:
            next(events)
    assert info.value.code == "job_not_found"


def test_events_of_unknown_job_raise_before_streaming():
    with Client("http://api", transport=httpx.MockTransport(_handler([]))) as client:
        with pytest.raises(ApiError) as info:
            list(client.events("ffffffffffffffffffffffff"))
    assert info.value.status == 404


def test_async_client_mirrors_the_sync_one():
    stream = _sse(("job", _job("queued")), ("job", _job("succeeded", "succeeded")), ("end", _job("succeeded", "succeeded")))

    async def run() -> tuple[dict, list[str], dict]:
        async with AsyncClient("http://api", api_key="k", transport=httpx.MockTransport(_handler([], stream))) as client:
            job = await client.submit("Cairo")
            statuses = [update["status"] async for update in client.events(job["id"])]
            return job, statuses, await client.wait(job["id"])

    job, statuses, final = aio.run(run)
    assert job["status"] == "queued" and statuses == ["queued", "succeeded"] and final["status"] == "succeeded"


def test_progress_bar_counts_finished_tasks_and_skips_repeats():
    out = io.StringIO()
    bar = ProgressBar(out, width=10)
    job = {"id": JOB_ID, "status": "running", "tasks": {
        "language": {"status": "succeeded"}, "entities": {"status": "running"}, "summary": {"status": "pending"}}}
    bar.update(job)
    bar.update(job)
    lines = out.getvalue().splitlines()
    assert len(lines) == 1
    assert "1/3" in lines[0] and "███" in lines[0] and "entities running" in lines[0]


def test_events_reopen_a_stream_closed_before_the_end():
    streams = [
        _sse(("job", _job("queued")), ("job", _job("running", "running"))),  # server time limit
        _sse(("job", _job("running", "running")), ("job", _job("succeeded", "succeeded")), ("end", _job("succeeded", "succeeded"))),
    ]

    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=streams.pop(0), headers={"content-type": "text/event-stream"})

    with Client("http://api", transport=httpx.MockTransport(handle)) as client:
        statuses = [job["status"] for job in client.events(JOB_ID)]
    assert statuses == ["queued", "running", "succeeded"] and not streams


def test_events_give_up_on_a_stream_that_never_sends(monkeypatch):
    monkeypatch.setattr("services.client.time.sleep", lambda seconds: None)
    calls = []

    def handle(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(200, content=b": nothing\n\n", headers={"content-type": "text/event-stream"})

    with Client("http://api", transport=httpx.MockTransport(handle)) as client:
        with pytest.raises(httpx.TransportError):
            list(client.events(JOB_ID))
    assert len(calls) == 5
