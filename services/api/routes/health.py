"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from services.api.responses import JsonResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from services.api.schemas import ErrorResponse
from services.core import worker_registry
from services.core.job_store import TASK_NAMES

router = APIRouter(tags=["health"])


@router.get(
    "/healthz",
    operation_id="health-live",
    summary="The API process is up",
    description="For liveness probes: answers 200 while the process serves HTTP, whatever Redis or the workers do.",
    responses={200: {"content": {"application/json": {"example": {"status": "ok"}}}}},
)
async def healthz() -> dict:
    return {"status": "ok"}


def _readiness(request: Request) -> tuple[int, dict]:
    store = request.app.state.store
    try:
        store.redis.ping()
        workers = worker_registry.live_workers(store.redis)
    except Exception:
        return 503, {"error": {"code": "store_unavailable", "message": "Redis is not reachable.", "details": {}}}
    counts = {queue: len(workers.get(queue, [])) for queue in TASK_NAMES}
    missing = [queue for queue, n in counts.items() if n == 0]
    if missing:
        return 503, {
            "error": {
                "code": "no_workers",
                "message": f"No live worker consumes {', '.join(missing)}; start one with 'docenrich worker --queues {','.join(missing)}'.",
                "details": {"workers": counts},
            }
        }
    return 200, {"status": "ready", "redis": "ok", "workers": counts}


@router.get(
    "/readyz",
    operation_id="health-ready",
    summary="Redis reachable and a live worker on every queue",
    description="For readiness probes: 503 with `Retry-After` when Redis is unreachable or a queue has no live worker.",
    responses={
        200: {"content": {"application/json": {"example": {"status": "ready", "redis": "ok", "workers": {"language": 1, "entities": 2, "summary": 1}}}}},
        503: {
            "model": ErrorResponse,
            "content": {
                "application/json": {
                    "example": {
                        "error": {
                            "code": "no_workers",
                            "message": "No live worker consumes entities; start one with 'docenrich worker --queues entities'.",
                            "details": {"workers": {"language": 1, "entities": 0, "summary": 1}},
                        }
                    }
                }
            }
        },
    },
)
async def readyz(request: Request) -> JsonResponse:
    status, body = await run_in_threadpool(_readiness, request)
    headers = {"Retry-After": "5"} if status == 503 else None
    return JsonResponse(body, status_code=status, headers=headers)


@router.get(
    "/metrics",
    operation_id="health-metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {"example": 'docenrich_queue_depth{queue="entities"} 3.0\ndocenrich_live_workers{queue="entities"} 2.0\n'}}}},
)
async def metrics(request: Request) -> Response:
    registry = request.app.state.metrics.exposition
    body = await run_in_threadpool(generate_latest, registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
