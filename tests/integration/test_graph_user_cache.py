"""svc_graph's user-row cache against the real Redis of the stack, alone and in front of the real
CQL user store (scratch keyspace): a profile change is never hidden by a read that raced it, and
profiles are still served when Redis is down."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

import pytest

from mesh import ids
from mesh.errors import Unavailable
from mesh.outbox import CqlOutbox
from mesh.system import SnowflakeIds, SystemClock
from svc_graph.adapters.cql_users import CqlUserStore
from svc_graph.adapters.redis_users import RedisUserCache
from svc_graph.domain import ProfileChanges, User
from svc_graph.service import Accounts, GraphSettings, Profiles, RelationshipReader
from svc_graph.testing import FakeCountCache, FakeGraphStore, FakePasswordHasher, FakeRelationshipCache
from tests.integration.scratch import scratch_cql_session, scratch_redis, unreachable_redis

ANN = User(1, "ann", "Ann Ünïcode 🐦", 'says "hi"\nand more', datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=timezone.utc))


@pytest.fixture
async def redis(stack):
    async with scratch_redis(stack, "users") as scratch:
        yield scratch


@pytest.fixture
def cache(redis):
    client, prefix = redis
    return RedisUserCache(client, ttl_s=60, prefix=prefix)


@pytest.fixture
async def dead_redis():
    async with unreachable_redis() as client:
        yield client


@pytest.fixture(scope="module")
async def users(stack):
    async with scratch_cql_session(stack) as session:
        keyspace = session.scratch_keyspace
        yield CqlUserStore(session, keyspace, CqlOutbox(session, keyspace))


def accounts_over(users: CqlUserStore, cache) -> Accounts:
    graph = FakeGraphStore()
    profiles = Profiles(users, cache, graph, FakeCountCache(), GraphSettings())
    relationships = RelationshipReader(graph, FakeRelationshipCache(), GraphSettings())
    return Accounts(users, cache, relationships, profiles, FakePasswordHasher(), SnowflakeIds(), SystemClock())


async def signed_up(accounts: Accounts) -> User:
    return (await accounts.create_user(f"u{uuid.uuid4().hex[:10]}", "password-1", "Someone")).user


async def test_users_are_cached_whole_until_invalidated(cache):
    missed = await cache.lookup([1, 2])
    assert missed.hits == {}
    await cache.store({1: ANN}, missed.versions)

    assert (await cache.lookup([1, 2])).hits == {1: ANN}

    await cache.invalidate([1])
    assert (await cache.lookup([1])).hits == {}


async def test_a_row_read_before_an_update_can_never_be_served_after_it(cache):
    # a reader looks up, misses, and reads the row from the store...
    reader_saw = await cache.lookup([1])
    # ...meanwhile an update commits and invalidates...
    await cache.invalidate([1])
    # ...then the reader stores the row it read, which misses the update
    await cache.store({1: ANN}, reader_saw.versions)

    assert (await cache.lookup([1])).hits == {}  # not served: the next reader reads the store
    updated = User(1, ANN.handle, "Ann B.", ANN.bio, ANN.create_time)
    fresh = await cache.lookup([1])
    await cache.store({1: updated}, fresh.versions)
    assert (await cache.lookup([1])).hits == {1: updated}


async def test_an_update_over_the_real_stores_is_seen_by_the_next_read(users, cache):
    accounts = accounts_over(users, cache)
    ann = await signed_up(accounts)
    await accounts.batch_get_users([ann.user_id])
    assert (await cache.lookup([ann.user_id])).hits == {ann.user_id: ann}  # the read cached it

    await accounts.update_user(ann.user_id, ann.user_id, ProfileChanges(bio="hello"))

    (profile,) = await accounts.batch_get_users([ann.user_id])
    assert profile.user.bio == "hello"
    looked_up, _ = await accounts.lookup_user(ann.user_id, ann.handle.upper())
    assert looked_up.user.bio == "hello"


async def test_with_redis_down_profiles_are_read_from_the_store_and_updates_ask_for_a_retry(users, dead_redis):
    down = RedisUserCache(dead_redis, ttl_s=60, prefix=f"it:users:{uuid.uuid4().hex[:8]}")
    accounts = accounts_over(users, down)
    ann = await signed_up(accounts)  # sign-up does not need the cache

    profiles = await accounts.batch_get_users([ann.user_id, ids.new_id()])
    assert [p.user for p in profiles] == [ann]
    got, _ = await accounts.get_user(ann.user_id, ann.user_id)
    assert got.user == ann

    with pytest.raises(Unavailable) as refused:
        await accounts.update_user(ann.user_id, ann.user_id, ProfileChanges(bio="hello"))
    assert refused.value.reason == "USER_CACHE_UNAVAILABLE" and "retry" in refused.value.message
    assert (await users.get(ann.user_id)).bio == "hello"  # committed before the invalidation failed
