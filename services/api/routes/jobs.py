"""GET/DELETE /v1/jobs/{id}: status, results, text, cancellation."""

from __future__ import annotations

import re

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import PlainTextResponse
from services.api.responses import JsonResponse

from services.api import examples
from services.api.deps import Store, Tenant
from services.api.schemas import ErrorResponse, JobOut
from services.api.views import job_view
from services.core.errors import NotFound
from services.core.job_store import JobStore

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])
_JOB_ID = re.compile(r"^[0-9a-f]{24}$")
_ERRORS = {status: {"model": ErrorResponse} for status in (401, 404, 503)}
_ERRORS[401]["content"] = {"application/json": {"example": examples.MISSING_KEY}}
_ERRORS[404]["content"] = {"application/json": {"example": examples.JOB_NOT_FOUND}}
_JOB_EXAMPLES = {
    200: {
        "content": {
            "application/json": {
                "examples": examples.examples(
                    succeeded=examples.JOB_SUCCEEDED, partially_succeeded=examples.JOB_PARTIAL, running=examples.JOB_QUEUED, with_webhook=examples.JOB_WITH_WEBHOOK
                )
            }
        }
    }
}


def _load(store: JobStore, job_id: str, tenant: str) -> dict:
    job = store.get(job_id, tenant) if _JOB_ID.match(job_id) else None
    if job is None:
        raise NotFound(
            f"No job {job_id!r} for this API key; it may have expired or belong to another key.",
            code="job_not_found",
            details={"job_id": job_id},
        )
    return job


@router.get("/{job_id}", operation_id="jobs-get", summary="A job's status and results", response_model=JobOut, responses={**_JOB_EXAMPLES, **_ERRORS})
async def get_job(job_id: str, store: Store, tenant: Tenant) -> JsonResponse:
    job = await run_in_threadpool(_load, store, job_id, tenant)
    return JsonResponse(job_view(job))


@router.get(
    "/{job_id}/text",
    operation_id="jobs-get_text",
    summary="The extracted plain text the offsets refer to",
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/plain": {"example": examples.SEED_TEXT}}}, **_ERRORS},
)
async def get_job_text(job_id: str, store: Store, tenant: Tenant) -> PlainTextResponse:
    await run_in_threadpool(_load, store, job_id, tenant)
    text = await run_in_threadpool(store.get_text, job_id)
    if text is None:
        raise NotFound(f"The text of job {job_id!r} has expired.", code="job_not_found", details={"job_id": job_id})
    return PlainTextResponse(text, media_type="text/plain; charset=utf-8")


@router.delete(
    "/{job_id}",
    operation_id="jobs-cancel",
    summary="Cancel a job's pending tasks",
    response_model=JobOut,
    responses={200: {"content": {"application/json": {"example": examples.JOB_CANCELLED}}}, **_ERRORS},
)
async def cancel_job(job_id: str, request: Request, store: Store, tenant: Tenant) -> JsonResponse:
    await run_in_threadpool(_load, store, job_id, tenant)
    revoke = await run_in_threadpool(store.cancel, job_id)
    if revoke:
        from services.worker.celery_app import app as celery_app

        # Best effort: a revoked message is dropped by workers; a task that starts
        # anyway sees its cancelled state in the store and does nothing.
        try:
            await run_in_threadpool(celery_app.control.revoke, revoke)
        except Exception:
            pass
    job = await run_in_threadpool(_load, store, job_id, tenant)
    return JsonResponse(job_view(job))
