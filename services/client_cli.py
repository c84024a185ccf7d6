"""``docenrich submit``: upload a file, optionally wait with live progress."""

from __future__ import annotations

import sys

import httpx
import orjson

from services.client import ApiError, Client


def _progress(job: dict) -> None:
    tasks = "  ".join(f"{name}: {state['status']}" for name, state in job["tasks"].items())
    print(f"\r[{job['status']:>19}] {tasks}\033[K", end="", file=sys.stderr, flush=True)


def submit(args) -> int:
    if not args.file.is_file():
        print(f"docenrich submit: {args.file} is not a file", file=sys.stderr)
        return 2
    tasks = [t.strip() for t in args.tasks.split(",")] if args.tasks else None
    try:
        with Client(args.url, api_key=args.api_key) as client:
            job = client.submit_file(args.file, tasks=tasks, language=args.language)
            print(f"submitted {args.file} as job {job['id']}", file=sys.stderr)
            if args.wait:
                job = client.wait(job["id"], timeout=args.timeout, on_update=_progress)
                print(file=sys.stderr)
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
