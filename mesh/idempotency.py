"""Request ids of mutations (AIP-155): a retry with the same request id gets the first answer back.

The answers live in `request_log` (migrations/cql/0001_request_log.cql) for a day, keyed by the
scope (the RPC's full name) and the request id.

A request id belongs to its caller. The stored key is `<caller id>/<request id>`, so the same id
sent by another caller is simply another request: it never returns someone else's answer, and a
caller who learns somebody's request id cannot make that person's call fail either (which an
"already used" error would allow). Calls without an authenticated caller (sign-up) pass a
caller id that ties the request to its requester, such as the handle being registered.

What `once` guarantees, and what not: a retry that arrives after the first attempt stored its
answer gets that answer and changes nothing. Two attempts running at the same time, or a first
attempt that died between its write and `remember`, both do the work; every caller still gets one
answer (the first stored), but the work happened twice. Mutations that must never double-apply
make their own writes idempotent as well (ids derived from the request, conditional inserts).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from typing import Protocol, TypeVar

from cassandra.cluster import Session
from google.protobuf.message import Message

from mesh import cql

M = TypeVar("M", bound=Message)


class AnswerLog(Protocol):
    """The first answers of requests by id (RequestLog; a fake in unit tests of services)."""

    async def recall(self, scope: str, request_id: str, caller_id: str) -> bytes | None: ...

    async def remember(self, scope: str, request_id: str, caller_id: str, response: bytes) -> bytes: ...


def _stored_key(caller_id: str, request_id: str) -> str:
    # request ids are [A-Za-z0-9_-]{1,64} (protos/README.md), so "/" cannot make two pairs collide
    return f"{caller_id}/{request_id}"


class RequestLog:
    """The request_log table."""

    def __init__(self, session: Session, keyspace: str):
        self._session = session
        self._table = f"{keyspace}.request_log"

    async def recall(self, scope: str, request_id: str, caller_id: str) -> bytes | None:
        """The answer stored for this caller's request id, or None if there is none (yet)."""
        statement = await cql.prepare(
            self._session, f"SELECT response FROM {self._table} WHERE scope = ? AND request_id = ?"
        )
        rows = await cql.execute(self._session, statement, (scope, _stored_key(caller_id, request_id)))
        return (rows[0].response or b"") if rows else None

    async def remember(self, scope: str, request_id: str, caller_id: str, response: bytes) -> bytes:
        """Store the answer unless one is stored already; returns the answer that is stored (the first)."""
        statement = await cql.prepare(
            self._session,
            f"INSERT INTO {self._table} (scope, request_id, caller_id, response, created_at) "
            "VALUES (?, ?, ?, ?, ?) IF NOT EXISTS",
        )
        (outcome,) = await cql.execute(
            self._session,
            statement,
            (scope, _stored_key(caller_id, request_id), caller_id, response, datetime.now(timezone.utc)),
        )
        if outcome.applied:  # the driver's name for the "[applied]" column of a conditional write
            return response
        # lost the race: a refused IF NOT EXISTS answers with the row that won
        return outcome.response or b""


async def once(
    log: AnswerLog,
    scope: str,
    request_id: str,
    caller_id: str,
    response_type: type[M],
    compute: Callable[[], Awaitable[M]],
) -> M:
    """The first answer to this request id: remembered, or computed now and remembered.

    An empty request_id (the client did not ask for idempotency) just computes. A computation that
    raises is not remembered, so the retry runs it again.
    """
    if not request_id:
        return await compute()
    remembered = await log.recall(scope, request_id, caller_id)
    if remembered is not None:
        return response_type.FromString(remembered)
    response = await compute()
    encoded = response.SerializeToString()
    first = await log.remember(scope, request_id, caller_id, encoded)
    return response if first == encoded else response_type.FromString(first)
