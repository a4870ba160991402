"""Notification preferences in CQL (migrations/cql/0030_notify.cql): the PreferenceStore port.

One partition per user, one row per (kind, channel) the user set; the others take
domain.default_enabled, so a user who never changed anything has no rows at all. Writing a change
is an UNLOGGED batch: every row is in the user's one partition, where a batch is atomic anyway and
a single round trip. Consistency: the session's LOCAL_QUORUM, so the settings screen shows a change
as soon as it was saved.
"""

from __future__ import annotations

from collections.abc import Mapping

from cassandra.cluster import Session

from mesh import cql
from mesh.cql_rows import rows_of
from svc_notify.domain import Channel, Kind


class CqlPreferenceStore:
    def __init__(self, session: Session, keyspace: str):
        self._session = session
        self._ks = keyspace

    async def explicit(self, user_id: int) -> dict[tuple[Kind, Channel], bool]:
        statement = await cql.prepare(
            self._session, f"SELECT kind, channel, enabled FROM {self._ks}.notification_preferences WHERE user_id = ?"
        )
        rows = rows_of(await cql.execute(self._session, statement, (user_id,)))
        kinds, channels = set(Kind), set(Channel)
        # a kind or channel this version does not know (written by a newer one) is left out
        return {
            (Kind(row.kind), Channel(row.channel)): bool(row.enabled)
            for row in rows
            if row.kind in kinds and row.channel in channels
        }

    async def put(self, user_id: int, changes: Mapping[tuple[Kind, Channel], bool]) -> None:
        if not changes:
            return
        statement = await cql.prepare(
            self._session,
            f"INSERT INTO {self._ks}.notification_preferences (user_id, kind, channel, enabled) VALUES (?, ?, ?, ?)",
        )
        await cql.execute_batch(
            self._session,
            [(statement, (user_id, int(kind), int(channel), enabled)) for (kind, channel), enabled in changes.items()],
            logged=False,
        )
