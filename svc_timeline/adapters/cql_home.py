"""Home timelines in CQL (migrations/cql/0020_timelines.cql): one partition per reader, newest first.

Fan-out writes one row into each of many partitions (one per follower). They go as UNLOGGED
batches of at most FAN_OUT_BATCH_ROWS rows whose partitions have the same replicas; the driver
routes a batch to a replica of its first row, which is then a replica of every row in it: one
round trip per 50 rows, and the coordinator writes its own copy of each row and replicates it like
a single write, instead of relaying rows to other nodes (the cost Cassandra's "unlogged batch
covering N partitions" warning is about; Cassandra still logs it, rate-limited, as it cannot tell).

Measured on the local stack (2 CPUs, the whole mesh running; medians, noisy), one tweet to 5000
homes: single token-aware prepared inserts with 16..256 in flight took 1.2..1.8 s (3..4k rows/s:
the cost is per statement, in the Python driver and the asyncio bridge); these batches take
0.1..0.2 s (25..47k rows/s; grouping 5000 partitions by replicas costs ~10 ms of it). 50 rows are
~4.2 KiB, under the 5 KiB batch_size_warn_threshold; 100 rows (8.4 KiB) were no faster. Writes to
ONE partition (a follow's backfill) are one unlogged batch: atomic and a single round trip.

Nothing here binds None: a null bound in an INSERT writes a tombstone; absent values are UNSET.
"""

from __future__ import annotations

import struct
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

from cassandra.cluster import Session
from cassandra.query import UNSET_VALUE

from mesh import cql
from svc_timeline.adapters.cql_errors import store_unavailable_on_failure
from svc_timeline.aio import chunks, gather_bounded
from svc_timeline.domain import TimelineEntry

# ScyllaDB refuses more than 100 clustering keys in one IN by default
# (max_clustering_key_restrictions_per_query); Cassandra has no such limit, we keep to the lower one.
MAX_IN_KEYS = 100
# rows per fan-out batch (~84 bytes each: under Cassandra's 5 KiB batch_size_warn_threshold)
FAN_OUT_BATCH_ROWS = 50
# a partition is trimmed to ~800 rows; reading one whole in pages of this many is a few pages
_SCAN_PAGE = 1000
_MAX_SCAN_PAGES = 50  # stop condition of a whole-partition scan: 50k rows, far above any trimmed home


_COLUMNS = "tweet_id, author_id, retweet_of_tweet_id, retweet_of_author_id"
_INSERT = f"INSERT INTO {{table}} (user_id, {_COLUMNS}) VALUES (?, ?, ?, ?, ?)"


def unset_if_none(value: int | None) -> Any:
    return UNSET_VALUE if value is None else value


def _row(user_id: int, entry: TimelineEntry) -> tuple:
    return (
        user_id, entry.tweet_id, entry.author_id,
        unset_if_none(entry.retweet_of_tweet_id), unset_if_none(entry.retweet_of_author_id),
    )


def entry_of(row: Any) -> TimelineEntry:
    return TimelineEntry(row.tweet_id, row.author_id, row.retweet_of_tweet_id, row.retweet_of_author_id)


