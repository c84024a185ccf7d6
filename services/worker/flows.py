"""Orchestration: language first, then entities and summary in parallel.

Every step is safe to run twice: the job store refuses a second terminal write, and
downstream dispatch is recorded so a redelivered language task does not fan out again.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime
from typing import Any, Callable

import orjson
import redis
from celery.exceptions import SoftTimeLimitExceeded

from services.core import logging as log_setup
from services.core.errors import DocenrichError, TaskSkipped
from services.core.job_store import ACTIVE_KEY, TASK_NAMES, get_store, job_key
from services.core.settings import get_settings
from services.nlp import pipeline
from services.worker import publish

log = logging.getLogger("docenrich.worker")


def celery_task_id(job_id: str, task: str) -> str:
    return f"{job_id}-{task}"


def first_wave(tasks: list[str], language_hint: str | None) -> list[str]:
    """The language task when anything needs it (it then sends the rest), otherwise the
    requested tasks directly."""
    downstream = [t for t in tasks if t != "language"]
    if "language" in tasks or (downstream and not language_hint):
        return ["language"]
    return downstream


def broker_is_store() -> bool:
    """The broker is the job store's Redis (the default): messages can ride in the job
    store's own pipelines."""
    settings = get_settings()
    return publish.enabled() and settings.effective_broker_url == settings.redis_url


def task_messages(job_id: str, tasks: list[str], parent: str | None = None) -> list[tuple[str, bytes]]:
    """(queue, message) of each task, for the job store to push in one of its own atomic
    steps (see ``broker_is_store``); ``parent``: the Celery id of the task that sent them."""
    return [(task, publish.message(f"docenrich.{task}", job_id, task, celery_task_id(job_id, task), parent_id=parent, root_id=parent))
            for task in tasks]


def first_wave_messages(job_id: str, tasks: list[str], language_hint: str | None) -> list[tuple[str, bytes]]:
    """(queue, message) of each task of the first wave, to push with the job itself."""
    return task_messages(job_id, first_wave(tasks, language_hint))


def dispatch(job_id: str, tasks: list[str], language_hint: str | None) -> None:
    """Send the first wave of a new job (``first_wave``)."""
    send(job_id, first_wave(tasks, language_hint))


def send(job_id: str, tasks: list[str], parent: str | None = None) -> None:
    """Queue one message per task for this job (``parent``: as in ``task_messages``)."""
    if publish.enabled():  # Redis broker: one pipelined LPUSH per message (publish.py)
        pipe = publish.broker().pipeline(transaction=False)
        for task in tasks:
            publish.push(pipe, f"docenrich.{task}", job_id, task, celery_task_id(job_id, task), parent_id=parent, root_id=parent)
        pipe.execute()
        return
    from services.worker.celery_app import app

    for task in tasks:
        app.send_task(f"docenrich.{task}", args=[job_id], queue=task, task_id=celery_task_id(job_id, task))


def _awaited(raw: dict[str, str]) -> tuple[list[str], list[str]]:
    """A job record's unfinished tasks, and the tasks whose message it waits for: the
    language task alone while the rest depend on it, otherwise every unfinished task."""
    tasks = orjson.loads(raw["tasks"])
    unfinished = [t for t in tasks if orjson.loads(raw[f"task:{t}"])["status"] in ("pending", "running")]
    needs_language = "language" in unfinished or (
        not raw.get("dispatched") and first_wave(tasks, raw.get("language_hint") or None) == ["language"]
    )
    return unfinished, (["language"] if needs_language else unfinished)


def sweep(stale_after: float, limit: int = 500) -> list[str]:
    """Send again the tasks of jobs that made no progress for ``stale_after`` seconds.

    The broker keeps no copy of a message a worker took (celery_app.py: no unacked
    bookkeeping in Redis), so a worker that dies takes its messages with it. The job store
    knows better: an unfinished task with no progress for longer than the visibility
    timeout (longer than any task may run) has no live message. A duplicate is harmless
    (the store refuses a second result), so erring towards re-sending is safe."""
    store = get_store()
    client = store.redis
    now = time.time()
    resent = []
    for job_id in client.zrangebyscore(ACTIVE_KEY, "-inf", now - stale_after, start=0, num=limit):
        raw = client.hgetall(job_key(job_id))
        if not raw or raw.get("final_status"):
            client.zrem(ACTIVE_KEY, job_id)  # expired, or ended
            continue
        progressed = datetime.fromisoformat(raw["updated_at"].replace("Z", "+00:00")).timestamp()
        if now - progressed < stale_after:
            client.zadd(ACTIVE_KEY, {job_id: progressed})
            continue
        unfinished, again = _awaited(raw)
        if not unfinished:
            store.record_end(job_id)  # every task done, the end never recorded
            continue
        send(job_id, again)
        client.zadd(ACTIVE_KEY, {job_id: now})
        log.warning("re-sent stalled tasks %s", ",".join(again), extra={"job_id": job_id})
        resent.append(job_id)
    return resent


