"""Tweets, their lists, reference rows and claims in CQL (migrations/cql/0010_tweets.cql).

Writes: a new tweet is one LOGGED batch (its row, its author-list entry, the month index, the
reply/quote/retweet reference row, the outbox rows of its events) with the fixed write timestamp
of its create_time: writing it again, for a retry finishing an earlier attempt, rewrites the same
cells with the same timestamp. A delete is one LOGGED batch too, with a later timestamp, so it
beats any copy of the create, even one replayed from the batchlog after the delete.

Claims (request ids, retweets) are lightweight transactions, on tables nothing else writes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

from cassandra import ConsistencyLevel
from cassandra.cluster import Session

from mesh.errors import Unavailable
from mesh.outbox import CqlOutbox
from mesh.cql_rows import micros, unset_if_empty, utc
from svc_tweet.adapters.cql_store import STORE_TIMEOUTS, CqlStatements, outcome_open, commit, store_unavailable
from svc_tweet.domain import (
    AuthorListPosition,
    AuthorTweetPage,
    MediaRef,
    ReplyPage,
    Tweet,
    TweetCounts,
    TweetDraft,
    TweetEvent,
    TweetRemoval,
    month_of,
)

_TWEET_COLUMNS = (
    "tweet_id, author_id, text, media, in_reply_to_tweet_id, in_reply_to_user_id, quoted_tweet_id, quoted_user_id, "
    "retweet_of_tweet_id, retweet_of_user_id, mentioned_user_ids, create_time"
)
_DRAFT_COLUMNS = (
    "tweet_id, event_id, text, media, in_reply_to_tweet_id, in_reply_to_user_id, quoted_tweet_id, quoted_user_id, "
    "mentioned_user_ids, create_time"
)
_RETWEET_CLAIM_COLUMNS = "user_id, tweet_id, retweet_id, tweet_author_id, create_time, event_id"

# An author list read stops after this many rows even when the filters kept fewer than a page:
# the page then ends early with a token, so one call's work stays bounded (AIP-158 allows it).
MAX_SCANNED_ROWS = 1000


def _media_cells(tweet: Tweet) -> list[tuple[int, str, int]]:
    return [(ref.media_id, ref.content_type, ref.size_bytes) for ref in tweet.media]


def _media_refs(cells: Any) -> tuple[MediaRef, ...]:
    return tuple(MediaRef(media_id, content_type, size_bytes) for media_id, content_type, size_bytes in cells or ())


def _tweet(row: Any) -> Tweet:
    return Tweet(
        tweet_id=row.tweet_id,
        author_id=row.author_id,
        text=row.text or "",
        create_time=utc(row.create_time),
        media=_media_refs(row.media),
        in_reply_to_tweet_id=row.in_reply_to_tweet_id,
        in_reply_to_user_id=row.in_reply_to_user_id,
        quoted_tweet_id=row.quoted_tweet_id,
        quoted_user_id=row.quoted_user_id,
        retweet_of_tweet_id=row.retweet_of_tweet_id,
        retweet_of_user_id=row.retweet_of_user_id,
        mentioned_user_ids=tuple(row.mentioned_user_ids or ()),
        delete_time=utc(row.delete_time),
    )


def _draft_from_request(author_id: int, row: Any) -> TweetDraft:
    tweet = Tweet(
        tweet_id=row.tweet_id,
        author_id=author_id,
        text=row.text or "",
        create_time=utc(row.create_time),
        media=_media_refs(row.media),
        in_reply_to_tweet_id=row.in_reply_to_tweet_id,
        in_reply_to_user_id=row.in_reply_to_user_id,
        quoted_tweet_id=row.quoted_tweet_id,
        quoted_user_id=row.quoted_user_id,
        mentioned_user_ids=tuple(row.mentioned_user_ids or ()),
    )
    return TweetDraft(tweet, event_id=row.event_id)


def _draft_from_retweet_claim(row: Any) -> TweetDraft:
    tweet = Tweet(
        tweet_id=row.retweet_id,
        author_id=row.user_id,
        text="",
        create_time=utc(row.create_time),
        retweet_of_tweet_id=row.tweet_id,
        retweet_of_user_id=row.tweet_author_id,
    )
    return TweetDraft(tweet, event_id=row.event_id)


class CqlTweetStore:
    def __init__(
        self,
        session: Session,
        keyspace: str,
        outbox: CqlOutbox,
        on_commit: Callable[[str], None] = lambda key: None,
        *,
        max_scanned_rows: int = MAX_SCANNED_ROWS,
    ):
        self._cql = CqlStatements(session)
        self._ks = keyspace
        self._outbox = outbox
        self._on_commit = on_commit  # wakes the outbox relay after an event was committed
        self._max_scanned_rows = max_scanned_rows

    # --- reads --------------------------------------------------------------------------------

    async def get_many(self, tweet_ids: Sequence[int]) -> dict[int, Tweet]:
        # IN, not a read each (CqlStatements.rows_in); the coordinator waits for the slowest
        # partition, as gathering single reads did
        query = f"SELECT {_TWEET_COLUMNS}, delete_time FROM {self._ks}.tweets WHERE tweet_id IN ?"
        return {
            row.tweet_id: _tweet(row)
            for row in await self._cql.rows_in(query, tweet_ids)
            if row.author_id is not None and row.create_time is not None
        }

    async def counts(self, tweet_ids: Sequence[int]) -> dict[int, TweetCounts]:
        retweets, replies, quotes = await asyncio.gather(
            *(self._cql.rows_per_tweet(f"{self._ks}.{table}", tweet_ids)
              for table in ("retweeters_by_tweet", "replies_by_tweet", "quotes_by_tweet"))
        )
        return {
            tweet_id: TweetCounts(retweets=retweets[tweet_id], replies=replies[tweet_id], quotes=quotes[tweet_id])
            for tweet_id in retweets
        }

    async def page_by_author(
        self, author_id: int, after: AuthorListPosition | None, limit: int, *, exclude_replies: bool, exclude_retweets: bool
    ) -> AuthorTweetPage:
        if after is None:
            month_rows = await self._cql.rows(
                f"SELECT month FROM {self._ks}.tweet_months_by_author WHERE author_id = ?", (author_id,)
            )
        else:
            month_rows = await self._cql.rows(
                f"SELECT month FROM {self._ks}.tweet_months_by_author WHERE author_id = ? AND month <= ?",
                (author_id, after.month),
            )
        filtering = exclude_replies or exclude_retweets
        # unfiltered, one row more than a page tells whether there is a next one; filtered, read
        # ahead to make up for the rows the filters drop
        chunk = min(4 * (limit + 1), 500) if filtering else limit + 1
        kept: list[AuthorListPosition] = []
        scanned = 0
        select = f"SELECT tweet_id, is_reply, is_retweet FROM {self._ks}.tweets_by_author WHERE author_id = ? AND month = ?"
        for (month,) in month_rows:
            below = after.tweet_id if after is not None and month == after.month else None
            while True:
                wanted = min(chunk, self._max_scanned_rows - scanned)  # at least 1: see the return below
                if below is None:
                    rows = await self._cql.rows(f"{select} LIMIT ?", (author_id, month, wanted))
                else:
                    rows = await self._cql.rows(f"{select} AND tweet_id < ? LIMIT ?", (author_id, month, below, wanted))
                for row in rows:
                    scanned += 1
                    if not ((exclude_replies and row.is_reply) or (exclude_retweets and row.is_retweet)):
                        kept.append(AuthorListPosition(month, row.tweet_id))
                    if len(kept) > limit:
                        return AuthorTweetPage([p.tweet_id for p in kept[:limit]], kept[limit - 1])
                if rows:
                    below = rows[-1].tweet_id
                if scanned >= self._max_scanned_rows:
                    # a short page: the next one continues after the last row looked at
                    return AuthorTweetPage([p.tweet_id for p in kept], AuthorListPosition(month, below))
                if len(rows) < wanted:
                    break  # this month is done: on to the previous one
        return AuthorTweetPage([p.tweet_id for p in kept], None)

    async def page_replies(self, tweet_id: int, after: int | None, limit: int) -> ReplyPage:
        select = f"SELECT reply_id FROM {self._ks}.replies_by_tweet WHERE tweet_id = ?"
        if after is None:
            rows = await self._cql.rows(f"{select} LIMIT ?", (tweet_id, limit + 1))
        else:
            rows = await self._cql.rows(f"{select} AND reply_id > ? LIMIT ?", (tweet_id, after, limit + 1))
        ids = [row.reply_id for row in rows]
        return ReplyPage(ids[:limit], ids[limit - 1] if len(ids) > limit else None)

    async def retweeted_by(self, user_id: int, original_ids: Sequence[int]) -> set[int]:
        query = f"SELECT tweet_id FROM {self._ks}.retweets_by_user WHERE user_id = ? AND tweet_id IN ?"
        return {row.tweet_id for row in await self._cql.rows_in(query, original_ids, user_id)}

    async def retweets_of(self, user_id: int, limit: int) -> list[int]:
        query = f"SELECT tweet_id FROM {self._ks}.retweets_by_user WHERE user_id = ? LIMIT ?"
        return [row.tweet_id for row in await self._cql.rows(query, (user_id, limit))]

    # --- writes -------------------------------------------------------------------------------

    async def create(self, tweet: Tweet, events: Sequence[TweetEvent]) -> None:
        at = micros(tweet.create_time)
        month = month_of(tweet.create_time)
        ks = self._ks
        statements = [
            (
                f"INSERT INTO {ks}.tweets ({_TWEET_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) USING TIMESTAMP ?",
                (tweet.tweet_id, tweet.author_id, tweet.text,
                 *map(unset_if_empty, (_media_cells(tweet), tweet.in_reply_to_tweet_id, tweet.in_reply_to_user_id,
                                       tweet.quoted_tweet_id, tweet.quoted_user_id, tweet.retweet_of_tweet_id,
                                       tweet.retweet_of_user_id, list(tweet.mentioned_user_ids))),
                 tweet.create_time, at),
            ),
            (
                f"INSERT INTO {ks}.tweets_by_author (author_id, month, tweet_id, is_reply, is_retweet) "
                "VALUES (?, ?, ?, ?, ?) USING TIMESTAMP ?",
                (tweet.author_id, month, tweet.tweet_id, tweet.is_reply, tweet.is_retweet, at),
            ),
            (
                f"INSERT INTO {ks}.tweet_months_by_author (author_id, month) VALUES (?, ?) USING TIMESTAMP ?",
                (tweet.author_id, month, at),
            ),
        ]
        if tweet.in_reply_to_tweet_id is not None:
            statements.append((
                f"INSERT INTO {ks}.replies_by_tweet (tweet_id, reply_id, author_id) VALUES (?, ?, ?) USING TIMESTAMP ?",
                (tweet.in_reply_to_tweet_id, tweet.tweet_id, tweet.author_id, at),
            ))
        if tweet.quoted_tweet_id is not None:
            statements.append((
                f"INSERT INTO {ks}.quotes_by_tweet (tweet_id, quote_id, author_id) VALUES (?, ?, ?) USING TIMESTAMP ?",
                (tweet.quoted_tweet_id, tweet.tweet_id, tweet.author_id, at),
            ))
        if tweet.retweet_of_tweet_id is not None:
            statements.append((
                f"INSERT INTO {ks}.retweeters_by_tweet (tweet_id, user_id, retweet_id) VALUES (?, ?, ?) USING TIMESTAMP ?",
                (tweet.retweet_of_tweet_id, tweet.author_id, tweet.tweet_id, at),
            ))
        await self._commit(statements, events, actor_id=tweet.author_id)

    async def delete(self, removal: TweetRemoval) -> None:
        tweet = removal.tweet
        # later than every cell of the create, even when this host's clock lags the creator's
        at = max(micros(removal.delete_time), micros(tweet.create_time) + 1)
        ks = self._ks
        statements = [
            (
                # the row stays as a marker: who, when, what it referred to; the content goes
                f"UPDATE {ks}.tweets USING TIMESTAMP ? SET author_id = ?, create_time = ?, delete_time = ?, "
                "in_reply_to_tweet_id = ?, quoted_tweet_id = ?, retweet_of_tweet_id = ?, retweet_of_user_id = ?, "
                "text = null, media = null, mentioned_user_ids = null WHERE tweet_id = ?",
                (at, tweet.author_id, tweet.create_time, removal.delete_time, tweet.in_reply_to_tweet_id,
                 tweet.quoted_tweet_id, tweet.retweet_of_tweet_id, tweet.retweet_of_user_id, tweet.tweet_id),
            ),
            (
                f"DELETE FROM {ks}.tweets_by_author USING TIMESTAMP ? WHERE author_id = ? AND month = ? AND tweet_id = ?",
                (at, tweet.author_id, month_of(tweet.create_time), tweet.tweet_id),
            ),
        ]
        if tweet.in_reply_to_tweet_id is not None:
            statements.append((
                f"DELETE FROM {ks}.replies_by_tweet USING TIMESTAMP ? WHERE tweet_id = ? AND reply_id = ?",
                (at, tweet.in_reply_to_tweet_id, tweet.tweet_id),
            ))
        if tweet.quoted_tweet_id is not None:
            statements.append((
                f"DELETE FROM {ks}.quotes_by_tweet USING TIMESTAMP ? WHERE tweet_id = ? AND quote_id = ?",
                (at, tweet.quoted_tweet_id, tweet.tweet_id),
            ))
        if tweet.retweet_of_tweet_id is not None:
            statements.append((
                f"DELETE FROM {ks}.retweeters_by_tweet USING TIMESTAMP ? WHERE tweet_id = ? AND user_id = ?",
                (at, tweet.retweet_of_tweet_id, tweet.author_id),
            ))
        await self._commit(statements, (removal.event,), actor_id=tweet.author_id)

    async def _commit(self, statements: list[tuple[str, tuple]], events: Sequence[TweetEvent], *, actor_id: int) -> None:
        await commit(self._cql, self._outbox, statements, events, actor_id=actor_id, on_commit=self._on_commit)

    # --- CreateTweet request ids --------------------------------------------------------------

    async def find_request(self, author_id: int, request_id: str) -> TweetDraft | None:
        return await self._request_draft(author_id, request_id)

    async def _request_draft(self, author_id: int, request_id: str, *, consistency: int | None = None) -> TweetDraft | None:
        rows = await self._cql.rows(
            f"SELECT {_DRAFT_COLUMNS} FROM {self._ks}.tweet_requests WHERE author_id = ? AND request_id = ?",
            (author_id, request_id),
            consistency=consistency,
        )
        return _draft_from_request(author_id, rows[0]) if rows else None

    async def claim_request(self, author_id: int, request_id: str, draft: TweetDraft) -> TweetDraft:
        tweet = draft.tweet
        query = (
            f"INSERT INTO {self._ks}.tweet_requests (author_id, request_id, {_DRAFT_COLUMNS}) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) IF NOT EXISTS"
        )
        parameters = (
            author_id, request_id, tweet.tweet_id, draft.event_id, tweet.text, _media_cells(tweet),
            tweet.in_reply_to_tweet_id, tweet.in_reply_to_user_id, tweet.quoted_tweet_id, tweet.quoted_user_id,
            list(tweet.mentioned_user_ids), tweet.create_time,
        )
        try:
            (outcome,) = await self._cql.raw(query, parameters)
        except Unavailable as exc:
            if not outcome_open(exc):
                raise
            # The outcome is open. A SERIAL read completes any round still in flight, so it tells
            # for certain which draft holds the claim now.
            holder = await self._request_draft(author_id, request_id, consistency=ConsistencyLevel.LOCAL_SERIAL)
            if holder is None:
                raise Unavailable("the tweet could not be posted in time; try again with the same request_id",
                                  reason="REQUEST_CLAIM_TIMEOUT") from None
            return draft if holder.tweet.tweet_id == tweet.tweet_id else holder
        except STORE_TIMEOUTS as exc:
            raise store_unavailable(exc) from exc
        if outcome.applied:
            return draft
        # lost: a refused IF NOT EXISTS answers with the row that won
        return _draft_from_request(author_id, outcome)

    # --- retweet claims -----------------------------------------------------------------------

    async def find_retweet(self, user_id: int, original_id: int) -> TweetDraft | None:
        return await self._retweet_claim(user_id, original_id)

    async def _retweet_claim(self, user_id: int, original_id: int, *, consistency: int | None = None) -> TweetDraft | None:
        rows = await self._cql.rows(
            f"SELECT {_RETWEET_CLAIM_COLUMNS} FROM {self._ks}.retweets_by_user WHERE user_id = ? AND tweet_id = ?",
            (user_id, original_id),
            consistency=consistency,
        )
        return _draft_from_retweet_claim(rows[0]) if rows else None

    async def claim_retweet(self, draft: TweetDraft) -> TweetDraft:
        retweet = draft.tweet
        user_id, original_id = retweet.author_id, retweet.retweet_of_tweet_id
        try:
            (outcome,) = await self._cql.raw(
                f"INSERT INTO {self._ks}.retweets_by_user ({_RETWEET_CLAIM_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?) IF NOT EXISTS",
                (user_id, original_id, retweet.tweet_id, retweet.retweet_of_user_id, retweet.create_time, draft.event_id),
            )
        except Unavailable as exc:
            if not outcome_open(exc):
                raise
            holder = await self._retweet_claim(user_id, original_id, consistency=ConsistencyLevel.LOCAL_SERIAL)
            if holder is None:
                raise Unavailable("the retweet could not be stored in time; try again", reason="RETWEET_CLAIM_TIMEOUT") from None
            return draft if holder.tweet.tweet_id == retweet.tweet_id else holder
        except STORE_TIMEOUTS as exc:
            raise store_unavailable(exc) from exc
        return draft if outcome.applied else _draft_from_retweet_claim(outcome)

    async def release_retweet(self, user_id: int, original_id: int, retweet_id: int) -> None:
        try:
            await self._cql.raw(
                f"DELETE FROM {self._ks}.retweets_by_user WHERE user_id = ? AND tweet_id = ? IF retweet_id = ?",
                (user_id, original_id, retweet_id),
            )
        except Unavailable as exc:
            if not outcome_open(exc):
                raise
            # the retweet itself is already deleted; undoing again finishes the release
            raise Unavailable("the retweet was removed, but not completely in time; undo it again",
                              reason="RETWEET_RELEASE_TIMEOUT") from exc
        except STORE_TIMEOUTS as exc:
            raise store_unavailable(exc) from exc
