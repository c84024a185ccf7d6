"""Jobs in Redis: the source of truth for every job and task state.

One hash per job (``docenrich:job:<id>``) holds the request, the document facts and one
JSON field per task; the extracted text lives beside it (``docenrich:text:<id>``). Both
expire after ``DOCENRICH_RESULT_TTL``. Task transitions go through one Lua script that
refuses to leave a terminal state, so a task delivered twice (worker killed, broker
redelivery) never overwrites or duplicates a result; ``writes:<task>`` counts the
terminal writes that actually happened.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

import orjson
import redis

from services.core import timeutil

TASK_NAMES: tuple[str, ...] = ("language", "entities", "summary")
TERMINAL = frozenset({"succeeded", "failed", "skipped", "cancelled"})
PREFIX = "docenrich"

_TRANSITION = """
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if not cur then return -2 end
local status = cjson.decode(cur)['status']
if not string.find(',' .. ARGV[4] .. ',', ',' .. status .. ',', 1, true) then return -1 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2], 'updated_at', ARGV[3])
if ARGV[5] == '1' then redis.call('HINCRBY', KEYS[1], 'writes:' .. string.sub(ARGV[1], 6), 1) end
return 1
"""


def job_key(job_id: str) -> str:
    return f"{PREFIX}:job:{job_id}"


def text_key(job_id: str) -> str:
    return f"{PREFIX}:text:{job_id}"


STATS_KEY = f"{PREFIX}:stats"


def new_job_id() -> str:
    return secrets.token_hex(12)


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def _task_state(status: str, **extra: Any) -> dict[str, Any]:
    state = {"status": status, "started_at": None, "finished_at": None, "error": None, "result": None}
    state.update(extra)
    return state


def overall_status(states: dict[str, dict[str, Any]]) -> str:
    """Derive the job status from its tasks (never stored, so it cannot disagree)."""
    statuses = [state["status"] for state in states.values()]
    if not statuses:
        return "succeeded"
    if any(s not in TERMINAL for s in statuses):
        if all(s == "pending" for s in statuses):
            return "queued"
        return "running"
    if "cancelled" in statuses:
        return "cancelled"
    if all(s == "succeeded" for s in statuses):
        return "succeeded"
    if "succeeded" in statuses:
        return "partially_succeeded"
    return "failed"


class JobStore:
    def __init__(self, client: redis.Redis, ttl: int) -> None:
        self.redis = client
        self.ttl = ttl
        self._transition = client.register_script(_TRANSITION)

    # ---- API side -------------------------------------------------------------------

    def create(
        self,
        *,
        tenant: str,
        text: str,
        document: dict[str, Any],
        tasks: list[str],
        language: str | None,
        options: dict[str, Any],
        metadata: dict[str, Any],
        callback_url: str | None,
        idempotency_key: str | None = None,
        fingerprint: str | None = None,
    ) -> tuple[dict[str, Any], bool]:
        """Store a job and its text. Returns (job, created); with an idempotency key
        already used by this tenant, returns the earlier job and ``created=False``."""
        job_id = new_job_id()
        idem_key = None
        if idempotency_key:
            idem_key = self._idem_key(tenant, idempotency_key)
            if not self.redis.set(idem_key, job_id, nx=True, ex=self.ttl):
                existing_id = self.redis.get(idem_key)
                existing = self._record(existing_id) if existing_id else None
                if existing is not None:
                    return existing, False
                self.redis.set(idem_key, job_id, ex=self.ttl)  # the earlier job expired
        created = timeutil.iso_now()
        record = {
            "id": job_id,
            "tenant": tenant,
            "created_at": created,
            "updated_at": created,
            "expires_at": timeutil.iso_in(self.ttl),
            "document": _dumps(document),
            "tasks": _dumps(tasks),
            "language_hint": language or "",
            "options": _dumps(options),
            "metadata": _dumps(metadata),
            "callback_url": callback_url or "",
            "fingerprint": fingerprint or "",
        }
        for name in tasks:
            record[f"task:{name}"] = _dumps(_task_state("pending"))
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(job_key(job_id), mapping=record)
        pipe.expire(job_key(job_id), self.ttl)
        pipe.set(text_key(job_id), text, ex=self.ttl)
        pipe.execute()
        return self._record(job_id), True

    def discard(self, job_id: str, tenant: str, idempotency_key: str | None) -> None:
        """Undo ``create`` when the job could not be queued."""
        keys = [job_key(job_id), text_key(job_id)]
        if idempotency_key:
            keys.append(self._idem_key(tenant, idempotency_key))
        self.redis.delete(*keys)

    @staticmethod
    def _idem_key(tenant: str, idempotency_key: str) -> str:
        return f"{PREFIX}:idem:{tenant}:{hashlib.sha256(idempotency_key.encode()).hexdigest()}"

    def get(self, job_id: str, tenant: str) -> dict[str, Any] | None:
        record = self._record(job_id)
        if record is None or record["tenant"] != tenant:
            return None
        return record

    def get_text(self, job_id: str) -> str | None:
        return self.redis.get(text_key(job_id))

    def set_dispatch_ids(self, job_id: str, ids: dict[str, str]) -> None:
        self.redis.hset(job_key(job_id), mapping={f"celery:{name}": tid for name, tid in ids.items()})

    def cancel(self, job_id: str) -> list[str]:
        """Mark every pending task cancelled; returns the Celery ids to revoke."""
        record = self.redis.hgetall(job_key(job_id))
        revoke = []
        for name in orjson.loads(record.get("tasks", "[]")):
            now = timeutil.iso_now()
            state = _dumps(_task_state("cancelled", finished_at=now, error={"code": "cancelled", "message": "Cancelled by the client."}))
            if self._transition(keys=[job_key(job_id)], args=[f"task:{name}", state, now, "pending", "0"]) == 1:
                if record.get(f"celery:{name}"):
                    revoke.append(record[f"celery:{name}"])
        self._maybe_finish(job_id)
        return revoke

    # ---- worker side ----------------------------------------------------------------

    def load(self, job_id: str) -> tuple[dict[str, str], str | None] | None:
        """The raw record and text for a task, or None when the job expired or never was."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.hgetall(job_key(job_id))
        pipe.get(text_key(job_id))
        record, text = pipe.execute()
        if not record:
            return None
        return record, text

    def start_task(self, job_id: str, task: str) -> str | None:
        """pending/running -> running. Returns the start time, or None when the task is
        already terminal (a redelivered duplicate) or the job is gone."""
        now = timeutil.iso_now()
        state = _dumps(_task_state("running", started_at=now))
        ok = self._transition(keys=[job_key(job_id)], args=[f"task:{task}", state, now, "pending,running", "0"])
        return now if ok == 1 else None

    def finish_task(
        self,
        job_id: str,
        task: str,
        status: str,
        *,
        started_at: str | None,
        result: Any = None,
        error: dict[str, Any] | None = None,
    ) -> bool:
        assert status in TERMINAL
        now = timeutil.iso_now()
        state = _dumps(_task_state(status, started_at=started_at, finished_at=now, result=result, error=error))
        ok = self._transition(keys=[job_key(job_id)], args=[f"task:{task}", state, now, "pending,running", "1"]) == 1
        if ok:
            self._maybe_finish(job_id)
        return ok

    def set_detected_language(self, job_id: str, code: str | None) -> None:
        self.redis.hset(job_key(job_id), "detected_language", code or "")

    def _maybe_finish(self, job_id: str) -> None:
        record = self._record(job_id)
        if record is None or record["status"] not in TERMINAL | {"partially_succeeded"}:
            return
        # HSETNX makes the "job ended" bookkeeping happen once even when the last two
        # tasks finish at the same instant on two workers.
        if self.redis.hsetnx(job_key(job_id), "final_status", record["status"]):
            self.redis.hincrby(STATS_KEY, f"jobs_{record['status']}", 1)

    # ---- representation -------------------------------------------------------------

    def _record(self, job_id: str) -> dict[str, Any] | None:
        raw = self.redis.hgetall(job_key(job_id))
        if not raw:
            return None
        return to_public(raw)


def to_public(raw: dict[str, str]) -> dict[str, Any]:
    tasks = {name: orjson.loads(raw[f"task:{name}"]) for name in orjson.loads(raw["tasks"])}
    return {
        "id": raw["id"],
        "status": overall_status(tasks),
        "created_at": raw["created_at"],
        "updated_at": raw["updated_at"],
        "expires_at": raw["expires_at"],
        "tenant": raw["tenant"],
        "language": raw.get("language_hint") or None,
        "document": orjson.loads(raw["document"]),
        "metadata": orjson.loads(raw.get("metadata", "{}")),
        "callback_url": raw.get("callback_url") or None,
        "fingerprint": raw.get("fingerprint") or None,
        "tasks": tasks,
        "writes": {name: int(raw.get(f"writes:{name}", 0)) for name in tasks},
    }


def get_store() -> JobStore:
    """The process-wide store over the one Redis client."""
    from services.core.redis_client import get_redis
    from services.core.settings import get_settings

    global _store
    if _store is None:
        _store = JobStore(get_redis(), get_settings().result_ttl)
    return _store


_store: JobStore | None = None
