"""Prometheus metrics: HTTP latency by route, plus queue depth, live workers and jobs by
final status read from Redis at scrape time (so they are right with many processes)."""

from __future__ import annotations

import os
import time

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.core import worker_registry
from services.core.job_store import ALL_QUEUES, DURATION_BUCKETS, DURATION_KEY, STATS_KEY


class RedisCollector:
    def __init__(self, app_state) -> None:
        self.state = app_state

    def collect(self):
        depth = GaugeMetricFamily("docenrich_queue_depth", "Messages waiting per queue", labels=["queue"])
        workers = GaugeMetricFamily("docenrich_live_workers", "Workers with a fresh heartbeat per queue", labels=["queue"])
        jobs = GaugeMetricFamily("docenrich_jobs_finished", "Jobs that ended, by final status (since the store was created)", labels=["status"])
        webhooks = CounterMetricFamily("docenrich_webhook_attempts", "Webhook delivery attempts by outcome", labels=["outcome"])
        durations = HistogramMetricFamily(
            "docenrich_task_duration_seconds", "Task run time (start to result) by task and language, from every worker", labels=["task", "language"]
        )
        try:
            broker = self.state.broker_redis
            if broker is not None:
                for name in ALL_QUEUES:
                    depth.add_metric([name], broker.llen(name))
            live = worker_registry.live_workers(self.state.store.redis)
            for name in ALL_QUEUES:
                workers.add_metric([name], len(live.get(name, [])))
            for key, value in self.state.store.redis.hgetall(STATS_KEY).items():
                if key.startswith("jobs_"):
                    jobs.add_metric([key[5:]], float(value))
                elif key == "webhooks_delivered":
                    webhooks.add_metric(["delivered"], float(value))
                elif key == "webhooks_failed_attempts":
                    webhooks.add_metric(["failed"], float(value))
            for (task, language), (buckets, total) in task_histograms(self.state.store.redis.hgetall(DURATION_KEY)).items():
                durations.add_metric([task, language], buckets, sum_value=total)
        except Exception:
            pass  # Redis away: /readyz says so; metrics still answer
        yield depth
        yield workers
        yield jobs
        yield webhooks
        yield durations


def task_histograms(raw: dict[str, str]) -> dict[tuple[str, str], tuple[list[tuple[str, float]], float]]:
    """The job store's per-bucket counters -> cumulative Prometheus buckets and sums."""
    series: dict[tuple[str, str], dict[str, float]] = {}
    for field, value in raw.items():
        task, language, le = field.rsplit("|", 2)
        series.setdefault((task, language), {})[le] = float(value)
    out = {}
    for key, fields in series.items():
        running, buckets = 0.0, []
        for bound in DURATION_BUCKETS:
            running += fields.get(repr(float(bound)), 0.0)
            buckets.append((repr(float(bound)), running))
        buckets.append(("+Inf", running + fields.get("+Inf", 0.0)))
        out[key] = (buckets, fields.get("sum", 0.0))
    return out


class Metrics:
    """HTTP counters of this process, plus the Redis-backed collector. With several API
    processes (``docenrich api --workers N``) prometheus_client's multiprocess mode is on
    (PROMETHEUS_MULTIPROC_DIR, set by the CLI): every process writes its samples to files
    there and ``exposition`` sums them, so a scrape answered by any process sees them all."""

    def __init__(self, app_state) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("docenrich_http_requests_total", "HTTP requests", ["method", "route", "status"], registry=self.registry)
        self.latency = Histogram(
            "docenrich_http_request_duration_seconds",
            "HTTP request latency",
            ["method", "route", "status"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            from prometheus_client import multiprocess

            self.exposition = CollectorRegistry()
            multiprocess.MultiProcessCollector(self.exposition)
        else:
            self.exposition = self.registry
        self.exposition.register(RedisCollector(app_state))


class MetricsMiddleware:
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", None) or "unmatched"
            self.metrics.requests.labels(scope["method"], path, str(status)).inc()
            self.metrics.latency.labels(scope["method"], path, str(status)).observe(time.perf_counter() - start)
