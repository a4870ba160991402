"""The read path over the real Cassandra and Redis (the graph and tweet services faked): pages from
a cold cache, a warm one, a too-small one and an unreachable one all list every tweet once."""

from __future__ import annotations

import dataclasses
import uuid

import pytest
import redis.asyncio as aioredis

from mesh import cql
from mesh.deps import Dependencies
from mesh.schema import migrate_cql
from svc_timeline.adapters.cql_home import CqlHomeTimelines
from svc_timeline.adapters.cql_user_timeline import CqlUserTimelines
from svc_timeline.adapters.redis_rendered_pages import RedisRenderedPages
from svc_timeline.adapters.redis_timeline_cache import RedisTimelineCache
from svc_timeline.domain import TimelineKey
from svc_timeline.service import FanOut, TimelineReader
from svc_timeline.testing import FakeGraph, FakeTweets, World
from tests.conftest import require_listening

READER, ANN, BOB, STAR = 3001, 3002, 3003, 3099


@pytest.fixture(scope="module")
async def stores(stack):
    require_listening(stack.host, stack.cql_port, "Cassandra")
    require_listening(stack.host, stack.redis_port, "Redis")
    scratch = dataclasses.replace(stack, cql_keyspace=f"it_{uuid.uuid4().hex[:12]}")
    await migrate_cql(scratch)
    session = await cql.connect(scratch, keyspace=scratch.cql_keyspace)
    deps = await Dependencies.open(stack, name="integration-test", redis=True)
    prefix = f"it-tl-{uuid.uuid4().hex[:10]}"
    yield session, scratch.cql_keyspace, deps.redis, prefix
    async for key in deps.redis.scan_iter(match=f"{prefix}:*"):
        await deps.redis.delete(key)
    await deps.close()
    try:
        await cql.execute(session, f"DROP KEYSPACE IF EXISTS {scratch.cql_keyspace}", cap_s=60)
    finally:
        await cql.close(session)


async def _walk(reader: TimelineReader, user: int, page_size: int) -> list[int]:
    seen, token = [], ""
    for _ in range(200):
        page = await reader.home(user, page_size, token)
        seen.extend(t.tweet_id for t in page.tweets)
        token = page.next_page_token
        if not token:
            return seen
    raise AssertionError("too many pages")


async def test_home_pages_list_every_tweet_once_whatever_the_cache_state(stack, stores):
    session, keyspace, redis, prefix = stores
    homes, user_timelines = CqlHomeTimelines(session, keyspace), CqlUserTimelines(session, keyspace)
    graph = FakeGraph()
    graph.add_users(READER, ANN, BOB, STAR)
    for followee in (ANN, BOB, STAR):
        graph.follow(READER, followee)
    graph.celebrities.add(STAR)
    tweets = FakeTweets(graph, lambda: READER)
    world = World(graph, tweets, first_id=(1 << 60))
    small_cache = RedisTimelineCache(redis, capacity=5, prefix=prefix)
    pages = RedisRenderedPages(redis, max_age_s=30, prefix=prefix)
    fan_out = FanOut(homes, user_timelines, small_cache, graph, pages)

    posted = []
    for author in (ANN, STAR, BOB, ANN, STAR, READER, BOB, ANN, STAR, ANN, BOB, STAR, ANN):
        entry = world.post(author)
        await fan_out.fan_out_tweet(entry)
        posted.append(entry.tweet_id)
    expected = sorted(posted, reverse=True)

    reader = TimelineReader(homes, user_timelines, small_cache, graph, tweets, pages)
    assert await _walk(reader, READER, 4) == expected  # cold: first page fills the cache
    assert await redis.exists(small_cache.key_of(TimelineKey.home(READER)))
    assert await _walk(reader, READER, 4) == expected  # warm, and too small for the deeper pages
    assert await _walk(reader, READER, 100) == expected

    newer = world.post(BOB)
    await fan_out.fan_out_tweet(newer)  # the cached home is updated in place
    assert (await _walk(reader, READER, 2))[:1] == [newer.tweet_id]

    dead = aioredis.Redis.from_url(f"redis://{stack.host}:1/0", socket_timeout=0.2, socket_connect_timeout=0.2)
    try:
        without_cache = TimelineReader(
            homes, user_timelines, RedisTimelineCache(dead, prefix=prefix), graph, tweets,
            RedisRenderedPages(dead, max_age_s=30, prefix=prefix),
        )
        assert await _walk(without_cache, READER, 4) == [newer.tweet_id, *expected]  # Redis down: the store serves
    finally:
        await dead.aclose()
