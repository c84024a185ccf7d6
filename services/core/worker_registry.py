"""Which queues have a live consumer: workers publish a short-lived heartbeat key."""

from __future__ import annotations

import orjson
import redis

from services.core.job_store import PREFIX

KEY_PREFIX = f"{PREFIX}:worker:"


def publish(client: redis.Redis, hostname: str, body: dict, ttl: int) -> None:
    client.set(KEY_PREFIX + hostname, orjson.dumps(body), ex=ttl)


def withdraw(client: redis.Redis, hostname: str) -> None:
    client.delete(KEY_PREFIX + hostname)


def live_workers(client: redis.Redis) -> dict[str, list[str]]:
    """queue -> hostnames with a fresh heartbeat."""
    keys = list(client.scan_iter(match=KEY_PREFIX + "*", count=500))
    by_queue: dict[str, list[str]] = {}
    for raw in client.mget(keys) if keys else []:
        if raw:
            info = orjson.loads(raw)
            for queue in info["queues"]:
                by_queue.setdefault(queue, []).append(info["hostname"])
    return by_queue