class CqlHomeTimelines:
    def __init__(self, session: Session, keyspace: str, *, batches_in_flight: int = 16):
        self._session = session
        self._keyspace = keyspace
        self._table = f"{keyspace}.home_timeline"
        self._batches_in_flight = batches_in_flight

    async def _execute(self, query: str, parameters: tuple) -> list[Any]:
        with store_unavailable_on_failure("home timeline"):
            statement = await cql.prepare(self._session, query.format(table=self._table))
            return list(await cql.execute(self._session, statement, parameters) or ())

    async def _execute_unlogged_batch(self, query: str, parameter_sets: Sequence[tuple]) -> None:
        with store_unavailable_on_failure("home timeline"):
            statement = await cql.prepare(self._session, query.format(table=self._table))
            await cql.execute_batch(self._session, [(statement, p) for p in parameter_sets], logged=False)

    async def insert_for_each(self, user_ids: Sequence[int], entry: TimelineEntry) -> None:
        await self._batched_per_replica(_INSERT, user_ids, lambda user_id: _row(user_id, entry))

    async def insert_many(self, user_id: int, entries: Sequence[TimelineEntry]) -> None:
        for chunk in chunks(entries, FAN_OUT_BATCH_ROWS):
            await self._execute_unlogged_batch(_INSERT, [_row(user_id, entry) for entry in chunk])

    async def read(self, user_id: int, before: int | None, limit: int) -> list[TimelineEntry]:
        if before is None:
            rows = await self._execute(f"SELECT {_COLUMNS} FROM {{table}} WHERE user_id = ? LIMIT ?", (user_id, limit))
        else:
            rows = await self._execute(
                f"SELECT {_COLUMNS} FROM {{table}} WHERE user_id = ? AND tweet_id < ? LIMIT ?", (user_id, before, limit)
            )
        return [entry_of(row) for row in rows]

    async def remove_from_each(self, user_ids: Sequence[int], tweet_id: int) -> None:
        await self._batched_per_replica(
            "DELETE FROM {table} WHERE user_id = ? AND tweet_id = ?", user_ids, lambda user_id: (user_id, tweet_id)
        )

    async def remove(self, user_id: int, tweet_ids: Sequence[int]) -> None:
        for chunk in chunks(list(dict.fromkeys(tweet_ids)), MAX_IN_KEYS):
            await self._execute("DELETE FROM {table} WHERE user_id = ? AND tweet_id IN ?", (user_id, list(chunk)))

    async def remove_matching(self, user_id: int, should_remove: Callable[[TimelineEntry], bool]) -> list[int]:
        # no index answers "entries by author" inside a partition: read the (trimmed, so small)
        # partition once, select here, delete the selected rows by key
        selected: list[int] = []
        before: int | None = None
        for _ in range(_MAX_SCAN_PAGES):
            entries = await self.read(user_id, before, _SCAN_PAGE)
            selected.extend(entry.tweet_id for entry in entries if should_remove(entry))
            if len(entries) < _SCAN_PAGE:
                break
            before = entries[-1].tweet_id
        if selected:
            await self.remove(user_id, selected)
        return selected

    async def trim(self, user_id: int, keep: int) -> None:
        rows = await self._execute("SELECT tweet_id FROM {table} WHERE user_id = ? LIMIT ?", (user_id, keep + 1))
        if len(rows) <= keep:
            return
        # one range tombstone for everything older than the newest `keep`, however many rows
        await self._execute("DELETE FROM {table} WHERE user_id = ? AND tweet_id <= ?", (user_id, rows[keep].tweet_id))

    async def _batched_per_replica(
        self, query: str, user_ids: Sequence[int], parameters_for: Callable[[int], tuple]
    ) -> None:
        """One statement per user's partition, sent as unlogged batches of partitions with the
        same replicas, a bounded number in flight."""
        batches = [
            chunk
            for same_replicas in self._by_replicas(user_ids).values()
            for chunk in chunks(same_replicas, FAN_OUT_BATCH_ROWS)
        ]
        await gather_bounded(
            (self._execute_unlogged_batch(query, [parameters_for(u) for u in batch]) for batch in batches),
            self._batches_in_flight,
        )

    def _by_replicas(self, user_ids: Sequence[int]) -> dict[frozenset, list[int]]:
        # the driver's token map (kept current by its control connection) says where each
        # partition lives; without one (not loaded yet) everything is one group, still correct.
        # The whole replica set, not the first replica: token-aware routing may pick any of them
        metadata = self._session.cluster.metadata
        groups: dict[frozenset, list[int]] = defaultdict(list)
        for user_id in dict.fromkeys(user_ids):
            replicas = metadata.get_replicas(self._keyspace, struct.pack(">q", user_id))  # bigint routing key
            groups[frozenset(replicas)].append(user_id)
        return groups
