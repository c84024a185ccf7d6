"""Webhook delivery: when a job with a ``callback_url`` ends, POST it there, signed.

The job store calls ``enqueue`` once per job (the process that ends the job wins an
HSETNX); it queues ``docenrich.webhook`` on the ``webhooks`` queue, which every
``docenrich worker`` consumes unless ``--queues`` says otherwise. The task POSTs
``{"type": "job.finished", "job": <the job as GET /v1/jobs/{id} returns it>}`` and records
each attempt in the job (``webhook.attempts``). Anything but a 2xx answer is retried with
exponential backoff (``DOCENRICH_WEBHOOK_BACKOFF_SECONDS`` doubling up to
``_BACKOFF_MAX``) until ``DOCENRICH_WEBHOOK_MAX_ATTEMPTS``. A delivery whose worker died
is sent again by the sweeper (``sweep``). Redirects are not followed, and
the URL is checked again before every attempt (private addresses stay refused).
"""

from __future__ import annotations

import logging
import random
import time
from typing import Any

import httpx
import orjson

from services.core import job_store, timeutil, webhook_security
from services.core import logging as log_setup
from services.core.errors import InvalidField
from services.core.job_store import WEBHOOK_PENDING_KEY, WEBHOOK_QUEUE, JobStore, get_store
from services.core.settings import get_settings
from services.worker.celery_app import app

log = logging.getLogger("docenrich.webhooks")
TASK_NAME = "docenrich.webhook"
USER_AGENT = "docenrich-webhook/0.1"


def install() -> None:
    """Deliver webhooks for jobs that end in this process (workers, and the API on cancel)."""
    job_store.on_job_end(enqueue)


def enqueue(store: JobStore, job: dict[str, Any]) -> None:
    if not job.get("callback_url"):
        return
    store.redis.zadd(WEBHOOK_PENDING_KEY, {job["id"]: time.time()})
    send(job["id"])


def send(job_id: str) -> None:
    app.send_task(TASK_NAME, args=[job_id], queue=WEBHOOK_QUEUE, task_id=f"{job_id}-webhook")


def sweep(stale_after: float, limit: int = 500) -> list[str]:
    """Send again the webhooks whose delivery made no progress for ``stale_after``
    seconds past its due time: their message (a queued delivery or a retry waiting for
    its countdown in a worker's memory) died with a worker. Receivers may see a delivery
    twice (the ``Docenrich-Job-Id`` header identifies it); never none."""
    store = get_store()
    client = store.redis
    now = time.time()
    resent = []
    for job_id in client.zrangebyscore(WEBHOOK_PENDING_KEY, "-inf", now - stale_after, start=0, num=limit):
        callback, delivered = client.hmget(job_store.job_key(job_id), "callback_url", "webhook_delivered")
        if not callback or delivered == "1":  # expired, or delivered
            client.zrem(WEBHOOK_PENDING_KEY, job_id)
            continue
        send(job_id)
        client.zadd(WEBHOOK_PENDING_KEY, {job_id: now})
        log.warning("re-sent a stalled webhook delivery", extra={"job_id": job_id})
        resent.append(job_id)
    return resent


def payload(job: dict[str, Any]) -> bytes:
    from services.api.views import job_view

    view = {key: value for key, value in job_view(job).items() if key != "webhook"}
    return orjson.dumps({"type": "job.finished", "job": view})


def backoff(attempt: int) -> float:
    """Seconds before attempt ``attempt + 1``: base * 2**(attempt-1), capped, with jitter."""
    settings = get_settings()
    delay = min(settings.webhook_backoff_seconds * 2 ** (attempt - 1), settings.webhook_backoff_max)
    # Stay below the broker's visibility timeout so a waiting retry is never redelivered.
    delay = min(delay, settings.visibility_timeout / 2)
    return delay * random.uniform(0.9, 1.1)


def post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> int:
    with httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False) as http:
        with http.stream("POST", url, content=body, headers=headers) as response:
            return response.status_code  # the receiver's body is never read


def deliver_once(store: JobStore, job_id: str) -> tuple[bool, bool]:
    """One delivery attempt. Returns (done, retry): done when delivered or nothing to do."""
    settings = get_settings()
    job = store.record(job_id)
    if job is None or not job.get("callback_url") or store.webhook_delivered(job_id):
        return True, False
    log_setup.set_context(tenant=job["tenant"])
    url = job["callback_url"]
    body = payload(job)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "Docenrich-Event": "job.finished",
        "Docenrich-Job-Id": job_id,
    }
    secret = settings.webhook_secret_for(job["tenant"])
    if secret:
        headers[webhook_security.SIGNATURE_HEADER] = webhook_security.signature_header(secret, body)
    started = time.monotonic()
    attempt: dict[str, Any] = {"at": timeutil.iso_now(), "status_code": None, "error": None}
    retry = True
    try:
        webhook_security.check_callback_url(url, allow_private=settings.webhook_allow_private)
        attempt["status_code"] = post(url, body, headers, settings.webhook_timeout)
        if not 200 <= attempt["status_code"] < 300:
            attempt["error"] = f"HTTP {attempt['status_code']}"
    except InvalidField as exc:
        attempt["error"] = exc.message
        retry = False  # the address is refused: trying again will not help
    except httpx.HTTPError as exc:
        attempt["error"] = f"{type(exc).__name__}: {exc}"[:300]
    attempt["duration_ms"] = int((time.monotonic() - started) * 1000)
    delivered = attempt["error"] is None
    number = store.record_webhook_attempt(job_id, attempt, delivered)
    store.redis.hincrby(job_store.STATS_KEY, "webhooks_delivered" if delivered else "webhooks_failed_attempts", 1)
    log.info(
        "webhook %s", "delivered" if delivered else "attempt failed",
        extra={"attempt": number, "status_code": attempt["status_code"]},
    )
    if delivered:
        return True, False
    if not retry or number >= settings.webhook_max_attempts:
        log.warning("webhook given up after %d attempts", number, extra={"attempt": number})
        return True, False
    return False, True


@app.task(bind=True, name=TASK_NAME, max_retries=None, acks_late=True)
def deliver(self, job_id: str) -> None:
    store = get_store()
    _, retry = deliver_once(store, job_id)
    if retry:
        attempts = int(store.redis.hget(job_store.job_key(job_id), "webhook_attempts") or 1)
        countdown = backoff(attempts)
        store.redis.zadd(WEBHOOK_PENDING_KEY, {job_id: time.time() + countdown})  # next due
        raise self.retry(countdown=countdown)
    store.redis.zrem(WEBHOOK_PENDING_KEY, job_id)  # delivered, given up, or nothing to do
