"""docenrich benchmark: ``make bench`` / ``.venv/bin/python -m bench.run [--quick] [--only a,b,...]``.

Sections (each figure is the median of several runs; the 1-minute load average is
recorded with every measurement because the machine is shared):

  a  in-process engine throughput per task (docs/s, words/s) on the seed article and on
     10 K / 100 K / 1 M code-point documents built from real text, and the size exponent
     of the per-document cost (slope of log time vs log size, 10 K .. 1 M).
  b  end-to-end throughput through API + Redis + Celery with 1 and 2 worker processes
     (prefork children), and its ratio to the same documents run in-process in the same
     number of processes (measured interleaved, so both see the same machine load).
  c  POST /v1/documents with the seed article as body, driven by wrk + bench/post.lua:
     latency p50/p99 with 1 and 16 connections, requests/s with 64 (API alone, no worker).
  d  end-to-end latency of the seed article at light load (one job at a time): submit ->
     every task done, from the client's clock to the job's last write.
  e  worker memory: RSS/USS/PSS of the parent after model load, and what each added
     prefork child costs (child USS, and the growth of the total PSS).

Results: bench/results/<name>.json (everything, raw runs included) and
bench/results/latest.md (the table README quotes).
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import math
import multiprocessing
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import orjson

from bench import docs as docmod

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
TASKS = ("language", "entities", "summary")
BIG_CHARS = 500_000  # "1 M" documents (cut at a word boundary just under 1,000,000)
T0 = time.monotonic()

TARGETS = {
    "e2e_ratio": 0.85,
    "post_p99_ms_c1": 5.0,
    "post_p99_ms_c16": 25.0,
    "post_rps_c64": 1500.0,
    "seed_e2e_p50_ms": 150.0,
    "child_mb": 150.0,
}

PLANS = {
    "full": {
        "a_docs": ["seed", "ar-10k", "ar-100k", "ar-1m", "en-10k", "en-100k"],
        "a_budget_s": 0.8,  # per (doc, task): runs until this much time, 3..7 runs
        "a_min_runs": 3,
        "a_max_runs": 7,
        "b_docs": ["seed", "ar-10k", "ar-100k", "ar-1m"],
        "b_run_s": 3.0,  # aim for this much work per run (in-process time x processes)
        "b_runs": 3,
        "b_runs_big": 2,  # the 1 M documents: a run is ~20 s of NER per process (3 would push make bench past 10 min)
        "b_max_docs": 400,
        "c_duration_s": 5,
        "c_runs": 3,
        "d_samples": 40,
    },
    "quick": {
        "a_docs": ["seed", "ar-10k", "ar-100k", "en-10k"],
        "a_budget_s": 0.4,
        "a_min_runs": 3,
        "a_max_runs": 5,
        "b_docs": ["seed", "ar-10k"],
        "b_run_s": 1.5,
        "b_runs": 3,
        "b_runs_big": 1,
        "b_max_docs": 150,
        "c_duration_s": 3,
        "c_runs": 3,
        "d_samples": 15,
    },
}


# ----------------------------------------------------------------------------- helpers


def log(msg: str) -> None:
    elapsed = time.monotonic() - T0
    print(f"[bench {int(elapsed // 60):02d}:{elapsed % 60:04.1f}] {msg}", file=sys.stderr, flush=True)


def load1() -> float:
    return round(os.getloadavg()[0], 2)


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def fit_exponent(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of log(seconds) against log(size)."""
    pts = [(math.log(x), math.log(y)) for x, y in points if x > 0 and y > 0]
    if len(pts) < 2:
        return None
    mx = sum(p[0] for p in pts) / len(pts)
    my = sum(p[1] for p in pts) / len(pts)
    sxx = sum((p[0] - mx) ** 2 for p in pts)
    return round(sum((p[0] - mx) * (p[1] - my) for p in pts) / sxx, 3) if sxx else None


def git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, timeout=5)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO, capture_output=True, text=True, timeout=5)
        return out.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "") if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


# ----------------------------------------------------------------------------- in-process engines


def _load_engines() -> None:
    from services.nlp import pipeline

    t = time.perf_counter()
    pipeline.preload(TASKS)
    log(f"engines loaded in {time.perf_counter() - t:.1f}s")


def run_task(task: str, text: str, language: str | None) -> tuple[str, Any]:
    """One engine call as the worker makes it: ('succeeded'|'skipped'|'failed', result)."""
    from services.core.errors import DocenrichError, TaskSkipped
    from services.nlp import pipeline

    try:
        return "succeeded", pipeline.run(task, text, language=language)
    except TaskSkipped as exc:
        return "skipped", exc.code
    except DocenrichError as exc:
        return "failed", exc.code


def run_job(text: str) -> dict[str, str]:
    """The whole job in-process, as the worker does it: language, then entities and summary
    with the detected language."""
    status, result = run_task("language", text, None)
    code = result.get("code") if status == "succeeded" else None
    language = None if code in (None, "und") else code
    out = {"language": status}
    for task in ("entities", "summary"):
        out[task] = run_task(task, text, language)[0]
    return out


