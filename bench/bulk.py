"""Bulk writes into the stores, with the services' own statements and documents.

The synthetic graph and the search corpus are too big for the API, so the loader writes what the
services would have written, straight into Cassandra and Elasticsearch:

- CQL: the statements come from the services' adapters themselves (svc_graph's CqlUserStore and
  CqlGraphStore, svc_tweet's CqlTweetStore), recorded instead of executed (the `_Recording*`
  stores and FollowTemplate below), so a change of schema or of what a write consists of reaches
  the loader without anybody re-typing it. They are sent as UNLOGGED batches (atomicity is not
  needed: a failed batch is sent again, every statement is an upsert) of rows that share a
  partition where the data allows it, many batches in flight, no lightweight transaction: the
  loader is the only writer of these rows.
- Elasticsearch: svc_search's document builders (documents.py) and its bulk writer
  (ElasticsearchDocuments: external versions, through the alias), with refreshes switched off
  during the load (`refresh_paused`).

What the bulk path does not produce: the outbox rows and events of these writes, so nothing that
consumes events reacts to them (no "followed you" notifications of bulk follows, no fan-out of
bulk tweets into home timelines).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any, AsyncIterator

from cassandra.cluster import Session
from cassandra.query import BatchStatement, BatchType
from elasticsearch import AsyncElasticsearch

from mesh import cql
from mesh.errors import Unavailable
from mesh.schema import MIGRATIONS_DIR
from svc_graph.adapters.cql_graph import CqlGraphStore
from svc_graph.adapters.cql_users import CqlUserStore
from svc_graph.domain import Edge, Relation, User
from svc_search.adapters.elasticsearch_index import ElasticsearchDocuments
from svc_search.domain import IndexWrite, WriteOutcome
from svc_tweet.adapters.cql_tweets import CqlTweetStore
from svc_tweet.domain import Tweet

Statement = tuple[str, tuple]  # CQL text with `?` placeholders, and its values


class BulkError(RuntimeError):
    pass


# ---------------------------------------------------------------------------------------------
# The services' statements, recorded


class _RecordingUserStore(CqlUserStore):
    """svc_graph's user store, recording the statements it would run (no session)."""

    def __init__(self, keyspace: str):
        super().__init__(session=None, keyspace=keyspace, outbox=None)  # type: ignore[arg-type]
        self.recorded: list[Statement] = []

    async def _run(self, query: str, parameters: tuple, *, consistency: int | None = None):
        self.recorded.append((query, parameters))
        return [(True,)]  # `[applied]` of a claim: the loader is the only claimant


async def user_statements(keyspace: str, user: User, password_hash: str) -> list[Statement]:
    """What a sign-up writes (CqlUserStore.insert_unclaimed, then claim_handle), the handle claim
    without its IF NOT EXISTS: handles are unique by construction and nobody races the loader."""
    store = _RecordingUserStore(keyspace)
    await store.insert_unclaimed(user, password_hash)
    await store.claim_handle(user.handle, user.user_id, user.create_time)
    return [(query.removesuffix(" IF NOT EXISTS"), values) for query, values in store.recorded]


class FollowTemplate:
    """The rows svc_graph writes for one follow (CqlGraphStore's insert of an edge: both
    directions, by user and by time), learnt once from the adapter with a probe edge; each row's
    partition key is its first value (the user whose partition it is)."""

    _FOLLOWER, _FOLLOWEE, _TIME = 0, 1, 2

    def __init__(self, keyspace: str):
        probe_time = datetime(2001, 2, 3, 4, 5, 6)
        probe = Edge(Relation.FOLLOW, source_id=-101, target_id=-202, create_time=probe_time)
        roles = {-101: self._FOLLOWER, -202: self._FOLLOWEE, probe_time: self._TIME}
        store = CqlGraphStore(session=None, keyspace=keyspace, outbox=None)  # type: ignore[arg-type]
        self.rows: list[tuple[str, tuple[int, ...]]] = []
        for query, values in store._insert_edge(probe):  # noqa: SLF001 - the adapter's own statements
            unknown = [value for value in values if value not in roles]
            if unknown:
                raise BulkError(f"the follow insert binds values the loader cannot reproduce: {query}")
            self.rows.append((query, tuple(roles[value] for value in values)))
        self.follower_side = [row for row in self.rows if row[1][0] == self._FOLLOWER]
        self.followee_side = [row for row in self.rows if row[1][0] == self._FOLLOWEE]
        if len(self.follower_side) + len(self.followee_side) != len(self.rows):
            raise BulkError("a follow row is partitioned by neither user")

    @staticmethod
    def bind(rows: Sequence[tuple[str, tuple[int, ...]]], follower: int, followee: int, at: datetime) -> list[Statement]:
        values = (follower, followee, at)
        return [(query, tuple(values[i] for i in order)) for query, order in rows]


