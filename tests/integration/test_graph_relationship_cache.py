"""svc_graph's relationship cache against the real Redis of the stack, alone and in front of the real
CQL graph (scratch keyspace): a change is never hidden by a read that raced it, and relationships
are still answered when Redis is down."""

from __future__ import annotations

import asyncio
import itertools
import logging
import uuid
from collections.abc import Sequence
from datetime import datetime, timezone

import pytest

from mesh.errors import Unavailable
from mesh.outbox import CqlOutbox
from mesh.system import SnowflakeIds, SystemClock
from svc_graph.adapters.cql_graph import CqlGraphStore
from svc_graph.adapters.cql_users import CqlUserStore
from svc_graph.adapters.redis_relationships import RedisRelationshipCache
from svc_graph.domain import Relationship, User
from svc_graph.service import GraphSettings, Profiles, SocialGraph
from svc_graph.testing import FakeCountCache, FakeUserCache
from tests.integration.scratch import scratch_cql_session, scratch_redis, unreachable_redis

FLAGS = ("following", "followed_by", "blocking", "blocked_by", "muting")


@pytest.fixture
async def redis(stack):
    async with scratch_redis(stack, "rel") as scratch:
        yield scratch


@pytest.fixture
def cache(redis):
    client, prefix = redis
    return RedisRelationshipCache(client, ttl_s=60, prefix=prefix)


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


def graph_over(stores, cache, settings: GraphSettings = GraphSettings()) -> SocialGraph:
    users, graph = stores
    profiles = Profiles(users, FakeUserCache(), graph, FakeCountCache(), settings)
    return SocialGraph(graph, FakeCountCache(), cache, profiles, SnowflakeIds(), SystemClock(), settings)


async def two_users(stores) -> tuple[int, int]:
    users, _ = stores
    found = []
    for _ in range(2):
        user = User(SnowflakeIds().new_id(), f"u{uuid.uuid4().hex[:10]}", "Someone", "", datetime.now(timezone.utc))
        await users.insert_unclaimed(user, "hash")
        assert await users.claim_handle(user.handle, user.user_id, user.create_time)
        found.append(user.user_id)
    return found[0], found[1]


async def test_every_combination_of_flags_is_cached_until_the_subject_is_invalidated(cache):
    combos = [dict(zip(FLAGS, bits)) for bits in itertools.product((False, True), repeat=len(FLAGS))]
    relationships = [Relationship(7, 100 + i, **flags) for i, flags in enumerate(combos)]
    missed = await cache.lookup(7, [r.target_user_id for r in relationships])
    assert missed.hits == {} and missed.version is not None
    await cache.store(7, relationships, missed.version)

    hit = await cache.lookup(7, [100, 131, 999])
    assert hit.hits == {100: relationships[0], 131: relationships[31]}  # 999 was never stored

    await cache.invalidate([8])  # another subject
    assert (await cache.lookup(7, [100])).hits == {100: relationships[0]}
    await cache.invalidate([7])
    assert (await cache.lookup(7, [100, 131])).hits == {}


async def test_a_subject_cached_whole_answers_for_any_target_until_invalidated(cache):
    missed = await cache.lookup(7, [8])
    assert not missed.complete and not missed.too_many
    await cache.store_all(7, [Relationship(7, 8, following=True), Relationship(7, 9, muting=True)], missed.version)

    whole = await cache.lookup(7, [8, 10, 11])
    assert whole.complete and whole.hits == {8: Relationship(7, 8, following=True)}  # 10, 11: no edge

    await cache.invalidate([7])
    assert not (await cache.lookup(7, [8])).complete


async def test_a_subject_with_too_many_edges_is_marked_so_and_cached_per_target(cache):
    missed = await cache.lookup(7, [8])
    await cache.store_all(7, None, missed.version)
    await cache.store(7, [Relationship(7, 8, blocking=True)], missed.version)

    marked = await cache.lookup(7, [8, 9])
    assert marked.too_many and not marked.complete and marked.hits == {8: Relationship(7, 8, blocking=True)}


async def test_a_relationship_read_before_a_change_can_never_be_served_after_it(cache):
    reader_saw = await cache.lookup(7, [8])  # a reader looks up, misses, reads the store...
    await cache.invalidate([7, 8])  # ...meanwhile a follow commits and invalidates...
    await cache.store(7, [Relationship(7, 8)], reader_saw.version)  # ...then it stores what it read

    assert (await cache.lookup(7, [8])).hits == {}  # not served: the next reader reads the store


