"""A small Python client for the docenrich HTTP API (httpx)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

import httpx

FINAL = frozenset({"succeeded", "partially_succeeded", "failed", "cancelled"})


class ApiError(Exception):
    def __init__(self, status: int, body: dict[str, Any]) -> None:
        error = body.get("error", {}) if isinstance(body, dict) else {}
        self.status = status
        self.code = error.get("code", "http_error")
        self.details = error.get("details", {})
        super().__init__(f"{status} {self.code}: {error.get('message', 'request failed')}")


class Client:
    def __init__(self, base_url: str = "http://127.0.0.1:8000", api_key: str | None = None, timeout: float = 30.0) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.http = httpx.Client(base_url=base_url, headers=headers, timeout=timeout)

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.close()

    def _check(self, response: httpx.Response) -> dict[str, Any]:
        if response.status_code >= 400:
            try:
                body = response.json()
            except ValueError:
                body = {}
            raise ApiError(response.status_code, body)
        return response.json()

    def submit(self, text: str, *, tasks: list[str] | None = None, language: str | None = None, idempotency_key: str | None = None, **extra: Any) -> dict[str, Any]:
        body = {"text": text, "tasks": tasks, "language": language, **extra}
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        return self._check(self.http.post("/v1/documents", json=body, headers=headers))

    def submit_file(self, path: Path, *, tasks: list[str] | None = None, language: str | None = None) -> dict[str, Any]:
        data = {}
        if tasks:
            data["tasks"] = ",".join(tasks)
        if language:
            data["language"] = language
        with Path(path).open("rb") as handle:
            files = {"file": (Path(path).name, handle, "application/octet-stream")}
            return self._check(self.http.post("/v1/documents", files=files, data=data))

    def get(self, job_id: str) -> dict[str, Any]:
        return self._check(self.http.get(f"/v1/jobs/{job_id}"))

    def text(self, job_id: str) -> str:
        response = self.http.get(f"/v1/jobs/{job_id}/text")
        self._check(response) if response.status_code >= 400 else None
        return response.text

    def cancel(self, job_id: str) -> dict[str, Any]:
        return self._check(self.http.delete(f"/v1/jobs/{job_id}"))

    def wait(self, job_id: str, *, timeout: float = 300.0, interval: float = 0.1, on_update: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
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
