"""Worker process lifecycle: models load in the parent before the pool forks, and a
heartbeat in the job store tells the API which queues have a live consumer."""

from __future__ import annotations

import logging
import os
import socket
import threading

from celery import signals

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


@signals.worker_ready.connect
def _start_heartbeat(sender=None, **_: object) -> None:
    queues = _consumed_queues(sender)
    hostname = getattr(sender, "hostname", None) or f"{socket.gethostname()}-{os.getpid()}"
    thread = threading.Thread(target=_heartbeat, args=(hostname, queues), name="docenrich-heartbeat", daemon=True)
    thread.start()


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
