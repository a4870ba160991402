"""Notifications in CQL (migrations/cql/0030_notify.cql): the NotificationStore port.

- `notifications`: one wide row per recipient, clustered by notification id DESC. Ids are
  Snowflakes, so a page "newest first, older than X" is one slice of one partition, and ids are
  deterministic per (event, recipient), so adding again upserts the same row.
- `unread_notifications`: the ids not read yet, in their own table rather than a `read` column, so
  the badge is an exact COUNT(*) of a partition that holds only unread ids (small for anyone who
  opens the app), "mark all read" is ONE clustering range tombstone whatever the number of rows,
  and the unread filter pages over this table alone. A notification and its unread row are written
  (and removed) together in one LOGGED batch, so neither is left without the other.
- `notification_sources`: source key -> the notification holding it. Lightweight transactions
  only (claim: INSERT IF NOT EXISTS; release: DELETE IF notification_id = ?), because plain
  writes and Paxos must not mix on a row. A claim whose round timed out is settled with a SERIAL
  read, which completes any round still in flight and so tells who holds the key now.

Consistency: the session's LOCAL_QUORUM for reads and writes (as every service), so a page read
right after a write sees it, and LOCAL_SERIAL for the lightweight transactions.
Every statement is prepared once (mesh.cql.prepare) and runs within the caller's deadline.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from cassandra import ConsistencyLevel, OperationTimedOut, WriteTimeout
from cassandra.cluster import Session

from mesh import cql
from mesh.cql_rows import chunks, micros, rows_of, unique, unset_if_empty, utc
from mesh.errors import Unavailable
from svc_notify.domain import Kind, Notification

_COLUMNS = "notification_id, kind, actor_id, tweet_id, actor_tweet_id, comment_id, create_time"


def outcome_open(exc: BaseException) -> bool:
    """Whether a conditional write that failed this way may still be applied (its Paxos round timed
    out after it started); mesh.cql raises Unavailable with the driver's error as the cause."""
    return isinstance(exc, (WriteTimeout, OperationTimedOut)) or isinstance(exc.__cause__, (WriteTimeout, OperationTimedOut))


def _notification(recipient_id: int, row: Any, unread: Collection[int]) -> Notification:
    return Notification(
        notification_id=row.notification_id,
        recipient_id=recipient_id,
        kind=Kind(row.kind),
        actor_id=row.actor_id,
        create_time=utc(row.create_time),
        tweet_id=row.tweet_id,
        actor_tweet_id=row.actor_tweet_id,
        comment_id=row.comment_id,
        read=row.notification_id not in unread,
    )


