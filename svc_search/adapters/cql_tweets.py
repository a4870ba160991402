"""Every tweet of the tweet store (svc_tweet's `tweets` table, migrations/cql/0010_tweets.cql), for
the rebuild. Read-only: svc_search never writes the tweet service's tables.

A full scan in token order, one page per request: `WHERE token(tweet_id) >= ? LIMIT ?`, each page
starting at the last token of the one before. Starting AT that token (not after it) and skipping
the ids already read there keeps tweets whose ids hash to the same token (64-bit Murmur3: rare,
but among billions of tweets not impossible) from being skipped at a page boundary. Plain CQL that
ScyllaDB runs as a range scan too; each page gets its own deadline.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import timezone

from cassandra.cluster import Session

from mesh import cql
from mesh.config import env_float
from svc_search.domain import IndexedTweet, TweetChange, TweetPosted, TweetRemoved

# a range scan page reads more than a point query: a longer cap than TM_CQL_TIMEOUT_S
SCAN_PAGE_TIMEOUT_S = env_float("TM_SEARCH_SCAN_TIMEOUT_S", 10.0)

MIN_TOKEN = -(2**63)  # Murmur3Partitioner, the default of Cassandra and ScyllaDB


class CqlTweetSource:
    def __init__(self, session: Session, keyspace: str):
        self._session = session
        self._query = (
            "SELECT token(tweet_id) AS ring_token, tweet_id, author_id, text, media, in_reply_to_tweet_id, "
            f"quoted_tweet_id, retweet_of_tweet_id, create_time, delete_time FROM {keyspace}.tweets "
            "WHERE token(tweet_id) >= ? LIMIT ?"
        )

    async def changes(self, page_size: int) -> AsyncIterator[Sequence[TweetChange]]:
        statement = await cql.prepare(self._session, self._query)
        token, read_at_token = MIN_TOKEN, set[int]()
        while True:
            limit = page_size + len(read_at_token)  # room for page_size rows not read yet
            rows = list(await cql.execute(self._session, statement, (token, limit), cap_s=SCAN_PAGE_TIMEOUT_S))
            fresh = [row for row in rows if not (row.ring_token == token and row.tweet_id in read_at_token)]
            changes = [change for change in map(_change, fresh) if change is not None]
            if changes:
                yield changes
            if len(rows) < limit:
                return  # the end of the ring
            last = rows[-1].ring_token
            if last != token:
                read_at_token = set()
            token = last
            read_at_token |= {row.tweet_id for row in rows if row.ring_token == last}


def _change(row) -> TweetChange | None:
    if row.retweet_of_tweet_id is not None:
        return None  # retweets are not indexed: their text is the original's
    if row.delete_time is not None:
        return TweetRemoved(row.tweet_id)
    if row.author_id is None or row.create_time is None:
        return None  # no tweet the store ever completed (rows are written whole, in one batch)
    return TweetPosted(IndexedTweet(
        tweet_id=row.tweet_id,
        author_id=row.author_id,
        text=row.text or "",
        create_time=row.create_time.replace(tzinfo=timezone.utc),  # the driver hands out naive UTC
        in_reply_to_tweet_id=row.in_reply_to_tweet_id,
        quoted_tweet_id=row.quoted_tweet_id,
        has_media=bool(row.media),
    ))
