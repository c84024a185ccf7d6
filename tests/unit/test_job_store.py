"""The job store against a real redis-server: transitions are idempotent and the job
status is derived from its tasks."""

from __future__ import annotations

import pytest

from services.core.embedded_redis import EmbeddedRedis
from services.core.job_store import JobStore, overall_status
from services.core.redis_client import get_redis


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    with EmbeddedRedis(tmp_path_factory.mktemp("redis"), appendonly=False) as server:
        client = get_redis(server.url)
        yield JobStore(client, ttl=60)
        client.close()


def _create(store: JobStore, **kw):
    args = dict(tenant="t", text="hello", document={"chars": 5, "sha256": "x", "filename": None, "content_type": "text/plain"},
                tasks=["language", "summary"], language=None, options={}, metadata={}, callback_url=None)
    args.update(kw)
    return store.create(**args)


@pytest.mark.parametrize(
    "statuses, expected",
    [
        (["pending", "pending"], "queued"),
        (["running", "pending"], "running"),
        (["succeeded", "pending"], "running"),
        (["succeeded", "succeeded"], "succeeded"),
        (["succeeded", "skipped"], "partially_succeeded"),
        (["failed", "skipped"], "failed"),
        (["succeeded", "cancelled"], "cancelled"),
    ],
)
def test_overall_status(statuses, expected):
    assert overall_status({str(i): {"status": s} for i, s in enumerate(statuses)}) == expected


def test_a_task_delivered_twice_writes_once(store):
    job, created = _create(store)
    assert created and job["status"] == "queued"
    first = store.start_task(job["id"], "language")
    again = store.start_task(job["id"], "language")  # redelivery while "running" is allowed
    assert first and again
    assert store.finish_task(job["id"], "language", "succeeded", started_at=first, result={"code": "en"})
    assert not store.finish_task(job["id"], "language", "succeeded", started_at=again, result={"code": "xx"})
    assert store.start_task(job["id"], "language") is None
    record = store.get(job["id"], "t")
    assert record["tasks"]["language"]["result"] == {"code": "en"}
    assert record["writes"]["language"] == 1
    assert record["status"] == "running"


def test_tenants_do_not_see_each_other(store):
    job, _ = _create(store)
    assert store.get(job["id"], "t") is not None
    assert store.get(job["id"], "someone-else") is None


def test_idempotency_key(store):
    a, created_a = _create(store, idempotency_key="k1", fingerprint="f")
    b, created_b = _create(store, idempotency_key="k1", fingerprint="f")
    assert created_a and not created_b and a["id"] == b["id"]
    c, created_c = _create(store, tenant="other", idempotency_key="k1", fingerprint="f")
    assert created_c and c["id"] != a["id"]


def test_cancel_only_touches_pending_tasks(store):
    job, _ = _create(store)
    started = store.start_task(job["id"], "language")
    store.cancel(job["id"])
    record = store.get(job["id"], "t")
    assert record["tasks"]["language"]["status"] == "running"
    assert record["tasks"]["summary"]["status"] == "cancelled"
    assert store.finish_task(job["id"], "language", "succeeded", started_at=started, result={})
    assert store.get(job["id"], "t")["status"] == "cancelled"


def test_unknown_job_transitions_are_refused(store):
    assert store.start_task("0" * 24, "language") is None
    assert store.load("0" * 24) is None


def test_a_refused_duplicate_is_not_timed_twice(store):
    from services.core.job_store import DURATION_KEY

    job, _ = _create(store, tasks=["summary"], language="fr")
    started = store.start_task(job["id"], "summary")
    before = int(store.redis.hget(DURATION_KEY, "summary|fr|count") or 0)
    assert store.finish_task(job["id"], "summary", "succeeded", started_at=started, result={}, language="fr")
    assert not store.finish_task(job["id"], "summary", "failed", started_at=started, language="fr")
    assert int(store.redis.hget(DURATION_KEY, "summary|fr|count")) == before + 1