def _timed_runs(call: Callable[[], Any], budget_s: float, min_runs: int, max_runs: int) -> tuple[list[float], int]:
    """Per-call seconds of several runs. A run batches enough calls to last >= 50 ms, so
    tiny documents are not timer noise; the number of runs fits the time budget."""
    t = time.perf_counter()
    call()  # warm (caches, lazy imports)
    first = time.perf_counter() - t
    per_run = max(1, min(200, math.ceil(0.05 / max(first, 1e-6))))
    runs = int(max(min_runs, min(max_runs, budget_s // max(first * per_run, 1e-6))))
    samples = []
    if first > 2.0:  # a long call is its own warm-up: count it as the first run
        samples.append(first)
        runs -= 1
    for _ in range(runs):
        gc.collect()
        t = time.perf_counter()
        for _ in range(per_run):
            call()
        samples.append((time.perf_counter() - t) / per_run)
    return samples, per_run


def section_a(plan: dict, documents: list[docmod.Doc]) -> dict:
    log(f"a: in-process engine throughput on {', '.join(d.name for d in documents)}")
    rows = []
    for doc in documents:
        status, detected = run_task("language", doc.text, None)
        language = detected.get("code") if status == "succeeded" else None
        for task in (*TASKS, "all"):
            load = load1()
            if task == "all" and doc.chars >= BIG_CHARS:
                # The whole job is the sum of its tasks; timing it again would double the
                # longest part of the run (1 M chars of NER is ~30 s a call).
                parts = [r for r in rows if r["doc"] == doc.name and r["task"] in TASKS]
                sec = sum(r["seconds_per_doc"] for r in parts)
                outcome = {r["task"]: r["status"][r["task"]] for r in parts}
                rows.append({
                    "doc": doc.name, "task": task, "chars": doc.chars, "words": doc.words, "language": language,
                    "status": outcome, "seconds_per_doc": sec, "docs_per_s": 1 / sec, "words_per_s": doc.words / sec,
                    "chars_per_s": doc.chars / sec, "runs": [], "calls_per_run": 0, "load1": load, "derived": "sum of the tasks",
                })
                log(f"a: {doc.name:8} {task:9} {sec * 1000:9.2f} ms/doc  (sum of the three tasks)")
                continue
            if task == "all":
                outcome = run_job(doc.text)
                call = lambda: run_job(doc.text)  # noqa: E731
            else:
                outcome = {task: run_task(task, doc.text, None if task == "language" else language)[0]}
                call = lambda task=task: run_task(task, doc.text, None if task == "language" else language)  # noqa: E731
            samples, per_run = _timed_runs(call, plan["a_budget_s"], plan["a_min_runs"], plan["a_max_runs"])
            sec = median(samples)
            row = {
                "doc": doc.name, "task": task, "chars": doc.chars, "words": doc.words, "language": language,
                "status": outcome, "seconds_per_doc": sec, "docs_per_s": 1 / sec, "words_per_s": doc.words / sec,
                "chars_per_s": doc.chars / sec, "runs": [round(s, 6) for s in samples], "calls_per_run": per_run,
                "load1": load,
            }
            rows.append(row)
            log(f"a: {doc.name:8} {task:9} {sec * 1000:9.2f} ms/doc  {1 / sec:9.2f} docs/s  {doc.words / sec:10.0f} words/s  "
                f"{'/'.join(sorted(set(outcome.values())))}  (load {load})")
    exponents = {}
    for lang in sorted({d.language for d in documents}):
        for task in (*TASKS, "all"):
            pts = [(r["chars"], r["seconds_per_doc"]) for r in rows
                   if r["task"] == task and r["doc"].startswith(f"{lang}-") and "skipped" not in r["status"].values()]
            if len(pts) >= 2:
                exponents[f"{lang}/{task}"] = {"exponent": fit_exponent(pts), "sizes": [p[0] for p in pts]}
    for key, value in exponents.items():
        log(f"a: cost ~ size^{value['exponent']} for {key}")
    return {"rows": rows, "size_exponents": exponents}


# ----------------------------------------------------------------------------- in-process, N processes

_POOL_DOCS: list[docmod.Doc] = []


def _pool_job(index: int) -> dict[str, str]:
    return run_job(_POOL_DOCS[index].text)


def _pool_warm(_: int) -> int:
    run_job(_POOL_DOCS[0].text)
    return os.getpid()


class InProcessPool:
    """N forked processes with the engines loaded in the parent (as the prefork worker)."""

    def __init__(self, processes: int, documents: list[docmod.Doc]) -> None:
        global _POOL_DOCS
        _POOL_DOCS = documents
        self.processes = processes
        self.pool = multiprocessing.get_context("fork").Pool(processes)
        pids = set()
        while len(pids) < processes:
            pids.update(self.pool.map(_pool_warm, range(processes * 2), chunksize=1))

    def pids(self) -> list[int]:
        return [p.pid for p in self.pool._pool]  # noqa: SLF001 - the pool's own processes

    def run(self, index: int, count: int) -> float:
        t = time.perf_counter()
        list(self.pool.imap_unordered(_pool_job, [index] * count, chunksize=1))
        return time.perf_counter() - t

    def close(self) -> None:
        self.pool.close()
        self.pool.join()


# ----------------------------------------------------------------------------- CPU accounting


def cpu_seconds(pids: list[int]) -> float:
    """user + system CPU seconds of these processes so far (dead ones count 0)."""
    import psutil

    total = 0.0
    for pid in pids:
        try:
            times = psutil.Process(pid).cpu_times()
            total += times.user + times.system
        except psutil.Error:
            pass
    return total


def stack_pids(stack) -> dict[str, list[int]]:
    """The service's processes by role, for CPU accounting."""
    pids = {"api": stack.api_pids(), "redis": [stack.redis_server.process.pid]}
    if stack.worker is not None:
        pids["worker_parent"] = [stack.worker.pid]
        pids["worker_children"] = [c.pid for c in stack.worker_children()]
    return pids


class CpuMeter:
    def __init__(self, groups: dict[str, list[int]]) -> None:
        self.groups = groups
        self.start = {name: cpu_seconds(pids) for name, pids in groups.items()}

    def stop(self) -> dict[str, float]:
        return {name: cpu_seconds(pids) - self.start[name] for name, pids in self.groups.items()}


# ----------------------------------------------------------------------------- service side


def _iso_ts(value: str) -> float:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


class Client:
    def __init__(self, stack) -> None:
        import httpx

        self.stack = stack
        self.http = httpx.Client(base_url=stack.url, timeout=120)
        self.redis = stack.redis

    def submit(self, body: bytes) -> str:
        response = self.http.post("/v1/documents", content=body, headers={"content-type": "application/json"})
        if response.status_code != 202:
            raise RuntimeError(f"POST /v1/documents answered {response.status_code}: {response.text[:300]}")
        return response.json()["id"]

    def wait(self, job_ids: list[str], timeout: float, poll: float = 0.05) -> list[dict]:
        """Wait until every job has a final status; return their raw records."""
        pending = list(job_ids)
        deadline = time.monotonic() + timeout
        while pending:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{len(pending)} jobs unfinished after {timeout:.0f}s (first {pending[0]}); worker log:\n"
                                   + (self.stack.worker.tail() if self.stack.worker else ""))
            head = pending[:16]
            pipe = self.redis.pipeline(transaction=False)
            for job_id in head:
                pipe.hexists(f"docenrich:job:{job_id}", "final_status")
            done = {job_id for job_id, ok in zip(head, pipe.execute()) if ok}
            if done:
                pending = [j for j in pending if j not in done]
            else:
                time.sleep(poll)
        pipe = self.redis.pipeline(transaction=False)
        for job_id in job_ids:
            pipe.hgetall(f"docenrich:job:{job_id}")
        return pipe.execute()

    def close(self) -> None:
        self.http.close()


def _job_times(record: dict) -> dict:
    tasks = {name: orjson.loads(record[f"task:{name}"]) for name in orjson.loads(record["tasks"])}
    finished = max(_iso_ts(t["finished_at"]) for t in tasks.values() if t.get("finished_at"))
    return {"created": _iso_ts(record["created_at"]), "finished": finished, "tasks": tasks, "final_status": record.get("final_status")}


def queue_gap_ms(times: list[dict], jobs: int) -> float | None:
    """With one worker process the tasks run one after another: the time between one
    task's end and the next one's start (its hand-off through the queue and the job store,
    not engine work) summed and divided by the jobs. The records' times have millisecond
    resolution."""
    spans = sorted((_iso_ts(t["started_at"]), _iso_ts(t["finished_at"]))
                   for x in times for t in x["tasks"].values() if t.get("started_at") and t.get("finished_at"))
    if len(spans) < 2:
        return None
    return sum(max(0.0, b[0] - a[1]) for a, b in zip(spans, spans[1:])) * 1000 / jobs


def _body(doc: docmod.Doc) -> bytes:
    return orjson.dumps({"text": doc.text})


def warm_worker(client: Client, processes: int) -> None:
    seed = _body(docmod.seed())
    ids = [client.submit(seed) for _ in range(processes * 3)]
    client.wait(ids, 300)


def section_b(plan: dict, stack, client: Client, processes: int, documents: list[docmod.Doc], pool: InProcessPool,
              known: dict[str, float]) -> list[dict]:
    rows = []
    for index, doc in enumerate(documents):
        big = doc.chars >= BIG_CHARS
        if doc.name in known:  # seconds per whole job, from section a
            per_doc = known[doc.name]
        else:
            per_doc = pool.run(index, processes) / processes  # calibrate: one document per process
        if big:
            count = processes
        else:
            count = int(min(plan["b_max_docs"], max(processes * 2, math.ceil(plan["b_run_s"] * processes / max(per_doc, 1e-3)))))
            count = max(processes, count - count % processes)
        body = _body(doc)
        e2e, inproc, loads, statuses, e2e_cpu, inproc_cpu, gaps = [], [], [], {}, [], [], []
        runs = plan["b_runs_big"] if big else plan["b_runs"]
        for run in range(runs):
            loads.append(load1())
            meter = CpuMeter(stack_pids(stack))
            t0 = time.time()
            ids = [client.submit(body) for _ in range(count)]
            submitted = time.time() - t0
            records = client.wait(ids, timeout=600 + 60 * count * per_doc)
            times = [_job_times(r) for r in records]
            wall = max(x["finished"] for x in times) - t0
            e2e_cpu.append({k: v * 1000 / count for k, v in meter.stop().items()})
            for x in times:
                statuses[x["final_status"]] = statuses.get(x["final_status"], 0) + 1
            e2e.append(count / wall)
            if processes == 1:
                gaps.append(queue_gap_ms(times, count))
            meter = CpuMeter({"pool": pool.pids()})
            inproc.append(count / pool.run(index, count))
            inproc_cpu.append(meter.stop()["pool"] * 1000 / count)
            stack.flush()
            log(f"b: {processes} proc {doc.name:8} run {run + 1}/{runs}: {count} docs e2e {e2e[-1]:8.2f} docs/s "
                f"(submit {submitted:.2f}s)  in-process {inproc[-1]:8.2f} docs/s  ratio {e2e[-1] / inproc[-1]:.3f}  "
                f"CPU ms/doc e2e {sum(e2e_cpu[-1].values()):.1f} ({', '.join(f'{k} {v:.1f}' for k, v in e2e_cpu[-1].items())}) "
                f"in-process {inproc_cpu[-1]:.1f}" + (f"  queue gap {gaps[-1]:.1f} ms/doc" if gaps and gaps[-1] is not None else "")
                + f"  (load {loads[-1]})")
        cpu_keys = e2e_cpu[0].keys()
        cpu_e2e = {k: median([c[k] for c in e2e_cpu]) for k in cpu_keys}
        row = {
            "doc": doc.name, "processes": processes, "chars": doc.chars, "words": doc.words, "docs_per_run": count, "runs": runs,
            "e2e_docs_per_s": median(e2e), "e2e_words_per_s": median(e2e) * doc.words,
            "inproc_docs_per_s": median(inproc), "ratio": median(e2e) / median(inproc),
            "ratio_runs": [round(a / b, 4) for a, b in zip(e2e, inproc)],
            "e2e_runs": [round(x, 3) for x in e2e], "inproc_runs": [round(x, 3) for x in inproc],
            "job_statuses": statuses, "load1": loads,
            "cpu_ms_per_doc_e2e": cpu_e2e, "cpu_ms_per_doc_e2e_total": sum(cpu_e2e.values()),
            "cpu_ms_per_doc_inproc": median(inproc_cpu),
            "cpu_ratio": median(inproc_cpu) / sum(cpu_e2e.values()) if sum(cpu_e2e.values()) else None,
            "queue_gap_ms_per_doc": median([g for g in gaps if g is not None]) if any(g is not None for g in gaps) else None,
        }
        rows.append(row)
        log(f"b: {processes} proc {doc.name:8} e2e {row['e2e_docs_per_s']:.2f} docs/s, in-process {row['inproc_docs_per_s']:.2f} docs/s, "
            f"ratio {row['ratio']:.3f} (target >= {TARGETS['e2e_ratio']}); CPU ms/doc e2e {row['cpu_ms_per_doc_e2e_total']:.1f} "
            f"vs in-process {row['cpu_ms_per_doc_inproc']:.1f}")
    return rows


def section_d(plan: dict, client: Client, processes: int) -> dict:
    body = _body(docmod.seed())
    samples, phases, loads = [], [], []
    loads.append(load1())
    for i in range(plan["d_samples"]):
        t0 = time.time()
        job_id = client.submit(body)
        post = time.time() - t0
        record = client.wait([job_id], 60, poll=0.002)[0]
        x = _job_times(record)
        samples.append((x["finished"] - t0) * 1000)
        tasks = x["tasks"]
        lang = tasks["language"]
        phases.append({
            "post_ms": post * 1000,
            "queue_language_ms": (_iso_ts(lang["started_at"]) - x["created"]) * 1000,
            "language_ms": (_iso_ts(lang["finished_at"]) - _iso_ts(lang["started_at"])) * 1000,
            **{f"{name}_wait_ms": (_iso_ts(tasks[name]["started_at"]) - _iso_ts(lang["finished_at"])) * 1000
               for name in ("entities", "summary") if tasks[name].get("started_at")},
            **{f"{name}_ms": (_iso_ts(tasks[name]["finished_at"]) - _iso_ts(tasks[name]["started_at"])) * 1000
               for name in ("entities", "summary") if tasks[name].get("started_at")},
        })
        time.sleep(0.05)
    loads.append(load1())
    breakdown = {key: round(median([p[key] for p in phases if key in p]), 2) for key in phases[0]}
    out = {"processes": processes, "samples": len(samples), "p50_ms": median(samples), "p99_ms": percentile(samples, 99),
           "max_ms": max(samples), "breakdown_median_ms": breakdown, "runs_ms": [round(s, 2) for s in samples], "load1": loads}
    log(f"d: {processes} proc seed end-to-end p50 {out['p50_ms']:.1f} ms p99 {out['p99_ms']:.1f} ms "
        f"(target p50 <= {TARGETS['seed_e2e_p50_ms']:.0f}); median phases {breakdown}")
    return out


def _mem(proc) -> dict:
    import psutil

    try:
        info = proc.memory_full_info()
    except psutil.Error:
        return {}
    return {"pid": proc.pid, "rss_mb": info.rss / 2**20, "uss_mb": info.uss / 2**20, "pss_mb": info.pss / 2**20}


def worker_memory(stack) -> dict:
    import psutil

    parent = _mem(psutil.Process(stack.worker.pid))
    children = [_mem(c) for c in stack.worker_children()]
    children = [c for c in children if c]
    return {
        "parent": parent, "children": children,
        "total_pss_mb": parent.get("pss_mb", 0) + sum(c["pss_mb"] for c in children),
        "total_rss_mb": parent.get("rss_mb", 0) + sum(c["rss_mb"] for c in children),
    }


def section_e_summary(mem: dict[int, dict[str, dict]]) -> dict:
    out: dict[str, Any] = {"by_processes": mem}
    if 1 in mem:
        out["parent_after_load_rss_mb"] = mem[1]["after_load"]["parent"]["rss_mb"]
        out["parent_after_load_uss_mb"] = mem[1]["after_load"]["parent"]["uss_mb"]
    for stage in ("after_load", "after_warmup", "after_b"):
        if 1 in mem and 2 in mem and stage in mem[1] and stage in mem[2]:
            out[f"added_child_pss_mb_{stage}"] = mem[2][stage]["total_pss_mb"] - mem[1][stage]["total_pss_mb"]
            kids = mem[2][stage]["children"]
            out[f"child_uss_mb_{stage}"] = max(c["uss_mb"] for c in kids) if kids else None
            out[f"child_rss_mb_{stage}"] = max(c["rss_mb"] for c in kids) if kids else None
    return out


# ----------------------------------------------------------------------------- wrk


def wrk_binary() -> str:
    path = shutil.which("wrk")
    if path is None:
        raise SystemExit(
            "bench: section c needs wrk (an HTTP load generator written in C; a Python client "
            "saturates before the API does).\n  Install it with:  sudo apt-get update && sudo apt-get install -y wrk\n"
            "  (Debian/Ubuntu package 'wrk'; on macOS: brew install wrk), or skip it with --only a,b,d,e"
        )
    return path


def _wrk(url: str, connections: int, duration: int, body_file: str) -> dict:
    threads = 1 if connections < 4 else 2
    cmd = [wrk_binary(), f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--timeout", "10s", "--latency",
           "-s", str(REPO / "bench" / "post.lua"), url, "--", body_file]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60)
    match = re.search(r"^BENCH (\{.*\})$", out.stdout, re.M)
    if out.returncode != 0 or not match:
        raise RuntimeError(f"wrk failed ({out.returncode}): {out.stdout[-800:]} {out.stderr[-800:]}")
    return json.loads(match.group(1))


def _wrk_series(plan: dict, url: str, pids: dict[str, list[int]], body_file: str, flush: Callable[[], None], who: str) -> dict:
    """wrk at 1, 16 and 64 connections against ``url``, ``c_runs`` times each; medians."""
    _wrk(url, 16, 2, body_file)  # warm-up
    flush()
    out = {}
    for connections in (1, 16, 64):
        runs = []
        for run in range(plan["c_runs"]):
            load = load1()
            meter = CpuMeter(pids)
            result = _wrk(url, connections, plan["c_duration_s"], body_file)
            cpu = meter.stop()
            result["cpu_ms_per_request"] = {k: v * 1000 / max(1, result["requests"]) for k, v in cpu.items()}
            result["load1"] = load
            runs.append(result)
            flush()
            log(f"c: {who}: {connections:2d} conn run {run + 1}/{plan['c_runs']}: {result['rps']:7.0f} req/s  p50 {result['p50_us'] / 1000:6.2f} ms  "
                f"p99 {result['p99_us'] / 1000:6.2f} ms  non-2xx {result['errors']['status']}  CPU ms/req api "
                f"{result['cpu_ms_per_request']['api']:.2f} redis {result['cpu_ms_per_request']['redis']:.2f}  (load {load})")
        out[f"c{connections}"] = {
            "connections": connections,
            "rps": median([r["rps"] for r in runs]),
            "p50_ms": median([r["p50_us"] for r in runs]) / 1000,
            "p99_ms": median([r["p99_us"] for r in runs]) / 1000,
            "errors": sum(sum(r["errors"].values()) for r in runs),
            "api_cpu_ms_per_request": median([r["cpu_ms_per_request"]["api"] for r in runs]),
            "redis_cpu_ms_per_request": median([r["cpu_ms_per_request"]["redis"] for r in runs]),
            "runs": runs,
        }
    return out


def section_c(plan: dict, stack) -> dict:
    """Our POST under wrk, then the minimal reference endpoint (bench/ceiling.py) on the
    same Redis with the same script: ``ceiling`` holds its figures, ``share_of_ceiling``
    our requests/s over its requests/s per connection count."""
    from tests.utils.stack import Proc, http_ok, wait_for

    from services.core.embedded_redis import free_port

    with tempfile.NamedTemporaryFile("wb", suffix=".json", delete=False) as handle:
        handle.write(_body(docmod.seed()))
        body_file = handle.name
    redis_pid = stack.redis_server.process.pid
    try:
        out = _wrk_series(plan, stack.url, {"api": stack.api_pids(), "redis": [redis_pid]}, body_file, stack.flush, "docenrich")
        port = free_port()
        ceiling = Proc("ceiling", [sys.executable, "-m", "bench.ceiling", "--port", str(port), "--redis", stack.redis_server.url],
                       stack.env, stack.run_dir)
        url = f"http://127.0.0.1:{port}"
        try:
            wait_for(lambda: http_ok(url + "/healthz"), 60, "the reference endpoint never answered:", ceiling, ceiling.tail)
            from bench.stack import process_tree

            ref = _wrk_series(plan, url, {"api": process_tree(ceiling.pid), "redis": [redis_pid]}, body_file, stack.flush, "ceiling")
        finally:
            ceiling.stop()
        out["ceiling"] = ref
        out["share_of_ceiling"] = {key: out[key]["rps"] / ref[key]["rps"] for key in ("c1", "c16", "c64")}
        return out
    finally:
        os.unlink(body_file)


# ----------------------------------------------------------------------------- report


def _fmt(value: float | None, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:,.{digits}f}"


def _mark(ok: bool | None) -> str:
    return "" if ok is None else (" ✅" if ok else " ❌")


def summary_lines(sec: dict) -> list[str]:
    """One line per target: the measured figure, the target, met or not."""
    rows = []
    for r in sec.get("b", []):
        rows.append((f"end-to-end / in-process throughput, {r['doc']}, {r['processes']} proc", f"{r['ratio']:.3f} (CPU {_fmt(r['cpu_ratio'], 3)})",
                     f"≥ {TARGETS['e2e_ratio']}", r["ratio"] >= TARGETS["e2e_ratio"]))
    c = sec.get("c", {})
    if "c1" in c:
        rows.append(("POST p50 / p99, 1 connection", f"{c['c1']['p50_ms']:.2f} / {c['c1']['p99_ms']:.2f} ms", f"p99 ≤ {TARGETS['post_p99_ms_c1']:.0f} ms", c["c1"]["p99_ms"] <= TARGETS["post_p99_ms_c1"]))
    if "c16" in c:
        rows.append(("POST p50 / p99, 16 connections", f"{c['c16']['p50_ms']:.2f} / {c['c16']['p99_ms']:.2f} ms", f"p99 ≤ {TARGETS['post_p99_ms_c16']:.0f} ms", c["c16"]["p99_ms"] <= TARGETS["post_p99_ms_c16"]))
    if "c64" in c:
        rows.append(("POST requests/s, 64 connections", f"{c['c64']['rps']:,.0f}", f"≥ {TARGETS['post_rps_c64']:,.0f}", c["c64"]["rps"] >= TARGETS["post_rps_c64"]))
    if "share_of_ceiling" in c:
        rows.append(("POST requests/s, 64 connections, as share of the minimal reference endpoint on this machine",
                      f"{c['share_of_ceiling']['c64']:.2f} ({c['c64']['rps']:,.0f} / {c['ceiling']['c64']['rps']:,.0f})",
                      f"{TARGETS['post_rps_c64']:,.0f} / 2,000 = 0.75", c["share_of_ceiling"]["c64"] >= 0.75))
    for r in sec.get("d", []):
        rows.append((f"seed end-to-end p50 / p99, light load, {r['processes']} proc", f"{r['p50_ms']:.1f} / {r['p99_ms']:.1f} ms", f"p50 ≤ {TARGETS['seed_e2e_p50_ms']:.0f} ms", r["p50_ms"] <= TARGETS["seed_e2e_p50_ms"]))
    for key, value in sec.get("a", {}).get("size_exponents", {}).items():
        if key.endswith("/all") and value["exponent"] is not None:
            rows.append((f"cost ~ size^k, whole job, {key.split('/')[0]} ({', '.join(f'{n:,}' for n in value['sizes'])} chars)", f"k = {value['exponent']}", "linear (k ≈ 1)", value["exponent"] <= 1.1))
    e = sec.get("e", {})
    for stage in ("after_b", "after_warmup"):
        if e.get(f"child_uss_mb_{stage}") is not None:
            uss = e[f"child_uss_mb_{stage}"]
            rows.append((f"memory of an added prefork child ({stage.replace('_', ' ')}): USS (RSS)", f"{uss:.0f} MB ({e[f'child_rss_mb_{stage}']:.0f} MB)", f"≤ {TARGETS['child_mb']:.0f} MB", uss <= TARGETS["child_mb"]))
            break
    if e.get("parent_after_load_rss_mb") is not None:
        rows.append(("worker RSS after model load (parent)", f"{e['parent_after_load_rss_mb']:.0f} MB", "", None))
    if not rows:
        return []
    out = ["## Against the targets", "", "| what | measured | target | |", "|---|---|---|---|"]
    out += [f"| {what} | {measured} | {target} | {'' if ok is None else ('✅' if ok else '❌')} |" for what, measured, target, ok in rows]
    return out + [""]


def markdown(result: dict) -> str:
    meta = result["meta"]
    lines = [
        f"# docenrich benchmark — {meta['name']}",
        "",
        f"{meta['started_at']} · commit {meta['commit']} · {meta['cpus']} CPUs · Python {meta['python']} · "
        f"load average {meta['load_start'][0]:.2f} at start, {meta['load_end'][0]:.2f} at end · plan `{meta['plan']}` · {meta['elapsed_s']:.0f} s.",
        "Each figure is the median of several runs (raw runs in the JSON). `make bench` regenerates this file.",
        "",
    ]
    if meta.get("note"):
        lines[3:3] = [f"Note: {meta['note']}"]
    sec = result["sections"]
    lines += summary_lines(sec)
    if "a" in sec:
        lines += ["## a. In-process engines (1 process)", "",
                  "| document | chars | words | task | ms/doc | docs/s | words/s | status | load |",
                  "|---|---:|---:|---|---:|---:|---:|---|---:|"]
        for r in sec["a"]["rows"]:
            lines.append(f"| {r['doc']} | {r['chars']:,} | {r['words']:,} | {r['task']} | {_fmt(r['seconds_per_doc'] * 1000, 2)} | "
                         f"{_fmt(r['docs_per_s'], 2)} | {_fmt(r['words_per_s'], 0)} | {'/'.join(sorted(set(r['status'].values())))} | {r['load1']} |")
        lines += ["", "Per-document cost ~ size^k (least squares on log time vs log size, 10 K → 1 M code points; k = 1 is linear):", "",
                  "| language/task | k |", "|---|---:|"]
        for key, value in sec["a"]["size_exponents"].items():
            lines.append(f"| {key} | {value['exponent']} |")
        lines.append("")
    if "b" in sec:
        lines += ["## b. End-to-end throughput (API + Redis + Celery) vs in-process", "",
                  f"Target: end-to-end ≥ {TARGETS['e2e_ratio']} × in-process in the same number of processes.", "",
                  "CPU columns: CPU time per document summed over API, Redis and worker processes, against the in-process "
                  "pool's; their ratio is what the throughput ratio would be on an otherwise idle machine. Queue gap (1 process): "
                  "the worker's idle time between one task's end and the next one's start, per document — what the queue "
                  "adds to the critical path.", "",
                  "| document | processes | docs × runs | e2e docs/s | e2e words/s | in-process docs/s | ratio | CPU ms/doc e2e | CPU ms/doc in-process | CPU ratio | queue gap ms/doc | load |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
        for r in sec["b"]:
            ok = r["ratio"] >= TARGETS["e2e_ratio"]
            lines.append(f"| {r['doc']} | {r['processes']} | {r['docs_per_run']} × {r.get('runs', len(r['e2e_runs']))} | {_fmt(r['e2e_docs_per_s'], 2)} | {_fmt(r['e2e_words_per_s'], 0)} | "
                         f"{_fmt(r['inproc_docs_per_s'], 2)} | {r['ratio']:.3f}{_mark(ok)} | {_fmt(r['cpu_ms_per_doc_e2e_total'], 1)} | "
                         f"{_fmt(r['cpu_ms_per_doc_inproc'], 1)} | {_fmt(r['cpu_ratio'], 3)} | {_fmt(r.get('queue_gap_ms_per_doc'), 1)} | "
                         f"{'/'.join(str(x) for x in r['load1'])} |")
        lines.append("")
    if "c" in sec:
        c = sec["c"]
        lines += ["## c. POST /v1/documents (seed-sized body, wrk, API alone)", "",
                  f"API processes: {meta.get('api_workers', 1)} (`DOCENRICH_API_WORKERS`).", "",
                  "| connections | requests/s | p50 ms | p99 ms | target | API CPU ms/req | Redis CPU ms/req | errors | load |",
                  "|---:|---:|---:|---:|---|---:|---:|---:|---|"]
        targets = {"c1": ("p99 ≤ 5 ms", c["c1"]["p99_ms"] <= TARGETS["post_p99_ms_c1"]) if "c1" in c else None,
                   "c16": ("p99 ≤ 25 ms", c["c16"]["p99_ms"] <= TARGETS["post_p99_ms_c16"]) if "c16" in c else None,
                   "c64": ("≥ 1,500 req/s", c["c64"]["rps"] >= TARGETS["post_rps_c64"]) if "c64" in c else None}
        for key in ("c1", "c16", "c64"):
            if key not in c:
                continue
            r = c[key]
            text, ok = targets.get(key) or ("", None)
            lines.append(f"| {r['connections']} | {_fmt(r['rps'], 0)} | {_fmt(r['p50_ms'], 2)} | {_fmt(r['p99_ms'], 2)} | {text}{_mark(ok)} | "
                         f"{_fmt(r['api_cpu_ms_per_request'], 2)} | {_fmt(r['redis_cpu_ms_per_request'], 2)} | {r['errors']} | {'/'.join(str(x['load1']) for x in r['runs'])} |")
        lines.append("")
        if "ceiling" in c:
            lines += ["The reference endpoint (`bench/ceiling.py`: FastAPI + uvicorn as ours, JSON body, three pipelined Redis "
                      "writes, nothing else; the issue's \"ceiling to approach\"), same wrk script, same Redis, right after:", "",
                      "| connections | reference requests/s | reference p50 ms | reference p99 ms | reference CPU ms/req | ours as share of reference req/s |",
                      "|---:|---:|---:|---:|---:|---:|"]
            for key in ("c1", "c16", "c64"):
                r = c["ceiling"][key]
                lines.append(f"| {r['connections']} | {_fmt(r['rps'], 0)} | {_fmt(r['p50_ms'], 2)} | {_fmt(r['p99_ms'], 2)} | "
                             f"{_fmt(r['api_cpu_ms_per_request'], 2)} | {c['share_of_ceiling'][key]:.2f} |")
            lines.append("")
    if "d" in sec:
        lines += ["## d. Seed article end-to-end latency at light load (one job at a time)", "",
                  f"Target: p50 ≤ {TARGETS['seed_e2e_p50_ms']:.0f} ms.", "",
                  "| worker processes | samples | p50 ms | p99 ms | median phases (ms) | load |", "|---:|---:|---:|---:|---|---|"]
        for r in sec["d"]:
            phases = ", ".join(f"{k.removesuffix('_ms')} {v}" for k, v in r["breakdown_median_ms"].items())
            lines.append(f"| {r['processes']} | {r['samples']} | {_fmt(r['p50_ms'])}{_mark(r['p50_ms'] <= TARGETS['seed_e2e_p50_ms'])} | "
                         f"{_fmt(r['p99_ms'])} | {phases} | {'/'.join(str(x) for x in r['load1'])} |")
        lines.append("")
    if "e" in sec:
        e = sec["e"]
        lines += ["## e. Worker memory (all queues, models loaded in the parent before fork)", "",
                  "| processes | stage | parent RSS MB | parent USS MB | children RSS MB | children USS MB | total PSS MB |",
                  "|---:|---|---:|---:|---|---|---:|"]
        for n, stages in sorted(e["by_processes"].items(), key=lambda kv: int(kv[0])):
            for stage, m in stages.items():
                kids_rss = ", ".join(_fmt(c["rss_mb"], 0) for c in m["children"])
                kids_uss = ", ".join(_fmt(c["uss_mb"], 0) for c in m["children"])
                lines.append(f"| {n} | {stage} | {_fmt(m['parent'].get('rss_mb'), 0)} | {_fmt(m['parent'].get('uss_mb'), 0)} | "
                             f"{kids_rss} | {kids_uss} | {_fmt(m['total_pss_mb'], 0)} |")
        lines.append("")
        for stage in ("after_load", "after_warmup", "after_b"):
            if f"added_child_pss_mb_{stage}" in e:
                added = e[f"added_child_pss_mb_{stage}"]
                uss = e[f"child_uss_mb_{stage}"]
                lines.append(f"- added prefork child, {stage.replace('_', ' ')}: child USS {_fmt(uss, 0)} MB "
                             f"(target ≤ {TARGETS['child_mb']:.0f} MB){_mark(uss is not None and uss <= TARGETS['child_mb'])}; "
                             f"total PSS {added:+,.0f} MB between the 1- and 2-process workers; child RSS {_fmt(e[f'child_rss_mb_{stage}'], 0)} MB")
        lines.append("")
        lines.append("RSS counts the pages a child shares with the parent (the models) in every process, so it is not what a "
                     "child adds; USS is what only that process holds, i.e. the memory an added child really costs. PSS splits "
                     "shared pages between their users: the PSS total is the worker's real footprint (it moves by a few tens of "
                     "MB between worker starts, so the 1→2 difference is noisy).")
        lines.append("")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer documents and runs (~2 minutes); for a smoke test")
    parser.add_argument("--only", default="a,b,c,d,e", help="comma-separated sections to run (default a,b,c,d,e)")
    parser.add_argument("--name", default=None, help="results file name (default: UTC date-time, plus -quick)")
    parser.add_argument("--processes", default="1,2", help="worker process counts for b/d/e (default 1,2)")
    parser.add_argument("--docs", default=None, help="override the documents of a and b, e.g. seed,ar-10k")
    parser.add_argument("--note", default=None, help="free text stored with the results (what was measured, and on which code)")
    parser.add_argument("--no-latest", action="store_true", help="do not overwrite bench/results/latest.md")
    parser.add_argument("--api-workers", type=int, default=1, help="API processes (DOCENRICH_API_WORKERS; default 1)")
    args = parser.parse_args(argv)

    only = {s.strip() for s in args.only.split(",") if s.strip()}
    unknown = only - set("abcde")
    if unknown:
        parser.error(f"unknown sections {sorted(unknown)}; choose from a,b,c,d,e")
    if "c" in only:
        wrk_binary()  # fail early with the install hint
    plan_name = "quick" if args.quick else "full"
    plan = dict(PLANS[plan_name])
    if args.docs:
        plan["a_docs"] = plan["b_docs"] = [d.strip() for d in args.docs.split(",") if d.strip()]
    process_counts = [int(p) for p in args.processes.split(",")]
    started = dt.datetime.now(dt.timezone.utc)
    name = args.name or started.strftime("%Y-%m-%dT%H%MZ") + ("-quick" if args.quick else "")
    meta = {"name": name, "started_at": started.isoformat(timespec="seconds"), "commit": git_commit(), "cpus": os.cpu_count(),
            "python": platform.python_version(), "platform": platform.platform(), "plan": plan_name, "plan_detail": plan,
            "sections": sorted(only), "load_start": list(os.getloadavg()), "targets": TARGETS, "note": args.note,
            "api_workers": args.api_workers}
    log(f"{name}: sections {','.join(sorted(only))}, plan {plan_name}, load average {meta['load_start'][0]:.2f}")
    sections: dict[str, Any] = {}

    needs_engines = bool(only & {"a", "b"})
    if needs_engines:
        _load_engines()
    if "a" in only:
        sections["a"] = section_a(plan, docmod.documents(plan["a_docs"]))

    if only & {"b", "c", "d", "e"}:
        from bench.stack import Stack

        run_dir = Path(tempfile.mkdtemp(prefix="docenrich-bench-"))
        log(f"starting redis + API (logs in {run_dir})")
        b_docs = docmod.documents(plan["b_docs"]) if "b" in only else []
        with Stack(run_dir, {"DOCENRICH_API_WORKERS": str(args.api_workers)}) as stack:
            client = Client(stack)
            try:
                if "c" in only:
                    log("c: POST /v1/documents under wrk (no worker running)")
                    sections["c"] = section_c(plan, stack)
                if only & {"b", "d", "e"}:
                    mem: dict[int, dict[str, dict]] = {}
                    for processes in process_counts:
                        log(f"starting a worker on all queues with {processes} prefork process(es)")
                        stack.flush()
                        t = time.monotonic()
                        stack.start_worker(processes)
                        log(f"worker ready in {time.monotonic() - t:.1f}s")
                        mem[processes] = {"after_load": worker_memory(stack)}
                        warm_worker(client, processes)
                        mem[processes]["after_warmup"] = worker_memory(stack)
                        if "b" in only:
                            pool = InProcessPool(processes, b_docs)
                            try:
                                known = {r["doc"]: r["seconds_per_doc"] for r in sections.get("a", {}).get("rows", []) if r["task"] == "all"}
                                sections.setdefault("b", []).extend(section_b(plan, stack, client, processes, b_docs, pool, known))
                            finally:
                                pool.close()
                            mem[processes]["after_b"] = worker_memory(stack)
                        if "d" in only:
                            sections.setdefault("d", []).append(section_d(plan, client, processes))
                        if "e" in only:
                            m = mem[processes]
                            log(f"e: {processes} proc: parent RSS {m['after_load']['parent']['rss_mb']:.0f} MB after load; "
                                + "; ".join(f"{stage}: total PSS {v['total_pss_mb']:.0f} MB, children USS "
                                            + ",".join(f"{c['uss_mb']:.0f}" for c in v['children']) + " MB" for stage, v in m.items()))
                        stack.stop_worker()
                    if "e" in only:
                        sections["e"] = section_e_summary(mem)
            finally:
                client.close()
        shutil.rmtree(run_dir, ignore_errors=True)

    meta["load_end"] = list(os.getloadavg())
    meta["elapsed_s"] = time.monotonic() - T0
    result = {"meta": meta, "sections": sections}
    RESULTS.mkdir(parents=True, exist_ok=True)
    out_json = RESULTS / f"{name}.json"
    out_json.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS))
    md = markdown(result)
    (RESULTS / f"{name}.md").write_text(md, encoding="utf-8")
    if not args.no_latest:
        (RESULTS / "latest.md").write_text(md, encoding="utf-8")
    print(md)
    log(f"wrote {out_json.relative_to(REPO)} and {'bench/results/latest.md' if not args.no_latest else out_json.with_suffix('.md').name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
