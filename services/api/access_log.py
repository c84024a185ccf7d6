"""Request context and access log: every request gets an id (the client's ``X-Request-Id``
when it is sane, else a new one), echoed in the response and set on every log line the
request causes; one JSON access line per request (method, route, status, duration,
tenant, job id). Never the body."""

from __future__ import annotations

import logging
import re
import time
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.core import logging as log_setup

log = logging.getLogger("docenrich.access")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_JOB_LOCATION = re.compile(rb"^/v1/jobs/([0-9a-f]{24})$")


class AccessLog:
    def __init__(self, app: ASGIApp, tenants_by_key: dict[str, str]) -> None:
        self.app = app
        self.tenants_by_key = tenants_by_key

    def _tenant(self, headers: dict[bytes, bytes]) -> str | None:
        if not self.tenants_by_key:
            return "public"
        scheme, _, token = headers.get(b"authorization", b"").decode("latin-1").partition(" ")
        return self.tenants_by_key.get(token) if scheme.lower() == "bearer" else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        given = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
        tokens = log_setup.set_context(request_id=request_id, tenant=self._tenant(headers), job_id=None, task=None)
        start = time.perf_counter()
        status = 500
        job_id = None

        async def send_wrapper(message: Message) -> None:
            nonlocal status, job_id
            if message["type"] == "http.response.start":
                status = message["status"]
                response_headers = list(message.get("headers", []))
                for name, value in response_headers:
                    if name.lower() == b"location" and (match := _JOB_LOCATION.match(value)):
                        job_id = match.group(1).decode()
                response_headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": response_headers}
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            job_id = job_id or (scope.get("path_params") or {}).get("job_id")
            if job_id:
                log_setup.set_context(job_id=job_id)
            log.info(
                "%s %s %d",
                scope["method"],
                route,
                status,
                extra={"method": scope["method"], "route": route, "status": status, "duration_ms": round((time.perf_counter() - start) * 1000, 1)},
            )
            log_setup.reset_context(tokens)
