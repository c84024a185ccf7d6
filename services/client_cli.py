"""``docenrich submit``: upload a file with the client library, optionally wait with a live
progress bar (server-sent events, falling back to polling), and print the job as JSON."""

from __future__ import annotations

import sys
import time
from typing import TextIO

import httpx
import orjson

from services.client import FINAL, ApiError, Client, Job

TERMINAL_TASK = frozenset({"succeeded", "failed", "skipped", "cancelled"})
_MARKS = {"pending": "·", "running": "…", "succeeded": "✓", "failed": "✗", "skipped": "-", "cancelled": "x"}


class ProgressBar:
    """One line on a terminal, redrawn in place; one line per change otherwise (logs, CI)."""

    def __init__(self, stream: TextIO = sys.stderr, width: int = 24) -> None:
        self.stream = stream
        self.width = width
        self.tty = stream.isatty()
        self.started = time.monotonic()
        self.last = ""

    def render(self, job: Job) -> str:
        tasks = job["tasks"]
        done = sum(state["status"] in TERMINAL_TASK for state in tasks.values())
        total = max(1, len(tasks))
        filled = round(self.width * done / total)
        bar = "█" * filled + "░" * (self.width - filled)
        states = "  ".join(f"{_MARKS.get(s['status'], '?')} {name} {s['status']}" for name, s in tasks.items())
        return f"{bar} {done}/{len(tasks)} {job['status']:<19} {states}  {time.monotonic() - self.started:5.1f}s"

    def update(self, job: Job) -> None:
        line = self.render(job)
        if self.tty:
            print(f"\r{line}\033[K", end="", file=self.stream, flush=True)
        elif line.split("  ")[:-1] != self.last.split("  ")[:-1]:  # skip lines where only the clock moved
            print(line, file=self.stream, flush=True)
        self.last = line

    def close(self) -> None:
        if self.tty and self.last:
            print(file=self.stream)


def follow(client: Client, job_id: str, timeout: float, progress: ProgressBar) -> Job:
    """Watch the job live until it ends; fall back to polling if the stream breaks."""
    deadline = time.monotonic() + timeout
    job: Job | None = None
    try:
        for job in client.events(job_id):
            progress.update(job)
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} still {job['status']} after {timeout:.0f}s")
    except (httpx.TransportError, httpx.DecodingError):
        pass  # e.g. a proxy that cuts long responses: polling still works
    if job is not None and job["status"] in FINAL:
        return job
    remaining = max(1.0, deadline - time.monotonic())
    return client.wait(job_id, timeout=remaining, on_update=progress.update)


def submit(args) -> int:
    if not args.file.is_file():
        print(f"docenrich submit: {args.file} is not a file", file=sys.stderr)
        return 2
    tasks = [t.strip() for t in args.tasks.split(",")] if args.tasks else None
    progress = ProgressBar()
    try:
        with Client(args.url, api_key=args.api_key) as client:
            job = client.submit_file(args.file, tasks=tasks, language=args.language)
            print(f"submitted {args.file} as job {job['id']}", file=sys.stderr)
            if args.wait:
                try:
                    job = follow(client, job["id"], args.timeout, progress)
                finally:
                    progress.close()
    except ApiError as exc:
        print(f"docenrich submit: {exc}", file=sys.stderr)
        return 1
    except TimeoutError as exc:
        print(f"docenrich submit: {exc}", file=sys.stderr)
        return 1
    except httpx.HTTPError as exc:
        print(f"docenrich submit: cannot reach {args.url} ({type(exc).__name__}: {exc}); is 'make run' running?", file=sys.stderr)
        return 1
    sys.stdout.buffer.write(orjson.dumps(job, option=orjson.OPT_INDENT_2) + b"\n")
    return 0 if job["status"] in ("succeeded", "partially_succeeded", "queued", "running") else 1