BROKER_RUN_KEY = "docenrich:broker-run-id"
_seen_run_id: str | None = None


def broker_restarted() -> bool:
    """Whether the Redis broker restarted since a sweeper last looked: its ``run_id``
    changed. The last one seen is kept in the broker itself (it survives a restart with an
    append-only file, and so reaches whichever worker sweeps next) and in this process
    (for a broker that restarts empty). Always False for RabbitMQ, which keeps a taken
    message until it is acknowledged."""
    global _seen_run_id
    if not publish.enabled():
        return False
    broker = publish.broker()
    try:
        run_id = broker.info("server")["run_id"]
    except (redis.ResponseError, KeyError):  # INFO renamed or disabled (some managed Redis): no early resend
        return False
    kept = broker.getset(BROKER_RUN_KEY, run_id)
    restarted = (kept is not None and kept != run_id) or (_seen_run_id is not None and _seen_run_id != run_id)
    _seen_run_id = run_id
    return restarted


def _queued_task_ids(queues: list[str], chunk: int = 1000) -> set[str]:
    """The task ids of every message waiting on these queues of the Redis broker."""
    broker = publish.broker()
    ids: set[str] = set()
    for queue in queues:
        start = 0
        while batch := broker.lrange(queue, start, start + chunk - 1):
            ids.update(orjson.loads(m)["headers"]["id"] for m in batch)
            start += chunk
    return ids


def resend_lost(before: float, limit: int = 5000) -> list[str]:
    """After a broker restart: send again the tasks whose message the broker lost, at once
    instead of after the stale-task time (``sweep``).

    A worker's BRPOP that Redis carried out in the instant it stopped takes the message
    with it: the reply dies with the connection. Such a task is still ``pending`` in the
    job store and its message is on no queue. Jobs that progressed after ``before`` are
    left alone (their message may be on its way to a worker). A message a worker had
    taken but not started yet looks lost too; it is sent twice, which is harmless (the
    store refuses a second result)."""
    store = get_store()
    client = store.redis
    queued = _queued_task_ids(list(TASK_NAMES))
    resent = []
    for job_id in client.zrangebyscore(ACTIVE_KEY, "-inf", before, start=0, num=limit):
        raw = client.hgetall(job_key(job_id))
        if not raw or raw.get("final_status"):
            continue
        status = {t: orjson.loads(raw[f"task:{t}"])["status"] for t in orjson.loads(raw["tasks"])}
        _, awaited = _awaited(raw)
        # (a language task the job did not ask for has no status of its own: it counts as pending)
        lost = [t for t in awaited if status.get(t, "pending") == "pending" and celery_task_id(job_id, t) not in queued]
        if lost:
            send(job_id, lost)
            log.warning("re-sent tasks whose message the restarted broker lost: %s", ",".join(lost), extra={"job_id": job_id})
            resent.append(job_id)
    return resent


# When a broker restart was seen: the jobs that had progressed before then are looked
# at RECOVER_AFTER seconds later (a message a worker took just before must have started).
RECOVER_KEY = "docenrich:recover-lost-before"
RECOVER_AFTER = 5.0


def recover_lost_messages(now: float | None = None) -> list[str]:
    """Called by the sweeper every round: after a restart of the Redis broker, send again
    the tasks whose message it lost (``resend_lost``) within a round or two, instead of
    after the stale-task time (``sweep``: the visibility timeout, 15 min by default)."""
    client = get_store().redis
    now = time.time() if now is None else now
    if broker_restarted():
        client.set(RECOVER_KEY, repr(now), ex=24 * 3600)
    due = client.get(RECOVER_KEY)
    if due is None or now - float(due) < RECOVER_AFTER:
        return []
    client.delete(RECOVER_KEY)
    return resend_lost(before=float(due))


def _downstream(record: dict[str, str]) -> list[str]:
    return [task for task in orjson.loads(record["tasks"]) if task != "language"]


def _dispatch_in(pipe: redis.client.Pipeline, job_id: str, record: dict[str, str]) -> bool:
    """Queue the downstream dispatch on ``pipe`` (a pipeline on the job store's Redis) when
    it can ride there: the broker is that Redis and the job was not dispatched when
    ``record`` was read. The job store's script sends the messages only once."""
    if record.get("dispatched") or not broker_is_store():
        return False
    get_store().dispatch_in(pipe, job_id, task_messages(job_id, _downstream(record), parent=celery_task_id(job_id, "language")))
    return True


