"""CQL store access shared by the services: connecting, and awaiting statements from asyncio.

The driver is scylla-driver (the Cassandra driver API, shard-aware on ScyllaDB). Everything we send
is plain CQL that ScyllaDB and Cassandra 5 both accept: NetworkTopologyStrategy, no SASI/SAI
indexes, no materialized views, no user-defined functions, lightweight transactions only where a
uniqueness rule needs one.
"""

from __future__ import annotations

import asyncio
import functools
import time
import weakref
from collections.abc import Sequence
from typing import Any

from cassandra import ConsistencyLevel, OperationTimedOut, ReadTimeout, WriteTimeout
from cassandra import Unavailable as CassandraUnavailable
from cassandra.cluster import EXEC_PROFILE_DEFAULT, NoHostAvailable, Cluster, ExecutionProfile, ResponseFuture, Session
from cassandra.policies import DCAwareRoundRobinPolicy, TokenAwarePolicy
from cassandra.query import BatchStatement, BatchType, PreparedStatement, named_tuple_factory

from mesh import context
from mesh.config import Stack, env_float
from mesh.errors import Unavailable

# Upper bound of one statement; the caller's remaining time lowers it (mesh.context.remaining).
STATEMENT_TIMEOUT_S = env_float("TM_CQL_TIMEOUT_S", 2.0)


@functools.lru_cache(maxsize=1024)
def _row_type(colnames: tuple[str, ...]) -> type:
    # the driver's own Row namedtuple (its column-name cleaning and fallbacks), made once per
    # distinct set of result columns: a statement's columns never change
    return type(named_tuple_factory(list(colnames), [(None,) * len(colnames)])[0])


