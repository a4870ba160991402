"""Likes in CQL (migrations/cql/0011_engagement.cql): claims in `likes_by_tweet` (the like count), the
recorded likes in `likes_by_user` (caller_liked) and `likers_by_tweet` (the list, most recent first).

Claims are lightweight transactions on a table nothing else writes. Recording a like is one LOGGED
batch with the fixed write timestamp of its create_time, so recording it again rewrites the same
cells; erasing it is one LOGGED batch at that timestamp plus one, so it beats every copy of the
recording, even one replayed from the batchlog later. Every recorded row has the like id in its
key: rows of two likes never meet, so their timestamps never have to be compared.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from cassandra import ConsistencyLevel
from cassandra.cluster import Session

from mesh.errors import Unavailable
from mesh.outbox import CqlOutbox
from mesh.cql_rows import micros, unique, utc
from svc_tweet.adapters.cql_store import STORE_TIMEOUTS, CqlStatements, as_unavailable, commit, outcome_open
from svc_tweet.domain import Like, LikeCreated, LikeDeleted, LikerIdPage

_LIKE_COLUMNS = "user_id, tweet_id, like_id, tweet_author_id, create_time"


def _like(row: Any) -> Like:
    return Like(
        like_id=row.like_id,
        tweet_id=row.tweet_id,
        user_id=row.user_id,
        tweet_author_id=row.tweet_author_id,
        create_time=utc(row.create_time),
    )


class CqlLikeStore:
    def __init__(self, session: Session, keyspace: str, outbox: CqlOutbox, on_commit: Callable[[str], None] = lambda key: None):
        self._cql = CqlStatements(session)
        self._ks = keyspace
        self._outbox = outbox
        self._on_commit = on_commit  # wakes the outbox relay after an event was committed

    # --- claims -------------------------------------------------------------------------------

    async def claim(self, like: Like) -> Like:
        try:
            (outcome,) = await self._cql.raw(
                f"INSERT INTO {self._ks}.likes_by_tweet ({_LIKE_COLUMNS}) VALUES (?, ?, ?, ?, ?) IF NOT EXISTS",
                (like.user_id, like.tweet_id, like.like_id, like.tweet_author_id, like.create_time),
            )
        except (Unavailable, *STORE_TIMEOUTS) as exc:
            if not outcome_open(exc):
                raise as_unavailable(exc)
            # a SERIAL read completes any round still in flight: it tells who holds the claim now
            holder = await self._find(like.user_id, like.tweet_id, consistency=ConsistencyLevel.LOCAL_SERIAL)
            if holder is None:
                raise Unavailable("the like could not be stored in time; try again", reason="LIKE_CLAIM_TIMEOUT") from None
            return holder
        # lost: a refused IF NOT EXISTS answers with the row that won
        return like if outcome.applied else _like(outcome)

    async def find(self, user_id: int, tweet_id: int) -> Like | None:
        return await self._find(user_id, tweet_id)

    async def _find(self, user_id: int, tweet_id: int, *, consistency: int | None = None) -> Like | None:
        rows = await self._cql.rows(
            f"SELECT {_LIKE_COLUMNS} FROM {self._ks}.likes_by_tweet WHERE tweet_id = ? AND user_id = ?",
            (tweet_id, user_id),
            consistency=consistency,
        )
        return _like(rows[0]) if rows else None

    async def release(self, like: Like) -> None:
        try:
            await self._cql.raw(
                f"DELETE FROM {self._ks}.likes_by_tweet WHERE tweet_id = ? AND user_id = ? IF like_id = ?",
                (like.tweet_id, like.user_id, like.like_id),
            )
        except (Unavailable, *STORE_TIMEOUTS) as exc:
            # nothing was erased yet: unliking again finishes the unlike
            raise Unavailable("the like could not be removed in time; unlike again", reason="LIKE_RELEASE_TIMEOUT") from exc

    async def counts(self, tweet_ids: Sequence[int]) -> dict[int, int]:
        return await self._cql.rows_per_tweet(f"{self._ks}.likes_by_tweet", tweet_ids)

    # --- the recorded likes -------------------------------------------------------------------

    async def recorded(self, user_id: int, tweet_id: int) -> list[Like]:
        rows = await self._cql.rows(
            f"SELECT {_LIKE_COLUMNS} FROM {self._ks}.likes_by_user WHERE user_id = ? AND tweet_id = ?",
            (user_id, tweet_id),
        )
        return [_like(row) for row in rows]

    async def liked_by(self, user_id: int, tweet_ids: Sequence[int]) -> set[int]:
        query = f"SELECT tweet_id FROM {self._ks}.likes_by_user WHERE user_id = ? AND tweet_id IN ?"
        return {row.tweet_id for row in await self._cql.rows_in(query, tweet_ids, user_id)}

    async def likes_of(self, user_id: int, limit: int) -> list[int]:
        query = f"SELECT tweet_id FROM {self._ks}.likes_by_user WHERE user_id = ? LIMIT ?"
        return [row.tweet_id for row in await self._cql.rows(query, (user_id, limit))]

    async def record(self, like: Like, event: LikeCreated) -> None:
        at = micros(like.create_time)
        await commit(self._cql, self._outbox, [
            (
                f"INSERT INTO {self._ks}.likes_by_user ({_LIKE_COLUMNS}) VALUES (?, ?, ?, ?, ?) USING TIMESTAMP ?",
                (like.user_id, like.tweet_id, like.like_id, like.tweet_author_id, like.create_time, at),
            ),
            (
                f"INSERT INTO {self._ks}.likers_by_tweet (tweet_id, like_id, user_id) VALUES (?, ?, ?) USING TIMESTAMP ?",
                (like.tweet_id, like.like_id, like.user_id, at),
            ),
        ], (event,), actor_id=like.user_id, on_commit=self._on_commit)

    async def erase(self, like: Like, event: LikeDeleted) -> None:
        at = micros(like.create_time) + 1  # above every write of this like's recording
        await commit(self._cql, self._outbox, [
            (
                f"DELETE FROM {self._ks}.likes_by_user USING TIMESTAMP ? WHERE user_id = ? AND tweet_id = ? AND like_id = ?",
                (at, like.user_id, like.tweet_id, like.like_id),
            ),
            (
                f"DELETE FROM {self._ks}.likers_by_tweet USING TIMESTAMP ? WHERE tweet_id = ? AND like_id = ?",
                (at, like.tweet_id, like.like_id),
            ),
        ], (event,), actor_id=like.user_id, on_commit=self._on_commit)

    async def page_likers(self, tweet_id: int, before: int | None, limit: int) -> LikerIdPage:
        select = f"SELECT like_id, user_id FROM {self._ks}.likers_by_tweet WHERE tweet_id = ?"
        if before is None:
            rows = await self._cql.rows(f"{select} LIMIT ?", (tweet_id, limit + 1))
        else:
            rows = await self._cql.rows(f"{select} AND like_id < ? LIMIT ?", (tweet_id, before, limit + 1))
        page, more = rows[:limit], len(rows) > limit
        if not page:
            return LikerIdPage([], None)
        # a row is listed only while its like holds the claim: rows of a like undone half way are skipped
        claims = await self._cql.rows(
            f"SELECT user_id, like_id FROM {self._ks}.likes_by_tweet WHERE tweet_id = ? AND user_id IN ?",
            (tweet_id, unique(row.user_id for row in page)),
        )
        held = {(row.user_id, row.like_id) for row in claims}
        user_ids = [row.user_id for row in page if (row.user_id, row.like_id) in held]
        return LikerIdPage(user_ids, page[-1].like_id if more else None)
