"""Users and handles in CQL (tables `users` and `users_by_handle`, migrations/cql/0003_graph.cql)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from cassandra import ConsistencyLevel
from cassandra.cluster import Session

from mesh import cql
from mesh.errors import Unavailable
from mesh.outbox import CqlOutbox
from mesh.cql_rows import rows_in, rows_of, utc, was_applied
from svc_graph.adapters.outbox_events import outbox_event
from svc_graph.domain import Account, User, UserCreated, UserUpdated, handle_key

_PROFILE_COLUMNS = "user_id, handle, display_name, bio, create_time"
_UPDATABLE = ("display_name", "bio")


class CqlUserStore:
    def __init__(self, session: Session, keyspace: str, outbox: CqlOutbox, on_commit: Callable[[str], None] = lambda key: None):
        self._session = session
        self._ks = keyspace
        self._outbox = outbox
        self._on_commit = on_commit  # wakes the outbox relay after an event was committed

    async def _run(self, query: str, parameters: tuple, *, consistency: int | None = None):
        statement = (await cql.prepare(self._session, query)).bind(parameters)
        if consistency is not None:
            statement.consistency_level = consistency
        return await cql.execute(self._session, statement)

    async def insert_unclaimed(self, user: User, password_hash: str) -> None:
        await self._run(
            f"INSERT INTO {self._ks}.users (user_id, handle, display_name, bio, password_hash, create_time) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (user.user_id, user.handle, user.display_name, user.bio, password_hash, user.create_time),
        )

    async def claim_handle(self, handle: str, user_id: int, now: datetime) -> bool:
        key = handle_key(handle)
        try:
            result = await self._run(
                f"INSERT INTO {self._ks}.users_by_handle (handle_key, user_id, create_time) VALUES (?, ?, ?) IF NOT EXISTS",
                (key, user_id, now),
            )
        except Unavailable:  # mesh.cql wraps the driver's WriteTimeout (and any other transient error)
            # The outcome is open. A SERIAL read finishes any round still in flight, so it tells
            # for certain who holds the handle now.
            holder = await self._handle_holder(key, consistency=ConsistencyLevel.LOCAL_SERIAL)
            if holder is None:
                raise Unavailable("the handle could not be claimed in time; try again", reason="HANDLE_CLAIM_TIMEOUT")
            return holder == user_id
        return was_applied(result)

    async def _handle_holder(self, key: str, *, consistency: int | None = None) -> int | None:
        rows = rows_of(
            await self._run(f"SELECT user_id FROM {self._ks}.users_by_handle WHERE handle_key = ?", (key,), consistency=consistency)
        )
        return rows[0].user_id if rows else None

    async def discard_unclaimed(self, user_id: int) -> None:
        await self._run(f"DELETE FROM {self._ks}.users WHERE user_id = ?", (user_id,))

    async def announce_created(self, event: UserCreated) -> None:
        await self._outbox.append(outbox_event(event), key=str(event.user.user_id))
        self._on_commit(str(event.user.user_id))

    async def get(self, user_id: int) -> User | None:
        rows = rows_of(await self._run(f"SELECT {_PROFILE_COLUMNS} FROM {self._ks}.users WHERE user_id = ?", (user_id,)))
        # a row without a handle is only the remains of a deleted one: not a user
        return _user(rows[0]) if rows and rows[0].handle else None

    async def get_many(self, user_ids: Sequence[int]) -> dict[int, User]:
        # one IN per 100 users, not a read each: a read's cost is per statement, in the driver and
        # the store (measured on svc_tweet's tweets: a sixth of the client CPU for 20 rows); the
        # coordinator waits for the slowest partition, as gathering single reads did
        query = f"SELECT {_PROFILE_COLUMNS} FROM {self._ks}.users WHERE user_id IN ?"
        # a row without a handle is only the remains of a deleted one: not a user
        return {row.user_id: _user(row) for row in await rows_in(self._run, query, user_ids) if row.handle}

    async def user_id_by_handle(self, handle: str) -> int | None:
        return await self._handle_holder(handle_key(handle))

    async def account_by_handle(self, handle: str) -> Account | None:
        user_id = await self._handle_holder(handle_key(handle))
        if user_id is None:
            return None
        rows = rows_of(await self._run(f"SELECT password_hash FROM {self._ks}.users WHERE user_id = ?", (user_id,)))
        if not rows or not rows[0].password_hash:
            return None
        return Account(user_id=user_id, password_hash=rows[0].password_hash)

    async def update_profile(self, user: User, changed_fields: Sequence[str], event: UserUpdated, now: datetime) -> None:
        fields = [name for name in _UPDATABLE if name in changed_fields]
        if not fields:
            raise ValueError(f"nothing to update among {list(changed_fields)}; updatable: {_UPDATABLE}")
        # only the changed columns, so a concurrent update of another field is not overwritten
        assignments = ", ".join(f"{name} = ?" for name in fields)
        statement = await cql.prepare(
            self._session, f"UPDATE {self._ks}.users SET {assignments}, update_time = ? WHERE user_id = ?"
        )
        values = tuple(getattr(user, name) for name in fields) + (now, user.user_id)
        await cql.execute_batch(
            self._session,
            [(statement, values), self._outbox.insert_statement(outbox_event(event), key=str(user.user_id))],
        )
        self._on_commit(str(user.user_id))


def _user(row) -> User:
    return User(
        user_id=row.user_id,
        handle=row.handle,
        display_name=row.display_name or "",
        bio=row.bio or "",
        create_time=utc(row.create_time),
    )
