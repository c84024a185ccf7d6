"""Celery tasks: thin wrappers that hand a job id to the flows. Texts never travel in
message bodies; workers read them from the job store."""

from __future__ import annotations

import redis

from services.worker import flows
from services.worker.celery_app import app

# Transient faults: the job store or broker went away for a moment. Bad documents are
# not retried: the engines raise DocenrichError for those and the flow records it.
_RETRY = dict(
    autoretry_for=(redis.ConnectionError, redis.TimeoutError),
    retry_backoff=1,
    retry_backoff_max=30,
    retry_jitter=True,
    # The retry is itself a message: while Redis is away (a restart), keep trying to
    # publish it for about a minute instead of giving up after ~0.6 s, which would drop
    # the task (Celery rejects it without requeue when the retry cannot be sent).
    retry_kwargs={"retry_policy": {"max_retries": 40, "interval_start": 0.5, "interval_step": 0.5, "interval_max": 2}},
)


@app.task(name="docenrich.language", **_RETRY, max_retries=5)
def language(job_id: str) -> None:
    flows.run_language(job_id)


@app.task(name="docenrich.entities", **_RETRY, max_retries=5)
def entities(job_id: str) -> None:
    flows.run_task(job_id, "entities")


@app.task(name="docenrich.summary", **_RETRY, max_retries=5)
def summary(job_id: str) -> None:
    flows.run_task(job_id, "summary")


TASKS = {"language": language, "entities": entities, "summary": summary}
