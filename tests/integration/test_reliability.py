"""Nothing accepted is lost: killed workers, a restarted Redis, scaling out, RabbitMQ.

Each test runs its own stack (own redis-server, workers, API) because it breaks things.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import threading
import time

import httpx
import orjson
import psutil
import pytest
import redis

from services.core.embedded_redis import EmbeddedRedis
from services.core.job_store import job_key
from tests.integration.conftest import assert_error
from tests.integration.test_end_to_end import ENGLISH_NEWS
from tests.utils import stack

FINAL = ("succeeded", "partially_succeeded", "failed", "cancelled")
LONG_ENGLISH = "\n".join(ENGLISH_NEWS for _ in range(120))  # ~60k chars: entities take seconds


def wait_final(url: str, job_id: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    job = None
    while time.monotonic() < deadline:
        try:
            job = httpx.get(f"{url}/v1/jobs/{job_id}", timeout=5).json()
            if job.get("status") in FINAL:
                return job
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} not final after {timeout}s: {job}")


def wait_task_running(url: str, job_id: str, task: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if httpx.get(f"{url}/v1/jobs/{job_id}").json()["tasks"][task]["status"] == "running":
            return
        time.sleep(0.02)
    raise AssertionError(f"{task} of {job_id} never started")


def writes(redis_url: str, job_id: str) -> dict[str, int]:
    raw = redis.Redis.from_url(redis_url, decode_responses=True).hgetall(job_key(job_id))
    return {k.split(":", 1)[1]: int(v) for k, v in raw.items() if k.startswith("writes:")}


def test_pool_child_killed_mid_task(tmp_path):
    with stack.Stack(tmp_path, {"w-lang": "language", "w-rest": "entities,summary"}) as s:
        job = httpx.post(f"{s.url}/v1/documents", json={"text": LONG_ENGLISH, "language": "en", "tasks": ["entities"]}).json()
        wait_task_running(s.url, job["id"], "entities")
        children = psutil.Process(s.workers["w-rest"].pid).children(recursive=True)
        assert children, "a prefork worker has pool children"
        for child in children:
            child.send_signal(signal.SIGKILL)
        done = wait_final(s.url, job["id"])
        assert done["status"] == "succeeded", (done, s.logs())
        assert done["tasks"]["entities"]["result"]["entities"]
        assert writes(s.redis_url, job["id"]) == {"entities": 1}


def test_whole_worker_killed_and_another_takes_over(tmp_path):
    # The dead worker's message is gone with it (no unacked copy in Redis): the sweeper
    # sends the task again once it made no progress for the visibility timeout.
    settings = dict(DOCENRICH_VISIBILITY_TIMEOUT="12", DOCENRICH_TASK_SOFT_TIME_LIMIT="8", DOCENRICH_TASK_TIME_LIMIT="10",
                    DOCENRICH_SWEEP_INTERVAL_SECONDS="2")
    with stack.Stack(tmp_path, {"w-lang": "language", "w-rest": "entities,summary"}, **settings) as s:
        job = httpx.post(f"{s.url}/v1/documents", json={"text": LONG_ENGLISH, "language": "en", "tasks": ["entities"]}).json()
        wait_task_running(s.url, job["id"], "entities")
        os.killpg(s.workers["w-rest"].pid, signal.SIGKILL)  # main process and pool: nothing acks
        s.add_worker("w-rest-2", "entities,summary")
        done = wait_final(s.url, job["id"], timeout=150)
        assert done["status"] == "succeeded", (done, s.logs())
        assert writes(s.redis_url, job["id"]) == {"entities": 1}


def test_redis_restart_loses_nothing(tmp_path):
    """Every job accepted before a Redis restart ends, each task written once. A message the
    worker took off its queue in the instant Redis stopped dies with the connection (no
    unacked bookkeeping in Redis, celery_app.py): the sweeper sends it again once it has made
    no progress for the stale-task time, here 5 s instead of the visibility timeout's 15 min."""
    settings = dict(DOCENRICH_STALE_TASK_SECONDS="5", DOCENRICH_SWEEP_INTERVAL_SECONDS="1")
    with stack.Stack(tmp_path, {"w-all": "language,entities,summary"}, **settings) as s:
        ids = [httpx.post(f"{s.url}/v1/documents", json={"text": f"{ENGLISH_NEWS}\nItem {i}."}).json()["id"] for i in range(15)]
        s.redis.stop()  # SIGTERM: the append-only file is flushed
        down_post = httpx.post(f"{s.url}/v1/documents", json={"text": "while down"}, timeout=30)
        assert_error(down_post, 503, "store_unavailable")
        assert int(down_post.headers["retry-after"]) > 0
        assert_error(httpx.get(f"{s.url}/v1/jobs/{ids[0]}", timeout=30), 503, "store_unavailable")
        assert httpx.get(f"{s.url}/healthz").status_code == 200
        assert httpx.get(f"{s.url}/readyz", timeout=30).status_code == 503
        time.sleep(2)
        s.redis.start()  # same port, same data directory
        stack.wait_for(lambda: httpx.get(f"{s.url}/readyz", timeout=5).status_code == 200, 60, "never ready again:\n" + s.logs())
        after = httpx.post(f"{s.url}/v1/documents", json={"text": "after the restart", "tasks": ["language"]})
        assert after.status_code == 202
        for job_id in ids + [after.json()["id"]]:
            job = wait_final(s.url, job_id, timeout=180)
            assert job["status"] in ("succeeded", "partially_succeeded"), (job, s.logs())
            assert all(n == 1 for n in writes(s.redis_url, job_id).values())


