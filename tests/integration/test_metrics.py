"""/metrics: request latency by route and status, task durations written by the worker
processes (through Redis), queue depth and live workers for every queue."""

from __future__ import annotations

import time

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.conftest import KEYS, wait_job


def _samples(api: str) -> list:
    response = httpx.get(f"{api}/metrics", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return [s for family in text_string_to_metric_families(response.text) for s in family.samples]


def _value(samples, name: str, **labels) -> float | None:
    for sample in samples:
        if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
            return sample.value
    return None


def test_task_durations_jobs_and_http_latency(api, client):
    job = client.post("/v1/documents", json={"text": "The weather in London is grey again today.", "tasks": ["language", "summary"]}).json()
    done = wait_job(client, job["id"])
    client.get(f"/v1/jobs/{job['id']}")
    client.get("/v1/jobs/ffffffffffffffffffffffff")
    samples = _samples(api)

    assert _value(samples, "docenrich_task_duration_seconds_count", task="language", language="en") >= 1
    assert _value(samples, "docenrich_task_duration_seconds_bucket", task="language", language="en", le="+Inf") >= 1
    assert _value(samples, "docenrich_task_duration_seconds_sum", task="language", language="en") > 0
    if done["tasks"]["summary"]["status"] == "succeeded":
        assert _value(samples, "docenrich_task_duration_seconds_count", task="summary", language="en") >= 1
    # Buckets are cumulative.
    buckets = [s.value for s in samples if s.name == "docenrich_task_duration_seconds_bucket" and s.labels == {**s.labels, "task": "language", "language": "en"}]
    assert buckets == sorted(buckets)

    assert _value(samples, "docenrich_http_request_duration_seconds_count", method="GET", route="/v1/jobs/{job_id}", status="200") >= 1
    assert _value(samples, "docenrich_http_request_duration_seconds_count", method="GET", route="/v1/jobs/{job_id}", status="404") >= 1
    assert _value(samples, "docenrich_jobs_finished", status=done["status"]) >= 1


def test_queue_depth_and_live_workers_per_queue(api):
    samples = _samples(api)
    for queue in ("language", "entities", "summary", "webhooks"):
        assert _value(samples, "docenrich_queue_depth", queue=queue) is not None, queue
    assert _value(samples, "docenrich_live_workers", queue="language") >= 1
    assert _value(samples, "docenrich_live_workers", queue="entities") >= 1
    assert _value(samples, "docenrich_live_workers", queue="summary") >= 1


def test_container_probes(api, stack_env):
    import subprocess

    from tests.utils.stack import cli

    def probe(*args: str) -> int:
        return subprocess.run(cli("probe", *args), env=stack_env, capture_output=True, timeout=60).returncode

    assert probe("live", "--url", api) == 0
    assert probe("ready", "--url", api) == 0
    assert probe("worker") == 0  # the session's workers run on this host
    assert probe("live", "--url", "http://127.0.0.1:9") == 1


def test_several_api_processes_share_one_port_and_one_metrics_view(stack_env, log_dir, workers):
    """``docenrich api --workers 2``: both processes answer on the port, jobs go through,
    and /metrics counts the requests of every process, whichever process serves the scrape."""
    import psutil

    from tests.utils.stack import start_api

    proc, url = start_api("api-2-workers", {**stack_env, "DOCENRICH_API_WORKERS": "2"}, log_dir)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(psutil.Process(proc.pid).children(recursive=True)) < 2:
            time.sleep(0.1)
        assert len(psutil.Process(proc.pid).children(recursive=True)) >= 2
        headers = {"Authorization": f"Bearer {KEYS['alice']}"}
        with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
            job = client.post("/v1/documents", json={"text": "Rain again in Manchester today.", "tasks": ["language"]})
            assert job.status_code == 202
            assert wait_job(client, job.json()["id"])["tasks"]["language"]["status"] == "succeeded"
            missing = "ffffffffffffffffffffffff"
            n = 60
            for _ in range(n):  # new connections: the kernel spreads them over both processes
                assert httpx.get(f"{url}/v1/jobs/{missing}", headers=headers, timeout=10).status_code == 404
        for _ in range(3):  # any process may answer the scrape: each must report the total
            samples = _samples(url)
            assert _value(samples, "docenrich_http_requests_total", method="GET", route="/v1/jobs/{job_id}", status="404") == n
            assert _value(samples, "docenrich_live_workers", queue="language") >= 1
    finally:
        proc.stop()
