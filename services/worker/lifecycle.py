"""Worker process lifecycle: models load in the parent before the pool forks, and a
heartbeat in the job store tells the API which queues have a live consumer."""

from __future__ import annotations

import gc
import logging
import os
import socket
import threading

from celery import signals

from services.core import logging as log_setup
from services.core import timeutil
from services.core import worker_registry
from services.core.settings import get_settings

log = logging.getLogger("docenrich.worker")
_stop = threading.Event()


def _consumed_queues(sender) -> list[str]:
    return sorted(sender.app.amqp.queues.consume_from.keys())


@signals.worker_init.connect
def _preload_models(sender=None, **_: object) -> None:
    from services.nlp import pipeline

    queues = _consumed_queues(sender)
    log.info("loading models for queues %s", ",".join(queues))
    pipeline.preload(queues)
    # Move everything loaded so far out of the garbage collector's reach: a collection in
    # a pool child would otherwise write to the header of every model object and so copy
    # the page it sits on; frozen, those pages stay shared with the parent (bench/ e).
    gc.collect()
    gc.freeze()


_LIBC = None  # glibc's malloc_trim, or False where there is none


def trim_heap() -> None:
    """Give the memory a large document's processing used back to the OS: the Arabic
    per-word caches are emptied, and CPython and glibc keep freed heap for reuse, so a full
    collection and ``malloc_trim`` follow. After a 1 MB document a pool child held ~140 MB
    of its own pages before (bench/ e). Costs a few ms: called only after large documents
    (flows.run_task)."""
    global _LIBC
    from services.nlp import arabic

    arabic.clear_caches()
    gc.collect()
    if _LIBC is None:
        import ctypes

        try:
            _LIBC = ctypes.CDLL("libc.so.6").malloc_trim
        except (OSError, AttributeError):  # not glibc (musl, macOS): the collection is all we can do
            _LIBC = False
    if _LIBC:
        _LIBC(0)


@signals.setup_logging.connect
def _setup_logging(loglevel=None, **_: object) -> None:
    # Connected, this replaces Celery's own logging setup: the worker logs JSON like the API.
    settings = get_settings()
    log_setup.configure(loglevel or settings.log_level, settings.log_format)


@signals.task_prerun.connect
def _task_context(task=None, args=None, **_: object) -> None:
    name = (getattr(task, "name", "") or "").removeprefix("docenrich.")
    job_id = args[0] if args and isinstance(args[0], str) else None
    log_setup.clear_context()
    log_setup.set_context(job_id=job_id, task=name or None)


@signals.task_postrun.connect
def _clear_task_context(**_: object) -> None:
    log_setup.clear_context()


@signals.worker_init.connect
def _install_webhooks(sender=None, **_: object) -> None:
    # Jobs that end in this worker queue their webhook (children inherit it from the parent).
    from services.worker import webhooks

    webhooks.install()


@signals.worker_ready.connect
def _start_heartbeat(sender=None, **_: object) -> None:
    queues = _consumed_queues(sender)
    hostname = getattr(sender, "hostname", None) or f"{socket.gethostname()}-{os.getpid()}"
    thread = threading.Thread(target=_heartbeat, args=(hostname, queues), name="docenrich-heartbeat", daemon=True)
    thread.start()
    threading.Thread(target=_sweeper, args=(hostname,), name="docenrich-sweeper", daemon=True).start()


@signals.worker_shutdown.connect
def _stop_heartbeat(sender=None, **_: object) -> None:
    _stop.set()


def _heartbeat(hostname: str, queues: list[str]) -> None:
    from services.core.redis_client import get_redis

    interval = get_settings().worker_heartbeat_seconds
    body = {"hostname": hostname, "pid": os.getpid(), "queues": queues, "started_at": timeutil.iso_now()}
    while not _stop.is_set():
        try:
            worker_registry.publish(get_redis(), hostname, body, ttl=max(2, int(interval * 3)))
        except Exception:  # Redis away: keep trying; the API reports not-ready meanwhile
            log.warning("heartbeat failed; retrying in %.0fs", interval)
        _stop.wait(interval)
    try:
        worker_registry.withdraw(get_redis(), hostname)
    except Exception:
        pass


SWEEP_LOCK = "docenrich:sweeper"


def _sweeper(hostname: str) -> None:
    """Every interval, one worker of the cluster (whoever takes the lock) re-sends tasks
    and webhooks that stalled because their message was lost (``flows.sweep``,
    ``webhooks.sweep``), and, after a restart of the Redis broker, the tasks whose message
    it lost (``flows.recover_lost_messages``)."""
    from services.core.redis_client import get_redis
    from services.worker import flows, webhooks

    settings = get_settings()
    interval = settings.sweep_interval_seconds
    while not _stop.wait(interval):
        try:
            if get_redis().set(SWEEP_LOCK, hostname, nx=True, ex=max(1, int(interval))):
                flows.recover_lost_messages()
                flows.sweep(settings.stale_after)
                webhooks.sweep(settings.stale_after)
        except Exception:  # Redis away or a bad record: try again next round
            log.warning("sweep failed; retrying in %.0fs", interval, exc_info=True)
