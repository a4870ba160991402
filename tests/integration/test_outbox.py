"""The transactional outbox against the real Cassandra and NATS: committed with the state, published once."""

from __future__ import annotations

import asyncio
import dataclasses
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence

import pytest
from nats.js.api import StreamConfig

from mesh import cql, events
from mesh.outbox import CqlOutbox, OutboxEvent, OutboxRelay, OutboxRow
from mesh.schema import migrate_cql
from tests.conftest import require_listening


@pytest.fixture
async def session(stack):
    require_listening(stack.host, stack.cql_port, "Cassandra")
    scratch = dataclasses.replace(stack, cql_keyspace=f"it_{uuid.uuid4().hex[:12]}")
    await migrate_cql(scratch)
    session = await cql.connect(scratch, keyspace=scratch.cql_keyspace)
    await cql.execute(session, "CREATE TABLE notes (id bigint PRIMARY KEY, body text)", cap_s=30)
    yield session
    try:
        await cql.execute(session, f"DROP KEYSPACE IF EXISTS {scratch.cql_keyspace}", cap_s=30)
    finally:
        await cql.close(session)


@pytest.fixture
async def js(stack):
    require_listening(stack.host, stack.nats_port, "NATS")
    nc = await events.connect(stack, name="integration-test-outbox")
    yield nc.jetstream(timeout=5)
    await nc.close()


@pytest.fixture
async def stream(js):
    """A scratch stream with the production duplicate window; yields (name, subject prefix)."""
    name = f"IT_{uuid.uuid4().hex[:10].upper()}"
    prefix = f"it.{name.lower()}"
    await js.add_stream(StreamConfig(name=name, subjects=[f"{prefix}.>"], duplicate_window=events.DUPLICATE_WINDOW_S))
    yield name, prefix
    await js.delete_stream(name)


class CountingPublisher:
    """The real JetStream publisher, counting the publishes it was asked for."""

    def __init__(self, js):
        self._publisher = events.JetStreamPublisher(js)
        self.attempts = 0

    async def publish(self, subject: str, payload: bytes, *, event_id: str) -> None:
        self.attempts += 1
        await self._publisher.publish(subject, payload, event_id=event_id)


class DiesBeforeDelete:
    """The real outbox, except that the relay 'crashes' between the publish and the delete."""

    def __init__(self, outbox: CqlOutbox):
        self._outbox = outbox
        self.shards = outbox.shards
        self.crashed = asyncio.Event()

    async def oldest(self, shard: int, *, after: uuid.UUID | None, limit: int) -> Sequence[OutboxRow]:
        return await self._outbox.oldest(shard, after=after, limit=limit)

    async def delete(self, shard: int, event_ids: Sequence[uuid.UUID]) -> None:
        self.crashed.set()
        raise ConnectionError("relay process killed")


async def until(condition: Callable[[], Awaitable[bool]], timeout_s: float = 10.0) -> None:
    end = time.monotonic() + timeout_s
    while not await condition():
        assert time.monotonic() < end, "condition not reached in time"
        await asyncio.sleep(0.05)


async def waiting_rows(session) -> list:
    return list(await cql.execute(session, "SELECT shard, msg_id FROM outbox"))


class Running:
    def __init__(self, relay: OutboxRelay):
        self.relay = relay
        self.stopping = asyncio.Event()

    async def __aenter__(self) -> OutboxRelay:
        self.task = asyncio.create_task(self.relay.run(self.stopping))
        return self.relay

    async def __aexit__(self, *exc_info) -> None:
        self.stopping.set()
        await asyncio.wait_for(self.task, 10)


