"""Transactional outbox: events committed together with the state they announce, then relayed to JetStream.

Writing a row and then publishing an event are two systems; a crash between them loses the event
or announces a write that never happened. So a use case puts its state change and the event row
(`CqlOutbox.insert_statement`) in ONE logged batch (`mesh.cql.execute_batch`): both are stored or
neither. Then `OutboxRelay`, a background job of the service, publishes the rows to JetStream and
deletes each row only after the stream acknowledged it.

Delivery is at least once, stored once: a relay that dies between the publish and the delete
publishes the row again after its restart, and several replicas may relay the same rows at the
same time. Correctness therefore comes from JetStream's dedupe (Nats-Msg-Id = the event's
`msg_id`, within the stream's duplicate window, mesh.events.DUPLICATE_WINDOW_S) and, beyond that
window, from consumers being idempotent, never from a relay being alone.

Order: rows live in `shards` partitions chosen by a stable hash of a key the writer gives (the
acting user, say), and the relay publishes each shard in event_id order, so one user's events
arrive in the order they were committed (event_ids come from the writers' clocks: across hosts,
up to their NTP skew). A row that becomes visible late (a batch replayed from the batchlog after a
timeout) is published when it is seen, after younger rows already published. A retried batch
writes a second row with the same msg_id: stored once by the stream.

Typical use in a composition root:

    outbox = CqlOutbox(deps.cql, keyspace)
    relay = OutboxRelay(outbox, events.JetStreamPublisher(deps.nats.jetstream()))
    ... use cases: await cql.execute_batch(session, [state_change, outbox.insert_statement(event, key=user_id)])
                   relay.kick(user_id)
    return [relay.run]   # the background jobs of mesh.server.ServiceApp.register
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
import uuid
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from cassandra.cluster import Session
from cassandra.util import min_uuid_from_time, unix_time_from_uuid1

from mesh import cql

log = logging.getLogger("mesh.outbox")


@dataclass(frozen=True)
class OutboxEvent:
    """An event to publish: `msg_id` is the event's id, the Nats-Msg-Id JetStream dedupes on."""

    subject: str
    payload: bytes
    msg_id: str

    def __post_init__(self) -> None:
        # an empty Nats-Msg-Id would silently turn dedupe off
        if not self.subject or not self.msg_id:
            raise ValueError("an outbox event needs a subject and a msg_id")


@dataclass(frozen=True)
class OutboxRow:
    """An event waiting in the outbox, as the relay reads it."""

    shard: int
    event_id: uuid.UUID
    subject: str
    payload: bytes
    msg_id: str


class OutboxStore(Protocol):
    """Where the relay finds waiting events (CqlOutbox; a fake in unit tests)."""

    @property
    def shards(self) -> int: ...

    def shard_of(self, key: str) -> int:
        """The shard the events written with `key` go to."""
        ...

    async def oldest(self, shard: int, *, after: uuid.UUID | None, limit: int) -> Sequence[OutboxRow]:
        """Up to `limit` rows of the shard in event_id order, only those after `after` when given."""
        ...

    async def delete(self, shard: int, event_ids: Sequence[uuid.UUID]) -> None: ...


class EventPublisher(Protocol):
    """Publishes and returns once the stream stored it (mesh.events.JetStreamPublisher)."""

    async def publish(self, subject: str, payload: bytes, *, event_id: str) -> None: ...


