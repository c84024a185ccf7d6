"""A small Python client for the docenrich HTTP API (httpx), sync and async.

```python
from services.client import Client

with Client("http://127.0.0.1:8000", api_key="...") as client:
    job = client.submit("Angela Merkel visited Paris.", tasks=["language", "entities"])
    for update in client.events(job["id"]):          # live progress (server-sent events)
        print(update["status"], {n: t["status"] for n, t in update["tasks"].items()})
    job = client.wait(job["id"])                       # or simply wait for the end
    for entity in job["tasks"]["entities"]["result"]["entities"]:
        print(entity["label"], entity["text"])
```

``AsyncClient`` has the same methods as coroutines (``events`` is an async iterator).
Results are plain dicts typed with ``TypedDict`` (``Job``, ``Entity``, ...), so they print,
serialize and compare like the JSON the API returns.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterable, Iterator
from pathlib import Path
from typing import Any, Callable, Literal, TypedDict

import httpx
import orjson

FINAL = frozenset({"succeeded", "partially_succeeded", "failed", "cancelled"})
_MAX_EMPTY_STREAMS = 5

TaskName = Literal["language", "entities", "summary"]
JobStatus = Literal["queued", "running", "succeeded", "partially_succeeded", "failed", "cancelled"]
TaskStatus = Literal["pending", "running", "succeeded", "failed", "skipped", "cancelled"]


# ---- typed results (the JSON the API returns) -----------------------------------------


class TaskError(TypedDict, total=False):
    code: str
    message: str
    details: dict[str, Any] | None


class LanguageAlternative(TypedDict):
    code: str
    confidence: float


class LanguageSegment(TypedDict):
    start: int
    end: int
    code: str


class LanguageResult(TypedDict, total=False):
    code: str
    name: str
    confidence: float
    script: str
    alternatives: list[LanguageAlternative]
    segments: list[LanguageSegment]


class Entity(TypedDict):
    text: str
    label: str
    start: int
    end: int
    score: float


class EntitiesResult(TypedDict):
    model: str
    entities: list[Entity]


class SummarySentence(TypedDict):
    text: str
    start: int
    end: int
    score: float


class SummaryResult(TypedDict):
    method: str
    text: str
    sentences: list[SummarySentence]


class TaskState(TypedDict):
    status: TaskStatus
    started_at: str | None
    finished_at: str | None
    error: TaskError | None
    result: Any  # LanguageResult | EntitiesResult | SummaryResult | None


class DocumentInfo(TypedDict):
    chars: int
    sha256: str
    filename: str | None
    content_type: str


class WebhookAttempt(TypedDict, total=False):
    attempt: int
    at: str
    status_code: int | None
    error: str | None
    duration_ms: int


class Webhook(TypedDict):
    url: str
    delivered: bool
    attempts: list[WebhookAttempt]


class Job(TypedDict, total=False):
    id: str
    status: JobStatus
    created_at: str
    updated_at: str
    expires_at: str
    language: str | None
    document: DocumentInfo
    metadata: dict[str, Any]
    callback_url: str | None
    webhook: Webhook | None
    tasks: dict[str, TaskState]


def is_final(job: Job) -> bool:
    return job["status"] in FINAL


class ApiError(Exception):
    def __init__(self, status: int, body: dict[str, Any]) -> None:
        error = body.get("error", {}) if isinstance(body, dict) else {}
        self.status = status
        self.code = error.get("code", "http_error")
        self.message = error.get("message", "request failed")
        self.details = error.get("details", {})
        super().__init__(f"{status} {self.code}: {self.message}")


# ---- shared request building and parsing ---------------------------------------------


def _headers(api_key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"} if api_key else {}


def _document_body(text: str, tasks, language, options, metadata, callback_url, extra: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {"text": text, "tasks": tasks, "language": language, **extra}
    for key, value in (("options", options), ("metadata", metadata), ("callback_url", callback_url)):
        if value is not None:
            body[key] = value
    return body


def _form(tasks: list[str] | None, language: str | None) -> dict[str, str]:
    data = {}
    if tasks:
        data["tasks"] = ",".join(tasks)
    if language:
        data["language"] = language
    return data


def _check(response: httpx.Response) -> Any:
    if response.status_code >= 400:
        try:
            body = response.json()
        except ValueError:
            body = {}
        raise ApiError(response.status_code, body)
    return response.json()


class SSEParser:
    """Incremental text/event-stream parser: feed lines, get (event, data) when complete."""

    def __init__(self) -> None:
        self.event = "message"
        self.data: list[str] = []

    def feed(self, line: str) -> tuple[str, str] | None:
        line = line.rstrip("\r\n")
        if not line:
            if not self.data:
                self.event = "message"
                return None
            complete = (self.event, "\n".join(self.data))
            self.event, self.data = "message", []
            return complete
        if line.startswith(":"):
            return None
        field, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if field == "event":
            self.event = value
        elif field == "data":
            self.data.append(value)
        return None


def parse_sse(lines: Iterable[str]) -> Iterator[tuple[str, str]]:
    parser = SSEParser()
    for line in lines:
        complete = parser.feed(line)
        if complete is not None:
            yield complete


def _job_event(event: str, data: str) -> tuple[Job | None, bool]:
    """(job to yield or None, stream finished)."""
    if event == "job":
        return orjson.loads(data), False
    if event == "end":
        return None, True
    if event == "error":
        body = orjson.loads(data)
        code = body.get("error", {}).get("code")
        raise ApiError(404 if code == "job_not_found" else 503, body)
    return None, False


# ---- sync ---------------------------------------------------------------------------


class Client:
    def __init__(self, base_url: str = "http://127.0.0.1:8000", api_key: str | None = None, timeout: float = 30.0, transport: httpx.BaseTransport | None = None) -> None:
        self.http = httpx.Client(base_url=base_url, headers=_headers(api_key), timeout=timeout, transport=transport)

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

    def _check(self, response: httpx.Response) -> Any:
        return _check(response)

    def submit(
        self,
        text: str,
        *,
        tasks: list[str] | None = None,
        language: str | None = None,
        options: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
        callback_url: str | None = None,
        idempotency_key: str | None = None,
        **extra: Any,
    ) -> Job:
        body = _document_body(text, tasks, language, options, metadata, callback_url, extra)
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        return _check(self.http.post("/v1/documents", json=body, headers=headers))

    def submit_batch(self, documents: list[dict[str, Any]]) -> list[Job]:
        return _check(self.http.post("/v1/batches", json={"documents": documents}))["jobs"]

    def submit_file(self, path: Path | str, *, tasks: list[str] | None = None, language: str | None = None) -> Job:
        path = Path(path)
        with path.open("rb") as handle:
            files = {"file": (path.name, handle, "application/octet-stream")}
            return _check(self.http.post("/v1/documents", files=files, data=_form(tasks, language)))

    def get(self, job_id: str) -> Job:
        return _check(self.http.get(f"/v1/jobs/{job_id}"))

    def text(self, job_id: str) -> str:
        response = self.http.get(f"/v1/jobs/{job_id}/text")
        if response.status_code >= 400:
            _check(response)
        return response.text

    def cancel(self, job_id: str) -> Job:
        return _check(self.http.delete(f"/v1/jobs/{job_id}"))

    def events(self, job_id: str) -> Iterator[Job]:
        """The job after every change, ending with its final state (server-sent events).
        A stream the server closes before the end (its time limit) is reopened."""
        last: Job | None = None
        empty = 0
        while empty < _MAX_EMPTY_STREAMS:
            received = False
            with self.http.stream("GET", f"/v1/jobs/{job_id}/events", headers={"Accept": "text/event-stream"}) as response:
                if response.status_code >= 400:
                    response.read()
                    _check(response)
                for event, data in parse_sse(response.iter_lines()):
                    job, finished = _job_event(event, data)
                    received = received or job is not None
                    if job is not None and job != last:
                        last = job
                        yield job
                    if finished:
                        return
            empty = 0 if received else empty + 1
            if not received:
                time.sleep(1.0)
        raise httpx.RemoteProtocolError("the event stream keeps closing without events")

    def wait(
        self,
        job_id: str,
        *,
        timeout: float = 300.0,
        interval: float = 0.1,
        on_update: Callable[[Job], None] | None = None,
    ) -> Job:
        """Poll until the job ends (``TimeoutError`` after ``timeout`` seconds)."""
        deadline = time.monotonic() + timeout
        while True:
            job = self.get(job_id)
            if on_update:
                on_update(job)
            if job["status"] in FINAL:
                return job
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} still {job['status']} after {timeout:.0f}s")
            time.sleep(interval)
            interval = min(interval * 1.5, 1.0)


# ---- async --------------------------------------------------------------------------


class AsyncClient:
    def __init__(self, base_url: str = "http://127.0.0.1:8000", api_key: str | None = None, timeout: float = 30.0, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.http = httpx.AsyncClient(base_url=base_url, headers=_headers(api_key), timeout=timeout, transport=transport)

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self.http.aclose()

    async def submit(
        self,
        text: str,
        *,
        tasks: list[str] | None = None,
        language: str | None = None,
        options: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
        callback_url: str | None = None,
        idempotency_key: str | None = None,
        **extra: Any,
    ) -> Job:
        body = _document_body(text, tasks, language, options, metadata, callback_url, extra)
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        return _check(await self.http.post("/v1/documents", json=body, headers=headers))

    async def submit_batch(self, documents: list[dict[str, Any]]) -> list[Job]:
        return _check(await self.http.post("/v1/batches", json={"documents": documents}))["jobs"]

    async def submit_file(self, path: Path | str, *, tasks: list[str] | None = None, language: str | None = None) -> Job:
        path = Path(path)
        files = {"file": (path.name, path.read_bytes(), "application/octet-stream")}
        return _check(await self.http.post("/v1/documents", files=files, data=_form(tasks, language)))

    async def get(self, job_id: str) -> Job:
        return _check(await self.http.get(f"/v1/jobs/{job_id}"))

    async def text(self, job_id: str) -> str:
        response = await self.http.get(f"/v1/jobs/{job_id}/text")
        if response.status_code >= 400:
            _check(response)
        return response.text

    async def cancel(self, job_id: str) -> Job:
        return _check(await self.http.delete(f"/v1/jobs/{job_id}"))

    async def events(self, job_id: str) -> AsyncIterator[Job]:
        last: Job | None = None
        empty = 0
        while empty < _MAX_EMPTY_STREAMS:
            received = False
            async with self.http.stream("GET", f"/v1/jobs/{job_id}/events", headers={"Accept": "text/event-stream"}) as response:
                if response.status_code >= 400:
                    await response.aread()
                    _check(response)
                parser = SSEParser()
                async for line in response.aiter_lines():
                    complete = parser.feed(line)
                    if complete is None:
                        continue
                    job, finished = _job_event(*complete)
                    received = received or job is not None
                    if job is not None and job != last:
                        last = job
                        yield job
                    if finished:
                        return
            empty = 0 if received else empty + 1
            if not received:
                await asyncio.sleep(1.0)
        raise httpx.RemoteProtocolError("the event stream keeps closing without events")

    async def wait(
        self,
        job_id: str,
        *,
        timeout: float = 300.0,
        interval: float = 0.1,
        on_update: Callable[[Job], None] | None = None,
    ) -> Job:
        deadline = time.monotonic() + timeout
        while True:
            job = await self.get(job_id)
            if on_update:
                on_update(job)
            if job["status"] in FINAL:
                return job
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} still {job['status']} after {timeout:.0f}s")
            await asyncio.sleep(interval)
            interval = min(interval * 1.5, 1.0)
