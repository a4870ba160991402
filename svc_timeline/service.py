"""The use cases of svc_timeline: hybrid fan-out on write, and timeline reads that merge and hydrate.

Plain async classes over the ports (ports.py); they raise the typed errors of domain.py and never
see protobuf, gRPC or JetStream.

Hybrid fan-out: a tweet of an ordinary author is written into the home timeline of every follower
(and the author's own) when it is posted, so a read is one slice of one partition. A celebrity's
tweet is written nowhere but the author's own user timeline (one write instead of millions) and
merged into each follower's home when the follower reads, from the user timelines of the
celebrities the reader follows. Every author's tweets go to their user timeline either way: it
serves GetUserTimeline, those merges, and the backfill of a new follow.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import zlib
from contextlib import aclosing
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

from mesh.errors import UserNotFound, require_caller
from mesh.paging import decode_page_token, encode_page_token, page_size
from svc_timeline import metrics
from svc_timeline.aio import chunks, gather_bounded
from svc_timeline.domain import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    BlockedByUser,
    FollowerPage,
    HydratedTweet,
    MergedPage,
    MergeSources,
    Relationship,
    TimelineEntry,
    TimelineKey,
    TimelineKind,
    TimelinePage,
    TimelineSlice,
    first_of_each_content,
    merge_newest_first,
    page_fingerprint,
    page_subjects,
)
from svc_timeline.ports import (
    FollowerDirectory,
    HomeTimelineStore,
    RenderedHomePages,
    RenderedPage,
    RenderedPageLookup,
    TimelineCache,
    TweetDirectory,
    UserTimelineStore,
)

log = logging.getLogger("svc_timeline.service")

StillWorking = Callable[[], Awaitable[None]]


async def _nothing() -> None:
    return None


@dataclass(frozen=True)
class TimelineSettings:
    # a home keeps about this many newest entries (see trim_one_in)
    home_capacity: int = 800
    # each home written by a fan-out is trimmed with probability 1/trim_one_in (a deterministic
    # hash of home and tweet): trimming reads ~home_capacity ids, so doing it on every write would
    # cost 800 reads per write; sampled, a home overshoots by ~trim_one_in entries on average
    trim_one_in: int = 32
    # ListFollowerIds/ListFollowingIds page size (the contract allows up to 5000)
    id_page_size: int = 5000
    # stop conditions of the paging loops: 200 x 5000 = 1M followers, far above any celebrity
    # threshold (a celebrity's tweets page no followers at all); 20 x 5000 follows per reader
    max_follower_pages: int = 200
    max_following_pages: int = 20
    # homes written per store call during a fan-out, and the tweets a new follow brings in
    fan_out_chunk: int = 1000
    fan_out_chunks_in_flight: int = 4
    backfill_count: int = 50
    # store reads in flight at once when a read merges many celebrities' timelines
    read_concurrency: int = 32


@dataclass(frozen=True)
class FanOutResult:
    home_writes: int
    celebrity: bool


class FanOut:
    """What the consumed events do to the stored timelines. Every use case is idempotent: an
    event delivered twice, or late, leaves the timelines as one delivery would (upserts, deletes,
    and decisions taken from the graph's current state rather than from the event)."""

    def __init__(
        self,
        homes: HomeTimelineStore,
        user_timelines: UserTimelineStore,
        cache: TimelineCache,
        graph: FollowerDirectory,
        pages: RenderedHomePages,
        settings: TimelineSettings = TimelineSettings(),
    ):
        self._homes = homes
        self._user_timelines = user_timelines
        self._cache = cache
        self._graph = graph
        self._pages = pages
        self._settings = settings

    async def fan_out_tweet(self, entry: TimelineEntry, still_working: StillWorking = _nothing) -> FanOutResult:
        """A tweet (or retweet) was posted: into its author's timeline, then every follower's home
        and the author's own, unless the author is a celebrity."""
        # the author's timeline first: a follow that commits after the follower list below was read
        # backfills from this timeline, so the tweet reaches that follower either way
        await self._user_timelines.insert(entry)
        await self._cache.add_where_cached([TimelineKey.user(entry.author_id)], [entry])
        writes = 0
        first = True
        # the homes to trim, after every home is written: a trim reads up to home_capacity ids,
        # and done between the chunks it held back the homes of the chunks after it
        trim_due: list[int] = []
        try:
            async with aclosing(self._follower_pages(entry.author_id)) as pages:
                async for page in pages:
                    if first and await self._noted_celebrity(entry.author_id, page):
                        metrics.FANOUT_CELEBRITY_TWEETS.inc()
                        return FanOutResult(home_writes=0, celebrity=True)
                    recipients = [entry.author_id, *page.user_ids] if first else page.user_ids
                    first = False
                    writes += await self._push(recipients, entry)
                    trim_due.extend(u for u in recipients if self._trim_due(u, entry.tweet_id))
                    await still_working()
        except UserNotFound:
            log.warning("author %d of tweet %d is unknown to the graph: no fan-out", entry.author_id, entry.tweet_id)
        await gather_bounded((self._homes.trim(u, self._settings.home_capacity) for u in trim_due), 16)
        return FanOutResult(home_writes=writes, celebrity=False)

    async def remove_tweet(self, author_id: int, tweet_id: int, still_working: StillWorking = _nothing) -> None:
        """A tweet was deleted: out of its author's timeline and of every home it was pushed to."""
        await self._user_timelines.remove(author_id, [tweet_id])
        await self._cache.remove_where_cached([TimelineKey.user(author_id)], [tweet_id])
        first = True
        try:
            async with aclosing(self._follower_pages(author_id)) as pages:
                async for page in pages:
                    if first and await self._noted_celebrity(author_id, page):
                        # pushed nowhere; entries from before the author became a celebrity, and
                        # retweets of it, are dropped by the first read that hydrates them
                        return
                    recipients = [author_id, *page.user_ids] if first else page.user_ids
                    first = False
                    for chunk in chunks(recipients, self._settings.fan_out_chunk):
                        await self._homes.remove_from_each(chunk, tweet_id)
                        await self._cache.remove_where_cached([TimelineKey.home(u) for u in chunk], [tweet_id])
                    await still_working()
        except UserNotFound:
            log.warning("author %d of deleted tweet %d is unknown to the graph", author_id, tweet_id)

    async def backfill_follow(self, follower_id: int, followee_id: int) -> int:
        """A follow was created: the followee's recent tweets into the follower's home, so the
        home is not empty of them until their next tweet. Returns the entries written."""
        try:
            relationships, followee = await _gather(
                self._graph.relationships(follower_id, [followee_id]),
                self._graph.follower_ids(followee_id, "", 1),
            )
        except UserNotFound:
            return 0
        # a new celebrity among the follows must be merged from the next read on
        await self._cache.forget_merge_sources([follower_id])
        await self._pages.forget([follower_id])
        if not relationships.get(followee_id, Relationship()).following:
            return 0  # unfollowed (or blocked) since: a late or redelivered event
        if followee.celebrity:
            return 0  # merged in at read time
        entries = await self._user_timelines.read(followee_id, None, self._settings.backfill_count)
        if not entries:
            return 0
        await self._homes.insert_many(follower_id, entries)
        await self._cache.add_where_cached([TimelineKey.home(follower_id)], entries)
        await self._homes.trim(follower_id, self._settings.home_capacity)
        return len(entries)

    async def remove_follow(self, follower_id: int, followee_id: int) -> list[int]:
        """A follow was removed: the followee's tweets and retweets out of the former follower's
        home. Retweets of the followee's tweets by users still followed stay. Returns the ids removed."""
        relationships = await self._graph.relationships(follower_id, [followee_id])
        if relationships.get(followee_id, Relationship()).following:
            return []  # followed again since: a late or redelivered event must not undo that
        removed = await self._homes.remove_matching(follower_id, lambda entry: entry.author_id == followee_id)
        # invalidate rather than edit: the cache cannot select by author, and a read rebuilds it
        await self._cache.invalidate([TimelineKey.home(follower_id)])
        await self._cache.forget_merge_sources([follower_id])
        await self._pages.forget([follower_id])
        return removed

    async def apply_block(self, blocker_id: int, blocked_id: int) -> None:
        """A block hides each user from the other: out of each one's home go the other's tweets,
        retweets, and retweets of the other's tweets by third users."""
        for reader_id, other_id in ((blocker_id, blocked_id), (blocked_id, blocker_id)):
            await self._homes.remove_matching(reader_id, lambda entry, other=other_id: other in entry.authors())
        await self._cache.invalidate([TimelineKey.home(blocker_id), TimelineKey.home(blocked_id)])
        await self._cache.forget_merge_sources([blocker_id, blocked_id])
        await self._pages.forget([blocker_id, blocked_id])

    async def readers_changed(self, user_ids: Sequence[int]) -> None:
        """These readers' own state changed in a way their home's entries do not show (a like, a
        mute, an unblock): their rendered pages are not served any more."""
        await self._pages.forget(user_ids)

    async def shown_changed(self, tweet_ids: Sequence[int] = (), user_ids: Sequence[int] = ()) -> None:
        """These tweets (their counts, or deleted) or users (their profiles) changed for everyone:
        no rendered page that shows them is served any more."""
        await self._pages.subjects_changed(tweet_ids, user_ids)

    async def _noted_celebrity(self, author_id: int, first_page: FollowerPage) -> bool:
        """Whether the author is a celebrity, as the first page of their followers says; told to
        the cache first, so that from a crossing of the threshold on, every reader's merge sources
        are computed afresh: a new celebrity's tweet, pushed nowhere, is merged at the next read."""
        await self._cache.note_celebrity(author_id, first_page.celebrity)
        return first_page.celebrity

    async def _push(self, recipients: Sequence[int], entry: TimelineEntry) -> int:
        async def push_chunk(chunk: Sequence[int]) -> int:
            await self._homes.insert_for_each(chunk, entry)
            metrics.FANOUT_HOME_WRITES.inc(len(chunk))
            await self._cache.add_where_cached([TimelineKey.home(u) for u in chunk], [entry])
            return len(chunk)

        # chunks overlap: each one waits on the store, then the cache; one at a time left each of
        # them idle most of the time (bench, 10k followers: home rows visible
        # p50/p99 877/1854 ms one chunk at a time, 773/1337 ms four at a time)
        pushed = await gather_bounded(
            (push_chunk(chunk) for chunk in chunks(recipients, self._settings.fan_out_chunk)),
            self._settings.fan_out_chunks_in_flight,
        )
        return sum(pushed)

    def _trim_due(self, user_id: int, tweet_id: int) -> bool:
        # crc32, not hash() or random: the same deliveries trim the same homes in every process
        return zlib.crc32(f"{user_id}:{tweet_id}".encode()) % self._settings.trim_one_in == 0

    async def _follower_pages(self, user_id: int) -> AsyncIterator[FollowerPage]:
        """The author's follower pages, each next one read while the caller pushes the current one
        (a page of 5000 ids takes svc_graph ~100 ms, and reading them in turn added that per page)."""
        token = ""
        fetch = asyncio.ensure_future(self._graph.follower_ids(user_id, token, self._settings.id_page_size))
        try:
            for _ in range(self._settings.max_follower_pages):
                page = await fetch
                last = not page.next_page_token or page.next_page_token == token
                if not last:
                    token = page.next_page_token
                    fetch = asyncio.ensure_future(self._graph.follower_ids(user_id, token, self._settings.id_page_size))
                yield page
                if last:
                    return
            log.error("user %d has more than %d pages of followers: fan-out stopped there", user_id,
                      self._settings.max_follower_pages)
        finally:
            # the caller stopped early (a celebrity, an error): drop the read ahead, and its error
            fetch.cancel()
            await asyncio.gather(fetch, return_exceptions=True)


class TimelineReader:
    """GetHomeTimeline and GetUserTimeline: slices from the cache or the store, merged, hydrated
    in one call per page, filtered for the reader. A first home page is kept rendered
    (RenderedHomePages): a read whose merged entries are the same as last time answers it without
    hydrating again."""

    def __init__(
        self,
        homes: HomeTimelineStore,
        user_timelines: UserTimelineStore,
        cache: TimelineCache,
        graph: FollowerDirectory,
        tweets: TweetDirectory,
        pages: RenderedHomePages,
        settings: TimelineSettings = TimelineSettings(),
    ):
        self._homes = homes
        self._user_timelines = user_timelines
        self._cache = cache
        self._graph = graph
        self._tweets = tweets
        self._pages = pages
        self._settings = settings

    async def home(self, caller: int | None, requested_page_size: int, page_token: str) -> TimelinePage:
        reader = require_caller(caller)
        key = TimelineKey.home(reader)
        before = _cursor(page_token, key)
        size = page_size(requested_page_size, default=DEFAULT_PAGE_SIZE, maximum=MAX_PAGE_SIZE)
        first_page = before is None  # the page readers refresh: the only one kept rendered
        home_slices, merged_slices = await _gather(
            self._slices([key], before, size), self._merged_slices(reader, before, size)
        )
        page = merge_newest_first([*home_slices, *merged_slices], size)
        tagged = list(page.entries)
        fingerprint = page_fingerprint(tagged)
        # after the slices: a page is looked up with what its entries show (they name the subjects
        # whose changes by others make it stale), and this lookup is what a render is as of
        rendered = await (self._pages.lookup(reader, size, page_subjects(tagged)) if first_page else _no_rendered_page())
        if rendered.page is not None and rendered.page.fingerprint == fingerprint:
            metrics.RENDERED_PAGES.labels("hit").inc()
            return TimelinePage(rendered.page.tweets, _next_page_token(key, page))
        authors = {author for _, entry in tagged for author in entry.authors()} - {reader}
        hydrated, relationships = await _gather(
            self._tweets.hydrate([entry.tweet_id for _, entry in tagged]),
            self._graph.relationships(reader, sorted(authors)) if authors else _no_relationships(),
        )
        shown, stale = [], []
        for tagged_entry in tagged:
            verdict = _home_verdict(reader, *tagged_entry, hydrated.get(tagged_entry[1].tweet_id), relationships)
            if verdict is _Verdict.SHOW:
                shown.append(tagged_entry)
            elif verdict is _Verdict.DROP:
                stale.append(tagged_entry)
        await self._drop_stale(stale)
        tweets = [hydrated[entry.tweet_id] for _, entry in first_of_each_content(shown)]
        if first_page:
            metrics.RENDERED_PAGES.labels("miss").inc()
            if not stale:  # a page that dropped entries is not kept: the next read's entries differ
                await self._pages.store(reader, size, RenderedPage(fingerprint, tweets), rendered.as_of)
        return TimelinePage(tweets, _next_page_token(key, page))

    async def user(self, caller: int | None, user_id: int, requested_page_size: int, page_token: str) -> TimelinePage:
        reader = require_caller(caller)
        key = TimelineKey.user(user_id)
        before = _cursor(page_token, key)
        size = page_size(requested_page_size, default=DEFAULT_PAGE_SIZE, maximum=MAX_PAGE_SIZE)
        relationship, slices = await _gather(
            self._graph.relationship_to_existing_user(reader, user_id) if user_id != reader else _own_relationship(),
            self._slices([key], before, size),
        )
        if relationship.blocked_by:
            raise BlockedByUser(user_id)
        page = merge_newest_first(slices, size)
        hydrated = await self._tweets.hydrate([entry.tweet_id for _, entry in page.entries])
        shown, stale = [], []
        for key_, entry in page.entries:
            tweet = hydrated.get(entry.tweet_id)
            if _visible(entry, tweet):
                shown.append(tweet)
            elif tweet is None:
                # the author does not block the reader (checked above), so a tweet of theirs the
                # tweet service does not return was deleted (or was a retweet since undone)
                stale.append((key_, entry))
        await self._drop_stale(stale)
        return TimelinePage(shown, _next_page_token(key, page))

    async def _merged_slices(self, reader: int, before: int | None, size: int) -> list[TimelineSlice]:
        sources = await self._merge_sources(reader)
        if not sources.user_ids:
            return []
        return await self._slices([TimelineKey.user(u) for u in sources.user_ids], before, size)

    async def _merge_sources(self, reader: int) -> MergeSources:
        cached = await self._cache.merge_sources(reader)
        if cached.sources is not None:
            return cached.sources
        celebrities, reader_is_celebrity = await _gather(self._followed_celebrities(reader), self._is_celebrity(reader))
        sources = MergeSources(tuple(dict.fromkeys([*celebrities, *([reader] if reader_is_celebrity else [])])))
        await self._cache.store_merge_sources(reader, sources, cached.as_of)
        return sources

    async def _followed_celebrities(self, reader: int) -> list[int]:
        celebrities: list[int] = []
        token = ""
        try:
            for _ in range(self._settings.max_following_pages):
                page = await self._graph.following_ids(reader, token, self._settings.id_page_size)
                celebrities.extend(page.celebrity_user_ids)
                if not page.next_page_token or page.next_page_token == token:
                    return celebrities
                token = page.next_page_token
        except UserNotFound:
            return []
        log.warning("user %d follows more than %d pages of users: celebrities merged from those only",
                    reader, self._settings.max_following_pages)
        return celebrities

    async def _is_celebrity(self, user_id: int) -> bool:
        try:
            return (await self._graph.follower_ids(user_id, "", 1)).celebrity
        except UserNotFound:
            return False

    async def _slices(self, keys: Sequence[TimelineKey], before: int | None, size: int) -> list[TimelineSlice]:
        """The newest `size` entries below `before` of each timeline, from the cache where it can
        answer, else from the store; a first page that missed the cache fills it."""
        cached = await self._cache.read(keys, before, size + 1)
        slices: dict[TimelineKey, TimelineSlice] = {}
        from_store: list[TimelineKey] = []
        for key in keys:
            hit = cached.get(key)
            if hit is not None and (len(hit.entries) > size or hit.complete):
                slices[key] = _slice_of(key, hit.entries, size)
                metrics.CACHE_READS.labels(key.kind.value, "hit").inc()
            else:
                from_store.append(key)
                metrics.CACHE_READS.labels(key.kind.value, "miss" if hit is None else "partial").inc()
        # only first pages fill: that is where readers are; a deep page that misses reads the store
        to_fill = [key for key in from_store if before is None and key not in cached]
        if to_fill:
            await self._cache.begin_fill(to_fill)
        capacity = self._cache.capacity

        async def from_the_store(key: TimelineKey) -> None:
            filling = key in to_fill
            limit = max(size, capacity) + 1 if filling else size + 1
            store = self._homes if key.kind is TimelineKind.HOME else self._user_timelines
            entries = await store.read(key.owner_id, before, limit)
            if filling:
                await self._cache.fill(key, entries[:capacity], complete=len(entries) <= capacity)
            slices[key] = _slice_of(key, entries, size)

        await gather_bounded((from_the_store(key) for key in from_store), self._settings.read_concurrency)
        return [slices[key] for key in keys]

    async def _drop_stale(self, stale: Sequence[tuple[TimelineKey, TimelineEntry]]) -> None:
        """Remove entries whose tweet is gone from the timelines they came from. Best effort: the
        reader already has their page, and the next read finds the rest again."""
        by_key: dict[TimelineKey, list[int]] = {}
        for key, entry in stale:
            by_key.setdefault(key, []).append(entry.tweet_id)
        for key, tweet_ids in by_key.items():
            store = self._homes if key.kind is TimelineKind.HOME else self._user_timelines
            try:
                await store.remove(key.owner_id, tweet_ids)
                await self._cache.remove_where_cached([key], tweet_ids)
                metrics.STALE_ENTRIES_REMOVED.labels(key.kind.value).inc(len(tweet_ids))
            except Exception as exc:  # noqa: BLE001 - a cleanup, never a reason to fail the read
                log.warning("stale entries of %s not removed: %r", key, exc)


class _Verdict(enum.Enum):
    SHOW = "show"
    HIDE = "hide"  # not for this reader now; the entry stays in its timeline
    DROP = "drop"  # not for this reader ever again: remove it from the timeline it came from


def _home_verdict(
    reader: int,
    key: TimelineKey,
    entry: TimelineEntry,
    tweet: HydratedTweet | None,
    relationships: Mapping[int, Relationship],
) -> _Verdict:
    if any(relationships.get(author, Relationship()).hides_from_home for author in entry.authors()):
        return _Verdict.HIDE  # blocked or muted: should that change, the entry shows again
    if entry.author_id != reader and not relationships.get(entry.author_id, Relationship()).following:
        # no longer followed: the unfollow's event may not be consumed yet, or a fan-out that listed
        # followers just before the unfollow committed wrote after the unfollow was applied
        return _Verdict.DROP if key.kind is TimelineKind.HOME else _Verdict.HIDE
    if _visible(entry, tweet):
        return _Verdict.SHOW
    return _Verdict.DROP if _gone_for_everyone(key, entry, tweet, relationships) else _Verdict.HIDE


def _cursor(page_token: str, key: TimelineKey) -> int | None:
    """The tweet id a page reads below, from a token of this timeline; None for the first page."""
    position = decode_page_token(page_token, key.kind.value, key.owner_id, arity=1)
    return position[0] if position else None


def _next_page_token(key: TimelineKey, page: MergedPage) -> str:
    """The token of the page below this one's oldest entry; "" on the last page."""
    if not (page.has_more and page.cursor):
        return ""
    return encode_page_token(key.kind.value, key.owner_id, (page.cursor,))


def _slice_of(key: TimelineKey, entries: Sequence[TimelineEntry], size: int) -> TimelineSlice:
    return TimelineSlice(key, tuple(entries[:size]), has_more=len(entries) > size)


def _visible(entry: TimelineEntry, tweet: HydratedTweet | None) -> bool:
    return tweet is not None and (not entry.is_retweet or tweet.original_visible)


def _gone_for_everyone(
    key: TimelineKey, entry: TimelineEntry, tweet: HydratedTweet | None, relationships: Mapping[int, Relationship]
) -> bool:
    """Whether an entry the reader cannot see should leave the timeline it came from.

    A reader's own home: always, what it cannot show now it will never show (blocks also end
    follows). Someone else's user timeline (a celebrity merge) is shared by all readers: only when
    the tweet is gone for everyone, i.e. missing although its author does not block this reader.
    """
    if key.kind is TimelineKind.HOME:
        return True
    if tweet is None:
        return not relationships.get(entry.author_id, Relationship()).blocked_by
    original_author = entry.retweet_of_author_id
    return original_author is not None and not relationships.get(original_author, Relationship()).blocked_by


async def _no_rendered_page() -> RenderedPageLookup:
    return RenderedPageLookup(None, None)


async def _no_relationships() -> dict[int, Relationship]:
    return {}


async def _own_relationship() -> Relationship:
    return Relationship()


async def _gather(first: Awaitable, second: Awaitable) -> tuple:
    """Two calls at once; when one fails the other is cancelled rather than left running."""
    return tuple(await gather_bounded([first, second], 2))
