"""The one error hierarchy of docenrich.

Every failure a client can cause is a ``DocenrichError`` subclass carrying a stable
snake_case ``code``, a human message that says what to do, and the HTTP status it maps
to. Engines (``services.nlp``) raise these too: they are plain Python, no web framework,
and the API maps them to the error body in exactly one place.
"""

from __future__ import annotations

from typing import Any


class DocenrichError(Exception):
    status_code: int = 400
    code: str = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details = details or {}
        self.headers = headers or {}

    def to_body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


class MalformedRequest(DocenrichError):
    status_code = 400
    code = "malformed_request"


class Unauthorized(DocenrichError):
    status_code = 401
    code = "unauthorized"


class NotFound(DocenrichError):
    status_code = 404
    code = "not_found"


class PayloadTooLarge(DocenrichError):
    status_code = 413
    code = "payload_too_large"


class UnsupportedMediaType(DocenrichError):
    status_code = 415
    code = "unsupported_media_type"


class InvalidField(DocenrichError):
    status_code = 422
    code = "invalid_field"


class UnreadableDocument(DocenrichError):
    """The upload has a supported type but its content cannot be turned into text
    (corrupt, encrypted, a decompression bomb, no text at all)."""

    status_code = 422
    code = "unreadable_document"


class TooManyRequests(DocenrichError):
    status_code = 429
    code = "rate_limited"


class ServiceUnavailable(DocenrichError):
    status_code = 503
    code = "service_unavailable"


class TaskSkipped(DocenrichError):
    """An engine cannot run for this document (e.g. no entity model for its language).
    The task ends ``skipped`` with this code; it is not a failure of the document."""

    code = "skipped"
