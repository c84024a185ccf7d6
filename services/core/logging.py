"""Structured logs: one JSON object per line, with the request, job, task and tenant the
line is about (from context variables set by the API middleware and the worker signals).

Document text never reaches a log line: messages are ours, only whitelisted ``extra``
fields are emitted, and exception messages (which could quote a document) are dropped,
keeping the exception type and the stack.
"""

from __future__ import annotations

import contextvars
import logging
import sys
import time
import traceback
from contextlib import contextmanager
from typing import Any, Iterator

import orjson

CONTEXT_FIELDS = ("request_id", "job_id", "task", "tenant")
# ``extra={...}`` keys that may appear in a line; anything else is dropped.
EXTRA_FIELDS = frozenset(
    {
        *CONTEXT_FIELDS,
        "method", "route", "path", "status", "duration_ms", "attempt", "status_code",
        "queue", "queues", "worker", "hostname", "pid", "celery_id", "retries", "error_code",
    }
)
_context: dict[str, contextvars.ContextVar[str | None]] = {name: contextvars.ContextVar(f"docenrich_{name}", default=None) for name in CONTEXT_FIELDS}
_STANDARD = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


def get_context() -> dict[str, str]:
    return {name: value for name, var in _context.items() if (value := var.get()) is not None}


def set_context(**fields: str | None) -> dict[str, contextvars.Token]:
    """Set context fields for the rest of this task/request; returns tokens for ``reset``."""
    return {name: _context[name].set(value) for name, value in fields.items() if name in _context}


def reset_context(tokens: dict[str, contextvars.Token]) -> None:
    for name, token in tokens.items():
        _context[name].reset(token)


def clear_context() -> None:
    for var in _context.values():
        var.set(None)


@contextmanager
def log_context(**fields: str | None) -> Iterator[None]:
    tokens = set_context(**fields)
    try:
        yield
    finally:
        reset_context(tokens)


class JsonFormatter(logging.Formatter):
    converter = time.gmtime  # timestamps in UTC, like the API's

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update(get_context())
        for key, value in vars(record).items():
            if key in EXTRA_FIELDS and key not in _STANDARD and value is not None:
                line[key] = value
        if record.exc_info and record.exc_info[0] is not None:
            exc_type, _, tb = record.exc_info
            line["exc_type"] = f"{exc_type.__module__}.{exc_type.__qualname__}"
            line["stack"] = "".join(traceback.format_tb(tb))[-4000:]
        return orjson.dumps(line, default=str).decode()



class TextFormatter(logging.Formatter):
    """Human-readable variant (``DOCENRICH_LOG_FORMAT=text``), same context fields."""

    converter = time.gmtime

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        record.exc_text = None
        saved, record.exc_info = record.exc_info, None  # the stack only, never the exception message
        try:
            text = super().format(record)
        finally:
            record.exc_info = saved
        context = " ".join(f"{k}={v}" for k, v in get_context().items())
        if saved and saved[0] is not None:
            text += f"\n{saved[0].__qualname__}\n" + "".join(traceback.format_tb(saved[2]))
        return f"{text} [{context}]" if context else text


def configure(level: str | int = "INFO", fmt: str = "json", stream=None) -> None:
    """Send every logger (ours, uvicorn's, Celery's) through one handler on stderr."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    logging.captureWarnings(True)  # warnings.warn() lines become JSON too
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "celery", "celery.task", "celery.worker", "celery.app.trace"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
