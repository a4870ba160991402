"""The outbox relay against fakes of its store and publisher: order, ack-before-delete, retries, stop."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Sequence

import pytest
from cassandra.util import uuid_from_time

from mesh.errors import Unavailable
from mesh.outbox import CqlOutbox, OutboxEvent, OutboxRelay, OutboxRow, _TimeUuids

_uuids = _TimeUuids()


class FakeOutbox:
    """Rows per shard in event_id order, as the CQL table keeps them."""

    def __init__(self, shards: int = 2):
        self.shards = shards
        self.rows: dict[int, dict[uuid.UUID, OutboxRow]] = {shard: {} for shard in range(shards)}
        self.deleted: list[str] = []
        self.fail_deletes = 0
        self.reads: list[tuple[uuid.UUID | None, list[str]]] = []  # (after, msg ids returned) of each read
        self.shards_read: list[int] = []  # the shard of each read

    def shard_of(self, key: str) -> int:
        return int(key) % self.shards

    def add(self, shard: int, msg_id: str, *, event_id: uuid.UUID | None = None) -> OutboxRow:
        row = OutboxRow(shard, event_id or _uuids.next(), f"test.{msg_id}", msg_id.encode(), msg_id)
        self.rows[shard][row.event_id] = row
        return row

    def waiting(self) -> list[str]:
        return [row.msg_id for shard in self.rows.values() for row in shard.values()]

    async def oldest(self, shard: int, *, after: uuid.UUID | None, limit: int) -> Sequence[OutboxRow]:
        ordered = sorted(self.rows[shard].values(), key=lambda row: row.event_id.time)
        if after is not None:
            ordered = [row for row in ordered if row.event_id.time > after.time]
        self.reads.append((after, [row.msg_id for row in ordered[:limit]]))
        self.shards_read.append(shard)
        return ordered[:limit]

    async def delete(self, shard: int, event_ids: Sequence[uuid.UUID]) -> None:
        if self.fail_deletes:
            self.fail_deletes -= 1
            raise Unavailable("store timed out")
        for event_id in event_ids:
            self.deleted.append(self.rows[shard].pop(event_id).msg_id)


class FakePublisher:
    def __init__(self, outbox: FakeOutbox):
        self.outbox = outbox
        self.published: list[str] = []
        self.attempts = 0
        self.failures_left = 0
        self.before_ack: Callable[[str], None] = lambda msg_id: None

    async def publish(self, subject: str, payload: bytes, *, event_id: str) -> None:
        self.attempts += 1
        # the row must still be in the outbox while its publish is not acknowledged
        assert event_id in self.outbox.waiting(), f"{event_id} deleted before its publish was acknowledged"
        await asyncio.sleep(0)
        if self.failures_left:
            self.failures_left -= 1
            raise Unavailable(f"event bus did not confirm {subject}")
        assert payload == event_id.encode()
        self.before_ack(event_id)
        self.published.append(event_id)


def relay_for(outbox: FakeOutbox, publisher: FakePublisher, **options) -> OutboxRelay:
    options = {"poll_interval_s": 0.01, "max_backoff_s": 0.05, **options}
    return OutboxRelay(outbox, publisher, **options)


async def until(condition: Callable[[], bool], timeout_s: float = 2.0) -> None:
    end = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < end, "condition not reached in time"
        await asyncio.sleep(0.005)


class Running:
    """The relay as a background job, stopped (and awaited) at the end of the block."""

    def __init__(self, relay: OutboxRelay):
        self.relay = relay
        self.stopping = asyncio.Event()

    async def __aenter__(self) -> "Running":
        self.task = asyncio.create_task(self.relay.run(self.stopping))
        return self

    async def __aexit__(self, *exc_info) -> None:
        self.stopping.set()
        await asyncio.wait_for(self.task, 2.0)


async def test_rows_are_published_oldest_first_per_shard_then_deleted():
    outbox = FakeOutbox(shards=2)
    for n in range(5):
        outbox.add(n % 2, f"e{n}")
    publisher = FakePublisher(outbox)
    async with Running(relay_for(outbox, publisher, batch_size=2)):
        await until(lambda: not outbox.waiting())
    assert sorted(publisher.published) == ["e0", "e1", "e2", "e3", "e4"]
    assert [m for m in publisher.published if m in ("e0", "e2", "e4")] == ["e0", "e2", "e4"]
    assert [m for m in publisher.published if m in ("e1", "e3")] == ["e1", "e3"]
    assert sorted(outbox.deleted) == sorted(publisher.published)


async def test_a_failing_publish_is_retried_and_nothing_is_deleted_before_the_ack():
    outbox = FakeOutbox(shards=1)
    for n in range(3):
        outbox.add(0, f"e{n}")
    publisher = FakePublisher(outbox)
    publisher.failures_left = 3
    async with Running(relay_for(outbox, publisher)):
        await until(lambda: not outbox.waiting())
    assert publisher.attempts == 6  # three refusals of e0, then e0, e1, e2
    assert publisher.published == ["e0", "e1", "e2"]  # the order survived the retries
    assert outbox.deleted == ["e0", "e1", "e2"]


async def test_rows_acknowledged_before_a_failure_are_deleted_and_the_rest_wait():
    outbox = FakeOutbox(shards=1)
    for n in range(3):
        outbox.add(0, f"e{n}")
    publisher = FakePublisher(outbox)
    original = publisher.publish

    async def refuse_e1_once(subject: str, payload: bytes, *, event_id: str) -> None:
        if event_id == "e1" and publisher.attempts == 1:
            publisher.attempts += 1
            raise Unavailable("bus went away")
        await original(subject, payload, event_id=event_id)

    publisher.publish = refuse_e1_once  # type: ignore[method-assign]
    async with Running(relay_for(outbox, publisher)):
        await until(lambda: not outbox.waiting())
    assert publisher.published == ["e0", "e1", "e2"]
    assert outbox.deleted == ["e0", "e1", "e2"]


async def test_a_failed_delete_publishes_the_row_again_with_the_same_msg_id():
    outbox = FakeOutbox(shards=1)
    outbox.add(0, "e0")
    outbox.fail_deletes = 1
    publisher = FakePublisher(outbox)
    async with Running(relay_for(outbox, publisher)):
        await until(lambda: not outbox.waiting())
    # at least once: the stream's dedupe on the msg_id stores it once
    assert publisher.published == ["e0", "e0"]
    assert outbox.deleted == ["e0"]


async def test_a_shard_that_keeps_failing_does_not_hold_up_the_others():
    outbox = FakeOutbox(shards=2)
    outbox.add(0, "poison")
    outbox.add(1, "fine")
    publisher = FakePublisher(outbox)
    original = publisher.publish

    async def refuse_poison(subject: str, payload: bytes, *, event_id: str) -> None:
        if event_id == "poison":
            publisher.attempts += 1
            raise Unavailable("no stream takes this subject")
        await original(subject, payload, event_id=event_id)

    publisher.publish = refuse_poison  # type: ignore[method-assign]
    async with Running(relay_for(outbox, publisher)):
        await until(lambda: publisher.published == ["fine"] and publisher.attempts >= 3)
    assert outbox.waiting() == ["poison"]  # never dropped


async def test_stop_finishes_the_publish_under_way_and_deletes_it():
    outbox = FakeOutbox(shards=1)
    for n in range(3):
        outbox.add(0, f"e{n}")
    publisher = FakePublisher(outbox)
    running = Running(relay_for(outbox, publisher, poll_interval_s=10.0))
    publisher.before_ack = lambda msg_id: running.stopping.set()  # the stop arrives during e0's publish
    async with running:
        await asyncio.wait_for(running.task, 2.0)
    assert publisher.published == ["e0"]
    assert outbox.deleted == ["e0"]
    assert outbox.waiting() == ["e1", "e2"]


async def test_a_kick_wakes_the_relay_long_before_the_poll_interval():
    outbox = FakeOutbox(shards=1)
    publisher = FakePublisher(outbox)
    relay = relay_for(outbox, publisher, poll_interval_s=30.0)
    async with Running(relay):
        await until(lambda: len(outbox.reads) >= 1)  # first pass done, now idle for 30 s
        outbox.add(0, "e0")
        relay.kick()
        await until(lambda: publisher.published == ["e0"], timeout_s=1.0)


async def test_a_kick_with_a_key_reads_only_that_key_s_shard():
    outbox = FakeOutbox(shards=16)
    publisher = FakePublisher(outbox)
    relay = relay_for(outbox, publisher, poll_interval_s=30.0)
    async with Running(relay):
        await until(lambda: len(outbox.reads) >= 16)  # the first pass reads every shard, then idles
        first_pass = len(outbox.reads)
        outbox.add(5, "e0")
        relay.kick("21")  # 21 % 16: shard 5
        await until(lambda: publisher.published == ["e0"], timeout_s=1.0)
        await until(lambda: len(outbox.reads) >= first_pass + 2)
        await asyncio.sleep(0.05)
    # shard 5 when kicked, then once more because that read found a row (there may be more)
    assert outbox.shards_read[first_pass:] == [5, 5]


async def test_a_row_no_kick_announced_is_found_by_the_poll():
    outbox = FakeOutbox(shards=4)
    publisher = FakePublisher(outbox)
    relay = relay_for(outbox, publisher, poll_interval_s=0.2)
    async with Running(relay):
        await until(lambda: len(outbox.reads) >= 4)
        outbox.add(3, "from-a-replica-that-died")
        outbox.add(1, "kicked")
        relay.kick("1")
        await until(lambda: publisher.published == ["kicked"], timeout_s=0.15)
        await until(lambda: "from-a-replica-that-died" in publisher.published, timeout_s=1.0)


async def test_a_row_committed_a_little_late_is_found_from_the_cursor():
    outbox = FakeOutbox(shards=1)
    outbox.add(0, "e0")
    publisher = FakePublisher(outbox)
    async with Running(relay_for(outbox, publisher, settle_s=60.0, sweep_interval_s=3600.0)):
        await until(lambda: publisher.published == ["e0"])
        # its event_id is older than e0's, by less than settle_s: the writer's batch took 10 s to land
        outbox.add(0, "late", event_id=uuid_from_time(time.time() - 10))
        await until(lambda: "late" in publisher.published)
    assert outbox.reads[-1][0] is not None  # read from the cursor, not from the shard's start
    assert [msg_ids for after, msg_ids in outbox.reads if "late" in msg_ids and after is not None]


async def test_a_row_committed_much_later_is_found_by_the_next_sweep():
    outbox = FakeOutbox(shards=1)
    outbox.add(0, "e0")
    publisher = FakePublisher(outbox)
    async with Running(relay_for(outbox, publisher, settle_s=60.0, sweep_interval_s=0.3)):
        await until(lambda: publisher.published == ["e0"])
        reads_before = len(outbox.reads)
        # older than the cursor by more than settle_s (a batch replayed from the batchlog)
        outbox.add(0, "late", event_id=uuid_from_time(time.time() - 120))
        await until(lambda: "late" in publisher.published)
    later_reads = outbox.reads[reads_before:]
    found_by = [after for after, msg_ids in later_reads if "late" in msg_ids]
    assert found_by == [None]  # by a sweep, reading from the start of the shard
    assert any(after is not None and not msg_ids for after, msg_ids in later_reads)  # cursor reads missed it


def test_events_of_one_key_share_a_shard_and_get_increasing_event_ids():
    outbox = CqlOutbox(session=None, keyspace="ks", shards=16)  # type: ignore[arg-type] - no I/O here
    event = OutboxEvent("tweet.created", b"payload", "123")
    statements = [outbox.insert_statement(event, key="user-42") for _ in range(1000)]
    shards = {parameters[0] for _, parameters in statements}
    event_ids = [parameters[1] for _, parameters in statements]
    assert shards == {outbox.shard_of("user-42")} and 0 <= outbox.shard_of("user-42") < 16
    assert [e.time for e in event_ids] == sorted({e.time for e in event_ids})  # strictly increasing
    assert len({outbox.shard_of(f"user-{n}") for n in range(200)}) == 16  # keys spread over every shard
    assert statements[0][0].startswith("INSERT INTO ks.outbox ")


def test_an_event_without_msg_id_is_refused():
    with pytest.raises(ValueError, match="msg_id"):
        OutboxEvent("tweet.created", b"", "")


def test_event_ids_keep_increasing_when_the_clock_stands_still_or_steps_back():
    now_ns = [time.time_ns()]
    event_ids = _TimeUuids(clock_ns=lambda: now_ns[0])
    made = [event_ids.next() for _ in range(3)]  # a clock that did not move
    now_ns[0] -= 2_000_000_000  # NTP stepped it back two seconds
    made += [event_ids.next() for _ in range(3)]
    assert [e.time for e in made] == sorted({e.time for e in made})
    assert {e.version for e in made} == {1}


async def test_an_empty_shard_is_read_from_the_start_only_once_per_sweep():
    outbox = FakeOutbox(shards=1)
    publisher = FakePublisher(outbox)
    async with Running(relay_for(outbox, publisher, sweep_interval_s=3600.0)):
        await until(lambda: len(outbox.reads) >= 3)
    assert outbox.reads[0][0] is None
    assert all(after is not None for after, _ in outbox.reads[1:])  # not through the old tombstones again