class _TimeUuids:
    """Version-1 uuids whose timestamps strictly increase within this process.

    The outbox's publish order is the event_id order, so two events committed one after the other
    by this process must never get the same 100 ns tick or a smaller one (uuid.uuid1 only promises
    that on some platforms). Clock sequence and node are random for every uuid: they keep the uuids
    of processes that share a tick apart, and Cassandra compares them only after the timestamp.
    """

    _GREGORIAN_TO_UNIX_TICKS = 0x01B21DD213814000  # 100 ns ticks from 1582-10-15 to 1970-01-01

    def __init__(self, clock_ns: Callable[[], int] = time.time_ns) -> None:
        self._clock_ns = clock_ns
        self._lock = threading.Lock()
        self._last_ticks = 0

    def next(self) -> uuid.UUID:
        with self._lock:
            # a coarse clock or one stepped back by NTP must not reorder this process's events
            ticks = max(self._clock_ns() // 100 + self._GREGORIAN_TO_UNIX_TICKS, self._last_ticks + 1)
            self._last_ticks = ticks
        clock_seq = random.getrandbits(14)
        fields = (
            ticks & 0xFFFF_FFFF,
            (ticks >> 32) & 0xFFFF,
            (ticks >> 48) & 0x0FFF,
            clock_seq >> 8,
            clock_seq & 0xFF,
            random.getrandbits(48) | (1 << 40),  # multicast bit: RFC 4122's mark of a node that is no MAC address
        )
        return uuid.UUID(fields=fields, version=1)


_event_ids = _TimeUuids()


class CqlOutbox:
    """The outbox table (migrations/cql/0002_outbox.cql): writes for use cases, reads for the relay.

    `shards` must be the same for every writer and relay of a keyspace; sharing this one object
    between the use cases and the relay of a service keeps it so. Sizing: a sweep of the relay
    reads a shard's tombstones of the last gc_grace_seconds (3 h) until compaction drops them, and
    Cassandra fails a read past 100k (tombstone_failure_threshold); 16 shards hold ~150 events/s
    sustained. To raise it, deploy relays with the new count first, then writers (a relay reads
    every shard below its count); never lower it while rows wait.
    """

    def __init__(self, session: Session, keyspace: str, shards: int = 16):
        if shards < 1:
            raise ValueError(f"shards must be at least 1, got {shards}")
        self._session = session
        self._table = f"{keyspace}.outbox"
        self._shards = shards

    @property
    def shards(self) -> int:
        return self._shards

    def shard_of(self, key: str) -> int:
        # crc32, not hash(): the same key must land in the same shard in every process
        return zlib.crc32(key.encode()) % self._shards

    def insert_statement(self, event: OutboxEvent, key: str) -> tuple[str, tuple]:
        """The insert to put in the same logged batch as the state change the event announces.

        `key` decides the shard: events with the same key are published in commit order.
        """
        return (
            f"INSERT INTO {self._table} (shard, event_id, subject, payload, msg_id) VALUES (%s, %s, %s, %s, %s)",
            (self.shard_of(key), _event_ids.next(), event.subject, event.payload, event.msg_id),
        )

    async def append(self, event: OutboxEvent, key: str) -> None:
        """Store an event on its own, for events that go with no state change of this service."""
        query, parameters = self.insert_statement(event, key)
        await cql.execute(self._session, query, parameters)

    async def oldest(self, shard: int, *, after: uuid.UUID | None, limit: int) -> list[OutboxRow]:
        if after is None:
            statement = await cql.prepare(
                self._session,
                f"SELECT event_id, subject, payload, msg_id FROM {self._table} WHERE shard = ? LIMIT ?",
            )
            parameters: tuple = (shard, limit)
        else:
            statement = await cql.prepare(
                self._session,
                f"SELECT event_id, subject, payload, msg_id FROM {self._table} "
                "WHERE shard = ? AND event_id > ? LIMIT ?",
            )
            parameters = (shard, after, limit)
        rows = await cql.execute(self._session, statement, parameters)
        return [OutboxRow(shard, row.event_id, row.subject, row.payload or b"", row.msg_id) for row in rows]

    async def delete(self, shard: int, event_ids: Sequence[uuid.UUID]) -> None:
        # one row tombstone per event, never a range delete: a range would also remove a row that
        # committed late inside it and was not published yet
        statement = await cql.prepare(self._session, f"DELETE FROM {self._table} WHERE shard = ? AND event_id IN ?")
        await cql.execute(self._session, statement, (shard, list(event_ids)))


class OutboxRelay:
    """Publishes outbox rows to JetStream, oldest first per shard, and deletes them once acknowledged.

    Run it as a mesh.server BackgroundJob (`relay.run`); call `kick(key)` after each commit, with
    the key the events were written under, so they go out within milliseconds rather than at the
    next poll. A kick reads only the shard of its key (and the shards still draining or due for a
    retry): kicking every shard cost each compose 32 CQL reads of the outbox, more than everything
    else it does together (bench/, issue 8). Every writer kicks, so the poll, which reads every
    shard, only finds what no kick announced (rows of a replica that died before relaying them): it
    is 2 s, not faster. At 0.2 s the two relays of the mesh read 160 shards a second while idle, a
    fifth of Cassandra's CPU and a steady share of the services'.

    Reading cheaply: every published row leaves a tombstone until compaction. After the first pass
    the relay reads each shard from just before its last published row, or the time it found the
    shard empty (`settle_s` earlier, for rows that committed a little late), so it does not wade
    through the tombstones of everything published before. At start and every `sweep_interval_s`
    it reads each shard from its beginning, which finds rows that committed later still (batchlog
    replays).

    Failures (NATS down, no stream for a subject, CQL timeouts) never drop a row: the shard is
    retried with a growing delay, its later rows wait behind it to keep the order, and other shards
    go on. Replicas of a service may all run relays: see the module docstring.
    """

    def __init__(
        self,
        outbox: OutboxStore,
        publisher: EventPublisher,
        *,
        poll_interval_s: float = 2.0,
        batch_size: int = 100,
        settle_s: float = 60.0,
        sweep_interval_s: float = 300.0,
        max_backoff_s: float = 10.0,
        retry_base_s: float = 0.2,
    ):
        self._outbox = outbox
        self._retry_base_s = min(retry_base_s, poll_interval_s)
        self._publisher = publisher
        self._poll_interval_s = poll_interval_s
        self._batch_size = batch_size
        self._settle_s = settle_s
        self._sweep_interval_s = sweep_interval_s
        self._max_backoff_s = max_backoff_s
        self._wake = asyncio.Event()
        self._kicked: set[int] = set()  # shards announced by kick() since the last pass
        self._kicked_all = False
        # shard -> where the next read starts (less settle_s): the last row published, or the time
        # an empty shard was read; no entry means "from the beginning"
        self._cursors: dict[int, uuid.UUID] = {}
        self._failures: dict[int, int] = {}  # shard -> failed attempts in a row
        self._retry_at: dict[int, float] = {}  # shard -> loop time before which it is left alone

    def kick(self, key: str | None = None) -> None:
        """Events were committed under `key` (as given to insert_statement): read its shard now
        instead of at the next poll; without a key, every shard. Call from the event loop."""
        if key is None:
            self._kicked_all = True
        else:
            self._kicked.add(self._outbox.shard_of(key))
        self._wake.set()

    async def run(self, stopping: asyncio.Event) -> None:
        """Relay until `stopping` is set; returns once the publishes under way finished."""
        loop = asyncio.get_running_loop()
        next_sweep = loop.time()
        every_shard = True  # the first pass, each sweep and each poll read them all
        draining: set[int] = set()  # shards whose last read found rows: there may be more
        log.info("outbox relay started", extra={"shards": self._outbox.shards})
        while not stopping.is_set():
            if loop.time() >= next_sweep:
                self._cursors.clear()  # read every shard from its beginning this pass
                next_sweep = loop.time() + self._sweep_interval_s
                every_shard = True
            self._wake.clear()  # a kick from now on asks for another pass
            kicked, self._kicked = self._kicked, set()
            if every_shard or self._kicked_all:
                shards = list(range(self._outbox.shards))
            else:
                due = {shard for shard, at in self._retry_at.items() if at <= loop.time()}
                shards = sorted(kicked | draining | due)
            self._kicked_all = every_shard = False
            moved = await asyncio.gather(*(self._relay_shard(shard, stopping) for shard in shards))
            draining = {shard for shard, count in zip(shards, moved) if count}
            if not draining:
                every_shard = not await self._idle(stopping)
        log.info("outbox relay stopped")

    async def _relay_shard(self, shard: int, stopping: asyncio.Event) -> int:
        loop = asyncio.get_running_loop()
        if loop.time() < self._retry_at.get(shard, 0.0):
            return 0
        try:
            published = await self._publish_oldest(shard, stopping)
        except Exception as exc:  # noqa: BLE001 - bus or store trouble: the rows stay, the shard is retried
            attempt = self._failures.get(shard, 0) + 1
            delay = min(self._max_backoff_s, self._retry_base_s * 2**attempt) * random.uniform(0.5, 1.0)
            self._failures[shard] = attempt
            self._retry_at[shard] = loop.time() + delay
            log.warning(
                "outbox shard %d not relayed, retrying in %.1fs: %r", shard, delay, exc,
                extra={"shard": shard, "attempt": attempt}, exc_info=attempt == 1,
            )
            return 0
        if self._failures.pop(shard, None) is not None:
            self._retry_at.pop(shard, None)
            log.info("outbox shard %d relayed again", shard, extra={"shard": shard})
        return published

    async def _publish_oldest(self, shard: int, stopping: asyncio.Event) -> int:
        read_at = time.time()
        rows = await self._outbox.oldest(shard, after=self._read_from(shard), limit=self._batch_size)
        if not rows and shard not in self._cursors:
            # an empty shard: later reads start from here (less settle_s), not from its tombstones
            self._cursors[shard] = min_uuid_from_time(read_at)
        published: list[uuid.UUID] = []
        try:
            for row in rows:
                if stopping.is_set():
                    break
                await self._publisher.publish(row.subject, row.payload, event_id=row.msg_id)
                published.append(row.event_id)
        finally:
            # also when a publish failed half way: what the stream acknowledged is done
            if published:
                await self._outbox.delete(shard, published)
                self._cursors[shard] = published[-1]
        return len(published)

    def _read_from(self, shard: int) -> uuid.UUID | None:
        cursor = self._cursors.get(shard)
        if cursor is None:
            return None
        return min_uuid_from_time(unix_time_from_uuid1(cursor) - self._settle_s)

    async def _idle(self, stopping: asyncio.Event) -> bool:
        """Wait for a kick, the stop, or the poll interval, whichever comes first; True for a kick."""
        waits = [asyncio.ensure_future(self._wake.wait()), asyncio.ensure_future(stopping.wait())]
        try:
            await asyncio.wait(waits, timeout=self._poll_interval_s, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()
        return self._wake.is_set()
