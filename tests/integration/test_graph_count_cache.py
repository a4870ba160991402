"""svc_graph's follow-count cache against the real Redis of the stack."""

from __future__ import annotations

import pytest

from svc_graph.adapters.redis_counts import RedisCountCache
from svc_graph.domain import FollowCounts
from tests.integration.scratch import scratch_redis


@pytest.fixture
async def cache(stack):
    async with scratch_redis(stack, "counts") as (client, prefix):
        yield RedisCountCache(client, ttl_s=60, prefix=prefix)


async def test_counts_are_cached_until_the_users_follows_change(cache):
    missed = await cache.lookup([1, 2])
    assert missed.hits == {}
    await cache.store({1: FollowCounts(5, 7), 2: FollowCounts(0, 1)}, missed.versions)

    assert (await cache.lookup([1, 2])).hits == {1: FollowCounts(5, 7), 2: FollowCounts(0, 1)}

    await cache.invalidate([1])
    assert (await cache.lookup([1, 2])).hits == {2: FollowCounts(0, 1)}


async def test_a_count_made_before_a_change_can_never_be_served_after_it(cache):
    # a reader looks up, misses, and starts counting...
    reader_saw = await cache.lookup([1])
    # ...meanwhile a follow commits and invalidates...
    await cache.invalidate([1])
    # ...then the reader stores the count it made, which may miss the follow
    await cache.store({1: FollowCounts(10, 0)}, reader_saw.versions)

    assert (await cache.lookup([1])).hits == {}  # not served: the next reader recounts
    fresh = await cache.lookup([1])
    await cache.store({1: FollowCounts(11, 0)}, fresh.versions)
    assert (await cache.lookup([1])).hits == {1: FollowCounts(11, 0)}
