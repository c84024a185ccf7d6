"""Idempotency, tenant isolation, cancellation, expiry and back-pressure."""

from __future__ import annotations

import time

import httpx
import pytest
import redis

from services.core.job_store import job_key
from tests.integration.conftest import assert_error, wait_job
from tests.utils import stack


def test_idempotency_key_returns_same_job(client):
    body = {"text": "The same document, sent twice.", "tasks": ["language"]}
    first = client.post("/v1/documents", json=body, headers={"Idempotency-Key": "order-42"})
    second = client.post("/v1/documents", json=body, headers={"Idempotency-Key": "order-42"})
    assert first.status_code == second.status_code == 202
    assert first.json()["id"] == second.json()["id"]
    assert second.headers["idempotent-replayed"] == "true"
    other = client.post("/v1/documents", json={**body, "text": "A different document."}, headers={"Idempotency-Key": "order-42"})
    assert_error(other, 422, "idempotency_key_reused")
    fresh = client.post("/v1/documents", json=body, headers={"Idempotency-Key": "order-43"})
    assert fresh.json()["id"] != first.json()["id"]


def test_idempotency_keys_are_per_tenant(client, bob):
    body = {"text": "Shared key, different tenants.", "tasks": ["language"]}
    a = client.post("/v1/documents", json=body, headers={"Idempotency-Key": "same"}).json()
    b = bob.post("/v1/documents", json=body, headers={"Idempotency-Key": "same"}).json()
    assert a["id"] != b["id"]


def test_jobs_are_invisible_to_other_tenants(client, bob):
    job = client.post("/v1/documents", json={"text": "Alice's private memo about Paris.", "tasks": ["language"]}).json()
    assert client.get(f"/v1/jobs/{job['id']}").status_code == 200
    assert_error(bob.get(f"/v1/jobs/{job['id']}"), 404, "job_not_found")
    assert_error(bob.get(f"/v1/jobs/{job['id']}/text"), 404, "job_not_found")
    assert_error(bob.delete(f"/v1/jobs/{job['id']}"), 404, "job_not_found")
    wait_job(client, job["id"])


def test_results_are_written_once(client, redis_server):
    job = client.post("/v1/documents", json={"text": "Written once, read many times. Berlin is big."}).json()
    wait_job(client, job["id"])
    raw = redis.Redis.from_url(redis_server.url, decode_responses=True).hgetall(job_key(job["id"]))
    assert {k: v for k, v in raw.items() if k.startswith("writes:")} == {"writes:language": "1", "writes:entities": "1", "writes:summary": "1"}


@pytest.fixture()
def idle_api(redis_server, log_dir, request):
    """Start an API on its own Redis database with no worker consuming it (jobs stay
    queued), with the given settings. Returns (url, env)."""
    procs = []

    def start(**settings: str) -> tuple[str, dict[str, str]]:
        db = 1 + len(procs) + 3 * (abs(hash(request.node.name)) % 4)
        url = redis_server.url.rsplit("/", 1)[0] + f"/{db}"
        redis.Redis.from_url(url).flushdb()
        env = stack.base_env(url, **settings)
        proc, api_url = stack.start_api(f"idle-api-{request.node.name}-{db}", env, log_dir)
        procs.append(proc)
        return api_url, env

    yield start
    for proc in procs:
        proc.stop()


def test_cancel_pending_job_and_worker_honours_it(idle_api, log_dir):
    api_url, env = idle_api()
    job = httpx.post(f"{api_url}/v1/documents", json={"text": "Cancel me before anyone looks."}).json()
    assert job["status"] == "queued"
    cancelled = httpx.delete(f"{api_url}/v1/jobs/{job['id']}")
    assert cancelled.status_code == 200
    body = cancelled.json()
    assert body["status"] == "cancelled"
    assert {t["status"] for t in body["tasks"].values()} == {"cancelled"}
    # A worker that starts later drains the queued message and leaves the job alone.
    worker = stack.start_worker("late-worker", "language,entities,summary", env, log_dir)
    try:
        broker = redis.Redis.from_url(env["DOCENRICH_REDIS_URL"])
        stack.wait_for(lambda: broker.llen("language") == 0, 120, "the worker never drained the queue", worker)
        time.sleep(0.5)
        after = httpx.get(f"{api_url}/v1/jobs/{job['id']}").json()
        assert after["status"] == "cancelled"
        assert {t["status"] for t in after["tasks"].values()} == {"cancelled"}
    finally:
        worker.stop()


def test_jobs_and_texts_expire(idle_api):
    api_url, _ = idle_api(DOCENRICH_RESULT_TTL="2")
    job = httpx.post(f"{api_url}/v1/documents", json={"text": "Short-lived.", "tasks": ["language"]}).json()
    assert httpx.get(f"{api_url}/v1/jobs/{job['id']}").status_code == 200
    time.sleep(2.5)
    assert_error(httpx.get(f"{api_url}/v1/jobs/{job['id']}"), 404, "job_not_found")
    assert_error(httpx.get(f"{api_url}/v1/jobs/{job['id']}/text"), 404, "job_not_found")


def test_queue_depth_back_pressure_and_readiness(idle_api):
    api_url, _ = idle_api(DOCENRICH_MAX_QUEUE_DEPTH="3")
    ready = httpx.get(f"{api_url}/readyz")
    assert_error(ready, 503, "no_workers")
    for i in range(3):
        assert httpx.post(f"{api_url}/v1/documents", json={"text": f"doc {i}", "tasks": ["language"]}).status_code == 202
    full = httpx.post(f"{api_url}/v1/documents", json={"text": "one too many", "tasks": ["language"]})
    assert_error(full, 503, "queue_full")
    assert int(full.headers["retry-after"]) > 0
