"""The Celery application: JSON only, late acks, one message at a time per process."""

from __future__ import annotations

from celery import Celery
from kombu import Queue

from services.core.job_store import TASK_NAMES, WEBHOOK_QUEUE
from services.core.settings import get_settings


def create_app() -> Celery:
    settings = get_settings()
    app = Celery("docenrich", include=["services.worker.tasks", "services.worker.webhooks", "services.worker.lifecycle"])
    app.conf.update(
        broker_url=settings.effective_broker_url,
        # The job store is the source of truth; Celery keeps no results.
        result_backend=None,
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        result_accept_content=["json"],
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_soft_time_limit=settings.task_soft_time_limit,
        task_time_limit=settings.task_time_limit,
        # No unacked bookkeeping in Redis (kombu's "ack emulation": a MULTI when a message
        # is taken and another at its ack, both blocking the worker's event loop between
        # two tasks; ~2.5 ms of idle child per seed job, README "Speed and memory"). The job store
        # already knows every unfinished task and webhook: the sweeper (lifecycle.py) sends
        # again what made no progress for DOCENRICH_VISIBILITY_TIMEOUT, which also covers
        # the message kombu's bookkeeping could lose. A pool child killed mid-task is still
        # requeued at once (reject on worker loss), and a warm shutdown puts back what the
        # worker held. No effect with RabbitMQ, which acks natively.
        broker_transport_options={"ack_emulation": False},
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,
        task_queues=[Queue(name) for name in (*TASK_NAMES, WEBHOOK_QUEUE)],
        task_default_queue="language",
        task_routes={**{f"docenrich.{name}": {"queue": name} for name in TASK_NAMES}, "docenrich.webhook": {"queue": WEBHOOK_QUEUE}},
        task_create_missing_queues=False,
        worker_hijack_root_logger=False,
        # Celery's monitoring events cost a PUBLISH per task state in every worker and
        # one per message sent (about a third of the queue's CPU per job; bench/). The
        # job store already records every task transition; Flower can still turn worker
        # events on at run time (``celery control enable_events``).
        worker_send_task_events=False,
        task_send_sent_event=False,
        # Keep running through a broker outage: the job store refuses a second write, so
        # a redelivered duplicate is harmless, while a cancelled task would leave its
        # job stalled until the sweeper sends it again.
        worker_cancel_long_running_tasks_on_connection_loss=False,
    )
    return app


app = create_app()
