"""The one Redis client factory (hiredis-backed when installed)."""

from __future__ import annotations

from functools import lru_cache

import redis

from services.core.settings import get_settings


@lru_cache(maxsize=4)
def get_redis(url: str | None = None) -> redis.Redis:
    url = url or get_settings().redis_url
    return redis.Redis.from_url(
        url,
        decode_responses=True,
        socket_connect_timeout=2,
        socket_timeout=5,
        health_check_interval=30,
        retry_on_timeout=True,
    )
