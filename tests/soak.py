"""``make soak``: stream N jobs through a real stack while a worker is killed and
restarted and Redis is restarted; then count what came back.

    python -m tests.soak [--jobs 2000] [--workers 3]

Prints ``submitted, completed, failed, lost, duplicated`` and exits non-zero when any
accepted job was lost or any task result was written twice.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import orjson
import redis

from services.core.job_store import job_key
from tests.utils import stack

FINAL = ("succeeded", "partially_succeeded", "failed", "cancelled")
SEED = (Path(__file__).resolve().parents[1] / "seeds" / "000_53360ea83f30db1c.txt").read_text(encoding="utf-8")
TEXTS = [
    SEED[:1200],
    "The city council of Lyon approved a new tram line on Monday after a long debate with residents.",
    "Die Bundesbank in Frankfurt veröffentlichte am Dienstag neue Zahlen zur Inflation in Deutschland.",
    "El Real Madrid ganó en Sevilla gracias a un gol de Vinícius en el último minuto.",
]


def log(message: str) -> None:
    print(f"[soak {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def submit_all(url: str, jobs: int, accepted: list[str], refused: list[int]) -> None:
    with httpx.Client(base_url=url, timeout=30) as http:
        i = 0
        while i < jobs:
            body = {"text": f"{TEXTS[i % len(TEXTS)]}\n#{i}"}
            try:
                response = http.post("/v1/documents", json=body)
            except httpx.HTTPError:
                time.sleep(0.5)
                continue
            if response.status_code == 202:
                accepted.append(response.json()["id"])
                i += 1
            elif response.status_code in (429, 503):
                refused.append(response.status_code)  # not accepted: retry the same document
                time.sleep(float(response.headers.get("retry-after", "1")) / 5)
            else:
                raise SystemExit(f"unexpected {response.status_code}: {response.text}")
            if i and i % 200 == 0 and response.status_code == 202:
                log(f"submitted {i}/{jobs}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=int(os.environ.get("SOAK_JOBS", 2000)))
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=900, help="seconds to wait for every job to end")
    args = parser.parse_args(argv)

    settings = dict(DOCENRICH_VISIBILITY_TIMEOUT="30", DOCENRICH_TASK_SOFT_TIME_LIMIT="20", DOCENRICH_TASK_TIME_LIMIT="25", DOCENRICH_MAX_QUEUE_DEPTH="100000",
                    DOCENRICH_SWEEP_INTERVAL_SECONDS="5")
    with tempfile.TemporaryDirectory(prefix="docenrich-soak-") as tmp:
        workers = {f"w{i}": "language,entities,summary" for i in range(1, args.workers + 1)}
        log(f"starting redis-server, {args.workers} workers and the API (logs in {tmp})")
        with stack.Stack(Path(tmp), workers, **settings) as s:
            accepted: list[str] = []
            refused: list[int] = []
            producer = threading.Thread(target=submit_all, args=(s.url, args.jobs, accepted, refused), daemon=True)
            producer.start()
            started = time.monotonic()

            while len(accepted) < args.jobs // 3 and producer.is_alive():
                time.sleep(0.2)
            log(f"SIGKILL worker w1 (pid {s.workers['w1'].pid}) with {len(accepted)} jobs accepted")
            os.killpg(s.workers["w1"].pid, signal.SIGKILL)
            time.sleep(2)
            s.add_worker("w1-restarted", "language,entities,summary")

            while len(accepted) < 2 * args.jobs // 3 and producer.is_alive():
                time.sleep(0.2)
            log(f"restarting Redis with {len(accepted)} jobs accepted")
            s.redis.stop()
            time.sleep(3)
            s.redis.start()
            producer.join()
            log(f"all {len(accepted)} accepted ({len(refused)} refusals with 429/503 retried); waiting for results")

            client = redis.Redis.from_url(s.redis_url, decode_responses=True)
            pending = set(accepted)
            final: dict[str, str] = {}
            duplicated = 0
            deadline = time.monotonic() + args.timeout
            while pending and time.monotonic() < deadline:
                pipe = client.pipeline(transaction=False)
                batch = list(pending)[:500]
                for job_id in batch:
                    pipe.hgetall(job_key(job_id))
                for job_id, raw in zip(batch, pipe.execute()):
                    # Ended = its end was recorded (final_status, set once after the last
                    # task's write): a job whose tasks all finished but whose end was never
                    # recorded would have no webhook, and counts as lost here.
                    if raw.get("final_status"):
                        pending.discard(job_id)
                        final[job_id] = raw["final_status"]
                        duplicated += any(int(v) > 1 for k, v in raw.items() if k.startswith("writes:"))
                log(f"{len(final)}/{len(accepted)} ended")
                if pending:
                    time.sleep(2)
            elapsed = time.monotonic() - started
            completed = sum(1 for v in final.values() if v in ("succeeded", "partially_succeeded"))
            failed_ids = [k for k, v in final.items() if v not in ("succeeded", "partially_succeeded")]
            failed = len(failed_ids)
            for job_id in failed_ids[:10]:
                raw = client.hgetall(job_key(job_id))
                errors = {k[5:]: (orjson.loads(v).get("error") or {}).get("code") for k, v in raw.items() if k.startswith("task:")}
                log(f"failed job {job_id}: {errors}")
            lost = len(pending)
            print("submitted, completed, failed, lost, duplicated")
            print(f"{len(accepted)}, {completed}, {failed}, {lost}, {duplicated}")
            log(f"{elapsed:.0f}s, {len(accepted) / elapsed:.1f} jobs/s end to end")
            if lost or duplicated:
                log("FAIL: jobs were lost or duplicated; worker and API logs are in " + tmp)
                log(s.logs())
                return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
