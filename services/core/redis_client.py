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


def async_connection_class() -> type:
    """The asyncio connection class to use: redis-py packs commands in Python on asyncio
    connections (~0.1 ms for a job's MULTI, a sixth of a POST's CPU; bench/), while its
    sync connections use hiredis. This one packs with hiredis too when it is installed."""
    import redis.asyncio.connection as aioconnection

    try:
        from redis.connection import HiredisRespSerializer
        import hiredis  # noqa: F401
    except ImportError:
        return aioconnection.Connection

    serializer = HiredisRespSerializer()

    class HiredisPackedConnection(aioconnection.Connection):
        def pack_command(self, *args):  # type: ignore[override]
            return serializer.pack(*args)

    return HiredisPackedConnection
