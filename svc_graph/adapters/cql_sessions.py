"""Refresh tokens and revoked sessions in CQL (migrations/cql/0003_graph.cql)."""

from __future__ import annotations

from datetime import datetime

from cassandra import ConsistencyLevel
from cassandra.cluster import Session

from mesh import cql
from mesh.errors import Unavailable
from mesh.cql_rows import rows_of, utc, was_applied
from svc_graph.domain import RefreshTokenRecord, Rotation

_COLUMNS = "token_hash, session_id, user_id, issue_time, expire_time, rotate_time, rotation_nonce"


def _ttl_s(until: datetime, now: datetime) -> int:
    return max(1, int((until - now).total_seconds()))


class CqlSessionStore:
    def __init__(self, session: Session, keyspace: str):
        self._session = session
        self._ks = keyspace

    async def _run(self, query: str, parameters: tuple, *, consistency: int | None = None):
        statement = (await cql.prepare(self._session, query)).bind(parameters)
        if consistency is not None:
            statement.consistency_level = consistency
        return await cql.execute(self._session, statement)

    async def save(self, record: RefreshTokenRecord, now: datetime) -> None:
        # the rotation columns are left out: saving a record again must not erase a rotation
        await self._run(
            f"INSERT INTO {self._ks}.refresh_tokens (token_hash, session_id, user_id, issue_time, expire_time) "
            "VALUES (?, ?, ?, ?, ?) USING TTL ?",
            (record.token_hash, record.session_id, record.user_id, record.issue_time, record.expire_time,
             _ttl_s(record.expire_time, now)),
        )

    async def get(self, token_hash: bytes, *, consistency: int | None = None) -> RefreshTokenRecord | None:
        rows = rows_of(
            await self._run(f"SELECT {_COLUMNS} FROM {self._ks}.refresh_tokens WHERE token_hash = ?", (token_hash,),
                            consistency=consistency)
        )
        if not rows or rows[0].session_id is None:
            return None
        row = rows[0]
        return RefreshTokenRecord(
            token_hash=row.token_hash,
            session_id=row.session_id,
            user_id=row.user_id,
            issue_time=utc(row.issue_time),
            expire_time=utc(row.expire_time),
            rotate_time=utc(row.rotate_time),
            rotation_nonce=row.rotation_nonce,
        )

    async def record_rotation(self, record: RefreshTokenRecord, rotation: Rotation) -> Rotation | None:
        """A lightweight transaction, because a token must have exactly one successor: two
        concurrent refreshes with plain writes would each derive their own and fork the session.
        Returns None if the token vanished meanwhile (revoked or expired)."""
        try:
            result = await self._run(
                f"UPDATE {self._ks}.refresh_tokens USING TTL ? SET rotate_time = ?, rotation_nonce = ? "
                "WHERE token_hash = ? IF rotate_time = null AND session_id = ?",
                (_ttl_s(record.expire_time, rotation.rotate_time), rotation.rotate_time, rotation.nonce,
                 record.token_hash, record.session_id),
            )
            if was_applied(result):
                return rotation
        except Unavailable:  # mesh.cql wraps the driver's WriteTimeout (and any other transient error)
            pass  # outcome open: the SERIAL read below settles it
        # Another exchange won, or we do not know: a SERIAL read completes any round in flight.
        current = await self.get(record.token_hash, consistency=ConsistencyLevel.LOCAL_SERIAL)
        if current is None:
            return None
        if current.rotate_time is None or current.rotation_nonce is None:
            raise Unavailable("the refresh could not be completed in time; try again", reason="REFRESH_TIMEOUT")
        return Rotation(current.rotate_time, current.rotation_nonce)

    async def is_revoked(self, session_id: int) -> bool:
        rows = rows_of(await self._run(f"SELECT revoke_time FROM {self._ks}.revoked_sessions WHERE session_id = ?", (session_id,)))
        return bool(rows)

    async def revoke(self, session_id: int, now: datetime, token_hash: bytes | None = None) -> None:
        statements = [
            (await cql.prepare(self._session, f"INSERT INTO {self._ks}.revoked_sessions (session_id, revoke_time) VALUES (?, ?)"),
             (session_id, now)),
        ]
        if token_hash is not None:
            statements.append(
                (await cql.prepare(self._session, f"DELETE FROM {self._ks}.refresh_tokens WHERE token_hash = ?"), (token_hash,))
            )
        await cql.execute_batch(self._session, statements)
