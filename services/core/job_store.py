"""Jobs in Redis: the source of truth for every job and task state.

One hash per job (``docenrich:job:<id>``) holds the request, the document facts and one
JSON field per task; the extracted text lives beside it (``docenrich:text:<id>``). Both
expire after ``DOCENRICH_RESULT_TTL``. Task transitions go through Lua scripts that
refuse to leave a terminal state, so a task delivered twice (worker killed, broker
redelivery) never overwrites or duplicates a result; ``writes:<task>`` counts the
terminal writes that actually happened. The write of a job's last outcome also records
the job's end (final status, counters) in the same step.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from datetime import datetime
from typing import Any, Callable

import orjson
import redis

from services.core import timeutil

TASK_NAMES: tuple[str, ...] = ("language", "entities", "summary")
# Webhook deliveries have their own queue so slow receivers never delay enrichment.
WEBHOOK_QUEUE = "webhooks"
ALL_QUEUES: tuple[str, ...] = (*TASK_NAMES, WEBHOOK_QUEUE)
TERMINAL = frozenset({"succeeded", "failed", "skipped", "cancelled"})
PREFIX = "docenrich"

# A new job in one server-side step: its hash (with expiry), its text, its entry in the
# active set, and the first task messages (when the broker is this Redis). One command and
# one reply instead of a MULTI of six to nine, whose queued replies redis-py parses one by
# one: that parsing was a quarter of the API's CPU per POST (py-spy, bench section c).
# KEYS: job hash, text, active set, then one queue list per message.
# ARGV: ttl, text, score, job id, 2 x number of fields, the fields, one message per queue.
_CREATE = """
local ttl = tonumber(ARGV[1])
local n = tonumber(ARGV[5])
redis.call('HSET', KEYS[1], unpack(ARGV, 6, 5 + n))
redis.call('EXPIRE', KEYS[1], ttl)
redis.call('SET', KEYS[2], ARGV[2], 'EX', ttl)
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[4])
for i = 4, #KEYS do
  redis.call('LPUSH', KEYS[i], ARGV[5 + n + i - 3])
end
return 1
"""

_CREATE_SHA = hashlib.sha1(_CREATE.encode()).hexdigest()

# A guarded task transition (start, cancel). KEYS: job hash. ARGV: field, state, now,
# allowed statuses, count the write (1/0), channel to notify (optional).
_TRANSITION = """
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if not cur then return -2 end
local status = cjson.decode(cur)['status']
if not string.find(',' .. ARGV[4] .. ',', ',' .. status .. ',', 1, true) then return -1 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2], 'updated_at', ARGV[3])
if ARGV[5] == '1' then redis.call('HINCRBY', KEYS[1], 'writes:' .. string.sub(ARGV[1], 6), 1) end
if ARGV[6] then redis.call('PUBLISH', ARGV[6], 'changed') end
return 1
"""

# The job's end, if every task is done and nobody recorded it yet: its status derived as
# ``overall_status`` does, set once as final_status, the job counted and taken out of the
# active set. Returns 1; 2 when this call recorded the end; 3 when it did and the job has
# a callback URL (the caller then runs the job-end listeners: a job without one costs no
# read). KEYS: job hash, active set, stats hash. ARGV[1]: job id.
_END = """
local n, succeeded, cancelled = 0, 0, false
for _, name in ipairs(cjson.decode(redis.call('HGET', KEYS[1], 'tasks') or '[]')) do
  local state = redis.call('HGET', KEYS[1], 'task:' .. name)
  local s = state and cjson.decode(state)['status'] or 'pending'
  if s == 'pending' or s == 'running' then return 1 end
  n = n + 1
  if s == 'succeeded' then succeeded = succeeded + 1 elseif s == 'cancelled' then cancelled = true end
end
local final = 'failed'
if cancelled then final = 'cancelled' elseif succeeded == n then final = 'succeeded'
elseif succeeded > 0 then final = 'partially_succeeded' end
redis.call('ZREM', KEYS[2], ARGV[1])
if redis.call('HSETNX', KEYS[1], 'final_status', final) == 0 then return 1 end
redis.call('HINCRBY', KEYS[3], 'jobs_' .. final, 1)
if (redis.call('HGET', KEYS[1], 'callback_url') or '') ~= '' then return 3 end
return 2
"""

# A task's outcome, and what follows from it, in one step: the guarded write (running or
# pending -> terminal; a duplicate gets -1, a vanished job -2), the change notice, the
# duration histogram (only for a write that happened) and then ``_END``, so the last
# outcome of a job records its end in the same step. Returns as ``_END`` does.
# KEYS: job hash, active set, stats hash, duration histogram.
# ARGV: job id, field, state, now, channel, histogram bucket / sum / count fields ('' for
# none), seconds.
_FINISH = """
local cur = redis.call('HGET', KEYS[1], ARGV[2])
if not cur then return -2 end
local status = cjson.decode(cur)['status']
if status ~= 'pending' and status ~= 'running' then return -1 end
redis.call('HSET', KEYS[1], ARGV[2], ARGV[3], 'updated_at', ARGV[4])
redis.call('HINCRBY', KEYS[1], 'writes:' .. string.sub(ARGV[2], 6), 1)
redis.call('PUBLISH', ARGV[5], 'changed')
if ARGV[6] ~= '' then
  redis.call('HINCRBY', KEYS[4], ARGV[6], 1)
  redis.call('HINCRBYFLOAT', KEYS[4], ARGV[7], ARGV[9])
  redis.call('HINCRBY', KEYS[4], ARGV[8], 1)