class StoreHeldBack:
    """The cache in front of the real one, whose stores wait until released."""

    def __init__(self, cache: RedisRelationshipCache):
        self._cache = cache
        self.storing = asyncio.Event()
        self.release = asyncio.Event()

    async def lookup(self, subject_id: int, target_ids: Sequence[int]):
        return await self._cache.lookup(subject_id, target_ids)

    async def store(self, subject_id: int, relationships: Sequence[Relationship], version: str | None) -> None:
        self.storing.set()
        await self.release.wait()
        await self._cache.store(subject_id, relationships, version)

    async def store_all(self, subject_id: int, relationships: Sequence[Relationship] | None, version: str | None) -> None:
        self.storing.set()
        await self.release.wait()
        await self._cache.store_all(subject_id, relationships, version)

    async def invalidate(self, user_ids) -> None:
        await self._cache.invalidate(user_ids)


async def test_a_follow_committed_while_a_reader_computed_is_seen_by_the_next_read(stores, cache):
    ann, bob = await two_users(stores)
    held = StoreHeldBack(cache)
    graph = graph_over(stores, held)

    reader = asyncio.create_task(graph.relationships(ann, [bob]))
    await asyncio.wait_for(held.storing.wait(), 5)  # it read the store: not following yet
    await graph_over(stores, cache).follow(ann, bob)  # the follow commits and invalidates
    held.release.set()  # the reader now stores what it read, late
    (raced,) = await reader
    assert not raced.following  # fine: the read began before the follow

    (ann_sees,) = await graph_over(stores, cache).relationships(ann, [bob])
    (bob_sees,) = await graph_over(stores, cache).relationships(bob, [ann])
    assert ann_sees.following and bob_sees.followed_by


async def test_changes_over_the_real_stores_are_seen_by_the_next_read(stores, cache):
    ann, bob = await two_users(stores)
    graph = graph_over(stores, cache)
    await graph.follow(bob, ann)
    (before,) = await graph.relationships(ann, [bob])
    assert before.followed_by and (await cache.lookup(ann, [bob])).hits == {bob: before}  # cached

    await graph.block(ann, bob)
    (ann_sees,) = await graph.relationships(ann, [bob])
    (bob_sees,) = await graph.relationships(bob, [ann])
    assert (ann_sees.blocking, ann_sees.followed_by, bob_sees.blocked_by, bob_sees.following) == (True, False, True, False)

    await graph.unblock(ann, bob)
    await graph.mute(ann, bob)
    (ann_sees,) = await graph.relationships(ann, [bob])
    assert (ann_sees.blocking, ann_sees.muting) == (False, True)


async def test_a_subject_with_more_edges_than_the_cache_keeps_whole_is_answered_per_target(stores, cache):
    ann, bob = await two_users(stores)
    cat, dan = await two_users(stores)
    graph = graph_over(stores, cache, GraphSettings(max_cached_edges=2))
    for blocker in (bob, cat, dan):
        await graph.block(blocker, ann)

    relationships = await graph.relationships(ann, [bob, cat, dan])
    assert [r.blocked_by for r in relationships] == [True, True, True]
    assert (await cache.lookup(ann, [])).too_many
    await graph.unblock(cat, ann)
    (cat_now,) = await graph.relationships(ann, [cat])
    assert not cat_now.blocked_by and (await cache.lookup(ann, [])).complete  # two blockers: whole again


async def test_with_redis_down_relationships_come_from_the_store_and_changes_ask_for_a_retry(
    stores, dead_redis, caplog
):
    ann, bob = await two_users(stores)
    down = graph_over(stores, RedisRelationshipCache(dead_redis, ttl_s=60, prefix=f"it:rel:{uuid.uuid4().hex[:8]}"))

    with pytest.raises(Unavailable) as refused:
        await down.follow(ann, bob)
    assert refused.value.reason == "RELATIONSHIP_CACHE_UNAVAILABLE" and "retry" in refused.value.message

    with caplog.at_level(logging.WARNING, logger="mesh.redis_versioned"):
        (ann_sees,) = await down.relationships(ann, [bob])
    assert ann_sees.following  # committed before the invalidation failed, read from CQL
    assert "relationships cache unavailable" in caplog.text
