"""Orchestration: language first, then entities and summary in parallel.

Every step is safe to run twice: the job store refuses a second terminal write, and
downstream dispatch is recorded so a redelivered language task does not fan out again.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
import redis
from celery.exceptions import SoftTimeLimitExceeded

from services.core.errors import DocenrichError, TaskSkipped
from services.core.job_store import get_store, job_key
from services.nlp import pipeline

log = logging.getLogger("docenrich.worker")


def celery_task_id(job_id: str, task: str) -> str:
    return f"{job_id}-{task}"


def dispatch(job_id: str, tasks: list[str], language_hint: str | None) -> None:
    """Send the first wave of a new job: the language task when anything needs it
    (it then sends the rest), otherwise the requested tasks directly."""
    from services.worker.celery_app import app

    downstream = [t for t in tasks if t != "language"]
    if "language" in tasks or (downstream and not language_hint):
        first = ["language"]
    else:
        first = downstream
    for task in first:
        app.send_task(f"docenrich.{task}", args=[job_id], queue=task, task_id=celery_task_id(job_id, task))


def _dispatch_downstream(job_id: str, record: dict[str, str]) -> None:
    from services.worker.celery_app import app

    store = get_store()
    if record.get("dispatched"):
        return
    for task in orjson.loads(record["tasks"]):
        if task != "language":
            app.send_task(f"docenrich.{task}", args=[job_id], queue=task, task_id=celery_task_id(job_id, task))
    store.redis.hset(job_key(job_id), "dispatched", "1")


def run_language(job_id: str) -> None:
    store = get_store()
    loaded = store.load(job_id)
    if loaded is None:
        log.warning("job expired or unknown", extra={"job_id": job_id, "task": "language"})
        return
    record, text = loaded
    if "language" in orjson.loads(record["tasks"]):
        result = run_task(job_id, "language", loaded=loaded)
    else:
        # Needed only to route the other engines; not reported as a task.
        result = pipeline.run("language", text or "")
    if result is not None:
        code = result.get("code")
        store.set_detected_language(job_id, None if code == "und" else code)
    _dispatch_downstream(job_id, store.redis.hgetall(job_key(job_id)))


def run_task(job_id: str, task: str, loaded: tuple[dict[str, str], str | None] | None = None) -> dict[str, Any] | None:
    """Run one engine for one job and record the outcome. Returns the result on success."""
    store = get_store()
    loaded = loaded or store.load(job_id)
    if loaded is None:
        log.warning("job expired or unknown", extra={"job_id": job_id, "task": task})
        return None
    record, text = loaded
    started_at = store.start_task(job_id, task)
    if started_at is None:
        log.info("task already finished or cancelled; nothing to do", extra={"job_id": job_id, "task": task})
        return None
    language = record.get("language_hint") or record.get("detected_language") or None
    options = orjson.loads(record.get("options") or "{}")
    try:
        result = pipeline.run(task, text or "", language=language, options=options)
    except TaskSkipped as exc:
        store.finish_task(job_id, task, "skipped", started_at=started_at, error=_error(exc))
    except DocenrichError as exc:
        store.finish_task(job_id, task, "failed", started_at=started_at, error=_error(exc))
    except SoftTimeLimitExceeded:
        error = {"code": "time_limit_exceeded", "message": "The task ran past its time limit; try a shorter document."}
        store.finish_task(job_id, task, "failed", started_at=started_at, error=error)
    except (redis.ConnectionError, redis.TimeoutError):
        raise  # transient: Celery retries with backoff
    except Exception:
        log.exception("engine failed", extra={"job_id": job_id, "task": task})
        error = {"code": "internal_error", "message": "The engine failed on this document; the worker log has details."}
        store.finish_task(job_id, task, "failed", started_at=started_at, error=error)
    else:
        store.finish_task(job_id, task, "succeeded", started_at=started_at, result=result)
        return result
    return None


def _error(exc: DocenrichError) -> dict[str, Any]:
    return {"code": exc.code, "message": exc.message, "details": exc.details}
