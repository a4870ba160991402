"""The fan-out consumer against the real NATS JetStream (scratch stream and durable), and the whole
write path over real NATS, Cassandra and Redis with the graph and tweet services faked."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import uuid

import pytest
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StreamConfig

from mesh import cql, events
from mesh.consuming import PoisonEvent
from mesh.deps import Dependencies
from mesh.event_consumer import EventConsumer
from mesh.schema import migrate_cql
from svc_timeline.adapters.cql_home import CqlHomeTimelines
from svc_timeline.adapters.cql_user_timeline import CqlUserTimelines
from svc_timeline.adapters.redis_rendered_pages import RedisRenderedPages
from svc_timeline.adapters.redis_timeline_cache import RedisTimelineCache
from svc_timeline.event_handlers import TimelineEvents
from svc_timeline.metrics import EVENTS
from svc_timeline.service import FanOut, TimelineReader
from svc_timeline.testing import FakeGraph, FakeTweets, World
from tests.conftest import require_listening
from tweetmesh.events.v1 import events_pb2


@pytest.fixture
async def js(stack):
    require_listening(stack.host, stack.nats_port, "NATS")
    nc = await events.connect(stack, name="integration-test")
    yield nc.jetstream(timeout=5)
    await nc.close()


@pytest.fixture
async def scratch_stream(js):
    """A stream and durable shaped like TWEETS/timeline-fanout, on subjects of their own."""
    name = f"IT_{uuid.uuid4().hex[:10].upper()}"
    root = f"it.{name.lower()}"
    await js.add_stream(StreamConfig(name=name, subjects=[f"{root}.>"], duplicate_window=60))
    await js.add_consumer(name, ConsumerConfig(
        durable_name="timeline-it", deliver_policy=DeliverPolicy.ALL, ack_policy=AckPolicy.EXPLICIT,
        ack_wait=5, max_deliver=4,
    ))
    yield name, root
    await js.delete_stream(name)


@contextlib.asynccontextmanager
async def running(consumer: EventConsumer):
    stopping = asyncio.Event()
    task = asyncio.create_task(consumer.run(stopping))
    try:
        yield
    finally:
        stopping.set()
        await asyncio.wait_for(task, timeout=10)


async def eventually(condition, timeout_s: float = 10.0) -> None:
    """Wait until `condition()` (a plain or an async callable) holds."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout_s
    while True:
        holds = condition()
        if asyncio.iscoroutine(holds):
            holds = await holds
        if holds:
            return
        if loop.time() > end:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


async def settled(js, stream: str, durable: str = "timeline-it") -> bool:
    info = await js.consumer_info(stream, durable)
    return info.num_pending == 0 and info.num_ack_pending == 0


async def test_messages_are_acked_after_handling_retried_after_failures_and_poison_dropped(js, scratch_stream):
    name, root = scratch_stream
    calls: dict[str, int] = {}

    async def handle(subject: str, payload: bytes, still_working) -> None:
        calls[payload.decode()] = calls.get(payload.decode(), 0) + 1
        await still_working()  # progress report: must be accepted by the server
        if payload == b"flaky" and calls["flaky"] < 3:
            raise ConnectionError("store did not answer")
        if payload == b"poison":
            raise PoisonEvent("not a TweetCreated")

    consumer = EventConsumer(js, stream=name, durable="timeline-it", handle=handle, outcomes=EVENTS, retry_delays_s=(0.1,))
    for body in (b"fine", b"flaky", b"poison"):
        await js.publish(f"{root}.created", body)
    async with running(consumer):
        await eventually(lambda: calls.get("flaky") == 3)
        await asyncio.sleep(1.0)  # room for any wrong redelivery to show up
    assert calls == {"fine": 1, "flaky": 3, "poison": 1}
    assert await settled(js, name)


async def test_a_missing_durable_fails_the_job_loudly(js, scratch_stream):
    name, _ = scratch_stream
    consumer = EventConsumer(js, stream=name, durable="nobody-declared-me", handle=None, outcomes=EVENTS)
    with pytest.raises(Exception):
        await consumer.run(asyncio.Event())