def _dispatch_downstream(job_id: str, record: dict[str, str]) -> None:
    """Send the downstream tasks unless ``record`` says they were sent (the slow path:
    another broker, or a redelivered language task that finds its task already done)."""
    store = get_store()
    if record.get("dispatched"):
        return
    if broker_is_store():
        store.pipeline_with_scripts(lambda pipe: _dispatch_in(pipe, job_id, record))
        return
    send(job_id, _downstream(record), parent=celery_task_id(job_id, "language"))
    store.redis.hset(job_key(job_id), "dispatched", "1")  # only after the messages


def run_language(job_id: str) -> None:
    store = get_store()
    # Read the job and start the language task in one round trip (the start is a no-op
    # when the job did not ask for language: there is no such task to move).
    started = store.load_and_start(job_id, "language")
    if started is None:
        log.warning("job expired or unknown", extra={"job_id": job_id, "task": "language"})
        return
    record, text, started_at = started
    log_setup.set_context(tenant=record.get("tenant"))
    closed = False

    def close(pipe: redis.client.Pipeline, result: dict[str, Any] | None) -> None:
        """The detected language, then the downstream messages, in the round trip that
        records the language task's outcome."""
        nonlocal closed
        if result is not None:
            code = result.get("code")
            pipe.hset(job_key(job_id), "detected_language", (None if code == "und" else code) or "")
        closed = _dispatch_in(pipe, job_id, record)

    if "language" in orjson.loads(record["tasks"]):
        run_task(job_id, "language", loaded=(record, text), started_at=started_at, then=close)
    else:
        # Needed only to route the other engines; not reported as a task.
        result = pipeline.run("language", text or "")
        store.pipeline_with_scripts(lambda pipe: close(pipe, result))
    if not closed:
        # Another broker, a job dispatched before, or a duplicate whose task had already
        # finished: read the record as it is now and dispatch if nobody did.
        _dispatch_downstream(job_id, store.redis.hgetall(job_key(job_id)))


# After a document this long, the child hands the memory its processing freed back to
# the OS (lifecycle.trim_heap).
_TRIM_AFTER_CHARS = 100_000


def run_task(
    job_id: str,
    task: str,
    loaded: tuple[dict[str, str], str | None] | None = None,
    started_at: str | None = None,
    then: Callable[[redis.client.Pipeline, dict[str, Any] | None], None] | None = None,
) -> dict[str, Any] | None:
    """Run one engine for one job and record the outcome. Returns the result on success.
    ``loaded``/``started_at``: the job already read (and the task already started) by the
    caller. ``then(pipe, result)``: writes that ride with the outcome (``finish_task``)."""
    store = get_store()
    if loaded is None:
        started = store.load_and_start(job_id, task)  # one round trip for both
        if started is None:
            log.warning("job expired or unknown", extra={"job_id": job_id, "task": task})
            return None
        record, text, started_at = started
    else:
        record, text = loaded
        if started_at is None:
            started_at = store.start_task(job_id, task)
    log_setup.set_context(tenant=record.get("tenant"))
    if started_at is None:
        log.info("task already finished or cancelled; nothing to do", extra={"job_id": job_id, "task": task})
        # A retry after Redis went away between the task's write and the job's end: the
        # end (final status, webhook) is recorded here if it was not (once-only).
        store.record_end(job_id)
        return None
    language = record.get("language_hint") or record.get("detected_language") or None
    options = orjson.loads(record.get("options") or "{}")
    try:
        try:
            result = pipeline.run(task, text or "", language=language, options=options)
        finally:
            if len(text or "") >= _TRIM_AFTER_CHARS:
                from services.worker.lifecycle import trim_heap

                trim_heap()
    except TaskSkipped as exc:
        outcome = {"status": "skipped", "error": _error(exc)}
    except DocenrichError as exc:
        outcome = {"status": "failed", "error": _error(exc)}
    except SoftTimeLimitExceeded:
        outcome = {"status": "failed", "error": {
            "code": "time_limit_exceeded", "message": "The task ran past its time limit; try a shorter document."}}
    except (redis.ConnectionError, redis.TimeoutError):
        raise  # transient: Celery retries with backoff
    except Exception:
        log.exception("engine failed", extra={"job_id": job_id, "task": task})
        outcome = {"status": "failed", "error": {
            "code": "internal_error", "message": "The engine failed on this document; the worker log has details."}}
    else:
        outcome = {"status": "succeeded", "result": result}
    result = outcome.get("result")
    store.finish_task(job_id, task, started_at=started_at, language=language,
                      then=(lambda pipe: then(pipe, result)) if then is not None else None, **outcome)
    return result


def _error(exc: DocenrichError) -> dict[str, Any]:
    return {"code": exc.code, "message": exc.message, "details": exc.details}
