"""User timelines in CQL (migrations/cql/0020_timelines.cql): one partition per author, newest first."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cassandra.cluster import Session

from mesh import cql
from svc_timeline.adapters.cql_errors import store_unavailable_on_failure
from svc_timeline.adapters.cql_home import MAX_IN_KEYS, unset_if_none
from svc_timeline.aio import chunks
from svc_timeline.domain import TimelineEntry

_COLUMNS = "tweet_id, retweet_of_tweet_id, retweet_of_author_id"


class CqlUserTimelines:
    def __init__(self, session: Session, keyspace: str):
        self._session = session
        self._table = f"{keyspace}.user_timeline"

    async def _execute(self, query: str, parameters: tuple) -> list[Any]:
        with store_unavailable_on_failure("user timeline"):
            statement = await cql.prepare(self._session, query.format(table=self._table))
            return list(await cql.execute(self._session, statement, parameters) or ())

    async def insert(self, entry: TimelineEntry) -> None:
        await self._execute(
            f"INSERT INTO {{table}} (user_id, {_COLUMNS}) VALUES (?, ?, ?, ?)",
            (entry.author_id, entry.tweet_id,
             unset_if_none(entry.retweet_of_tweet_id), unset_if_none(entry.retweet_of_author_id)),
        )

    async def read(self, user_id: int, before: int | None, limit: int) -> list[TimelineEntry]:
        if before is None:
            rows = await self._execute(f"SELECT {_COLUMNS} FROM {{table}} WHERE user_id = ? LIMIT ?", (user_id, limit))
        else:
            rows = await self._execute(
                f"SELECT {_COLUMNS} FROM {{table}} WHERE user_id = ? AND tweet_id < ? LIMIT ?", (user_id, before, limit)
            )
        # the author is the partition: a retweet's author is the retweeter, whose timeline this is
        return [TimelineEntry(row.tweet_id, user_id, row.retweet_of_tweet_id, row.retweet_of_author_id) for row in rows]

    async def remove(self, user_id: int, tweet_ids: Sequence[int]) -> None:
        for chunk in chunks(list(dict.fromkeys(tweet_ids)), MAX_IN_KEYS):
            await self._execute("DELETE FROM {table} WHERE user_id = ? AND tweet_id IN ?", (user_id, list(chunk)))
