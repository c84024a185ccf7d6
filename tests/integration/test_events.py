"""GET /v1/jobs/{id}/events: live progress as server-sent events, over real HTTP."""

from __future__ import annotations

import httpx
import orjson

from services.client import AsyncClient, Client, parse_sse
from tests.integration.conftest import KEYS, assert_error, wait_job
from tests.utils import aio

TEXT = "Angela Merkel met Emmanuel Macron in Paris. They talked about Europe. Berlin is far away."


def _read_events(client: httpx.Client, job_id: str) -> list[tuple[str, dict]]:
    with client.stream("GET", f"/v1/jobs/{job_id}/events", timeout=60) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        return [(event, orjson.loads(data)) for event, data in parse_sse(response.iter_lines())]


def test_stream_follows_job_until_it_ends(client):
    job = client.post("/v1/documents", json={"text": TEXT}).json()
    events = _read_events(client, job["id"])
    names = [name for name, _ in events]
    assert names[0] == "job" and names[-1] == "end" and names[-2] == "job", names
    assert set(names[:-1]) == {"job"}
    jobs = [body for name, body in events if name == "job"]
    # Each event is a new state, never a repeat.
    assert all(a != b for a, b in zip(jobs, jobs[1:]))
    # Task statuses only move forward.
    order = {"pending": 0, "running": 1, "succeeded": 2, "failed": 2, "skipped": 2, "cancelled": 2}
    for task in jobs[0]["tasks"]:
        ranks = [order[body["tasks"][task]["status"]] for body in jobs]
        assert ranks == sorted(ranks), (task, ranks)
    final = events[-1][1]
    assert final["status"] in ("succeeded", "partially_succeeded")
    assert final == jobs[-1] == client.get(f"/v1/jobs/{job['id']}").json()


def test_stream_of_finished_job_is_one_state_and_end(client):
    job = client.post("/v1/documents", json={"text": "Short and done.", "tasks": ["language"]}).json()
    done = wait_job(client, job["id"])
    events = _read_events(client, job["id"])
    assert [name for name, _ in events] == ["job", "end"]
    assert events[0][1] == events[1][1] == done


def test_stream_is_private_and_404_for_unknown_jobs(api, client, bob):
    job = client.post("/v1/documents", json={"text": "Alice only.", "tasks": ["language"]}).json()
    assert_error(bob.get(f"/v1/jobs/{job['id']}/events"), 404, "job_not_found")
    assert_error(client.get("/v1/jobs/000000000000000000000000/events"), 404, "job_not_found")
    assert_error(httpx.get(f"{api}/v1/jobs/{job['id']}/events"), 401, "missing_api_key")


def test_cancelled_job_ends_the_stream(client):
    # The cancel usually wins the race with the worker; either way the stream ends.
    job = client.post("/v1/documents", json={"text": "Cancel me while someone watches.", "tasks": ["entities"], "language": "en"}).json()
    client.delete(f"/v1/jobs/{job['id']}")
    events = _read_events(client, job["id"])
    assert events[-1][0] == "end"
    assert events[-1][1]["status"] in ("cancelled", "succeeded", "partially_succeeded", "failed")


def test_sync_client_events_and_wait(api):
    with Client(api, api_key=KEYS["alice"]) as sdk:
        job = sdk.submit(TEXT, tasks=["language", "summary"])
        updates = list(sdk.events(job["id"]))
        assert updates[-1]["status"] in ("succeeded", "partially_succeeded")
        assert updates[-1] == sdk.wait(job["id"])
        summary = updates[-1]["tasks"]["summary"]
        if summary["status"] == "succeeded":
            text = sdk.text(job["id"])
            for sentence in summary["result"]["sentences"]:
                assert text[sentence["start"]:sentence["end"]] == sentence["text"]


def test_async_client_events(api):
    async def run() -> list:
        async with AsyncClient(api, api_key=KEYS["alice"]) as sdk:
            job = await sdk.submit(TEXT, tasks=["language"])
            updates = [update async for update in sdk.events(job["id"])]
            assert updates[-1] == await sdk.wait(job["id"])
            return updates

    updates = aio.run(run)
    assert updates[-1]["tasks"]["language"]["status"] == "succeeded"


def test_cli_submit_wait_prints_progress_and_the_job(api, tmp_path):
    import subprocess
    import sys

    path = tmp_path / "note.txt"
    path.write_text("Cairo is the capital of Egypt. The Nile flows north.", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "services.cli", "submit", str(path), "--wait", "--tasks", "language", "--url", api, "--api-key", KEYS["alice"]],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    job = orjson.loads(result.stdout)
    assert job["status"] == "succeeded" and job["tasks"]["language"]["result"]["code"] == "en"
    assert "1/1 succeeded" in result.stderr, result.stderr


def test_idle_stream_keeps_alive_and_ends_at_its_time_limit(redis_server, log_dir):
    # An API on its own database with no worker: the job stays queued.
    import time

    import redis

    from tests.utils import stack

    url = redis_server.url.rsplit("/", 1)[0] + "/14"
    redis.Redis.from_url(url).flushdb()
    env = stack.base_env(url, DOCENRICH_EVENTS_MAX_SECONDS="1.5", DOCENRICH_EVENTS_KEEPALIVE_SECONDS="0.4")
    proc, api_url = stack.start_api("api-events-idle", env, log_dir)
    try:
        job = httpx.post(f"{api_url}/v1/documents", json={"text": "Nobody will process this."}).json()
        started = time.monotonic()
        with httpx.stream("GET", f"{api_url}/v1/jobs/{job['id']}/events", timeout=10) as response:
            lines = list(response.iter_lines())
        elapsed = time.monotonic() - started
    finally:
        proc.stop()
    assert 1.2 < elapsed < 5, elapsed
    assert lines.count("event: job") == 1 and "event: end" not in lines
    assert ": keepalive" in lines
