"""The ``docenrich`` command: run the stack, its parts, submit documents, batch NLP."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from services.core.job_store import ALL_QUEUES, TASK_NAMES

RUN_DIR = Path(".run")


def _add_host_port(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")


def _queues(value: str) -> list[str]:
    queues = [q.strip() for q in value.split(",") if q.strip()]
    unknown = [q for q in queues if q not in ALL_QUEUES]
    if not queues or unknown:
        raise argparse.ArgumentTypeError(f"queues must be a comma-separated subset of {','.join(ALL_QUEUES)}")
    return queues


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="docenrich", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="all-in-one development stack: embedded Redis, API, one worker on all queues")
    _add_host_port(run)

    api = sub.add_parser("api", help="the HTTP API alone (uvicorn)")
    _add_host_port(api)
    api.add_argument("--workers", type=int, default=None,
                     help="API processes sharing the port (default DOCENRICH_API_WORKERS, or 1)")

    worker = sub.add_parser("worker", help="a Celery worker")
    worker.add_argument("--queues", type=_queues, default=list(ALL_QUEUES), help="comma-separated, default all: language,entities,summary,webhooks")
    worker.add_argument("--concurrency", type=int, default=None, help="prefork processes (default: number of CPUs)")
    worker.add_argument("--loglevel", default=os.environ.get("DOCENRICH_LOG_LEVEL", "INFO"))

    submit = sub.add_parser("submit", help="send a file to a running service")
    submit.add_argument("file", type=Path)
    submit.add_argument("--wait", action="store_true", help="follow the job with a live progress bar until it ends, then print it")
    submit.add_argument("--url", default=os.environ.get("DOCENRICH_URL", "http://127.0.0.1:8000"))
    submit.add_argument("--tasks", default=None, help="comma-separated subset of language,entities,summary")
    submit.add_argument("--language", default=None, help="ISO 639-1 code, skips detection")
    submit.add_argument("--api-key", default=os.environ.get("DOCENRICH_API_KEY"))
    submit.add_argument("--timeout", type=float, default=300.0, help="seconds to wait with --wait")

    probe = sub.add_parser("probe", help="container health probe: exit 0 when healthy (compose healthchecks, Kubernetes exec probes)")
    probe.add_argument("target", choices=["live", "ready", "worker"], help="live: API /healthz; ready: API /readyz; worker: a worker on this host has a fresh heartbeat")
    probe.add_argument("--url", default="http://127.0.0.1:8000", help="the API (live, ready)")

    nlp = sub.add_parser("nlp", help="batch NLP on JSONL without the service (same engines as the workers)")
    nlp.add_argument("task", choices=TASK_NAMES)
    nlp.add_argument("--input", type=Path, default=None, help="JSONL file (default stdin)")
    nlp.add_argument("--output", type=Path, default=None, help="JSONL file (default stdout)")
    nlp.add_argument("--sentences", type=int, default=None, help="summary length in sentences")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "api":
        return cmd_api(args.host, args.port, args.workers)
    if args.command == "worker":
        return cmd_worker(args.queues, args.concurrency, args.loglevel)
    if args.command == "run":
        return cmd_run(args.host, args.port)
    if args.command == "submit":
        from services.client_cli import submit

        return submit(args)
    if args.command == "probe":
        return cmd_probe(args.target, args.url)
    if args.command == "nlp":
        from services.batch import run_batch

        return run_batch(args.task, args.input, args.output, sentences=args.sentences)
    return 2


def cmd_api(host: str, port: int, workers: int | None = None) -> int:
    import uvicorn

    from services.core import logging as log_setup
    from services.core.settings import get_settings

    settings = get_settings()
    log_setup.configure(settings.log_level, settings.log_format)
    workers = workers or settings.api_workers
    metrics_dir = None
    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # the processes sum their HTTP metrics through files here (services/api/metrics.py)
        import tempfile

        metrics_dir = tempfile.mkdtemp(prefix="docenrich-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    try:
        uvicorn.run(
            "services.api.app:get_application" if workers == 1 else "services.api.app:get_worker_application",
            factory=True,
            host=host,
            port=port,
            http="httptools",
            loop="uvloop",
            workers=workers,
            access_log=False,  # services.api.access_log writes structured access lines
            log_config=None,  # keep the JSON logging configured above
            log_level=settings.log_level.lower(),
        )
    finally:
        if metrics_dir:
            import shutil

            shutil.rmtree(metrics_dir, ignore_errors=True)
    return 0


def cmd_worker(queues: list[str], concurrency: int | None, loglevel: str) -> int:
    from services.worker.celery_app import app

    argv = [
        "worker",
        "--queues", ",".join(queues),
        # Unique per process so several workers on one host never share a name.
        "--hostname", f"{'+'.join(queues)}-{os.getpid()}@%h",
        "--loglevel", loglevel,
        "--pool", "prefork",
        "--without-mingle",
        "--without-gossip",
    ]
    if concurrency:
        argv += ["--concurrency", str(concurrency)]
    app.worker_main(argv)
    return 0


def cmd_probe(target: str, url: str) -> int:
    import socket

    if target == "worker":
        from services.core import worker_registry
        from services.core.redis_client import get_redis

        try:
            live = worker_registry.live_workers(get_redis())
        except Exception as exc:
            print(f"unhealthy: redis unreachable ({type(exc).__name__})", file=sys.stderr)
            return 1
        here = socket.gethostname()
        mine = sorted({q for q, hosts in live.items() if any(h.rpartition("@")[2] == here for h in hosts)})
        print(f"worker on {here}: {'queues ' + ','.join(mine) if mine else 'no fresh heartbeat'}", file=sys.stderr)
        return 0 if mine else 1
    import httpx

    path = "/healthz" if target == "live" else "/readyz"
    try:
        response = httpx.get(url.rstrip("/") + path, timeout=3)
    except httpx.HTTPError as exc:
        print(f"unhealthy: {type(exc).__name__}", file=sys.stderr)
        return 1
    print(f"{path}: {response.status_code}", file=sys.stderr)
    return 0 if response.status_code == 200 else 1


def cmd_run(host: str, port: int) -> int:
    from services.core.embedded_redis import EmbeddedRedis

    env = dict(os.environ)
    embedded = None
    if not env.get("DOCENRICH_REDIS_URL"):
        embedded = EmbeddedRedis(RUN_DIR / "redis", port=int(env.get("DOCENRICH_EMBEDDED_REDIS_PORT", "0")) or None)
        print(f"docenrich: starting embedded redis-server on {embedded.url} (data in {embedded.data_dir})", flush=True)
        embedded.start()
        env["DOCENRICH_REDIS_URL"] = embedded.url
    me = [sys.executable, "-m", "services.cli"]
    children = [
        subprocess.Popen(me + ["worker", "--concurrency", env.get("DOCENRICH_WORKER_CONCURRENCY", "1")], env=env),
        subprocess.Popen(me + ["api", "--host", host, "--port", str(port)], env=env),
    ]
    print(f"docenrich: API on http://{host}:{port} (docs at /docs); Ctrl-C stops everything", flush=True)
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    code = 0
    try:
        while not stopping:
            for child in children:
                if child.poll() is not None:
                    print(f"docenrich: a child process exited with {child.returncode}; stopping", file=sys.stderr, flush=True)
                    code = child.returncode or 1
                    stopping = True
            time.sleep(0.2)
    finally:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 20
        for child in children:
            try:
                child.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
        if embedded is not None:
            embedded.stop()
        print("docenrich: stopped", flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
