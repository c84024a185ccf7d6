"""``docenrich nlp``: JSONL in, JSONL out, through the same pipeline as the workers."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import IO, Any

import orjson

from services.core.errors import DocenrichError
from services.nlp import pipeline


def process_line(task: str, line: bytes, sentences: int | None) -> dict[str, Any]:
    try:
        item = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        return {"id": None, "error": {"code": "invalid_json", "message": f"Line is not JSON: {exc.msg}"}}
    if not isinstance(item, dict) or not isinstance(item.get("text"), str):
        return {"id": item.get("id") if isinstance(item, dict) else None, "error": {"code": "invalid_field", "message": "Each line needs a string 'text'."}}
    doc_id = item.get("id")
    text = item["text"]
    options = {"summary": {"sentences": sentences}} if sentences else {}
    try:
        hint = item.get("language")
        if hint:
            from services.nlp.language import normalize_code

            hint = normalize_code(hint)
        language = None if task == "language" else pipeline.resolve_language(text, hint)
        result = pipeline.run(task, text, language=language, options=options)
    except DocenrichError as exc:
        return {"id": doc_id, "error": {"code": exc.code, "message": exc.message}}
    return {"id": doc_id, "result": result}


def run_batch(task: str, input_path: Path | None, output_path: Path | None, *, sentences: int | None = None) -> int:
    source: IO[bytes] = input_path.open("rb") if input_path else sys.stdin.buffer
    sink: IO[bytes] = output_path.open("wb") if output_path else sys.stdout.buffer
    done = errors = 0
    started = last = time.monotonic()
    try:
        for line in source:
            if not line.strip():
                continue
            out = process_line(task, line, sentences)
            errors += "error" in out
            sink.write(orjson.dumps(out) + b"\n")
            done += 1
            now = time.monotonic()
            if now - last >= 1.0:
                last = now
                print(f"\rdocenrich nlp {task}: {done} documents, {done / (now - started):.1f}/s, {errors} errors", end="", file=sys.stderr, flush=True)
    finally:
        sink.flush()
        if input_path:
            source.close()
        if output_path:
            sink.close()
    elapsed = time.monotonic() - started
    print(f"\rdocenrich nlp {task}: {done} documents in {elapsed:.1f}s, {errors} errors", file=sys.stderr, flush=True)
    return 1 if errors and errors == done else 0