@pytest.fixture
async def scratch_stores(stack):
    require_listening(stack.host, stack.cql_port, "Cassandra")
    require_listening(stack.host, stack.redis_port, "Redis")
    scratch = dataclasses.replace(stack, cql_keyspace=f"it_{uuid.uuid4().hex[:12]}")
    await migrate_cql(scratch)
    session = await cql.connect(scratch, keyspace=scratch.cql_keyspace)
    deps = await Dependencies.open(stack, name="integration-test", redis=True)
    prefix = f"it-tl-{uuid.uuid4().hex[:10]}"
    yield (
        CqlHomeTimelines(session, scratch.cql_keyspace),
        CqlUserTimelines(session, scratch.cql_keyspace),
        RedisTimelineCache(deps.redis, prefix=prefix),
        RedisRenderedPages(deps.redis, max_age_s=30, prefix=prefix),
    )
    async for key in deps.redis.scan_iter(match=f"{prefix}:*"):
        await deps.redis.delete(key)
    await deps.close()
    try:
        await cql.execute(session, f"DROP KEYSPACE IF EXISTS {scratch.cql_keyspace}", cap_s=60)
    finally:
        await cql.close(session)


async def test_tweets_flow_from_the_bus_into_homes_once_and_out_again(js, scratch_stream, scratch_stores):
    name, root = scratch_stream
    homes, user_timelines, cache, pages = scratch_stores
    graph = FakeGraph()
    ann, bob, star = 2001, 2002, 2099
    graph.add_users(ann, bob, star)
    graph.follow(bob, ann)
    graph.follow(bob, star)
    graph.celebrities.add(star)
    reading_as = {"user": bob}
    tweets = FakeTweets(graph, lambda: reading_as["user"])
    world = World(graph, tweets, first_id=(1 << 60))
    fan_out = FanOut(homes, user_timelines, cache, graph, pages)
    reader = TimelineReader(homes, user_timelines, cache, graph, tweets, pages)
    handlers = TimelineEvents(fan_out)

    async def handle(subject: str, payload: bytes, still_working) -> None:
        await handlers.handle(subject.removeprefix(f"{root}."), payload, still_working)

    assert (await reader.home(bob, 20, "")).tweets == []  # bob is active: his home is cached now
    posted, star_tweet = world.post(ann), world.post(star)
    for event_id in ("evt-a", "evt-a-again-after-the-dedupe-window"):  # the same tweet twice
        created = events_pb2.TweetCreated(event_id=event_id, actor_user_id=str(ann), tweet_id=str(posted.tweet_id))
        await js.publish(f"{root}.tweet.created", created.SerializeToString(), headers={"Nats-Msg-Id": event_id})
    celebrity = events_pb2.TweetCreated(event_id="evt-s", actor_user_id=str(star), tweet_id=str(star_tweet.tweet_id))
    await js.publish(f"{root}.tweet.created", celebrity.SerializeToString())

    consumer = EventConsumer(js, stream=name, durable="timeline-it", handle=handle, outcomes=EVENTS, retry_delays_s=(0.1,))
    async with running(consumer):
        await eventually(lambda: settled(js, name))
        assert await homes.read(bob, None, 10) == [posted]  # one entry; the celebrity's is not there
        assert [t.tweet_id for t in (await reader.home(bob, 20, "")).tweets] == [star_tweet.tweet_id, posted.tweet_id]

        tweets.deleted.add(posted.tweet_id)
        deleted = events_pb2.TweetDeleted(event_id="evt-d", actor_user_id=str(ann), tweet_id=str(posted.tweet_id))
        await js.publish(f"{root}.tweet.deleted", deleted.SerializeToString())
        await eventually(lambda: settled(js, name))
    assert await homes.read(bob, None, 10) == []
    assert [t.tweet_id for t in (await reader.home(bob, 20, "")).tweets] == [star_tweet.tweet_id]
