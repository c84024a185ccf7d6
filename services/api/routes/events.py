"""GET /v1/jobs/{id}/events: live progress as server-sent events.

The stream sends ``event: job`` with the full job JSON (exactly what ``GET /v1/jobs/{id}``
returns) once at the start and again after every change, then ``event: end`` with the
final job JSON when the job has ended, and closes. Workers publish a message on the job's
Redis channel after each task transition; the stream also re-reads the job every second,
so a missed message only delays an update, never loses it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import orjson
import redis
import redis.asyncio as aioredis
from fastapi import APIRouter, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from services.api.deps import SettingsDep, Store, Tenant
from services.api.routes.jobs import _ERRORS, _load
from services.api.views import job_view
from services.core.job_store import events_channel, job_key, to_public
from services.core.redis_client import async_connection_class
from services.core.settings import Settings

log = logging.getLogger("docenrich.api")
router = APIRouter(prefix="/v1/jobs", tags=["jobs"])

FINAL = frozenset({"succeeded", "partially_succeeded", "failed", "cancelled"})
POLL_SECONDS = 1.0

_EXAMPLE = (
    "retry: 2000\n\n"
    'event: job\ndata: {"id":"5f0c3d6e2a9b4c1d8e7f6a5b","status":"queued","tasks":{"language":{"status":"pending",...},...},...}\n\n'
    'event: job\ndata: {"id":"5f0c3d6e2a9b4c1d8e7f6a5b","status":"running","tasks":{"language":{"status":"running",...},...},...}\n\n'
    'event: job\ndata: {"id":"5f0c3d6e2a9b4c1d8e7f6a5b","status":"succeeded",...}\n\n'
    'event: end\ndata: {"id":"5f0c3d6e2a9b4c1d8e7f6a5b","status":"succeeded",...}\n\n'
)


def async_redis(app: FastAPI) -> aioredis.Redis:
    """One asyncio Redis client per API process, for pub/sub (created on first use)."""
    client = getattr(app.state, "async_redis", None)
    if client is None:
        settings: Settings = app.state.settings
        client = aioredis.Redis.from_url(
            settings.redis_url, decode_responses=True, socket_connect_timeout=2, socket_timeout=30, health_check_interval=30,
            connection_class=async_connection_class(),  # hiredis packing: POST /v1/documents uses this client too
        )
        app.state.async_redis = client
    return client


def _sse(event: str, data: bytes) -> bytes:
    return b"event: " + event.encode() + b"\ndata: " + data + b"\n\n"


async def _read(client: aioredis.Redis, job_id: str) -> bytes | None:
    raw = await client.hgetall(job_key(job_id))
    if not raw:
        return None
    return orjson.dumps(job_view(to_public(raw)))


async def job_stream(client: aioredis.Redis, job_id: str, settings: Settings) -> AsyncIterator[bytes]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + settings.events_max_seconds
    pubsub = client.pubsub()
    try:
        # Subscribe before the first read so no change between the two is missed.
        await pubsub.subscribe(events_channel(job_id))
        yield b"retry: 2000\n\n"
        last_sent = loop.time()
        previous = None
        while True:
            body = await _read(client, job_id)
            if body is None:
                error = {"error": {"code": "job_not_found", "message": "The job expired or was removed.", "details": {"job_id": job_id}}}
                yield _sse("error", orjson.dumps(error))
                return
            if body != previous:
                yield _sse("job", body)
                previous, last_sent = body, loop.time()
            if orjson.loads(body)["status"] in FINAL:
                yield _sse("end", body)
                return
            if loop.time() >= deadline:
                return  # the client reconnects and gets the current state first
            if loop.time() - last_sent >= settings.events_keepalive_seconds:
                yield b": keepalive\n\n"
                last_sent = loop.time()
            await pubsub.get_message(ignore_subscribe_messages=True, timeout=POLL_SECONDS)
    except (redis.RedisError, OSError) as exc:
        log.warning("event stream ended: job store unavailable (%s)", type(exc).__name__, extra={"job_id": job_id})
        error = {"error": {"code": "store_unavailable", "message": "The job store is unavailable; reconnect in a few seconds.", "details": {}}}
        yield _sse("error", orjson.dumps(error))
    finally:
        try:
            await pubsub.aclose()
        except Exception:
            pass


@router.get(
    "/{job_id}/events",
    operation_id="jobs-events",
    summary="Live progress of a job as server-sent events",
    description=(
        "A `text/event-stream`: `event: job` with the full job JSON (as `GET /v1/jobs/{id}` returns it) "
        "first and after every task status change, then `event: end` with the final job JSON when the job "
        "has ended, and the stream closes. `event: error` (an error body) ends the stream if the job "
        "expires or the store becomes unavailable. Comment lines (`: keepalive`) keep idle connections open."
    ),
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {"schema": {"type": "string"}, "example": _EXAMPLE}}}, **_ERRORS},
)
async def job_events(job_id: str, request: Request, store: Store, tenant: Tenant, settings: SettingsDep) -> StreamingResponse:
    await run_in_threadpool(_load, store, job_id, tenant)  # 404 before the stream starts
    return StreamingResponse(
        job_stream(async_redis(request.app), job_id, settings),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
