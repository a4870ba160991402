"""What the use cases of svc_timeline need from the outside world, as small Protocols.

The composition root (main.py) passes the real adapters (adapters/); unit tests pass the in-memory
fakes of svc_timeline/testing.py. Every method that does I/O is async and honours the caller's
deadline (mesh.context).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from svc_timeline.domain import (
    FollowerPage,
    FollowingPage,
    HydratedTweet,
    MergeSources,
    PageSubjects,
    Relationship,
    TimelineEntry,
    TimelineKey,
)


class HomeTimelineStore(Protocol):
    """Home timelines, the durable truth (CQL wide rows, newest first)."""

    async def insert_for_each(self, user_ids: Sequence[int], entry: TimelineEntry) -> None:
        """Put one entry into many homes (the fan-out of one tweet). Upsert: writing it twice leaves one."""
        ...

    async def insert_many(self, user_id: int, entries: Sequence[TimelineEntry]) -> None:
        """Put many entries into one home (a follow's backfill)."""
        ...

    async def read(self, user_id: int, before: int | None, limit: int) -> list[TimelineEntry]:
        """Up to `limit` entries with tweet_id < before (all when None), newest first."""
        ...

    async def remove_from_each(self, user_ids: Sequence[int], tweet_id: int) -> None:
        """Remove one tweet from many homes; a home without it is left as it is."""
        ...

    async def remove(self, user_id: int, tweet_ids: Sequence[int]) -> None:
        """Remove these tweets from one home."""
        ...

    async def remove_matching(self, user_id: int, should_remove: Callable[[TimelineEntry], bool]) -> list[int]:
        """Remove the entries of one home that `should_remove` selects (an unfollowed or blocked
        author's); returns the tweet ids removed."""
        ...

    async def trim(self, user_id: int, keep: int) -> None:
        """Drop all but the newest `keep` entries of one home."""
        ...


class UserTimelineStore(Protocol):
    """Every user's own tweets and retweets (CQL wide rows, newest first)."""

    async def insert(self, entry: TimelineEntry) -> None:
        """Add the entry to its author's timeline (upsert)."""
        ...

    async def read(self, user_id: int, before: int | None, limit: int) -> list[TimelineEntry]: ...

    async def remove(self, user_id: int, tweet_ids: Sequence[int]) -> None: ...


@dataclass(frozen=True)
class CachedSlice:
    """The newest entries of a cached timeline below a cursor. `complete`: the cache holds the
    whole timeline (it was short when it was cached and nothing was trimmed since), so fewer
    entries than asked means the timeline ends here."""

    entries: list[TimelineEntry]
    complete: bool


@dataclass(frozen=True)
class CachedMergeSources:
    """A lookup of a reader's merge sources. `sources`: the cached ones, None on a miss. `as_of`:
    the state of the cache before fresh sources are computed, to store them with (opaque; None
    when the cache could not answer, and then nothing is stored)."""

    sources: MergeSources | None
    as_of: str | None


class TimelineCache(Protocol):
    """The recent part of active timelines (Redis). Readers fill it on a miss; writers only update
    timelines already cached, so inactive users cost no memory.

    Reads never raise: a cache that cannot answer is a miss, and the store answers. Writes raise
    when they could not be applied (a cached timeline would then be missing a change): the caller
    retries the whole, idempotent, change.
    """

    @property
    def capacity(self) -> int:
        """How many of the newest entries a cached timeline keeps."""
        ...

    async def read(self, keys: Sequence[TimelineKey], before: int | None, limit: int) -> dict[TimelineKey, CachedSlice]:
        """Cached slices of these timelines, one round trip; a key missing from the answer is a miss.
        Reading keeps a timeline cached longer (its TTL is refreshed)."""
        ...

    async def begin_fill(self, keys: Sequence[TimelineKey]) -> None:
        """Announce that these timelines are being read from the store to be cached: from now on
        writers add their changes to them, so none made during the store read is lost. Best effort."""
        ...

    async def fill(self, key: TimelineKey, entries: Sequence[TimelineEntry], complete: bool) -> None:
        """Cache the newest entries read from the store (after begin_fill), unless the timeline
        was invalidated meanwhile. Best effort."""
        ...

    async def add_where_cached(self, keys: Sequence[TimelineKey], entries: Sequence[TimelineEntry]) -> None:
        """Add entries to those of these timelines that are cached (or being filled)."""
        ...

    async def remove_where_cached(self, keys: Sequence[TimelineKey], tweet_ids: Sequence[int]) -> None: ...

    async def invalidate(self, keys: Sequence[TimelineKey]) -> None:
        """Drop these timelines from the cache; the next read rebuilds them from the store."""
        ...

    async def merge_sources(self, user_id: int) -> CachedMergeSources:
        """The reader's cached merge sources, unless the reader's follows changed
        (forget_merge_sources) or an author crossed the celebrity threshold (note_celebrity) since
        they were computed. Never raises: a cache that cannot answer is a miss."""
        ...

    async def store_merge_sources(self, user_id: int, sources: MergeSources, as_of: str | None) -> None:
        """Cache sources computed after the lookup that answered `as_of`: if a change came in
        between, they are never used. Best effort: a failure only costs asking the graph again."""
        ...

    async def forget_merge_sources(self, user_ids: Sequence[int]) -> None:
        """These readers' follows changed: their cached merge sources are not used any more."""
        ...

    async def note_celebrity(self, user_id: int, is_celebrity: bool) -> None:
        """Fan-out learned whether this author is a celebrity now. If that changed, no merge
        sources cached before this returns are used any more (whoever they belong to)."""
        ...


@dataclass(frozen=True)
class RenderedPage:
    """A reader's first home page as it was served: the hydrated tweets, and the fingerprint of
    the entries they were rendered from (domain.page_fingerprint)."""

    fingerprint: str
    tweets: list[HydratedTweet]


@dataclass(frozen=True)
class RenderedPageLookup:
    """`page`: the stored page, None on a miss. `as_of`: the reader's state the lookup saw, to
    store a freshly rendered page with (opaque; None when the cache could not answer)."""

    page: RenderedPage | None
    as_of: str | None


class RenderedHomePages(Protocol):
    """Readers' first home pages, hydrated and filtered, as last served (Redis): a read whose
    entries did not change answers from here instead of asking the tweet and graph services again.

    What a page may miss, and for how long:
      - the entries behind it: never (the reader compares fingerprints);
      - the reader's own state (their likes, follows, blocks, mutes): until the event of the change
        is consumed and `forget` replaces the reader's version, so a page stored under the old one
        is never served again;
      - others' changes to what its entries name (the PageSubjects: a tweet's counts, an original
        deleted under a retweet, an author's profile): until the event is consumed and
        `subjects_changed` marks them, which makes every page that shows them a miss;
      - what the entries do not name (a quoted tweet's own counts, the follower counts on an
        author's profile): at most `max_age_s`, the page's lifetime.
    Lookups never raise (a miss); `store` is best effort; `forget` and `subjects_changed` raise
    Unavailable so the event is retried.
    """

    async def lookup(self, reader_id: int, page_size: int, subjects: PageSubjects) -> RenderedPageLookup:
        """The page stored for these entries' subjects as they are now, if any."""
        ...

    async def store(self, reader_id: int, page_size: int, page: RenderedPage, as_of: str | None) -> None:
        """Keep a page rendered after the lookup that answered `as_of`: if the reader's state or
        one of the subjects changed in between, it is never served."""
        ...

    async def forget(self, reader_ids: Sequence[int]) -> None:
        """These readers' own state changed: none of their stored pages is served any more."""
        ...

    async def subjects_changed(self, tweet_ids: Sequence[int], user_ids: Sequence[int]) -> None:
        """These tweets or users changed for everyone: no page stored before that shows them is
        served any more."""
        ...


class FollowerDirectory(Protocol):
    """The follow graph, as the graph service answers it (GraphService internal RPCs)."""

    async def follower_ids(self, user_id: int, page_token: str, page_size: int) -> FollowerPage:
        """Raises UserNotFound for an unknown user."""
        ...

    async def following_ids(self, user_id: int, page_token: str, page_size: int) -> FollowingPage: ...

    async def relationships(self, user_id: int, target_ids: Sequence[int]) -> Mapping[int, Relationship]:
        """How `user_id` relates to each target, by target id (any number of targets)."""
        ...

    async def relationship_to_existing_user(self, reader_id: int, user_id: int) -> Relationship:
        """How the reader relates to `user_id`; raises UserNotFound when that user does not exist."""
        ...


class TweetDirectory(Protocol):
    """Tweets as the tweet service shows them to the reader of the current call."""

    async def hydrate(self, tweet_ids: Sequence[int]) -> dict[int, HydratedTweet]:
        """The visible tweets among `tweet_ids`, by id: deleted ones and those hidden from the
        reader are left out."""
        ...
