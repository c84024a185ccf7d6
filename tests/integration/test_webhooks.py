"""Webhooks: signed POST when a job ends, retried with backoff, attempts in the job, and
private callback addresses refused. A real receiver (an HTTP server in this process), a
real webhook worker and an API that allows loopback callbacks, next to the session stack."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import orjson
import pytest

from services.core import webhook_security
from tests.integration.conftest import KEYS, assert_error, wait_job
from tests.utils import stack

SECRETS = {"alice": "alice-webhook-secret"}
FALLBACK_SECRET = "fallback-webhook-secret"
MAX_ATTEMPTS = 3


class Receiver:
    """Answers POST /<name>/<fail-count>: 500 for the first <fail-count> calls, then 200
    (fail-count 'always' never succeeds). Records every call."""

    def __init__(self) -> None:
        self.calls: dict[str, list[dict]] = {}
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                _, name, fails = self.path.split("/", 2)
                with receiver.lock:
                    calls = receiver.calls.setdefault(name, [])
                    calls.append({"at": time.monotonic(), "headers": dict(self.headers), "body": body})
                    ok = fails != "always" and len(calls) > int(fails)
                self.send_response(200 if ok else 500)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_calls(self, name: str, count: int, timeout: float = 60) -> list[dict]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                calls = list(self.calls.get(name, []))
            if len(calls) >= count:
                return calls
            time.sleep(0.05)
        raise AssertionError(f"{name}: {len(calls)} webhook calls after {timeout}s, expected {count}")


@pytest.fixture(scope="module")
def receiver():
    receiver = Receiver()
    yield receiver
    receiver.server.shutdown()


@pytest.fixture(scope="module")
def webhook_api(stack_env, log_dir, api):
    """An API that accepts loopback callbacks and a worker that delivers webhooks, sharing
    the session stack's Redis (its workers do the enrichment)."""
    env = {
        **stack_env,
        "DOCENRICH_WEBHOOK_ALLOW_PRIVATE": "true",
        "DOCENRICH_WEBHOOK_SECRETS": ",".join(f"{t}:{s}" for t, s in SECRETS.items()),
        "DOCENRICH_WEBHOOK_SECRET": FALLBACK_SECRET,
        "DOCENRICH_WEBHOOK_BACKOFF_SECONDS": "0.3",
        "DOCENRICH_WEBHOOK_MAX_ATTEMPTS": str(MAX_ATTEMPTS),
        "DOCENRICH_WEBHOOK_TIMEOUT": "5",
    }
    worker = stack.start_worker("worker-webhooks", "webhooks", env, log_dir)
    proc, url = stack.start_api("api-webhooks", env, log_dir)
    yield url
    proc.stop()
    worker.stop()


def _client(url: str, tenant: str = "alice") -> httpx.Client:
    return httpx.Client(base_url=url, headers={"Authorization": f"Bearer {KEYS[tenant]}"}, timeout=30)