class CqlNotificationStore:
    def __init__(self, session: Session, keyspace: str):
        self._session = session
        self._ks = keyspace

    async def _run(self, query: str, parameters: tuple, *, consistency: int | None = None) -> list[Any]:
        statement = (await cql.prepare(self._session, query.format(ks=self._ks))).bind(parameters)
        if consistency is not None:
            statement.consistency_level = consistency
        return rows_of(await cql.execute(self._session, statement))

    async def _batch(self, statements: Sequence[tuple[str, tuple]]) -> None:
        """One LOGGED batch: all of it is applied or (after a timeout, retried by the caller) none."""
        prepared = [(await cql.prepare(self._session, query.format(ks=self._ks)), p) for query, p in statements]
        await cql.execute_batch(self._session, prepared)

    # --- source claims ------------------------------------------------------------------------

    async def claim_source(self, recipient_id: int, source_key: str, notification_id: int) -> int:
        try:
            (outcome,) = await self._run(
                "INSERT INTO {ks}.notification_sources (recipient_id, source_key, notification_id) VALUES (?, ?, ?) "
                "IF NOT EXISTS",
                (recipient_id, source_key, notification_id),
            )
        except Unavailable as exc:
            if not outcome_open(exc):
                raise
            holder = await self._source_holder(recipient_id, source_key, consistency=ConsistencyLevel.LOCAL_SERIAL)
            if holder is None:
                raise Unavailable("the notification could not be claimed in time; try again",
                                  reason="NOTIFICATION_CLAIM_TIMEOUT") from None
            return holder
        # a refused IF NOT EXISTS answers with the row that holds the key
        return notification_id if outcome.applied else outcome.notification_id

    async def _source_holder(self, recipient_id: int, source_key: str, *, consistency: int | None = None) -> int | None:
        rows = await self._run(
            "SELECT notification_id FROM {ks}.notification_sources WHERE recipient_id = ? AND source_key = ?",
            (recipient_id, source_key),
            consistency=consistency,
        )
        return rows[0].notification_id if rows else None

    async def remove_source(self, recipient_id: int, source_key: str) -> int | None:
        holder = await self._source_holder(recipient_id, source_key)
        if holder is None:
            return None
        # The notification first, the claim last: if we stop in between, the claim still names the
        # notification and the undo, retried, finds it and finishes. The claim is released with a
        # lightweight transaction (not in the batch) since its table is Paxos-only, and only if it
        # still names what we removed.
        await self._batch([
            ("DELETE FROM {ks}.notifications WHERE recipient_id = ? AND notification_id = ?", (recipient_id, holder)),
            ("DELETE FROM {ks}.unread_notifications WHERE recipient_id = ? AND notification_id = ?", (recipient_id, holder)),
        ])
        try:
            await self._run(
                "DELETE FROM {ks}.notification_sources WHERE recipient_id = ? AND source_key = ? IF notification_id = ?",
                (recipient_id, source_key, holder),
            )
        except Unavailable as exc:
            if not outcome_open(exc):
                raise
            if await self._source_holder(recipient_id, source_key, consistency=ConsistencyLevel.LOCAL_SERIAL) == holder:
                raise Unavailable("the notification could not be removed in time; try again",
                                  reason="NOTIFICATION_RELEASE_TIMEOUT") from None
        return holder

    # --- notifications ------------------------------------------------------------------------

    async def add(self, notification: Notification) -> None:
        n = notification
        # written at the event's time, not now: a redelivered event re-adding a notification the user
        # has since read (or an undo removed) loses to that later delete instead of reviving it
        written_at = micros(n.create_time)
        await self._batch([
            (
                f"INSERT INTO {{ks}}.notifications (recipient_id, {_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                "USING TIMESTAMP ?",
                (n.recipient_id, n.notification_id, int(n.kind), n.actor_id, unset_if_empty(n.tweet_id),
                 unset_if_empty(n.actor_tweet_id), unset_if_empty(n.comment_id), n.create_time, written_at),
            ),
            (
                "INSERT INTO {ks}.unread_notifications (recipient_id, notification_id) VALUES (?, ?) USING TIMESTAMP ?",
                (n.recipient_id, n.notification_id, written_at),
            ),
        ])

    async def page(self, recipient_id: int, *, before: int | None, limit: int, unread_only: bool) -> list[Notification]:
        if limit <= 0:
            return []
        if unread_only:
            return await self._unread_page(recipient_id, before, limit)
        select = f"SELECT {_COLUMNS} FROM {{ks}}.notifications WHERE recipient_id = ?"
        if before is None:
            rows = await self._run(f"{select} LIMIT ?", (recipient_id, limit))
        else:
            rows = await self._run(f"{select} AND notification_id < ? LIMIT ?", (recipient_id, before, limit))
        return await self._with_read(recipient_id, rows)

    async def _unread_page(self, recipient_id: int, before: int | None, limit: int) -> list[Notification]:
        select = "SELECT notification_id FROM {ks}.unread_notifications WHERE recipient_id = ?"
        if before is None:
            unread = await self._run(f"{select} LIMIT ?", (recipient_id, limit))
        else:
            unread = await self._run(f"{select} AND notification_id < ? LIMIT ?", (recipient_id, before, limit))
        ids = [row.notification_id for row in unread]
        rows = []
        for chunk in chunks(ids):
            rows.extend(await self._run(
                f"SELECT {_COLUMNS} FROM {{ks}}.notifications WHERE recipient_id = ? AND notification_id IN ?",
                (recipient_id, list(chunk)),
            ))
        # an unread id without its notification (an add and a removal racing) is skipped: the page
        # may then be shorter than `limit`
        rows.sort(key=lambda row: row.notification_id, reverse=True)
        return [_notification(recipient_id, row, set(ids)) for row in rows]

    async def after(self, recipient_id: int, after_id: int, limit: int) -> list[Notification]:
        if limit <= 0:
            return []
        rows = await self._run(
            f"SELECT {_COLUMNS} FROM {{ks}}.notifications WHERE recipient_id = ? AND notification_id > ? "
            "ORDER BY notification_id ASC LIMIT ?",
            (recipient_id, after_id, limit),
        )
        return await self._with_read(recipient_id, rows)

    async def _with_read(self, recipient_id: int, rows: list[Any]) -> list[Notification]:
        """The rows as notifications, `read` set from ONE read of the unread ids in their id range."""
        if not rows:
            return []
        ids = [row.notification_id for row in rows]
        unread = await self._run(
            "SELECT notification_id FROM {ks}.unread_notifications "
            "WHERE recipient_id = ? AND notification_id >= ? AND notification_id <= ?",
            (recipient_id, min(ids), max(ids)),
        )
        unread_ids = {row.notification_id for row in unread}
        return [_notification(recipient_id, row, unread_ids) for row in rows]

    # --- read state ---------------------------------------------------------------------------

    async def unread_count(self, recipient_id: int) -> int:
        # exact: the partition holds only unread ids (and the tombstones of recently read ones)
        (row,) = await self._run("SELECT COUNT(*) FROM {ks}.unread_notifications WHERE recipient_id = ?", (recipient_id,))
        return int(row[0])

    async def mark_read(self, recipient_id: int, notification_ids: Collection[int]) -> None:
        # deleting a key that is not in the partition (not the recipient's, or already read) is a no-op
        for chunk in chunks(unique(notification_ids)):
            await self._run(
                "DELETE FROM {ks}.unread_notifications WHERE recipient_id = ? AND notification_id IN ?",
                (recipient_id, list(chunk)),
            )

    async def mark_read_through(self, recipient_id: int, through_id: int) -> None:
        # one range tombstone, however many notifications it covers
        await self._run(
            "DELETE FROM {ks}.unread_notifications WHERE recipient_id = ? AND notification_id <= ?",
            (recipient_id, through_id),
        )
