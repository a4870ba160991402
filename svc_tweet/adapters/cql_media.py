"""Media uploads and their attachment claims in CQL (tables `media`, `media_attachments`,
migrations/cql/0010_tweets.cql).

An attachment claim's time is not stored: it is the timestamp of the claiming tweet's Snowflake id,
which the post makes milliseconds before it claims (and a retry of that post reuses), so it tells
how long ago the post that holds the media started.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from cassandra import ConsistencyLevel
from cassandra.cluster import Session

from mesh import ids
from mesh.errors import Unavailable
from mesh.cql_rows import unique, utc
from svc_tweet.adapters.cql_store import STORE_TIMEOUTS, CqlStatements, outcome_open, store_unavailable
from svc_tweet.domain import Attachment, Media, MediaState

_MEDIA_COLUMNS = "media_id, owner_id, content_type, size_bytes, state, object_key, failure_reason, create_time"


def _media(row: Any) -> Media:
    return Media(
        media_id=row.media_id,
        owner_id=row.owner_id,
        content_type=row.content_type,
        size_bytes=row.size_bytes,
        state=MediaState(row.state),
        object_key=row.object_key,
        create_time=utc(row.create_time),
        failure_reason=row.failure_reason or "",
    )


def _attachment(tweet_id: int) -> Attachment:
    return Attachment(tweet_id, ids.timestamp_of(tweet_id))


class CqlMediaStore:
    def __init__(self, session: Session, keyspace: str):
        self._cql = CqlStatements(session)
        self._ks = keyspace

    async def insert(self, media: Media) -> None:
        await self._cql.rows(
            f"INSERT INTO {self._ks}.media ({_MEDIA_COLUMNS}, update_time) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (media.media_id, media.owner_id, media.content_type, media.size_bytes, media.state.value,
             media.object_key, media.failure_reason, media.create_time, media.create_time),
        )

    async def get_many(self, media_ids: Sequence[int]) -> dict[int, Media]:
        found = await asyncio.gather(*(self._get(media_id) for media_id in unique(media_ids)))
        return {media.media_id: media for media in found if media is not None}

    async def _get(self, media_id: int) -> Media | None:
        rows = await self._cql.rows(f"SELECT {_MEDIA_COLUMNS} FROM {self._ks}.media WHERE media_id = ?", (media_id,))
        return _media(rows[0]) if rows and rows[0].owner_id is not None else None

    async def update_state(self, media: Media, now: datetime) -> None:
        await self._cql.rows(
            f"UPDATE {self._ks}.media SET state = ?, failure_reason = ?, update_time = ? WHERE media_id = ?",
            (media.state.value, media.failure_reason, now, media.media_id),
        )

    # --- attachment claims (lightweight transactions only) -------------------------------------

    async def attach(self, media_ids: Sequence[int], tweet_id: int, now: datetime) -> dict[int, Attachment]:
        claims = await asyncio.gather(*(self._claim(media_id, tweet_id) for media_id in unique(media_ids)))
        return dict(zip(unique(media_ids), claims))

    async def _claim(self, media_id: int, tweet_id: int) -> Attachment:
        try:
            (outcome,) = await self._cql.raw(
                f"INSERT INTO {self._ks}.media_attachments (media_id, tweet_id) VALUES (?, ?) IF NOT EXISTS",
                (media_id, tweet_id),
            )
        except Unavailable as exc:
            if not outcome_open(exc):
                raise
            # outcome open: a SERIAL read completes any round in flight and tells who holds it
            holder = await self._holder(media_id, consistency=ConsistencyLevel.LOCAL_SERIAL)
            if holder is None:
                raise Unavailable("the media could not be attached in time; try again", reason="MEDIA_CLAIM_TIMEOUT") from None
            return holder
        except STORE_TIMEOUTS as exc:
            raise store_unavailable(exc) from exc
        return _attachment(tweet_id if outcome.applied else outcome.tweet_id)

    async def _holder(self, media_id: int, *, consistency: int | None = None) -> Attachment | None:
        rows = await self._cql.rows(
            f"SELECT tweet_id FROM {self._ks}.media_attachments WHERE media_id = ?", (media_id,), consistency=consistency,
        )
        return _attachment(rows[0].tweet_id) if rows else None

    async def reassign(self, media_id: int, from_tweet_id: int, to_tweet_id: int, now: datetime) -> bool:
        try:
            (outcome,) = await self._cql.raw(
                f"UPDATE {self._ks}.media_attachments SET tweet_id = ? WHERE media_id = ? IF tweet_id = ?",
                (to_tweet_id, media_id, from_tweet_id),
            )
        except STORE_TIMEOUTS as exc:
            raise store_unavailable(exc) from exc
        return bool(outcome.applied)

    async def detach(self, media_ids: Sequence[int], tweet_id: int) -> None:
        query = f"DELETE FROM {self._ks}.media_attachments WHERE media_id = ? IF tweet_id = ?"
        try:
            await asyncio.gather(*(self._cql.raw(query, (media_id, tweet_id)) for media_id in unique(media_ids)))
        except STORE_TIMEOUTS as exc:
            raise store_unavailable(exc) from exc