end
""" + _END

# Downstream task messages of a job, sent once: the "dispatched" mark and the pushes in one
# atomic step, so a redelivered language task neither fans out again nor, dying halfway,
# leaves a mark without messages. KEYS: job hash, then one queue per message; ARGV: messages.
_DISPATCH = """
if redis.call('HSETNX', KEYS[1], 'dispatched', '1') == 0 then return 0 end
for i = 2, #KEYS do
  redis.call('LPUSH', KEYS[i], ARGV[i - 1])
end
return 1
"""


def job_key(job_id: str) -> str:
    return f"{PREFIX}:job:{job_id}"


def text_key(job_id: str) -> str:
    return f"{PREFIX}:text:{job_id}"


STATS_KEY = f"{PREFIX}:stats"
# Unfinished jobs scored by their last progress: what the sweeper looks through.
ACTIVE_KEY = f"{PREFIX}:active"
# Task durations as Prometheus histogram buckets, written by every worker process and
# read by the API's collector: fields "<task>|<language>|<le>" (non-cumulative counts),
# "<task>|<language>|sum" and "<task>|<language>|count".
DURATION_KEY = f"{PREFIX}:task_seconds"
DURATION_BUCKETS: tuple[float, ...] = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
# Jobs whose webhook is not delivered (nor given up) yet, scored by when the next attempt
# is due: the sweeper sends again the ones whose message died with a worker.
WEBHOOK_PENDING_KEY = f"{PREFIX}:webhooks_pending"

log = logging.getLogger("docenrich.store")
_job_end_listeners: list[Callable[["JobStore", dict[str, Any]], None]] = []


def events_channel(job_id: str) -> str:
    """Pub/sub channel that hears a message whenever the job's state changes."""
    return f"{PREFIX}:events:{job_id}"


def on_job_end(listener: Callable[["JobStore", dict[str, Any]], None]) -> None:
    """Call ``listener(store, job)`` once per job that has a callback URL, in the process
    that ended it (a worker, or the API for a cancel). Used for webhooks; a failing
    listener is logged, not raised."""
    if listener not in _job_end_listeners:
        _job_end_listeners.append(listener)


def new_job_id() -> str:
    return secrets.token_hex(12)


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def _task_state(status: str, **extra: Any) -> dict[str, Any]:
    state = {"status": status, "started_at": None, "finished_at": None, "error": None, "result": None}
    state.update(extra)
    return state


