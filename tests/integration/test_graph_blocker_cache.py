"""svc_graph's blocker cache against the real Redis of the stack, alone and in front of the real CQL
graph (scratch keyspace): a block or an unblock is never hidden by a check that raced it, a user
with more blockers than the cache keeps is still answered exactly, and checks are answered when
Redis is down."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Collection, Sequence
from datetime import datetime, timezone

import pytest

from mesh.errors import Unavailable
from mesh.outbox import CqlOutbox
from mesh.system import SnowflakeIds, SystemClock
from svc_graph.adapters.cql_graph import CqlGraphStore
from svc_graph.adapters.cql_users import CqlUserStore
from svc_graph.adapters.redis_blockers import RedisBlockerCache
from svc_graph.domain import User
from svc_graph.service import GraphSettings, Profiles, SocialGraph
from svc_graph.testing import FakeCountCache, FakeRelationshipCache, FakeUserCache
from tests.integration.scratch import scratch_cql_session, scratch_redis, unreachable_redis


@pytest.fixture
async def redis(stack):
    async with scratch_redis(stack, "blockers") as scratch:
        yield scratch


@pytest.fixture
def cache(redis):
    client, prefix = redis
    return RedisBlockerCache(client, ttl_s=60, prefix=prefix)


@pytest.fixture
async def dead_redis():
    async with unreachable_redis() as client:
        yield client


@pytest.fixture(scope="module")
async def stores(stack):
    async with scratch_cql_session(stack) as session:
        keyspace = session.scratch_keyspace
        outbox = CqlOutbox(session, keyspace)
        yield CqlUserStore(session, keyspace, outbox), CqlGraphStore(session, keyspace, outbox)


def graph_over(stores, cache, *, max_cached_blockers: int = 1000) -> SocialGraph:
    users, graph = stores
    settings = GraphSettings(max_cached_blockers=max_cached_blockers)
    profiles = Profiles(users, FakeUserCache(), graph, FakeCountCache(), settings)
    return SocialGraph(
        graph, FakeCountCache(), FakeRelationshipCache(), cache, profiles, SnowflakeIds(), SystemClock(), settings
    )


async def new_users(stores, count: int) -> list[int]:
    users, _ = stores
    found = []
    for _ in range(count):
        user = User(SnowflakeIds().new_id(), f"u{uuid.uuid4().hex[:10]}", "Someone", "", datetime.now(timezone.utc))
        await users.insert_unclaimed(user, "hash")
        assert await users.claim_handle(user.handle, user.user_id, user.create_time)
        found.append(user.user_id)
    return found


async def test_a_stored_set_answers_any_candidates_until_the_user_is_invalidated(cache):
    missed = await cache.lookup(7, [8, 9])
    assert (missed.among, missed.too_many) == (None, False) and missed.version is not None
    await cache.store(7, [8, 10], missed.version)

    assert (await cache.lookup(7, [8, 9, 11])).among == {8}
    assert (await cache.lookup(7, [10, 8])).among == {8, 10}
    assert (await cache.lookup(7, [9])).among == set()  # the set is complete: 9 does not block 7

    await cache.invalidate([8])  # another user
    assert (await cache.lookup(7, [8])).among == {8}
    await cache.invalidate([7])
    assert (await cache.lookup(7, [8])).among is None


async def test_nobody_and_too_many_are_cached_too(cache):
    await cache.store(7, [], (await cache.lookup(7, [8])).version)
    await cache.store(9, None, (await cache.lookup(9, [8])).version)

    assert (await cache.lookup(7, [8])).among == set()
    nine = await cache.lookup(9, [8])
    assert (nine.among, nine.too_many) == (None, True)


async def test_a_set_read_before_a_block_can_never_be_served_after_it(cache):
    reader_saw = await cache.lookup(7, [8])  # a reader looks up, misses, reads the store...
    await cache.invalidate([7])  # ...meanwhile 8 blocks 7, which commits and invalidates...
    await cache.store(7, [], reader_saw.version)  # ...then it stores what it read: nobody

    assert (await cache.lookup(7, [8])).among is None  # not served: the next check reads the store


class StoreHeldBack:
    """The cache in front of the real one, whose stores wait until released."""

    def __init__(self, cache: RedisBlockerCache):
        self._cache = cache
        self.storing = asyncio.Event()
        self.release = asyncio.Event()

    async def lookup(self, user_id: int, candidate_ids: Sequence[int]):
        return await self._cache.lookup(user_id, candidate_ids)

    async def store(self, user_id: int, blockers: Collection[int] | None, version: str | None) -> None:
        self.storing.set()
        await self.release.wait()
        await self._cache.store(user_id, blockers, version)

    async def invalidate(self, user_ids) -> None:
        await self._cache.invalidate(user_ids)


async def test_a_block_committed_while_a_check_computed_is_seen_by_the_next_check(stores, cache):
    ann, bob = await new_users(stores, 2)
    held = StoreHeldBack(cache)

    checking = asyncio.create_task(graph_over(stores, held).blockers_among(ann, [bob]))
    await asyncio.wait_for(held.storing.wait(), 5)  # it read the store: nobody blocks ann yet
    await graph_over(stores, cache).block(bob, ann)  # the block commits and invalidates
    held.release.set()  # the check now stores what it read, late
    assert await checking == set()  # fine: the check began before the block

    assert await graph_over(stores, cache).blockers_among(ann, [bob]) == {bob}


async def test_blocks_and_unblocks_over_the_real_stores_are_seen_by_the_next_check(stores, cache):
    ann, bob, cat, dan = await new_users(stores, 4)
    graph = graph_over(stores, cache)
    assert await graph.blockers_among(ann, [bob, cat]) == set()  # cached: nobody

    await graph.block(bob, ann)
    await graph.block(ann, dan)  # ann's own block: dan's blockers change, not ann's
    assert await graph.blockers_among(ann, [bob, cat, dan]) == {bob}
    assert (await cache.lookup(ann, [bob, cat])).among == {bob}  # cached whole
    assert await graph.blockers_among(dan, [ann, bob]) == {ann}

    await graph.unblock(bob, ann)
    await graph.block(cat, ann)
    assert await graph.blockers_among(ann, [bob, cat]) == {cat}


async def test_a_user_with_more_blockers_than_the_cache_keeps_is_answered_per_candidate(stores, cache):
    ann, *others = await new_users(stores, 5)
    graph = graph_over(stores, cache, max_cached_blockers=2)
    for blocker in others[:3]:
        await graph.block(blocker, ann)

    assert await graph.blockers_among(ann, others) == set(others[:3])
    assert (await cache.lookup(ann, others)).too_many
    assert await graph.blockers_among(ann, others[2:]) == {others[2]}


async def test_with_redis_down_checks_come_from_the_store_and_blocks_ask_for_a_retry(stores, dead_redis, caplog):
    ann, bob = await new_users(stores, 2)
    down = graph_over(stores, RedisBlockerCache(dead_redis, ttl_s=60, prefix=f"it:blockers:{uuid.uuid4().hex[:8]}"))

    with pytest.raises(Unavailable) as refused:
        await down.block(bob, ann)
    assert refused.value.reason == "BLOCKER_CACHE_UNAVAILABLE" and "retry" in refused.value.message

    with caplog.at_level(logging.WARNING, logger="mesh.redis_versioned"):
        assert await down.blockers_among(ann, [bob]) == {bob}  # committed before the invalidation failed
    assert "blockers cache unavailable" in caplog.text