class _RecordingTweetStore(CqlTweetStore):
    """svc_tweet's tweet store, recording the statements of a create instead of committing them."""

    def __init__(self, keyspace: str):
        super().__init__(session=None, keyspace=keyspace, outbox=None)  # type: ignore[arg-type]
        self.recorded: list[Statement] = []

    async def _commit(self, statements: list[Statement], events: Sequence[Any], *, actor_id: int) -> None:
        self.recorded.extend(statements)


class TweetStatements:
    def __init__(self, keyspace: str):
        self._store = _RecordingTweetStore(keyspace)

    async def of(self, tweet: Tweet) -> list[Statement]:
        """The rows CqlTweetStore.create writes for the tweet (its row, author list, month index),
        each with its fixed write timestamp; without the outbox rows of its events."""
        self._store.recorded = []
        await self._store.create(tweet, ())
        return self._store.recorded


# ---------------------------------------------------------------------------------------------
# CQL


class CqlBulk:
    """Unlogged batches, `in_flight` at once; a batch that fails is sent again (`attempts`)."""

    def __init__(self, session: Session, *, in_flight: int = 32, timeout_s: float = 30.0, attempts: int = 5):
        self._session = session
        self._slots = asyncio.Semaphore(in_flight)
        self._timeout_s = timeout_s
        self._attempts = attempts
        self._tasks: set[asyncio.Task] = set()
        self._prepared: dict[str, Any] = {}
        self.rows = 0
        self.batches = 0
        self.retries = 0
        self.failures: list[str] = []

    async def send(self, statements: Sequence[Statement]) -> None:
        """Queue one batch; waits while `in_flight` batches are on their way."""
        if not statements:
            return
        bound = []
        for query, values in statements:
            prepared = self._prepared.get(query) or await self._prepare(query)
            bound.append((prepared, values))
        await self._slots.acquire()
        task = asyncio.create_task(self._run(bound))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _prepare(self, query: str):
        prepared = await cql.prepare(self._session, query, cap_s=self._timeout_s)
        self._prepared[query] = prepared
        return prepared

    async def _run(self, bound: list[tuple[Any, tuple]]) -> None:
        try:
            if len(bound) == 1:
                statement = bound[0][0].bind(bound[0][1])
            else:
                statement = BatchStatement(batch_type=BatchType.UNLOGGED)
                for prepared, values in bound:
                    statement.add(prepared, values)
            for attempt in range(1, self._attempts + 1):
                try:
                    await cql.execute(self._session, statement, cap_s=self._timeout_s)
                    break
                except Unavailable as exc:  # timeouts and overload: the same upserts again, later
                    if attempt == self._attempts:
                        self.failures.append(f"{exc.message} ({type(exc.__cause__).__name__})")
                        return
                    self.retries += 1
                    await asyncio.sleep(0.5 * attempt)
            self.rows += len(bound)
            self.batches += 1
        except Exception as exc:  # noqa: BLE001 - a bug in what we send: reported by drain()
            self.failures.append(repr(exc))
        finally:
            self._slots.release()

    async def drain(self) -> None:
        """Wait for every batch sent; BulkError if any could not be written."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks))
        if self.failures:
            raise BulkError(f"{len(self.failures)} CQL batches not written, e.g. {self.failures[:3]}")


async def batched(bulk: CqlBulk, statements: Sequence[Statement], size: int) -> None:
    for start in range(0, len(statements), size):
        await bulk.send(statements[start:start + size])


# ---------------------------------------------------------------------------------------------
# Elasticsearch


class EsBulk:
    """svc_search's versioned bulk writes, `per_request` documents a request, `in_flight` at once.
    Documents the index could not take now (429, 5xx) are sent again; refused ones fail the load.
    A version conflict means the document is there already (an earlier run): done."""

    def __init__(self, es: AsyncElasticsearch, alias: str, *, per_request: int = 2_000, in_flight: int = 2,
                 timeout_s: float = 120.0, attempts: int = 5):
        self._writer = ElasticsearchDocuments(es, alias, through_alias=True, timeout_s=timeout_s)
        self._per_request = per_request
        self._slots = asyncio.Semaphore(in_flight)
        self._attempts = attempts
        self._pending: list[IndexWrite] = []
        self._tasks: set[asyncio.Task] = set()
        self.stored = 0
        self.existing = 0
        self.retries = 0
        self.failures: list[str] = []

    async def add(self, write: IndexWrite) -> None:
        self._pending.append(write)
        if len(self._pending) >= self._per_request:
            await self.flush()

    async def flush(self) -> None:
        writes, self._pending = self._pending, []
        if not writes:
            return
        await self._slots.acquire()
        task = asyncio.create_task(self._run(writes))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, writes: list[IndexWrite]) -> None:
        try:
            for attempt in range(1, self._attempts + 1):
                try:
                    outcomes = await self._writer.write(writes)
                except Unavailable as exc:
                    outcomes, error = [WriteOutcome.FAILED] * len(writes), exc.message
                else:
                    error = "the index could not take some documents now (429/5xx)"
                self.stored += outcomes.count(WriteOutcome.STORED)
                self.existing += outcomes.count(WriteOutcome.SUPERSEDED)
                refused = outcomes.count(WriteOutcome.REJECTED)
                if refused:
                    self.failures.append(f"{refused} documents refused by the mapping (see the log)")
                writes = [write for write, outcome in zip(writes, outcomes) if outcome is WriteOutcome.FAILED]
                if not writes:
                    return
                if attempt == self._attempts:
                    self.failures.append(f"{len(writes)} documents not indexed: {error}")
                    return
                self.retries += 1
                await asyncio.sleep(1.0 * attempt)
        except Exception as exc:  # noqa: BLE001 - reported by drain()
            self.failures.append(repr(exc))
        finally:
            self._slots.release()

    async def drain(self) -> None:
        await self.flush()
        while self._tasks:
            await asyncio.gather(*list(self._tasks))
        if self.failures:
            raise BulkError(f"Elasticsearch bulk failed: {self.failures[:3]}")


def template_refresh_interval(alias: str) -> str:
    """The refresh interval the index template of `alias` gives its indices."""
    template = json.loads((MIGRATIONS_DIR / "elasticsearch" / f"{alias}.json").read_text())
    return template["template"]["settings"].get("refresh_interval", "1s")


async def _refresh_intervals(es: AsyncElasticsearch, alias: str) -> dict[str, str | None]:
    """The refresh interval set on each index behind `alias` (None: the cluster default)."""
    response = await es.options(request_timeout=30).indices.get_settings(index=alias, name="index.refresh_interval")
    return {index: body.get("settings", {}).get("index", {}).get("refresh_interval")
            for index, body in response.body.items()}


@asynccontextmanager
async def refresh_paused(es: AsyncElasticsearch, alias: str) -> AsyncIterator[None]:
    """No refreshes of the indices behind `alias` while the block runs (a bulk load then writes
    segments once, not every 200 ms), then each index's interval again and one refresh. An
    interval of -1 found at the start is what an interrupted load left: the template's is restored."""
    admin = es.options(request_timeout=60)
    before = await _refresh_intervals(es, alias)
    await admin.indices.put_settings(index=alias, settings={"index": {"refresh_interval": "-1"}})
    try:
        yield
    finally:
        for index, interval in before.items():
            if interval == "-1":
                interval = template_refresh_interval(alias)
            await admin.indices.put_settings(index=index, settings={"index": {"refresh_interval": interval}})
        await admin.indices.refresh(index=alias)


async def restore_refresh_if_paused(es: AsyncElasticsearch, alias: str) -> list[str]:
    """Undo what an interrupted load left (refreshes off); the indices it restored."""
    paused = [index for index, interval in (await _refresh_intervals(es, alias)).items() if interval == "-1"]
    for index in paused:
        await es.options(request_timeout=30).indices.put_settings(
            index=index, settings={"index": {"refresh_interval": template_refresh_interval(alias)}})
    return paused
