"""Back-pressure on the API's event-loop path, against a real redis-server: the queue
depths are read once per refresh however many requests arrive meanwhile, and exactly
near the limit."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis

from services.api import intake
from services.core.embedded_redis import EmbeddedRedis
from services.core.errors import ServiceUnavailable
from services.core.redis_client import get_redis
from services.core.settings import Settings


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with EmbeddedRedis(tmp_path_factory.mktemp("redis"), appendonly=False) as srv:
        yield srv


def _llen_calls(client) -> int:
    return int(client.info("commandstats").get("cmdstat_llen", {}).get("calls", 0))


def _concurrent_checks(url: str, settings: Settings, broker, n: int) -> list[BaseException | None]:
    async def run():
        client = aioredis.from_url(url, decode_responses=True)
        try:
            return await asyncio.gather(
                *(intake.check_capacity_async(settings, broker, client) for _ in range(n)), return_exceptions=True
            )
        finally:
            await client.aclose()

    return asyncio.run(run())


def test_requests_arriving_during_a_refresh_share_it(server):
    broker = get_redis(server.url)
    settings = Settings(max_queue_depth=10_000)
    intake._depth_cache.pop(id(broker), None)
    assert _concurrent_checks(server.url, settings, broker, 1) == [None]  # first read
    intake._depth_cache[id(broker)][0] -= 10  # the cache is now stale by age alone
    before = _llen_calls(broker)
    assert _concurrent_checks(server.url, settings, broker, 32) == [None] * 32
    assert _llen_calls(broker) - before == 3  # one read of the three queues, not 32
    broker.close()


def test_near_the_limit_every_request_reads_and_the_excess_is_refused(server):
    broker = get_redis(server.url)
    settings = Settings(max_queue_depth=10)
    broker.delete("language")
    broker.lpush("language", *["m"] * 9)
    intake._depth_cache.pop(id(broker), None)
    assert _concurrent_checks(server.url, settings, broker, 1) == [None]  # 9 queued + 1 = 10: admitted
    broker.lpush("language", "m")  # another API process accepted one
    before = _llen_calls(broker)
    results = _concurrent_checks(server.url, settings, broker, 4)
    assert _llen_calls(broker) - before == 12  # close to the limit: no request trusts the cache
    assert all(isinstance(r, ServiceUnavailable) and r.code == "queue_full" for r in results)
    broker.delete("language")
    broker.close()