def _wait_webhook(http: httpx.Client, job_id: str, attempts: int, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = http.get(f"/v1/jobs/{job_id}").json()
        if job["webhook"] and len(job["webhook"]["attempts"]) >= attempts:
            return job
        time.sleep(0.05)
    raise AssertionError(f"webhook of {job_id} has not made {attempts} attempts: {job['webhook']}")


def test_webhook_is_signed_and_recorded(webhook_api, receiver):
    with _client(webhook_api) as http:
        response = http.post("/v1/documents", json={"text": "Webhooks tell Cairo when it is done.", "tasks": ["language"], "callback_url": f"{receiver.url}/signed/0"})
        assert response.status_code == 202, response.text
        job = response.json()
        assert job["callback_url"] == f"{receiver.url}/signed/0"
        assert job["webhook"] == {"url": job["callback_url"], "delivered": False, "attempts": []}
        call = receiver.wait_calls("signed", 1)[0]
        final = _wait_webhook(http, job["id"], 1)

    headers = {k.lower(): v for k, v in call["headers"].items()}
    assert headers["content-type"] == "application/json"
    assert headers["docenrich-event"] == "job.finished"
    assert headers["docenrich-job-id"] == job["id"]
    assert webhook_security.verify(SECRETS["alice"], headers["docenrich-signature"], call["body"])
    assert not webhook_security.verify("another secret", headers["docenrich-signature"], call["body"])
    assert not webhook_security.verify(SECRETS["alice"], headers["docenrich-signature"], call["body"] + b" ")
    payload = orjson.loads(call["body"])
    assert payload["type"] == "job.finished"
    assert payload["job"] == {k: v for k, v in final.items() if k != "webhook"}
    assert payload["job"]["status"] == "succeeded"

    assert final["webhook"]["delivered"] is True
    [attempt] = final["webhook"]["attempts"]
    assert attempt["attempt"] == 1 and attempt["status_code"] == 200 and attempt["error"] is None


def test_failed_deliveries_are_retried_with_backoff(webhook_api, receiver):
    with _client(webhook_api) as http:
        job = http.post("/v1/documents", json={"text": "Try, try again.", "tasks": ["language"], "callback_url": f"{receiver.url}/flaky/2"}).json()
        calls = receiver.wait_calls("flaky", 3)
        final = _wait_webhook(http, job["id"], 3)
    assert [a["status_code"] for a in final["webhook"]["attempts"]] == [500, 500, 200]
    assert final["webhook"]["delivered"] is True
    assert final["webhook"]["attempts"][0]["error"] == "HTTP 500"
    gaps = [b["at"] - a["at"] for a, b in zip(calls, calls[1:])]
    assert gaps[0] >= 0.25 and gaps[1] >= 0.5, gaps  # 0.3s, then 0.6s (±10% jitter)
    # Every attempt is signed anew (fresh timestamp) over the same body.
    assert len({c["body"] for c in calls}) == 1


def test_delivery_gives_up_after_max_attempts(webhook_api, receiver, log_dir):
    # bob has no secret of his own: the fallback secret signs his webhooks.
    with _client(webhook_api, "bob") as http:
        job = http.post("/v1/documents", json={"text": "Nobody listens.", "tasks": ["language"], "callback_url": f"{receiver.url}/down/always"}).json()
        calls = receiver.wait_calls("down", MAX_ATTEMPTS)
        final = _wait_webhook(http, job["id"], MAX_ATTEMPTS)
        time.sleep(1.5)  # no further attempt comes
        assert len(http.get(f"/v1/jobs/{job['id']}").json()["webhook"]["attempts"]) == MAX_ATTEMPTS
    assert len(receiver.calls["down"]) == MAX_ATTEMPTS
    assert final["webhook"]["delivered"] is False
    assert webhook_security.verify(FALLBACK_SECRET, calls[0]["headers"]["Docenrich-Signature"], calls[0]["body"])
    # The worker logs it as one JSON line with the job, task and tenant.
    lines = [orjson.loads(line) for line in (log_dir / "worker-webhooks.log").read_text().splitlines() if line.startswith("{")]
    [given_up] = [line for line in lines if line.get("job_id") == job["id"] and "given up" in line["message"]]
    assert given_up["task"] == "webhook" and given_up["tenant"] == "bob" and given_up["level"] == "warning"


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/hook",
        "http://localhost:8000/hook",
        "http://10.1.2.3/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://no-such-host.invalid/hook",
        "http://user:pass@example.com/hook",
        "ftp://example.com/hook",
    ],
)
def test_private_callback_urls_are_refused(client, url):
    error = assert_error(client.post("/v1/documents", json={"text": "Call me maybe.", "callback_url": url}), 422, "invalid_field")
    assert error["details"]["fields"][0]["field"] == "callback_url"


def test_private_callback_in_batch_is_refused_whole(client):
    body = {"documents": [{"text": "fine"}, {"text": "not fine", "callback_url": "http://192.168.1.10/hook"}]}
    error = assert_error(client.post("/v1/batches", json=body), 422, "invalid_field")
    assert error["details"]["index"] == 1


def test_job_without_callback_has_no_webhook(client):
    job = client.post("/v1/documents", json={"text": "Quiet job.", "tasks": ["language"]}).json()
    assert wait_job(client, job["id"])["webhook"] is None


def test_delivery_time_check_refuses_private_addresses(redis_server, receiver):
    # Stored with a loopback callback (as an API allowing private addresses would), then
    # delivered by code running with the default DOCENRICH_WEBHOOK_ALLOW_PRIVATE=false.
    import redis

    from services.core.job_store import JobStore
    from services.core.settings import Settings
    from services.worker import webhooks

    assert Settings(_env_file=None).webhook_allow_private is False
    store = JobStore(redis.Redis.from_url(redis_server.url, decode_responses=True), 60)
    job, _ = store.create(
        tenant="alice", text="x", document={"chars": 1, "sha256": "", "filename": None, "content_type": "text/plain"},
        tasks=[], language=None, options={}, metadata={}, callback_url=f"{receiver.url}/refused/0",
    )
    done, retry = webhooks.deliver_once(store, job["id"])
    assert (done, retry) == (True, False)
    [attempt] = store.record(job["id"])["webhook"]["attempts"]
    assert attempt["status_code"] is None and "private" in attempt["error"]
    assert "refused" not in receiver.calls
