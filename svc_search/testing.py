"""In-memory fakes of svc_search's ports (svc_search/ports.py), for unit tests."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from mesh.errors import Unavailable
from svc_search.domain import (
    IndexWrite,
    TweetHit,
    TweetOrder,
    TweetPosition,
    TweetQuery,
    UserHit,
    UserPosition,
    UserProfile,
    WriteOutcome,
    hashtags_in,
    mentions_in,
)


class FakeDocumentIndex:
    """Documents by id with Elasticsearch's external versioning: a write is stored only over a
    lower version. `down` makes every request fail; `failing_ids` makes those writes fail alone."""

    def __init__(self) -> None:
        self.documents: dict[str, tuple[int, dict]] = {}
        self.requests: list[list[IndexWrite]] = []
        self.down = False
        self.failing_ids: set[str] = set()
        self.rejected_ids: set[str] = set()

    async def write(self, writes: Sequence[IndexWrite]) -> list[WriteOutcome]:
        self.requests.append(list(writes))
        if self.down:
            raise Unavailable("index down")
        outcomes = []
        for write in writes:
            if write.doc_id in self.failing_ids:
                outcomes.append(WriteOutcome.FAILED)
            elif write.doc_id in self.rejected_ids:
                outcomes.append(WriteOutcome.REJECTED)
            elif write.doc_id in self.documents and self.documents[write.doc_id][0] >= write.version:
                outcomes.append(WriteOutcome.SUPERSEDED)
            else:
                self.documents[write.doc_id] = (write.version, dict(write.document))
                outcomes.append(WriteOutcome.STORED)
        return outcomes


@dataclass
class FakeUserDirectory:
    handles_by_id: dict[int, str] = field(default_factory=dict)
    profiles_by_id: dict[int, UserProfile] = field(default_factory=dict)
    blocks: set[tuple[int, int]] = field(default_factory=set)  # (blocker, blocked)
    down: bool = False
    handle_lookups: list[set[int]] = field(default_factory=list)

    async def handles(self, user_ids: Collection[int]) -> dict[int, str]:
        self.handle_lookups.append(set(user_ids))
        if self.down:
            raise Unavailable("graph down")
        return {u: self.handles_by_id[u] for u in user_ids if u in self.handles_by_id}

    async def authors_blocking(self, user_id: int, author_ids: Collection[int]) -> set[int]:
        if self.down:
            raise Unavailable("graph down")
        return {author for author in author_ids if (author, user_id) in self.blocks}

    async def profiles(self, user_ids: Sequence[int]) -> dict[int, UserProfile] | None:
        if self.down:
            return None
        return {u: self.profiles_by_id[u] for u in user_ids if u in self.profiles_by_id}


class FakeTweetSearchIndex:
    """Tweets in memory, matched and ordered the way the Elasticsearch adapter asks the index to:
    words by whole lowercased words of the text, filters exactly, best first or newest first."""

    def __init__(self) -> None:
        self.tweets: list[tuple[TweetHit, str, set[str], set[str]]] = []  # hit, handle, hashtags, mentions
        self.requests: list[tuple[TweetQuery, TweetPosition | None, int]] = []
        self.orders: list[TweetOrder] = []  # the order of each request

    def add(self, tweet_id: int, author_id: int, text: str, *, handle: str = "", created: datetime | None = None) -> None:
        hit = TweetHit(tweet_id, author_id, text, created, TweetPosition(0, tweet_id))
        self.tweets.append((hit, handle.lower(), set(hashtags_in(text)), set(mentions_in(text))))

    async def search(
        self, query: TweetQuery, after: TweetPosition | None, size: int, *, order: TweetOrder = TweetOrder.BEST_MATCH,
    ) -> list[TweetHit]:
        self.requests.append((query, after, size))
        self.orders.append(order)
        newest = order is TweetOrder.NEWEST
        found = []
        for hit, handle, hashtags, mentions in self.tweets:
            words = set(hit.text.lower().replace("#", " ").replace("@", " ").split())
            matched = sum(word in words for word in query.words)
            if query.words and not matched:
                continue
            if not set(query.hashtags) <= hashtags or not set(query.mentions) <= mentions:
                continue
            if query.authors and handle not in query.authors:
                continue
            position = TweetPosition(0 if newest else matched, hit.tweet_id)
            found.append(TweetHit(hit.tweet_id, hit.author_id, hit.text, hit.create_time, position))

        def rank(position: TweetPosition) -> tuple[int, int]:
            return position.words_matched, position.tweet_id

        found.sort(key=lambda h: rank(h.position), reverse=True)
        if after is not None:
            found = [h for h in found if rank(h.position) < rank(after)]
        return found[:size]


class FakeUserSearchIndex:
    def __init__(self) -> None:
        self.users: list[UserHit] = []

    def add(self, user_id: int, handle: str, display_name: str = "") -> None:
        self.users.append(UserHit(user_id, handle, display_name or handle, UserPosition(handle.lower())))

    async def by_handle_prefix(self, prefix: str, after: UserPosition | None, size: int) -> list[UserHit]:
        def rank(position: UserPosition) -> tuple[int, str]:
            return position.length, position.handle

        found = sorted((u for u in self.users if u.position.handle.startswith(prefix)), key=lambda u: rank(u.position))
        if after is not None:
            found = [u for u in found if rank(u.position) > rank(after)]
        return found[:size]
