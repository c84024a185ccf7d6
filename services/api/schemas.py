"""Request and response shapes (also what /docs shows)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl

TaskName = Literal["language", "entities", "summary"]

SEED_EXAMPLE = "أمرت وزارة الدفاع الأميركية (البنتاغون) القادة العسكريين بالتخطيط لتصعيد القتال في العراق."


class SummaryOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sentences: int | None = Field(None, ge=1, le=100, description="How many sentences to extract.")
    ratio: float | None = Field(None, gt=0, le=1, description="Share of the document's sentences to keep.")


class Options(BaseModel):
    model_config = ConfigDict(extra="forbid")
    summary: SummaryOptions | None = None


class DocumentIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"text": SEED_EXAMPLE, "tasks": ["language", "entities", "summary"]}]},
    )
    text: str = Field(..., min_length=1, description="The document, plain text.")
    language: str | None = Field(None, description="ISO 639-1 code; skips detection for routing.")
    tasks: list[TaskName] | None = Field(None, min_length=1, description="Default: all three.")
    options: Options | None = None
    metadata: dict[str, Any] | None = Field(None, description="Stored and returned as given.")
    callback_url: HttpUrl | None = Field(None, description="Stored with the job (webhook delivery: see README).")


class BatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    documents: list[DocumentIn] = Field(..., min_length=1)


class ErrorBody(BaseModel):
    code: str
    message: str
    details: dict[str, Any] = {}


class ErrorResponse(BaseModel):
    error: ErrorBody


class TaskError(BaseModel):
    code: str
    message: str
    details: dict[str, Any] | None = None


class TaskState(BaseModel):
    status: Literal["pending", "running", "succeeded", "failed", "skipped", "cancelled"]
    started_at: str | None
    finished_at: str | None
    error: TaskError | None
    result: dict[str, Any] | None


class DocumentInfo(BaseModel):
    chars: int
    sha256: str
    filename: str | None
    content_type: str


class WebhookAttempt(BaseModel):
    attempt: int = Field(..., description="1-based attempt number.")
    at: str = Field(..., description="When the attempt started (ISO 8601, UTC).")
    status_code: int | None = Field(None, description="The receiver's HTTP status; null when no answer came.")
    error: str | None = Field(None, description="Why the attempt failed; null when delivered.")
    duration_ms: int | None = None


class WebhookState(BaseModel):
    url: str
    delivered: bool = Field(..., description="A 2xx answer was received.")
    attempts: list[WebhookAttempt] = Field(..., description="Every delivery attempt so far, oldest first.")


class JobOut(BaseModel):
    id: str
    status: Literal["queued", "running", "succeeded", "partially_succeeded", "failed", "cancelled"]
    created_at: str
    updated_at: str
    expires_at: str
    language: str | None = None
    document: DocumentInfo
    metadata: dict[str, Any] = {}
    callback_url: str | None = Field(None, description="Where the job-finished webhook goes.")
    webhook: WebhookState | None = Field(None, description="Delivery of the webhook; null without callback_url.")
    tasks: dict[str, TaskState]


class BatchOut(BaseModel):
    jobs: list[JobOut]
