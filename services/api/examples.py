"""OpenAPI examples, built from the opening of the seed article (``seeds/``) so /docs
shows Arabic input and real code-point offsets (computed here, so they always slice)."""

from __future__ import annotations

import hashlib
from typing import Any

SEED_TEXT = (
    "تقرير: «البنتاغون» أمر بتصعيد العمليات ضد الميليشيات المدعومة من إيران بالعراق\n\n"
    "أمرت وزارة الدفاع الأميركية (البنتاغون) القادة العسكريين بالتخطيط لتصعيد القتال في العراق، "
    "وأصدرت توجيهات الأسبوع الماضي بالتحضير لحملة تهدف إلى تدمير الميليشيات المدعومة من إيران بالعراق، "
    "التي تهدد بمزيد من الهجمات ضد القوات الأميركية.\n"
    "لكن القائد الأعلى للقوات الأميركية في العراق، الجنرال روبرت ب.وايت، حذر من أن مثل هذه الحملة "
    "قد تؤدي إلى نتائج دموية وتأتي بنتائج عكسية، وتهدد باشتعال الحرب مع إيران، "
    "حسب تقرير لصحيفة «نيويورك تايمز» الأميركية."
)
JOB_ID = "5f0c3d6e2a9b4c1d8e7f6a5b"


def _span(text: str, label: str | None = None, score: float = 0.95, nth: int = 0) -> dict[str, Any]:
    start = -1
    for _ in range(nth + 1):
        start = SEED_TEXT.index(text, start + 1)
    span: dict[str, Any] = {"text": text}
    if label:
        span["label"] = label
    span.update(start=start, end=start + len(text), score=score)
    return span


def _task(status: str, result: Any = None, error: Any = None, started: str | None = None, finished: str | None = None) -> dict[str, Any]:
    return {"status": status, "started_at": started, "finished_at": finished, "error": error, "result": result}


_DOCUMENT = {
    "chars": len(SEED_TEXT),
    "sha256": hashlib.sha256(SEED_TEXT.encode("utf-8")).hexdigest(),
    "filename": None,
    "content_type": "text/plain",
}
_BASE = {
    "id": JOB_ID,
    "created_at": "2026-11-25T12:00:00.000Z",
    "expires_at": "2026-12-02T12:00:00.000Z",
    "language": None,
    "document": _DOCUMENT,
    "metadata": {"source": "seed"},
    "callback_url": None,
    "webhook": None,
}

DOCUMENT_REQUEST = {
    "summary": "The seed article (Arabic), all three tasks",
    "value": {"text": SEED_TEXT, "tasks": ["language", "entities", "summary"], "options": {"summary": {"sentences": 1}}, "metadata": {"source": "seed"}},
}
DOCUMENT_REQUEST_WEBHOOK = {
    "summary": "With a webhook when the job ends",
    "value": {"text": SEED_TEXT, "tasks": ["language", "entities"], "callback_url": "https://hooks.example.com/docenrich"},
}

JOB_QUEUED = {
    **_BASE,
    "status": "queued",
    "updated_at": "2026-11-25T12:00:00.000Z",
    "tasks": {name: _task("pending") for name in ("language", "entities", "summary")},
}

