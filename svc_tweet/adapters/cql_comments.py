"""Comments in CQL (migrations/cql/0011_engagement.cql): `comments` by id (with the deletion marker),
`comments_by_tweet` (the list, oldest first, and the count), `comment_requests` (AddComment claims).

As tweets: a new comment is one LOGGED batch (its row, its list entry, the outbox rows of its
events) with the fixed write timestamp of its create_time, so writing it again changes nothing; a
delete is one LOGGED batch with a later timestamp, so it beats any late copy of the create.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from cassandra import ConsistencyLevel
from cassandra.cluster import Session

from mesh.errors import Unavailable
from mesh.outbox import CqlOutbox
from mesh.cql_rows import micros, utc
from svc_tweet.adapters.cql_store import STORE_TIMEOUTS, CqlStatements, as_unavailable, commit, outcome_open
from svc_tweet.domain import Comment, CommentDraft, CommentIdPage, CommentRemoval, TweetEvent

_COMMENT_COLUMNS = "comment_id, tweet_id, author_id, tweet_author_id, text, create_time"
_DRAFT_COLUMNS = "comment_id, event_id, tweet_id, tweet_author_id, text, mentioned_user_ids, create_time"


def _comment(row: Any, *, delete_time: Any = None) -> Comment:
    return Comment(
        comment_id=row.comment_id,
        tweet_id=row.tweet_id,
        author_id=row.author_id,
        tweet_author_id=row.tweet_author_id,
        text=row.text or "",
        create_time=utc(row.create_time),
        delete_time=utc(delete_time),
    )


def _draft(author_id: int, row: Any) -> CommentDraft:
    comment = Comment(
        comment_id=row.comment_id,
        tweet_id=row.tweet_id,
        author_id=author_id,
        tweet_author_id=row.tweet_author_id,
        text=row.text or "",
        create_time=utc(row.create_time),
    )
    return CommentDraft(comment, event_id=row.event_id, mentioned_user_ids=tuple(row.mentioned_user_ids or ()))


class CqlCommentStore:
    def __init__(self, session: Session, keyspace: str, outbox: CqlOutbox, on_commit: Callable[[str], None] = lambda key: None):
        self._cql = CqlStatements(session)
        self._ks = keyspace
        self._outbox = outbox
        self._on_commit = on_commit  # wakes the outbox relay after an event was committed

    # --- reads --------------------------------------------------------------------------------

    async def get(self, comment_id: int) -> Comment | None:
        rows = await self._cql.rows(
            f"SELECT {_COMMENT_COLUMNS}, delete_time FROM {self._ks}.comments WHERE comment_id = ?", (comment_id,)
        )
        if not rows or rows[0].author_id is None or rows[0].create_time is None:
            return None
        return _comment(rows[0], delete_time=rows[0].delete_time)

    async def counts(self, tweet_ids: Sequence[int]) -> dict[int, int]:
        return await self._cql.rows_per_tweet(f"{self._ks}.comments_by_tweet", tweet_ids)

    async def page(self, tweet_id: int, after: int | None, limit: int) -> CommentIdPage:
        select = f"SELECT {_COMMENT_COLUMNS} FROM {self._ks}.comments_by_tweet WHERE tweet_id = ?"
        if after is None:
            rows = await self._cql.rows(f"{select} LIMIT ?", (tweet_id, limit + 1))
        else:
            rows = await self._cql.rows(f"{select} AND comment_id > ? LIMIT ?", (tweet_id, after, limit + 1))
        comments = [_comment(row) for row in rows]
        return CommentIdPage(comments[:limit], comments[limit - 1].comment_id if len(comments) > limit else None)

    # --- writes -------------------------------------------------------------------------------

    async def create(self, comment: Comment, events: Sequence[TweetEvent]) -> None:
        at = micros(comment.create_time)
        values = (comment.comment_id, comment.tweet_id, comment.author_id, comment.tweet_author_id, comment.text,
                  comment.create_time, at)
        await commit(self._cql, self._outbox, [
            (f"INSERT INTO {self._ks}.comments ({_COMMENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?) USING TIMESTAMP ?", values),
            (f"INSERT INTO {self._ks}.comments_by_tweet ({_COMMENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?) USING TIMESTAMP ?",
             values),
        ], events, actor_id=comment.author_id, on_commit=self._on_commit)

    async def delete(self, removal: CommentRemoval) -> None:
        comment = removal.comment
        # later than every cell of the create, even when this host's clock lags the creator's
        at = max(micros(removal.delete_time), micros(comment.create_time) + 1)
        await commit(self._cql, self._outbox, [
            (
                # the row stays as a marker: who, when, on what; the text goes
                f"UPDATE {self._ks}.comments USING TIMESTAMP ? SET tweet_id = ?, author_id = ?, tweet_author_id = ?, "
                "create_time = ?, delete_time = ?, text = null WHERE comment_id = ?",
                (at, comment.tweet_id, comment.author_id, comment.tweet_author_id, comment.create_time,
                 removal.delete_time, comment.comment_id),
            ),
            (
                f"DELETE FROM {self._ks}.comments_by_tweet USING TIMESTAMP ? WHERE tweet_id = ? AND comment_id = ?",
                (at, comment.tweet_id, comment.comment_id),
            ),
        ], (removal.event,), actor_id=removal.event.actor_id, on_commit=self._on_commit)

    # --- AddComment request ids ---------------------------------------------------------------

    async def find_request(self, author_id: int, request_id: str) -> CommentDraft | None:
        return await self._request_draft(author_id, request_id)

    async def _request_draft(self, author_id: int, request_id: str, *, consistency: int | None = None) -> CommentDraft | None:
        rows = await self._cql.rows(
            f"SELECT {_DRAFT_COLUMNS} FROM {self._ks}.comment_requests WHERE author_id = ? AND request_id = ?",
            (author_id, request_id),
            consistency=consistency,
        )
        return _draft(author_id, rows[0]) if rows else None

    async def claim_request(self, author_id: int, request_id: str, draft: CommentDraft) -> CommentDraft:
        comment = draft.comment
        try:
            (outcome,) = await self._cql.raw(
                f"INSERT INTO {self._ks}.comment_requests (author_id, request_id, {_DRAFT_COLUMNS}) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) IF NOT EXISTS",
                (author_id, request_id, comment.comment_id, draft.event_id, comment.tweet_id, comment.tweet_author_id,
                 comment.text, list(draft.mentioned_user_ids), comment.create_time),
            )
        except (Unavailable, *STORE_TIMEOUTS) as exc:
            if not outcome_open(exc):
                raise as_unavailable(exc)
            holder = await self._request_draft(author_id, request_id, consistency=ConsistencyLevel.LOCAL_SERIAL)
            if holder is None:
                raise Unavailable("the comment could not be added in time; try again with the same request_id",
                                  reason="REQUEST_CLAIM_TIMEOUT") from None
            return holder
        # lost: a refused IF NOT EXISTS answers with the row that won
        return draft if outcome.applied else _draft(author_id, outcome)