def test_the_end_of_a_job_is_counted_once(store):
    from services.core.job_store import STATS_KEY

    job, _ = _create(store, tasks=["summary"])
    started = store.start_task(job["id"], "summary")
    before = int(store.redis.hget(STATS_KEY, "jobs_succeeded") or 0)
    assert store.finish_task(job["id"], "summary", "succeeded", started_at=started, result={})
    store.cancel(job["id"])  # ends nothing new: the job is already over
    assert int(store.redis.hget(STATS_KEY, "jobs_succeeded")) == before + 1
    assert store.redis.hget(f"docenrich:job:{job['id']}", "final_status") == "succeeded"


def test_downstream_messages_are_sent_once(store):
    job, _ = _create(store)
    queue = f"test-queue-{job['id']}"
    for _ in range(2):  # a redelivered language task dispatches again
        store.pipeline_with_scripts(lambda pipe: store.dispatch_in(pipe, job["id"], [(queue, b"m1"), (queue, b"m2")]))
    assert store.redis.lrange(queue, 0, -1) == ["m2", "m1"]
    assert store.redis.hget(f"docenrich:job:{job['id']}", "dispatched") == "1"


def test_an_end_left_unrecorded_is_recorded_later(store):
    # The worker wrote the last task's outcome, then lost Redis before recording the job's
    # end; its retry (or the sweeper) records it, once.
    from services.core.job_store import STATS_KEY, job_key

    job, _ = _create(store, tasks=["summary"])
    state = '{"status": "succeeded", "started_at": null, "finished_at": null, "error": null, "result": {}}'
    assert store._transition(keys=[job_key(job["id"])], args=["task:summary", state, "now", "pending,running", "1"]) == 1
    assert store.redis.hget(job_key(job["id"]), "final_status") is None
    before = int(store.redis.hget(STATS_KEY, "jobs_succeeded") or 0)
    store.record_end(job["id"])
    store.record_end(job["id"])
    assert store.redis.hget(job_key(job["id"]), "final_status") == "succeeded"
    assert int(store.redis.hget(STATS_KEY, "jobs_succeeded")) == before + 1


@pytest.mark.parametrize("first", ["succeeded", "failed", "skipped", "cancelled"])
@pytest.mark.parametrize("last", ["succeeded", "failed", "skipped", "cancelled"])
def test_the_final_status_written_with_the_last_outcome_agrees_with_the_derived_one(store, first, last):
    # The finish script derives the job's end in Lua; the API derives the status in Python.
    from services.core.job_store import job_key

    job, _ = _create(store)
    state = '{"status": "%s", "started_at": null, "finished_at": null, "error": null, "result": null}' % first
    assert store._transition(keys=[job_key(job["id"])], args=["task:language", state, "now", "pending", "1"]) == 1
    assert store.redis.hget(job_key(job["id"]), "final_status") is None
    assert store.finish_task(job["id"], "summary", last, started_at=None)
    expected = overall_status({"language": {"status": first}, "summary": {"status": last}})
    assert store.redis.hget(job_key(job["id"]), "final_status") == expected
    assert store.get(job["id"], "t")["status"] == expected


def test_job_end_listeners_hear_each_job_with_a_callback_once_and_no_other(store, monkeypatch):
    from services.core import job_store

    heard = []
    monkeypatch.setattr(job_store, "_job_end_listeners", [lambda _store, job: heard.append(job["id"])])
    with_url, _ = _create(store, tasks=["summary"], callback_url="https://example.org/hook")
    without, _ = _create(store, tasks=["summary"])
    for job in (with_url, without):
        assert store.finish_task(job["id"], "summary", "succeeded", started_at=None, result={})
        assert not store.finish_task(job["id"], "summary", "succeeded", started_at=None, result={})
        store.record_end(job["id"])
    assert heard == [with_url["id"]]
