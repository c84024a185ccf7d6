"""From a validated request to a stored, queued job: shared by single documents,
uploads and batches."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from typing import Any

import orjson
import redis

from services.core.errors import InvalidField, PayloadTooLarge, ServiceUnavailable, TooManyRequests
from services.core.job_store import PREFIX, TASK_NAMES, JobStore
from services.core.settings import Settings
from services.worker import flows


@dataclass
class Submission:
    text: str
    tasks: list[str]
    language: str | None
    document: dict[str, Any]
    options: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    callback_url: str | None = None

    def fingerprint(self) -> str:
        canonical = orjson.dumps(
            [self.document["sha256"], self.tasks, self.language, self.options, self.metadata, self.callback_url],
            option=orjson.OPT_SORT_KEYS,
        )
        return hashlib.sha256(canonical).hexdigest()

    def job_fields(self) -> dict[str, Any]:
        """What the job store records of this submission."""
        return dict(
            text=self.text, document=self.document, tasks=self.tasks, language=self.language,
            options=self.options, metadata=self.metadata, callback_url=self.callback_url,
        )


def normalize_tasks(tasks: list[str] | None) -> list[str]:
    if not tasks:
        return list(TASK_NAMES)
    unknown = [t for t in tasks if t not in TASK_NAMES]
    if unknown:
        raise InvalidField(
            f"Unknown task {unknown[0]!r}; choose from {', '.join(TASK_NAMES)}.",
            details={"fields": [{"field": "tasks", "message": f"unknown task {unknown[0]!r}"}], "allowed": list(TASK_NAMES)},
        )
    return [t for t in TASK_NAMES if t in tasks]


def normalize_language(code: str | None) -> str | None:
    if code is None or not code.strip():
        return None
    from services.nlp.language import normalize_code

    return normalize_code(code.strip())


def check_text(text: str, settings: Settings) -> None:
    if not text.strip():
        raise InvalidField(
            "The document has no text; send non-empty text.",
            code="empty_text",
            details={"fields": [{"field": "text", "message": "empty or whitespace only"}]},
        )
    if len(text) > settings.max_text_chars:
        raise PayloadTooLarge(
            f"The text has {len(text):,} characters; the limit is {settings.max_text_chars:,}. Split the document.",
            code="text_too_large",
            details={"chars": len(text), "max_chars": settings.max_text_chars},
        )
    if "\x00" in text:
        raise InvalidField(
            "The text contains NUL characters; remove them (binary data is not text).",
            code="invalid_text",
            details={"fields": [{"field": "text", "message": "contains U+0000"}]},
        )
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidField(
            "The text contains unpaired surrogate code points; send valid Unicode.",
            code="invalid_text",
            details={"fields": [{"field": "text", "message": "unpaired surrogate"}]},
        ) from None


def document_info(text: str, *, filename: str | None, content_type: str) -> dict[str, Any]:
    return {
        "chars": len(text),
        "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
        "filename": filename,
        "content_type": content_type,
    }


_DEPTH_MAX_AGE = 0.25
_depth_cache: dict[int, list] = {}  # id(broker client) -> [read at, deepest queue, accepted since]


def capacity_cached(settings: Settings, broker: redis.Redis, documents: int = 1) -> bool:
    """Whether the cached queue depths admit ``documents`` more without asking Redis
    (they are then counted as accepted). Depths are read at most every _DEPTH_MAX_AGE
    seconds while far from the limit (plus what this process accepted since), and exactly
    when close to it: back-pressure stays exact where it matters and a POST saves a round
    trip. False: call ``check_capacity``, which reads them."""
    cache = _depth_cache.get(id(broker))
    if cache is None or time.monotonic() - cache[0] >= _DEPTH_MAX_AGE:
        return False
    if cache[1] + cache[2] + documents > settings.max_queue_depth * 0.9:
        return False
    cache[2] += documents
    return True


def check_capacity(settings: Settings, broker: redis.Redis | None, tenant: str, store: JobStore, documents: int = 1) -> None:
    """Back-pressure before accepting work: per-tenant rate limit and queue depth."""
    if settings.rate_limit_per_minute:
        key = f"{PREFIX}:rate:{tenant}"
        pipe = store.redis.pipeline()
        pipe.set(key, 0, ex=60, nx=True)
        pipe.incrby(key, documents)
        pipe.ttl(key)
        _, count, ttl = pipe.execute()
        if count > settings.rate_limit_per_minute:
            raise TooManyRequests(
                f"More than {settings.rate_limit_per_minute} documents a minute for this key; slow down.",
                headers={"Retry-After": str(max(1, ttl))},
                details={"limit_per_minute": settings.rate_limit_per_minute},
            )
    if broker is not None:
        if capacity_cached(settings, broker, documents):
            return
        now = time.monotonic()
        pipe = broker.pipeline(transaction=False)
        for name in TASK_NAMES:
            pipe.llen(name)
        _admit(settings, broker, now, pipe.execute(), documents)


def _admit(settings: Settings, broker: redis.Redis, read_at: float, lengths: list[int], documents: int) -> None:
    """Cache freshly read queue lengths (counting ``documents`` as accepted) and refuse
    with 503 ``queue_full`` when the deepest queue has no room for them."""
    depths = dict(zip(TASK_NAMES, lengths))
    deepest = max(depths, key=depths.get)
    _depth_cache[id(broker)] = [read_at, depths[deepest], documents]
    if depths[deepest] + documents > settings.max_queue_depth:
        raise ServiceUnavailable(
            f"The {deepest!r} queue holds {depths[deepest]:,} jobs (limit {settings.max_queue_depth:,}); retry shortly.",
            code="queue_full",
            headers={"Retry-After": "10"},
            details={"queue": deepest, "depth": depths[deepest]},
        )


async def check_capacity_async(settings: Settings, broker: redis.Redis, client: Any) -> None:
    """``check_capacity`` for what ``can_accept_async`` admits (no rate limit; the broker
    is the job store, which the asyncio ``client`` talks to): the queue depths are read on
    the event loop when the cache is stale. (Reading them in a worker thread let every
    request arriving meanwhile see the stale cache too and take the slow threaded path.)"""
    if capacity_cached(settings, broker):
        return
    now = time.monotonic()
    cache = _depth_cache.get(id(broker))
    if cache is not None and cache[1] + cache[2] + 1 <= settings.max_queue_depth * 0.9:
        # Only the age made the cache stale: one request reads the depths, and the ones
        # arriving while it waits for Redis keep counting on the cache instead of each
        # sending the same read (64 connections sent up to 64 reads every refresh).
        cache[0] = now
        cache[2] += 1
    pipe = client.pipeline(transaction=False)
    for name in TASK_NAMES:
        pipe.llen(name)
    _admit(settings, broker, now, await pipe.execute(), 1)


def can_accept_async(settings: Settings, broker: redis.Redis | None, sub: Submission, idempotency_key: str | None) -> bool:
    """The common POST (no idempotency key, no callback URL, no rate limit, Redis broker =
    job store) is checked by ``check_capacity_async`` and accepted by ``accept_async``, all
    on the event loop."""
    return (
        not idempotency_key
        and not sub.callback_url
        and not settings.rate_limit_per_minute
        and broker is not None
        and flows.broker_is_store()
    )


async def accept_async(client: Any, store: JobStore, tenant: str, sub: Submission) -> dict[str, Any]:
    """``accept`` on an asyncio Redis client, for what ``can_accept_async`` admits: the
    job, its text and its first task messages in one atomic step, one round trip."""
    return await store.create_async(
        client,
        tenant=tenant,
        **sub.job_fields(),
        fingerprint=sub.fingerprint(),
        messages=lambda job_id: flows.first_wave_messages(job_id, sub.tasks, sub.language),
    )


def accept(store: JobStore, tenant: str, sub: Submission, idempotency_key: str | None = None) -> tuple[dict[str, Any], bool]:
    """Store the job and queue its first tasks. If queueing fails the job is removed
    and the client gets a 503, so nothing is half-accepted."""
    fingerprint = sub.fingerprint()
    messages = None
    if flows.broker_is_store():
        # The first task messages go in the job's own atomic write: one round trip, and
        # never a job without its messages or the reverse.
        def messages(job_id: str) -> list[tuple[str, bytes]]:
            return flows.first_wave_messages(job_id, sub.tasks, sub.language)

    job, created = store.create(
        tenant=tenant,
        **sub.job_fields(),
        idempotency_key=idempotency_key,
        fingerprint=fingerprint,
        messages=messages,
    )
    if not created:
        if job.get("fingerprint") != fingerprint:
            raise InvalidField(
                "This Idempotency-Key was already used with a different request; use a new key.",
                code="idempotency_key_reused",
                details={"job_id": job["id"]},
            )
        return job, False
    if messages is not None:
        return job, True
    try:
        flows.dispatch(job["id"], sub.tasks, sub.language)
    except Exception as exc:
        store.discard(job["id"], tenant, idempotency_key)
        raise ServiceUnavailable(
            "The task queue is unavailable; the document was not accepted. Retry in a few seconds.",
            code="broker_unavailable",
            headers={"Retry-After": "5"},
        ) from exc
    return job, True