_FIRST_SENTENCE = SEED_TEXT.split("\n")[2].split("، وأصدرت")[0]
JOB_SUCCEEDED = {
    **_BASE,
    "status": "succeeded",
    "updated_at": "2026-11-25T12:00:00.412Z",
    "tasks": {
        "language": _task(
            "succeeded",
            {
                "code": "ar",
                "name": "Arabic",
                "confidence": 0.99,
                "script": "Arab",
                "alternatives": [{"code": "fa", "confidence": 0.004}],
                "segments": [{"start": 0, "end": len(SEED_TEXT), "code": "ar"}],
            },
            started="2026-11-25T12:00:00.021Z",
            finished="2026-11-25T12:00:00.035Z",
        ),
        "entities": _task(
            "succeeded",
            {
                "model": "ar-ner",
                "entities": sorted(
                    [
                        _span("البنتاغون", "ORG", 0.97),
                        _span("إيران", "LOC", 0.99),
                        _span("وزارة الدفاع الأميركية", "ORG", 0.93),
                        _span("البنتاغون", "ORG", 0.96, nth=1),
                        _span("العراق", "LOC", 0.98, nth=1),
                        _span("روبرت ب.وايت", "PER", 0.91),
                        _span("نيويورك تايمز", "ORG", 0.88),
                    ],
                    key=lambda entity: entity["start"],
                ),
            },
            started="2026-11-25T12:00:00.052Z",
            finished="2026-11-25T12:00:00.398Z",
        ),
        "summary": _task(
            "succeeded",
            {"method": "extractive", "text": _FIRST_SENTENCE, "sentences": [_span(_FIRST_SENTENCE, score=1.0)]},
            started="2026-11-25T12:00:00.050Z",
            finished="2026-11-25T12:00:00.412Z",
        ),
    },
}
JOB_PARTIAL = {
    **JOB_SUCCEEDED,
    "status": "partially_succeeded",
    "tasks": {
        **JOB_SUCCEEDED["tasks"],
        "entities": _task(
            "skipped",
            error={"code": "no_model_for_language", "message": "No entity model for this language.", "details": {"language": "ar"}},
            started="2026-11-25T12:00:00.052Z",
            finished="2026-11-25T12:00:00.053Z",
        ),
    },
}
JOB_CANCELLED = {
    **JOB_QUEUED,
    "status": "cancelled",
    "updated_at": "2026-11-25T12:00:01.000Z",
    "tasks": {
        name: _task("cancelled", error={"code": "cancelled", "message": "Cancelled by the client."}, finished="2026-11-25T12:00:01.000Z")
        for name in ("language", "entities", "summary")
    },
}
JOB_WITH_WEBHOOK = {
    **JOB_SUCCEEDED,
    "callback_url": "https://hooks.example.com/docenrich",
    "webhook": {
        "url": "https://hooks.example.com/docenrich",
        "delivered": True,
        "attempts": [
            {"attempt": 1, "at": "2026-11-25T12:00:00.430Z", "status_code": 503, "error": "HTTP 503", "duration_ms": 41},
            {"attempt": 2, "at": "2026-11-25T12:00:05.470Z", "status_code": 200, "error": None, "duration_ms": 37},
        ],
    },
}


def error(code: str, message: str, **details: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details}}


JOB_NOT_FOUND = error("job_not_found", f"No job {JOB_ID!r} for this API key; it may have expired or belong to another key.", job_id=JOB_ID)
INVALID_FIELD = error(
    "invalid_field",
    "The request has invalid fields: tasks.0: Input should be 'language', 'entities' or 'summary'. Fix them and send it again.",
    fields=[{"field": "tasks.0", "message": "Input should be 'language', 'entities' or 'summary'"}],
)
PRIVATE_CALLBACK = error(
    "invalid_field",
    "callback_url host '127.0.0.1' is a private, loopback or reserved address (127.0.0.1); use a public URL (operators may set DOCENRICH_WEBHOOK_ALLOW_PRIVATE=true).",
    fields=[{"field": "callback_url", "message": "private address"}],
)
MISSING_KEY = error("missing_api_key", "Send your API key as 'Authorization: Bearer <key>'.")
QUEUE_FULL = error("queue_full", "The 'entities' queue holds 10,000 jobs (limit 10,000); retry shortly.", queue="entities", depth=10000)


def examples(**named: dict[str, Any]) -> dict[str, Any]:
    """``{"name": value}`` -> OpenAPI ``examples`` (values may already be {summary, value})."""
    return {name: value if "value" in value else {"value": value} for name, value in named.items()}
