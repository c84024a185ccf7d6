"""Real processes for integration tests: redis-server, Celery workers, the API."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from services.core.embedded_redis import free_port

REPO = Path(__file__).resolve().parents[2]


def base_env(redis_url: str, **overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCENRICH_")}
    env.update(
        DOCENRICH_REDIS_URL=redis_url,
        DOCENRICH_WORKER_HEARTBEAT_SECONDS="1",
        DOCENRICH_LOG_LEVEL="WARNING",
        OMP_NUM_THREADS="1",
        PYTHONUNBUFFERED="1",
    )
    env.update(overrides)
    return env


class Proc:
    """A child process whose output goes to a log file the test report can show."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self.log = self.log_path.open("wb")
        self.popen = subprocess.Popen(args, env=env, cwd=REPO, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, timeout: float = 15.0) -> None:
        if self.alive():
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait()
        self.log.close()

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "services.cli", *args]


def start_worker(name: str, queues: str, env: dict[str, str], log_dir: Path, concurrency: int = 1) -> Proc:
    return Proc(name, cli("worker", "--queues", queues, "--concurrency", str(concurrency), "--loglevel", "WARNING"), env, log_dir)


def start_api(name: str, env: dict[str, str], log_dir: Path) -> tuple[Proc, str]:
    port = free_port()
    proc = Proc(name, cli("api", "--port", str(port)), env, log_dir)
    url = f"http://127.0.0.1:{port}"
    wait_for(lambda: http_ok(url + "/healthz"), 30, f"{name} never answered /healthz:\n{proc.tail()}", proc)
    return proc, url


def http_ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def wait_ready(url: str, timeout: float, procs: list[Proc]) -> None:
    tails = lambda: "\n".join(f"--- {p.name}\n{p.tail()}" for p in procs)  # noqa: E731
    wait_for(lambda: http_ok(url + "/readyz"), timeout, "the stack never became ready", None, tails)


def wait_for(predicate, timeout: float, message: str, proc: Proc | None = None, extra=None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        if proc is not None and not proc.alive():
            break
        time.sleep(0.1)
    raise RuntimeError(message + ("\n" + extra() if extra else ""))


class Stack:
    """A private stack (own redis-server, workers, API) for tests that break things."""

    def __init__(self, tmp: Path, workers: dict[str, str], redis_url: str | None = None, **settings: str) -> None:
        from services.core.embedded_redis import EmbeddedRedis

        self.tmp = tmp
        self.redis = None if redis_url else EmbeddedRedis(tmp / "redis")
        self.redis_url = redis_url
        self.worker_specs = workers
        self.settings = settings
        self.workers: dict[str, Proc] = {}
        self.api: Proc | None = None
        self.url = ""

    def __enter__(self) -> "Stack":
        if self.redis is not None:
            self.redis.start()
            self.redis_url = self.redis.url
        self.env = base_env(self.redis_url, **self.settings)
        for name, queues in self.worker_specs.items():
            self.add_worker(name, queues)
        self.api, self.url = start_api("api", self.env, self.tmp)
        wait_ready(self.url, 180, [self.api, *self.workers.values()])
        return self

    def add_worker(self, name: str, queues: str, concurrency: int = 1) -> Proc:
        self.workers[name] = start_worker(name, queues, self.env, self.tmp, concurrency)
        return self.workers[name]

    def __exit__(self, *exc: object) -> None:
        for proc in [*self.workers.values(), self.api]:
            if proc is not None:
                proc.stop()
        if self.redis is not None:
            self.redis.stop()

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.tail()}" for p in [*self.workers.values(), self.api] if p is not None)