def _duration_fields(task: str, language: str, started_at: str, finished_at: str) -> tuple[str, str, str, float]:
    """The duration histogram's bucket, sum and count fields for one finished task, and
    its seconds."""
    try:
        seconds = max(0.0, (datetime.fromisoformat(finished_at) - datetime.fromisoformat(started_at)).total_seconds())
    except ValueError:
        seconds = 0.0
    le = next((repr(float(b)) for b in DURATION_BUCKETS if seconds <= b), "+Inf")
    prefix = f"{task}|{language}|"
    return prefix + le, prefix + "sum", prefix + "count", seconds


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
        self._end = client.register_script(_END)
        self._finish = client.register_script(_FINISH)
        self._dispatch = client.register_script(_DISPATCH)

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
        messages: Callable[[str], list[tuple[str, bytes]]] | None = None,
    ) -> tuple[dict[str, Any], bool]:
        """Store a job and its text. Returns (job, created); with an idempotency key
        already used by this tenant, returns the earlier job and ``created=False``.
        ``messages(job_id)`` may give (queue, message) pairs to push in the same atomic
        step (when the broker is this Redis): job and messages land together or not at all."""
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
        record = self._new_record(
            job_id, tenant=tenant, document=document, tasks=tasks, language=language, options=options,
            metadata=metadata, callback_url=callback_url, fingerprint=fingerprint,
        )
        keys, args = self._create_call(job_id, record, text, messages)
        try:
            self.redis.evalsha(_CREATE_SHA, len(keys), *keys, *args)
        except redis.exceptions.NoScriptError:  # first use on this server: EVAL caches it
            self.redis.eval(_CREATE, len(keys), *keys, *args)
        # The record just written, not read back: one round trip less per POST.
        return to_public(record), True

    async def create_async(
        self,
        client: Any,
        *,
        tenant: str,
        text: str,
        document: dict[str, Any],
        tasks: list[str],
        language: str | None,
        options: dict[str, Any],
        metadata: dict[str, Any],
        callback_url: str | None,
        fingerprint: str | None = None,
        messages: Callable[[str], list[tuple[str, bytes]]] | None = None,
    ) -> dict[str, Any]:
        """``create`` without an idempotency key on an asyncio client (``redis.asyncio``):
        the API's hot path, one round trip and no thread hop. Same record, same script."""
        job_id = new_job_id()
        record = self._new_record(
            job_id, tenant=tenant, document=document, tasks=tasks, language=language, options=options,
            metadata=metadata, callback_url=callback_url, fingerprint=fingerprint,
        )
        keys, args = self._create_call(job_id, record, text, messages)
        try:
            await client.evalsha(_CREATE_SHA, len(keys), *keys, *args)
        except redis.exceptions.NoScriptError:
            await client.eval(_CREATE, len(keys), *keys, *args)
        return to_public(record)

    def _new_record(
        self,
        job_id: str,
        *,
        tenant: str,
        document: dict[str, Any],
        tasks: list[str],
        language: str | None,
        options: dict[str, Any],
        metadata: dict[str, Any],
        callback_url: str | None,
        fingerprint: str | None,
    ) -> dict[str, str]:
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
        return record

    def _create_call(self, job_id: str, record: dict[str, str], text: str,
                     messages: Callable[[str], list[tuple[str, bytes]]] | None) -> tuple[list, list]:
        """KEYS and ARGV of the create script."""
        pushes = messages(job_id) if messages is not None else []
        fields = [x for kv in record.items() for x in kv]
        keys = [job_key(job_id), text_key(job_id), ACTIVE_KEY, *(queue for queue, _ in pushes)]
        args = [self.ttl, text, timeutil.now().timestamp(), job_id, len(fields), *fields, *(m for _, m in pushes)]
        return keys, args

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

    def record(self, job_id: str) -> dict[str, Any] | None:
        """The job whatever its tenant (for workers; the API uses ``get``)."""
        return self._record(job_id)

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
        self._notify(job_id)
        self.record_end(job_id)
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
        # The script publishes the change itself: one round trip.
        (ok,) = self.pipeline_with_scripts(lambda pipe: self._start_in(pipe, job_id, task, state, now))
        return now if ok == 1 else None

    def load_and_start(self, job_id: str, task: str) -> tuple[dict[str, str], str | None, str | None] | None:
        """``load`` and ``start_task`` in one round trip: (record, text, started_at), the
        record as it was before the start; None when the job expired or never was."""
        now = timeutil.iso_now()
        state = _dumps(_task_state("running", started_at=now))

        def build(pipe: redis.client.Pipeline) -> None:
            pipe.hgetall(job_key(job_id))
            pipe.get(text_key(job_id))
            self._start_in(pipe, job_id, task, state, now)

        record, text, ok = self.pipeline_with_scripts(build)
        if not record:
            return None
        return record, text, now if ok == 1 else None

    def _start_in(self, pipe: redis.client.Pipeline, job_id: str, task: str, state: str, now: str) -> None:
        """Queue the pending/running -> running transition (which publishes the change)."""
        args = [f"task:{task}", state, now, "pending,running", "0", events_channel(job_id)]
        pipe.evalsha(self._transition.sha, 1, job_key(job_id), *args)

    def pipeline_with_scripts(self, build: Callable[[redis.client.Pipeline], None]) -> list[Any]:
        """Run a pipeline holding EVALSHAs of this store's scripts. redis-py would ask
        SCRIPT EXISTS before every such pipeline (a round trip); instead load the scripts
        only when Redis says it does not know one (new or restarted server), then rerun.
        The scripts refuse a second transition, end or dispatch, and everything else in
        these pipelines is a read or an idempotent write, so running it twice is harmless."""
        for attempt in (1, 2):
            pipe = self.redis.pipeline(transaction=False)
            build(pipe)
            try:
                return pipe.execute()
            except redis.exceptions.NoScriptError:
                if attempt == 2:
                    raise
                for script in (_TRANSITION, _FINISH, _END, _DISPATCH):
                    self.redis.script_load(script)
        raise AssertionError("unreachable")

    def finish_task(
        self,
        job_id: str,
        task: str,
        status: str,
        *,
        started_at: str | None,
        result: Any = None,
        error: dict[str, Any] | None = None,
        language: str | None = None,
        then: Callable[[redis.client.Pipeline], None] | None = None,
    ) -> bool:
        """Record a task's outcome; False when it was already terminal (a duplicate).

        ``language``: the document's language, for the duration metrics (the language
        task counts under the language it found). ``then``: writes to send in the same
        round trip, after the outcome (the language task sets the detected language and
        dispatches the rest). One round trip; when this ended a job that has a callback
        URL and job-end listeners exist (webhooks), a second reads the record for them."""
        assert status in TERMINAL
        now = timeutil.iso_now()
        state = _dumps(_task_state(status, started_at=started_at, finished_at=now, result=result, error=error))
        if task == "language" and isinstance(result, dict) and result.get("code"):
            language = result["code"]
        duration = _duration_fields(task, language or "und", started_at, now) if started_at else ("", "", "", 0.0)

        def build(pipe: redis.client.Pipeline) -> None:
            keys = [job_key(job_id), ACTIVE_KEY, STATS_KEY, DURATION_KEY]
            pipe.evalsha(self._finish.sha, len(keys), *keys, job_id, f"task:{task}", state, now, events_channel(job_id), *duration)
            if then is not None:
                then(pipe)

        reply = self.pipeline_with_scripts(build)[0]
        if reply == 3:
            self._job_ended(job_id)
        return reply in (1, 2, 3)

    def dispatch_in(self, pipe: redis.client.Pipeline, job_id: str, pushes: list[tuple[str, bytes]]) -> None:
        """Queue the once-only dispatch of ``pushes`` ((queue, message)) on ``pipe``: the
        messages go out only if the job was not dispatched before."""
        keys = [job_key(job_id), *(queue for queue, _ in pushes)]
        pipe.evalsha(self._dispatch.sha, len(keys), *keys, *(message for _, message in pushes))

    def record_end(self, job_id: str) -> None:
        """Record the job's end (final status, stats, job-end listeners such as the
        webhook) if every task is done and nobody did yet: the part of ``finish_task``
        that a write cut off (Redis went away in between), or a cancel. Once only, even
        when a retry and the sweeper run it at the same instant."""
        if self._end(keys=[job_key(job_id), ACTIVE_KEY, STATS_KEY], args=[job_id]) == 3:
            self._job_ended(job_id)

    def _job_ended(self, job_id: str) -> None:
        """Run the job-end listeners (once per job: the caller recorded the end)."""
        if not _job_end_listeners:
            return
        record = self._record(job_id)
        if record is None:
            return
        for listener in _job_end_listeners:
            try:
                listener(self, record)
            except Exception:
                log.exception("job-end listener failed", extra={"job_id": job_id})

    def _notify(self, job_id: str) -> None:
        try:
            self.redis.publish(events_channel(job_id), "changed")
        except redis.RedisError:
            pass  # live progress is best effort; readers also poll

    # ---- webhooks -------------------------------------------------------------------

    def record_webhook_attempt(self, job_id: str, attempt: dict[str, Any], delivered: bool) -> int:
        """Append one delivery attempt; returns its number (1-based). HINCRBY numbers
        attempts uniquely even if a redelivered task runs twice."""
        number = self.redis.hincrby(job_key(job_id), "webhook_attempts", 1)
        mapping = {f"webhook_attempt:{number}": _dumps({"attempt": number, **attempt})}
        if delivered:
            mapping["webhook_delivered"] = "1"
        self.redis.hset(job_key(job_id), mapping=mapping)
        return number

    def webhook_delivered(self, job_id: str) -> bool:
        return self.redis.hget(job_key(job_id), "webhook_delivered") == "1"

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
        "webhook": _webhook(raw),
        "writes": {name: int(raw.get(f"writes:{name}", 0)) for name in tasks},
    }


def _webhook(raw: dict[str, str]) -> dict[str, Any] | None:
    if not raw.get("callback_url"):
        return None
    count = int(raw.get("webhook_attempts", 0))
    attempts = [orjson.loads(raw[f"webhook_attempt:{n}"]) for n in range(1, count + 1) if f"webhook_attempt:{n}" in raw]
    return {"url": raw["callback_url"], "delivered": raw.get("webhook_delivered") == "1", "attempts": attempts}


def get_store() -> JobStore:
    """The process-wide store over the one Redis client."""
    from services.core.redis_client import get_redis
    from services.core.settings import get_settings

    global _store
    if _store is None:
        _store = JobStore(get_redis(), get_settings().result_ttl)
    return _store


_store: JobStore | None = None
