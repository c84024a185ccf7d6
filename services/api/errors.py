"""Every failure leaves the API in one shape: {"error": {"code", "message", "details"}}."""

from __future__ import annotations

import logging

import redis
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from services.api.responses import JsonResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.core.errors import DocenrichError, InvalidField, ServiceUnavailable

log = logging.getLogger("docenrich.api")

_HTTP_CODES = {
    400: "malformed_request",
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_field",
    429: "rate_limited",
    503: "service_unavailable",
}


def error_response(exc: DocenrichError) -> JsonResponse:
    return JsonResponse(exc.to_body(), status_code=exc.status_code, headers=exc.headers)


def invalid_fields(errors: list[dict]) -> InvalidField:
    fields = []
    for err in errors:
        loc = [str(part) for part in err.get("loc", ()) if part not in ("body",)]
        fields.append({"field": ".".join(loc) or "body", "message": err.get("msg", "invalid")})
    summary = "; ".join(f"{f['field']}: {f['message']}" for f in fields[:5])
    return InvalidField(f"The request has invalid fields: {summary}. Fix them and send it again.", details={"fields": fields})


def install(app: FastAPI) -> None:
    @app.exception_handler(DocenrichError)
    async def _docenrich(_: Request, exc: DocenrichError) -> JsonResponse:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _request_validation(_: Request, exc: RequestValidationError) -> JsonResponse:
        return error_response(invalid_fields(exc.errors()))

    @app.exception_handler(ValidationError)
    async def _validation(_: Request, exc: ValidationError) -> JsonResponse:
        return error_response(invalid_fields(exc.errors()))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JsonResponse:
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        message = exc.detail if isinstance(exc.detail, str) else "Request failed."
        return JsonResponse(
            {"error": {"code": code, "message": message, "details": {}}},
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(redis.ConnectionError)
    @app.exception_handler(redis.TimeoutError)
    async def _redis_down(_: Request, exc: Exception) -> JsonResponse:
        log.warning("job store unavailable: %s", type(exc).__name__)
        return error_response(
            ServiceUnavailable(
                "The job store is unavailable; retry in a few seconds.",
                code="store_unavailable",
                headers={"Retry-After": "5"},
            )
        )

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JsonResponse:
        log.exception("unhandled error")
        return JsonResponse(
            {"error": {"code": "internal_error", "message": "Something went wrong on our side; retry, and report it if it persists.", "details": {}}},
            status_code=500,
        )