async def test_state_and_event_commit_together_and_the_event_is_published_once(session, js, stream):
    name, prefix = stream
    outbox = CqlOutbox(session, session.keyspace)
    publisher = CountingPublisher(js)
    event = OutboxEvent(f"{prefix}.created", b"note 1 created", msg_id="evt-1")
    await cql.execute_batch(
        session,
        [("INSERT INTO notes (id, body) VALUES (%s, %s)", (1, "hello")), outbox.insert_statement(event, key="user-1")],
    )
    assert [row.msg_id for row in await waiting_rows(session)] == ["evt-1"]

    async with Running(OutboxRelay(outbox, publisher, poll_interval_s=5.0)) as relay:
        relay.kick()

        async def published_and_deleted() -> bool:
            return not await waiting_rows(session)

        await until(published_and_deleted, timeout_s=5.0)

    assert publisher.attempts == 1
    info = await js.stream_info(name)
    assert info.state.messages == 1
    message = await js.get_msg(name, seq=1)
    assert message.subject == f"{prefix}.created"
    assert message.data == b"note 1 created" and message.headers["Nats-Msg-Id"] == "evt-1"
    (note,) = await cql.execute(session, "SELECT body FROM notes WHERE id = 1")
    assert note.body == "hello"


async def test_a_relay_killed_before_the_delete_publishes_again_but_the_stream_stores_one(session, js, stream):
    name, prefix = stream
    outbox = CqlOutbox(session, session.keyspace)
    await outbox.append(OutboxEvent(f"{prefix}.created", b"once", msg_id="evt-dup"), key="user-1")

    first_publisher = CountingPublisher(js)
    dying = DiesBeforeDelete(outbox)
    async with Running(OutboxRelay(dying, first_publisher)):
        await asyncio.wait_for(dying.crashed.wait(), 5)
    assert first_publisher.attempts >= 1
    assert [row.msg_id for row in await waiting_rows(session)] == ["evt-dup"]  # still there

    second_publisher = CountingPublisher(js)
    async with Running(OutboxRelay(outbox, second_publisher)):

        async def drained() -> bool:
            return not await waiting_rows(session)

        await until(drained, timeout_s=5.0)

    assert second_publisher.attempts == 1  # published again...
    assert (await js.stream_info(name)).state.messages == 1  # ...and stored once (Nats-Msg-Id dedupe)


async def test_events_of_one_key_are_published_in_commit_order(session, js, stream):
    name, prefix = stream
    outbox = CqlOutbox(session, session.keyspace, shards=4)
    for n in range(30):
        await outbox.append(OutboxEvent(f"{prefix}.step", str(n).encode(), msg_id=f"step-{n}"), key="user-7")
    # other users' events in between must not disturb that order
    for n in range(10):
        await outbox.append(OutboxEvent(f"{prefix}.other", b"x", msg_id=f"other-{n}"), key=f"user-{n}")

    async with Running(OutboxRelay(outbox, events.JetStreamPublisher(js), batch_size=7)):

        async def drained() -> bool:
            return not await waiting_rows(session)

        await until(drained, timeout_s=10.0)

    info = await js.stream_info(name)
    assert info.state.messages == 40
    steps = []
    for seq in range(1, 41):
        message = await js.get_msg(name, seq=seq)
        if message.subject == f"{prefix}.step":
            steps.append(int(message.data))
    assert steps == list(range(30))


async def test_a_publish_the_bus_refuses_is_retried_later_and_the_row_kept(session, js, stream):
    name, prefix = stream
    homeless_subject = f"it.nostream{uuid.uuid4().hex[:8]}.created"  # no stream takes it: NoResponders
    outbox = CqlOutbox(session, session.keyspace)
    await outbox.append(OutboxEvent(homeless_subject, b"waiting", msg_id="evt-homeless"), key="user-1")
    publisher = CountingPublisher(js)
    later_stream = f"IT_{uuid.uuid4().hex[:10].upper()}"

    async with Running(OutboxRelay(outbox, publisher, poll_interval_s=0.05, max_backoff_s=0.5)):

        async def refused_twice() -> bool:
            return publisher.attempts >= 2

        await until(refused_twice, timeout_s=5.0)
        assert [row.msg_id for row in await waiting_rows(session)] == ["evt-homeless"]

        # the missing stream appears (a deploy declared it): the next retry delivers
        await js.add_stream(StreamConfig(name=later_stream, subjects=[homeless_subject]))
        try:

            async def delivered() -> bool:
                return not await waiting_rows(session)

            await until(delivered, timeout_s=5.0)
            assert (await js.stream_info(later_stream)).state.messages == 1
            message = await js.get_msg(later_stream, seq=1)
            assert message.data == b"waiting" and message.headers["Nats-Msg-Id"] == "evt-homeless"
        finally:
            await js.delete_stream(later_stream)