def test_message_lost_in_a_redis_restart_is_sent_again_at_once(tmp_path):
    """A message Redis handed out in the instant it stopped is gone (the worker never got
    it). After the restart the sweeper sends that task again within seconds, with the
    default 15-minute stale-task time, and only that one: a message still on its queue is
    not doubled."""
    with stack.Stack(tmp_path, {"w-lang": "language", "w-rest": "entities,summary"}, DOCENRICH_SWEEP_INTERVAL_SECONDS="1") as s:
        s.workers.pop("w-lang").stop()  # warm shutdown: nothing held, no consumer of language
        lost, kept = (httpx.post(f"{s.url}/v1/documents", json={"text": f"{ENGLISH_NEWS} {i}", "tasks": ["language"]}).json()["id"]
                      for i in range(2))
        broker = redis.Redis.from_url(s.redis_url)

        def queued() -> list[str]:
            return sorted(orjson.loads(m)["headers"]["id"] for m in broker.lrange("language", 0, -1))

        assert queued() == sorted([f"{lost}-language", f"{kept}-language"])
        assert broker.rpop("language") is not None  # the oldest: what a worker takes first
        assert queued() == [f"{kept}-language"]
        s.redis.stop()
        s.redis.start()  # same port and data: the job records and the other message survive
        stack.wait_for(lambda: len(queued()) == 2, 60, "the lost message was not sent again:\n" + s.logs())
        time.sleep(3)  # later rounds send nothing more
        assert queued() == sorted([f"{lost}-language", f"{kept}-language"])
        s.add_worker("w-lang-2", "language")
        for job_id in (lost, kept):
            job = wait_final(s.url, job_id, timeout=120)
            assert job["status"] == "succeeded", (job, s.logs())
            assert writes(s.redis_url, job_id) == {"language": 1}


def test_scale_out_under_load_exactly_once(tmp_path):
    with stack.Stack(tmp_path, {"w1": "language,entities,summary"}) as s:
        submitted: list[str] = []

        def stream():
            with httpx.Client(base_url=s.url) as http:
                for i in range(60):
                    submitted.append(http.post("/v1/documents", json={"text": f"Report {i}. {ENGLISH_NEWS}"}).json()["id"])
                    time.sleep(0.1)

        producer = threading.Thread(target=stream)
        producer.start()
        time.sleep(1)
        s.add_worker("w2", "language,entities,summary")
        s.add_worker("w3", "language,entities,summary")
        producer.join()
        completed = duplicated = 0
        for job_id in submitted:
            job = wait_final(s.url, job_id, timeout=240)
            completed += job["status"] == "succeeded"
            duplicated += any(n != 1 for n in writes(s.redis_url, job_id).values())
        assert (len(submitted), completed, duplicated) == (60, 60, 0), s.logs()
        # The added workers joined the same queues (they may come up after the stream ended).
        registry = redis.Redis.from_url(s.redis_url)
        stack.wait_for(lambda: len(registry.keys("docenrich:worker:*")) == 3, 120, "added workers never joined:\n" + s.logs())


def _rabbitmq_url() -> str | None:
    def reachable() -> bool:
        try:
            socket.create_connection(("127.0.0.1", 5672), timeout=1).close()
            return True
        except OSError:
            return False

    if not reachable():
        if shutil.which("rabbitmq-server") is None:
            return None
        subprocess.run(["rabbitmq-server", "-detached"], capture_output=True)
        deadline = time.monotonic() + 60
        while not reachable() and time.monotonic() < deadline:
            time.sleep(1)
        if not reachable():
            return None
    return "amqp://guest:guest@127.0.0.1:5672//"


