"""POST /v1/documents and /v1/batches: accept work."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from services.api.responses import JsonResponse
from pydantic import ValidationError
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException

from services.api import examples, intake
from services.api.deps import SettingsDep, Store, Tenant, get_tenant
from services.api.errors import invalid_fields
from services.api.schemas import BatchIn, BatchOut, DocumentIn, ErrorResponse, JobOut
from services.api.views import job_view
from services.core import webhook_security
from services.core.errors import InvalidField, MalformedRequest, PayloadTooLarge, UnsupportedMediaType
from services.core.job_store import JobStore
from services.core.settings import Settings

router = APIRouter(prefix="/v1", tags=["documents"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse} for status in (400, 401, 413, 415, 422, 429, 503)
}
_ERRORS[401]["content"] = {"application/json": {"example": examples.MISSING_KEY}}
_ERRORS[422]["content"] = {"application/json": {"examples": examples.examples(invalid_field=examples.INVALID_FIELD, private_callback=examples.PRIVATE_CALLBACK)}}
_ERRORS[503]["content"] = {"application/json": {"example": examples.QUEUE_FULL}}
_ACCEPTED = {
    "description": "Accepted: the job, queued. `Location` is its URL.",
    "headers": {
        "Location": {"description": "/v1/jobs/{id}", "schema": {"type": "string"}},
        "Idempotent-Replayed": {"description": "`true` when an earlier job with this Idempotency-Key is returned", "schema": {"type": "string"}},
    },
    "content": {"application/json": {"example": examples.JOB_QUEUED}},
}

_DOCUMENT_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {"$ref": "#/components/schemas/DocumentIn"},
                "examples": examples.examples(seed=examples.DOCUMENT_REQUEST, webhook=examples.DOCUMENT_REQUEST_WEBHOOK),
            },
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary", "description": ".txt (any encoding), .html, .pdf, .docx, .md"},
                        "language": {"type": "string"},
                        "tasks": {"type": "string", "description": "Comma-separated, e.g. language,entities"},
                    },
                }
            },
        },
    }
}


async def _json_body(request: Request) -> Any:
    body = await request.body()
    if not body:
        raise MalformedRequest("The request body is empty; send a JSON document.", code="empty_body")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise MalformedRequest(f"The body is not valid JSON ({exc.msg}); check quoting and encoding.", code="invalid_json") from None


def _from_json(doc: DocumentIn, settings: Settings) -> intake.Submission:
    intake.check_text(doc.text, settings)
    return intake.Submission(
        text=doc.text,
        tasks=intake.normalize_tasks(doc.tasks),
        language=intake.normalize_language(doc.language),
        document=intake.document_info(doc.text, filename=None, content_type="text/plain"),
        options=doc.options.model_dump(exclude_none=True) if doc.options else {},
        metadata=doc.metadata or {},
        callback_url=str(doc.callback_url) if doc.callback_url else None,
    )


def _check_callbacks(subs: list[intake.Submission], settings: Settings) -> None:
    """Refuse callback URLs on private addresses (resolves names: run in a thread)."""
    for index, sub in enumerate(subs):
        if sub.callback_url:
            try:
                webhook_security.check_callback_url(sub.callback_url, allow_private=settings.webhook_allow_private)
            except InvalidField as exc:
                if len(subs) > 1:
                    exc.details["index"] = index
                raise


def _accept_one(
    settings: Settings, broker: Any, tenant: str, store: JobStore, sub: intake.Submission, idempotency_key: str | None
) -> tuple[dict[str, Any], bool]:
    """Callback check, back-pressure and acceptance in one worker thread: one hop off the
    event loop instead of three (each costs ~0.15 ms of CPU; bench/)."""
    _check_callbacks([sub], settings)
    intake.check_capacity(settings, broker, tenant, store)
    return intake.accept(store, tenant, sub, idempotency_key)


def _form_tasks(raw: str | None) -> list[str] | None:
    if raw is None or not raw.strip():
        return None
    raw = raw.strip()
    if raw.startswith("["):
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError:
            value = None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise InvalidField("tasks must be a comma-separated list or a JSON array of task names.", details={"fields": [{"field": "tasks", "message": "not a list"}]})
        return value
    return [part.strip() for part in raw.split(",") if part.strip()]


async def _from_upload(request: Request, settings: Settings) -> intake.Submission:
    try:
        form = await request.form(max_files=1, max_fields=10, max_part_size=64 * 1024)
    except (MultiPartException, HTTPException) as exc:  # Starlette wraps parser errors in a 400
        reason = getattr(exc, "message", None) or getattr(exc, "detail", "malformed")
        raise MalformedRequest(f"The multipart body could not be read: {reason}", code="invalid_multipart") from None
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise InvalidField("Send the document in a multipart field named 'file'.", details={"fields": [{"field": "file", "message": "missing"}]})
    extra = set(form.keys()) - {"file", "language", "tasks"}
    if extra:
        raise InvalidField(f"Unknown form field {sorted(extra)[0]!r}; allowed: file, language, tasks.", details={"fields": [{"field": sorted(extra)[0], "message": "unknown field"}]})
    data = await upload.read()
    from services.nlp.extract import extract_text

    extracted = await run_in_threadpool(
        extract_text, data, filename=upload.filename, content_type=upload.content_type, max_chars=settings.max_text_chars
    )
    intake.check_text(extracted.text, settings)
    language = form.get("language")
    return intake.Submission(
        text=extracted.text,
        tasks=intake.normalize_tasks(_form_tasks(form.get("tasks") if isinstance(form.get("tasks"), str) else None)),
        language=intake.normalize_language(language if isinstance(language, str) else None),
        document=intake.document_info(extracted.text, filename=extracted.filename, content_type=extracted.content_type),
    )


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


_IDEMPOTENCY_KEY_MAX = 255
_IDEMPOTENCY_KEY = {
    "name": "idempotency-key",
    "in": "header",
    "required": False,
    "schema": {
        "anyOf": [{"type": "string", "maxLength": _IDEMPOTENCY_KEY_MAX}, {"type": "null"}],
        "description": "Same key, same tenant: same job.",
        "title": "Idempotency-Key",
    },
    "description": "Same key, same tenant: same job.",
}


def _idempotency_key(request: Request) -> str | None:
    key = request.headers.get("idempotency-key")
    if key is not None and len(key) > _IDEMPOTENCY_KEY_MAX:
        raise invalid_fields([{"loc": ("header", "idempotency-key"), "msg": f"String should have at most {_IDEMPOTENCY_KEY_MAX} characters"}])
    return key


# The hot path takes the bare Request: its settings, store, tenant and Idempotency-Key
# are read here rather than declared as FastAPI dependencies and a Header parameter, whose
# resolution (solve_dependencies) was 22 % of the API's CPU under wrk (py-spy, bench/).
# The header is documented by hand (_IDEMPOTENCY_KEY); the tenant check is the same
# get_tenant, run first as FastAPI ran it, so a missing key is a 401 before anything else.
@router.post(
    "/documents",
    status_code=202,
    operation_id="documents-create",
    summary="Submit one document (JSON text or a file upload)",
    response_model=JobOut,
    responses={202: _ACCEPTED, **_ERRORS},
    openapi_extra={**_DOCUMENT_BODY, "parameters": [_IDEMPOTENCY_KEY]},
)
async def create_document(request: Request) -> JsonResponse:
    state = request.app.state
    tenant = await get_tenant(request)
    settings: Settings = state.settings
    store: JobStore = state.store
    idempotency_key = _idempotency_key(request)
    media_type = _media_type(request)
    if media_type == "application/json":
        payload = await _json_body(request)
        try:
            doc = DocumentIn.model_validate(payload)
        except ValidationError as exc:
            raise invalid_fields(exc.errors()) from None
        sub = _from_json(doc, settings)
    elif media_type == "multipart/form-data":
        sub = await _from_upload(request, settings)
    else:
        raise UnsupportedMediaType(
            "Send application/json ({\"text\": ...}) or multipart/form-data with a 'file' field.",
            details={"content_type": media_type or None, "supported": ["application/json", "multipart/form-data"]},
        )
    broker = state.broker_redis
    if intake.can_accept_async(settings, broker, sub, idempotency_key):
        # The common case stays on the event loop (asyncio Redis, one round trip): no
        # thread hop, and no GIL hand-offs between threads stretching the tail latency.
        from services.api.routes.events import async_redis

        client = async_redis(request.app)
        await intake.check_capacity_async(settings, broker, client)
        job, created = await intake.accept_async(client, store, tenant, sub), True
    else:
        job, created = await run_in_threadpool(_accept_one, settings, broker, tenant, store, sub, idempotency_key)
    headers = {"Location": f"/v1/jobs/{job['id']}"}
    if not created:
        headers["Idempotent-Replayed"] = "true"
    return JsonResponse(job_view(job), status_code=202, headers=headers)


@router.post(
    "/batches",
    status_code=202,
    operation_id="documents-create_batch",
    summary="Submit several JSON documents at once",
    response_model=BatchOut,
    responses={202: {"content": {"application/json": {"example": {"jobs": [examples.JOB_QUEUED]}}}}, **_ERRORS},
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {"$ref": "#/components/schemas/BatchIn"},
                    "example": {"documents": [examples.DOCUMENT_REQUEST["value"], {"text": "Angela Merkel visited Paris.", "tasks": ["entities"], "language": "en"}]},
                }
            },
        }
    },
)
async def create_batch(request: Request, settings: SettingsDep, store: Store, tenant: Tenant) -> JsonResponse:
    if _media_type(request) != "application/json":
        raise UnsupportedMediaType("Send the batch as application/json: {\"documents\": [...]}.", details={"supported": ["application/json"]})
    payload = await _json_body(request)
    if isinstance(payload, dict) and isinstance(payload.get("documents"), list) and len(payload["documents"]) > settings.max_batch_documents:
        raise PayloadTooLarge(
            f"A batch holds at most {settings.max_batch_documents} documents; split it.",
            code="batch_too_large",
            details={"documents": len(payload["documents"]), "max_documents": settings.max_batch_documents},
        )
    try:
        batch = BatchIn.model_validate(payload)
    except ValidationError as exc:
        raise invalid_fields(exc.errors()) from None
    # Validate every document before accepting any, so a bad one rejects the batch whole.
    subs = []
    for index, doc in enumerate(batch.documents):
        try:
            subs.append(_from_json(doc, settings))
        except InvalidField as exc:
            exc.details["index"] = index
            raise
    await run_in_threadpool(_check_callbacks, subs, settings)
    await run_in_threadpool(intake.check_capacity, settings, request.app.state.broker_redis, tenant, store, len(subs))
    jobs = []
    for sub in subs:
        job, _ = await run_in_threadpool(intake.accept, store, tenant, sub)
        jobs.append(job_view(job))
    return JsonResponse({"jobs": jobs}, status_code=202)

