"""The FastAPI application factory."""

from __future__ import annotations

from contextlib import asynccontextmanager

import redis
from fastapi import FastAPI
from fastapi.responses import ORJSONResponse

from services.api import errors
from services.api.limits import BodySizeLimit
from services.api.metrics import Metrics, MetricsMiddleware
from services.api.routes import documents, health, jobs
from services.core.job_store import JobStore
from services.core.redis_client import get_redis
from services.core.settings import Settings, get_settings


def get_application(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        app.state.store.redis.close()

    app = FastAPI(
        title="docenrich",
        version="0.1.0",
        summary="Language, named entities and summaries for documents in Arabic, English and more, with exact offsets.",
        default_response_class=ORJSONResponse,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.tenants_by_key = settings.tenants_by_key
    app.state.store = JobStore(get_redis(settings.redis_url), settings.result_ttl)
    broker = settings.effective_broker_url
    app.state.broker_redis = get_redis(broker) if broker.startswith(("redis://", "rediss://", "unix://")) else None
    app.state.metrics = Metrics(app.state)

    errors.install(app)
    app.include_router(documents.router)
    app.include_router(jobs.router)
    app.include_router(health.router)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_upload_bytes)
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)
    return app
