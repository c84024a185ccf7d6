"""The FastAPI application factory."""

from __future__ import annotations

import gc
from contextlib import asynccontextmanager

import redis
from fastapi import FastAPI
from services.api.responses import JsonResponse

from services.api import errors, openapi
from services.api.access_log import AccessLog
from services.api.limits import BodySizeLimit
from services.api.metrics import Metrics, MetricsMiddleware
from services.api.routes import documents, events, health, jobs, ui
from services.core.job_store import JobStore
from services.core.redis_client import get_redis
from services.core.settings import Settings, get_settings


def _freeze_startup_objects() -> None:
    """Import what requests import lazily, then exempt everything alive at startup from
    garbage collection: a full collection walked all of it and paused the event loop for
    ~50 ms every second or so under load, which was the whole p99 of POST /v1/documents
    (bench/). Frozen objects are never collected, and these live as long as the process."""
    from services.api import intake

    intake.normalize_language("en")  # imports the language tables
    try:
        import services.nlp.extract  # noqa: F401  (uploads)
    except ImportError:
        pass
    gc.collect()
    gc.freeze()


def get_worker_application() -> FastAPI:
    """The app in one of several API processes (``docenrich api --workers N``): uvicorn
    starts those as fresh interpreters, so each sets up the JSON logging itself."""
    from services.core import logging as log_setup

    settings = get_settings()
    log_setup.configure(settings.log_level, settings.log_format)
    return get_application(settings)


def get_application(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        _freeze_startup_objects()
        yield
        app.state.store.redis.close()
        if getattr(app.state, "async_redis", None) is not None:
            await app.state.async_redis.aclose()

    app = FastAPI(
        title="docenrich",
        version="0.1.0",
        summary="Language, named entities and summaries for documents in Arabic, English and more, with exact offsets.",
        default_response_class=JsonResponse,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.tenants_by_key = settings.tenants_by_key
    app.state.store = JobStore(get_redis(settings.redis_url), settings.result_ttl)
    broker = settings.effective_broker_url
    app.state.broker_redis = get_redis(broker) if broker.startswith(("redis://", "rediss://", "unix://")) else None
    app.state.metrics = Metrics(app.state)
    # A cancel can end a job in the API process: its webhook is queued from here then.
    from services.worker import webhooks

    webhooks.install()

    errors.install(app)
    openapi.install(app)
    # The routers' routes go straight onto the app's router. FastAPI's include_router adds
    # a lazy wrapper that re-derives every included route's version on each request (py-spy
    # under wrk: 13 % of the API's CPU on POST /v1/documents); the routers set no prefix,
    # tags or dependencies at inclusion, and their own are already on each route.
    for r in (documents.router, jobs.router, events.router, health.router, ui.router):
        app.router.routes.extend(r.routes)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_upload_bytes)
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)
    app.add_middleware(AccessLog, tenants_by_key=settings.tenants_by_key)  # outermost: request id for everything
    return app