def cached_named_tuple_factory(colnames: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[Any]:
    """The driver's default rows (namedtuples: row.column and row[i]) without its cost: it made a
    new namedtuple class for every result, about half of the driver's CPU per query here
    (measured: 224 -> 134 us of client CPU per single-row SELECT)."""
    make = _row_type(tuple(colnames))._make
    return [make(row) for row in rows]


def _cluster(stack: Stack) -> Cluster:
    profile = ExecutionProfile(
        load_balancing_policy=TokenAwarePolicy(DCAwareRoundRobinPolicy(local_dc=stack.cql_datacenter)),
        row_factory=cached_named_tuple_factory,
        # QUORUM everywhere by default: with RF=1 locally it is ONE, with RF=3 in production it makes
        # writes acknowledged only after a majority stored them (tweet creation must not be lost).
        consistency_level=ConsistencyLevel.LOCAL_QUORUM,
        serial_consistency_level=ConsistencyLevel.LOCAL_SERIAL,
        request_timeout=STATEMENT_TIMEOUT_S,
    )
    return Cluster(
        contact_points=[stack.host],
        port=stack.cql_port,
        execution_profiles={EXEC_PROFILE_DEFAULT: profile},
        protocol_version=4,  # spoken by Cassandra 4+/5 and every ScyllaDB release
        connect_timeout=5,
        control_connection_timeout=5,
    )


async def connect(stack: Stack, *, keyspace: str | None = None, wait_s: float = 60.0) -> Session:
    """A session to the CQL store, retried until `wait_s` passes (the store may still be starting)."""
    end = time.monotonic() + wait_s
    last_error: Exception | None = None
    while time.monotonic() < end:
        cluster = _cluster(stack)
        try:
            return await asyncio.to_thread(cluster.connect, keyspace)
        except Exception as exc:  # noqa: BLE001 - NoHostAvailable and friends: retry until the end
            last_error = exc
            cluster.shutdown()
            await asyncio.sleep(1.0)
    raise Unavailable(f"CQL store at {stack.host}:{stack.cql_port} not reachable in {wait_s:.0f}s: {last_error}")


async def execute(session: Session, statement: Any, parameters: Any = None, *, cap_s: float = STATEMENT_TIMEOUT_S):
    """Run one statement without blocking the event loop, within the caller's deadline."""
    timeout = context.remaining(cap_s)
    future: ResponseFuture = session.execute_async(statement, parameters, timeout=timeout)
    loop = asyncio.get_running_loop()
    done: asyncio.Future = loop.create_future()

    pages: list[Any] = []

    def on_result(rows: Any) -> None:
        # Our queries bound their size with LIMIT and page with cursors of their own, but the driver
        # still cuts a result into pages of its fetch size (5000 rows): a LIMIT 5001 would silently
        # answer 5000 rows (ListFollowerIds' pages of 5000 lost every follower past the first page).
        # So every page of the (bounded) result is collected before answering.
        if rows is not None:
            pages.extend(rows)
        if future.has_more_pages:
            future.start_fetching_next_page()  # the same callbacks run again with the next page
            return
        loop.call_soon_threadsafe(_settle, done, pages if pages or rows is not None else rows, None)

    def on_error(exc: Exception) -> None:
        loop.call_soon_threadsafe(_settle, done, None, exc)

    future.add_callbacks(on_result, on_error)
    return await done


# The store did not answer in time or had too few replicas up: the caller may retry (every mutation
# is idempotent), so these become UNAVAILABLE, not INTERNAL. Anything else (a bad query) is a bug.
_TRANSIENT = (OperationTimedOut, CassandraUnavailable, ReadTimeout, WriteTimeout, NoHostAvailable)


def _settle(done: asyncio.Future, rows: Any, exc: Exception | None) -> None:
    if done.done():
        return
    if isinstance(exc, _TRANSIENT):
        failure = Unavailable(f"the CQL store did not answer: {type(exc).__name__}", reason="STORE_UNAVAILABLE")
        failure.__cause__ = exc
        done.set_exception(failure)
    elif exc is not None:
        done.set_exception(exc)
    else:
        done.set_result(rows)


async def execute_batch(
    session: Session,
    statements: Sequence[tuple[str | PreparedStatement, tuple]],
    *,
    logged: bool = True,
    cap_s: float = STATEMENT_TIMEOUT_S,
):
    """Run statements as one batch, within the caller's deadline.

    LOGGED (the default) is the tool for "these writes happen together": the coordinator first
    stores the batch in the batchlog, so once it is accepted every statement is applied, across
    partitions and tables, even if the coordinator dies half way. A timeout leaves the outcome
    open (all applied, possibly later by batchlog replay, or none): the caller retries the same
    writes, which are upserts. It is not isolation: readers may see some statements before
    others. UNLOGGED is only for writes to one partition, where it is atomic anyway and cheaper.
    Keep batches small (a few statements, a few KB): they are for atomicity, not bulk loading.
    """
    if not statements:
        raise ValueError("a batch needs at least one statement")
    batch = BatchStatement(batch_type=BatchType.LOGGED if logged else BatchType.UNLOGGED, session=session)
    for statement, parameters in statements:
        batch.add(statement, parameters)
    return await execute(session, batch, cap_s=cap_s)


# Prepared statements by session and query text. Preparing costs a round trip, so hot paths
# prepare once per process; the driver re-prepares by itself on a node that lost its cache.
_prepared: weakref.WeakKeyDictionary[Session, dict[str, PreparedStatement]] = weakref.WeakKeyDictionary()


async def prepare(session: Session, query: str, *, cap_s: float = STATEMENT_TIMEOUT_S) -> PreparedStatement:
    """The prepared form of `query` (placeholders `?`), prepared on first use and then remembered.

    Two tasks asking for the same new query at once may both prepare it: harmless, the server
    answers with the same statement id.
    """
    by_query = _prepared.setdefault(session, {})
    statement = by_query.get(query)
    if statement is None:
        # the driver only offers a blocking prepare: run it off the event loop
        statement = await asyncio.wait_for(asyncio.to_thread(session.prepare, query), context.remaining(cap_s))
        by_query[query] = statement
    return statement


async def close(session: Session) -> None:
    await asyncio.to_thread(session.cluster.shutdown)