def test_rabbitmq_broker_end_to_end(tmp_path):
    broker = _rabbitmq_url()
    if broker is None:
        pytest.skip("RabbitMQ is not running on 127.0.0.1:5672 and 'rabbitmq-server -detached' could not start one")
    from kombu import Connection

    with Connection(broker) as conn:  # stale messages from earlier runs would only add noise
        channel = conn.channel()
        for queue in ("language", "entities", "summary"):
            try:
                channel.queue_purge(queue)
            except Exception:
                channel = conn.channel()
    with stack.Stack(tmp_path, {"w-lang": "language", "w-rest": "entities,summary"}, DOCENRICH_BROKER_URL=broker) as s:
        job = httpx.post(f"{s.url}/v1/documents", json={"text": ENGLISH_NEWS}).json()
        done = wait_final(s.url, job["id"])
        assert done["status"] == "succeeded", (done, s.logs())
        assert done["tasks"]["language"]["result"]["code"] == "en"
        assert done["tasks"]["entities"]["result"]["entities"]


def test_lost_message_is_sent_again(tmp_path):
    """A job whose message vanished (a worker died holding it) is found by the sweeper and
    completed once."""
    from services.api.deps import PUBLIC_TENANT
    from services.core.job_store import JobStore

    settings = dict(DOCENRICH_STALE_TASK_SECONDS="2", DOCENRICH_SWEEP_INTERVAL_SECONDS="1")
    with stack.Stack(tmp_path, {"w-all": "language,entities,summary"}, **settings) as s:
        store = JobStore(redis.Redis.from_url(s.redis_url, decode_responses=True), ttl=600)
        document = {"chars": len(ENGLISH_NEWS), "sha256": "-", "filename": None, "content_type": "text/plain"}
        job, _ = store.create(
            tenant=PUBLIC_TENANT, text=ENGLISH_NEWS, document=document, tasks=["language", "entities", "summary"],
            language=None, options={}, metadata={}, callback_url=None,
        )  # stored, but no message queued
        done = wait_final(s.url, job["id"], timeout=90)
        assert done["status"] == "succeeded", (done, s.logs())
        assert writes(s.redis_url, job["id"]) == {"language": 1, "entities": 1, "summary": 1}


def test_lost_webhook_is_sent_again(tmp_path):
    """A webhook whose message died with a worker (queued, or a retry waiting in its
    memory) is sent again by the sweeper, and delivered."""
    from services.api.deps import PUBLIC_TENANT
    from services.core.job_store import WEBHOOK_PENDING_KEY, JobStore
    from tests.integration.test_webhooks import Receiver

    receiver = Receiver()
    settings = dict(DOCENRICH_STALE_TASK_SECONDS="2", DOCENRICH_SWEEP_INTERVAL_SECONDS="1", DOCENRICH_WEBHOOK_ALLOW_PRIVATE="true")
    try:
        with stack.Stack(tmp_path, {"w-all": "language,entities,summary,webhooks"}, **settings) as s:
            client = redis.Redis.from_url(s.redis_url, decode_responses=True)
            store = JobStore(client, ttl=600)
            document = {"chars": 1, "sha256": "-", "filename": None, "content_type": "text/plain"}
            job, _ = store.create(
                tenant=PUBLIC_TENANT, text="x", document=document, tasks=[], language=None, options={}, metadata={},
                callback_url=f"{receiver.url}/lost/0",
            )  # a job with nothing to run has ended; its webhook is pending, with no message
            client.zadd(WEBHOOK_PENDING_KEY, {job["id"]: time.time() - 60})
            [call] = receiver.wait_calls("lost", 1, timeout=60)
            assert call["headers"]["Docenrich-Job-Id"] == job["id"]
            deadline = time.monotonic() + 30
            while client.zscore(WEBHOOK_PENDING_KEY, job["id"]) is not None and time.monotonic() < deadline:
                time.sleep(0.2)
            assert client.zscore(WEBHOOK_PENDING_KEY, job["id"]) is None, "a delivered webhook leaves the pending set"
            assert httpx.get(f"{s.url}/v1/jobs/{job['id']}").json()["webhook"]["delivered"] is True
    finally:
        receiver.server.shutdown()
