"""In-memory fakes of svc_timeline's ports, for unit tests: no I/O, same contracts as the adapters.

Each fake keeps what the real one keeps, so tests assert on behaviour (what a reader sees, what a
timeline holds, how many fan-out writes happened) rather than on calls.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from mesh.errors import Unavailable, UserNotFound
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
from svc_timeline.ports import CachedMergeSources, CachedSlice, RenderedPage, RenderedPageLookup
from svc_timeline.service import FanOut, TimelineReader, TimelineSettings
from tweetmesh.tweet.v1 import tweet_pb2


def _newest_first(entries: Mapping[int, TimelineEntry], before: int | None, limit: int) -> list[TimelineEntry]:
    ids = sorted((i for i in entries if before is None or i < before), reverse=True)
    return [entries[i] for i in ids[:limit]]


class FakeHomeTimelines:
    def __init__(self) -> None:
        self.homes: dict[int, dict[int, TimelineEntry]] = {}
        self.fan_out_writes = 0  # rows written by insert_for_each: what a celebrity's tweet must not cause

    def ids(self, user_id: int) -> list[int]:
        return sorted(self.homes.get(user_id, {}), reverse=True)

    async def insert_for_each(self, user_ids: Sequence[int], entry: TimelineEntry) -> None:
        for user_id in user_ids:
            self.homes.setdefault(user_id, {})[entry.tweet_id] = entry
            self.fan_out_writes += 1

    async def insert_many(self, user_id: int, entries: Sequence[TimelineEntry]) -> None:
        for entry in entries:
            self.homes.setdefault(user_id, {})[entry.tweet_id] = entry

    async def read(self, user_id: int, before: int | None, limit: int) -> list[TimelineEntry]:
        return _newest_first(self.homes.get(user_id, {}), before, limit)

    async def remove_from_each(self, user_ids: Sequence[int], tweet_id: int) -> None:
        for user_id in user_ids:
            self.homes.get(user_id, {}).pop(tweet_id, None)

    async def remove(self, user_id: int, tweet_ids: Sequence[int]) -> None:
        for tweet_id in tweet_ids:
            self.homes.get(user_id, {}).pop(tweet_id, None)

    async def remove_matching(self, user_id: int, should_remove: Callable[[TimelineEntry], bool]) -> list[int]:
        selected = [e.tweet_id for e in self.homes.get(user_id, {}).values() if should_remove(e)]
        await self.remove(user_id, selected)
        return sorted(selected, reverse=True)

    async def trim(self, user_id: int, keep: int) -> None:
        for tweet_id in self.ids(user_id)[keep:]:
            del self.homes[user_id][tweet_id]


class FakeUserTimelines:
    def __init__(self) -> None:
        self.timelines: dict[int, dict[int, TimelineEntry]] = {}

    def ids(self, user_id: int) -> list[int]:
        return sorted(self.timelines.get(user_id, {}), reverse=True)

    async def insert(self, entry: TimelineEntry) -> None:
        self.timelines.setdefault(entry.author_id, {})[entry.tweet_id] = entry

    async def read(self, user_id: int, before: int | None, limit: int) -> list[TimelineEntry]:
        return _newest_first(self.timelines.get(user_id, {}), before, limit)

    async def remove(self, user_id: int, tweet_ids: Sequence[int]) -> None:
        for tweet_id in tweet_ids:
            self.timelines.get(user_id, {}).pop(tweet_id, None)


@dataclass
class _Cached:
    entries: dict[int, TimelineEntry] = field(default_factory=dict)
    ready: bool = False
    complete: bool = False


class FakeTimelineCache:
    """The semantics of the Redis cache (adapters/redis_timeline_cache.py), without Redis:
    filled by readers, updated by writers only where it exists, capped, never below its floor;
    merge sources kept under the celebrity epoch and the reader's version seen before computing them.
    `broken = True` makes it behave like an unreachable Redis."""

    def __init__(self, capacity: int = 120) -> None:
        self._capacity = capacity
        self.timelines: dict[TimelineKey, _Cached] = {}
        self.sources: dict[int, tuple[str, MergeSources]] = {}  # by reader: (as of, sources)
        self.celebrities: set[int] = set()
        self._tokens = itertools.count()  # never reused, like the random tokens of Redis
        self._epoch = next(self._tokens)
        self._versions: dict[int, int] = {}
        self.broken = False

    @property
    def capacity(self) -> int:
        return self._capacity

    def _fail_writes(self) -> None:
        if self.broken:
            raise Unavailable("cache down", reason="TIMELINE_CACHE_UNAVAILABLE")

    async def read(self, keys: Sequence[TimelineKey], before: int | None, limit: int) -> dict[TimelineKey, CachedSlice]:
        if self.broken:
            return {}
        found = {}
        for key in keys:
            cached = self.timelines.get(key)
            if cached is not None and cached.ready:
                found[key] = CachedSlice(_newest_first(cached.entries, before, limit), cached.complete)
        return found

    async def begin_fill(self, keys: Sequence[TimelineKey]) -> None:
        if not self.broken:
            for key in keys:
                self.timelines.setdefault(key, _Cached())

    async def fill(self, key: TimelineKey, entries: Sequence[TimelineEntry], complete: bool) -> None:
        cached = self.timelines.get(key)
        if self.broken or cached is None:
            return
        cached.entries.update({e.tweet_id: e for e in entries})
        if complete:
            cached.complete = True
        elif entries:
            floor = min(e.tweet_id for e in entries)
            cached.entries = {i: e for i, e in cached.entries.items() if i >= floor}
        cached.ready = True
        self._trim(cached)

    async def add_where_cached(self, keys: Sequence[TimelineKey], entries: Sequence[TimelineEntry]) -> None:
        self._fail_writes()
        for key in keys:
            cached = self.timelines.get(key)
            if cached is None:
                continue
            floor = None
            if cached.ready and not cached.complete:
                if not cached.entries:
                    del self.timelines[key]
                    continue
                floor = min(cached.entries)
            for entry in entries:
                if floor is None or entry.tweet_id > floor:
                    cached.entries[entry.tweet_id] = entry
            self._trim(cached)

    async def remove_where_cached(self, keys: Sequence[TimelineKey], tweet_ids: Sequence[int]) -> None:
        self._fail_writes()
        for key in keys:
            cached = self.timelines.get(key)
            for tweet_id in tweet_ids if cached else ():
                cached.entries.pop(tweet_id, None)

    async def invalidate(self, keys: Sequence[TimelineKey]) -> None:
        self._fail_writes()
        for key in keys:
            self.timelines.pop(key, None)

    async def merge_sources(self, user_id: int) -> CachedMergeSources:
        if self.broken:
            return CachedMergeSources(None, None)
        as_of = f"{self._epoch}.{self._versions.get(user_id, 0)}"
        stored_as_of, sources = self.sources.get(user_id, (None, None))
        return CachedMergeSources(sources if stored_as_of == as_of else None, as_of)

    async def store_merge_sources(self, user_id: int, sources: MergeSources, as_of: str | None) -> None:
        if not self.broken and as_of is not None:
            self.sources[user_id] = (as_of, sources)

    async def forget_merge_sources(self, user_ids: Sequence[int]) -> None:
        self._fail_writes()
        for user_id in user_ids:
            self._versions[user_id] = next(self._tokens)

    async def note_celebrity(self, user_id: int, is_celebrity: bool) -> None:
        self._fail_writes()
        was_celebrity = user_id in self.celebrities
        (self.celebrities.add if is_celebrity else self.celebrities.discard)(user_id)
        if is_celebrity != was_celebrity:
            self._epoch = next(self._tokens)

    def _trim(self, cached: _Cached) -> None:
        excess = len(cached.entries) - self._capacity
        if excess > 0:
            for tweet_id in sorted(cached.entries)[:excess]:
                del cached.entries[tweet_id]
            cached.complete = False


class NoCache(FakeTimelineCache):
    """A cache that never holds anything: every read goes to the store."""

    async def begin_fill(self, keys: Sequence[TimelineKey]) -> None:
        return None


class FakeRenderedPages:
    """The semantics of adapters/redis_rendered_pages.py without Redis: pages by (reader, size),
    each under the reader's version and its subjects' versions when it was looked up; `expire()`
    ends every page's lifetime, `keeps=False` keeps none (like max_age_s=0), `broken = True`
    behaves like an unreachable Redis."""

    def __init__(self, keeps: bool = True) -> None:
        self._keeps = keeps
        self.pages: dict[tuple[int, int], tuple[str, RenderedPage]] = {}
        self._tokens = itertools.count(1)  # never reused, like the random tokens of Redis
        self._versions: dict[int, int] = {}
        self._changed: dict[tuple[str, int], int] = {}
        self.broken = False

    def expire(self) -> None:
        self.pages.clear()

    async def lookup(self, reader_id: int, page_size: int, subjects: PageSubjects) -> RenderedPageLookup:
        if self.broken or not self._keeps:
            return RenderedPageLookup(None, None)
        tokens = [self._changed.get(("t", t), 0) for t in subjects.tweet_ids]
        tokens += [self._changed.get(("u", u), 0) for u in subjects.user_ids]
        as_of = f"{self._versions.get(reader_id, 0)}:{tokens}"
        stored_as_of, page = self.pages.get((reader_id, page_size), (None, None))
        return RenderedPageLookup(page if stored_as_of == as_of else None, as_of)

    async def store(self, reader_id: int, page_size: int, page: RenderedPage, as_of: str | None) -> None:
        if not self.broken and self._keeps and as_of is not None:
            self.pages[(reader_id, page_size)] = (as_of, page)

    async def forget(self, reader_ids: Sequence[int]) -> None:
        if self.broken:
            raise Unavailable("cache down", reason="TIMELINE_CACHE_UNAVAILABLE")
        for reader_id in reader_ids:
            self._versions[reader_id] = next(self._tokens)

    async def subjects_changed(self, tweet_ids: Sequence[int], user_ids: Sequence[int]) -> None:
        if self.broken:
            raise Unavailable("cache down", reason="TIMELINE_CACHE_UNAVAILABLE")
        for subject in [*(("t", t) for t in tweet_ids), *(("u", u) for u in user_ids)]:
            self._changed[subject] = next(self._tokens)


class FakeGraph:
    """Users, follows, blocks and mutes; celebrities are named explicitly (no threshold)."""

    def __init__(self) -> None:
        self.users: set[int] = set()
        self.follows: set[tuple[int, int]] = set()  # (follower, followee)
        self.blocks: set[tuple[int, int]] = set()  # (blocker, blocked)
        self.mutes: set[tuple[int, int]] = set()  # (muter, muted)
        self.celebrities: set[int] = set()
        self.follower_pages_served = 0
        self.following_pages_served = 0

    def add_users(self, *user_ids: int) -> None:
        self.users.update(user_ids)

    def follow(self, follower: int, followee: int) -> None:
        self.follows.add((follower, followee))

    def unfollow(self, follower: int, followee: int) -> None:
        self.follows.discard((follower, followee))

    def _require(self, user_id: int) -> None:
        if user_id not in self.users:
            raise UserNotFound(user_id)

    @staticmethod
    def _page(ids: list[int], token: str, size: int) -> tuple[list[int], str]:
        start = int(token or 0)
        end = start + (size or 1000)
        return ids[start:end], str(end) if end < len(ids) else ""

    async def follower_ids(self, user_id: int, page_token: str, page_size: int) -> FollowerPage:
        self._require(user_id)
        self.follower_pages_served += 1
        followers = sorted(f for f, followee in self.follows if followee == user_id)
        ids, token = self._page(followers, page_token, page_size)
        return FollowerPage(ids, token, user_id in self.celebrities)

    async def following_ids(self, user_id: int, page_token: str, page_size: int) -> FollowingPage:
        self._require(user_id)
        self.following_pages_served += 1
        followees = sorted(followee for f, followee in self.follows if f == user_id)
        ids, token = self._page(followees, page_token, page_size)
        return FollowingPage(ids, token, [u for u in ids if u in self.celebrities])

    def _relationship(self, user_id: int, target: int) -> Relationship:
        return Relationship(
            following=(user_id, target) in self.follows,
            blocking=(user_id, target) in self.blocks,
            blocked_by=(target, user_id) in self.blocks,
            muting=(user_id, target) in self.mutes,
        )

    async def relationships(self, user_id: int, target_ids: Sequence[int]) -> Mapping[int, Relationship]:
        return {target: self._relationship(user_id, target) for target in target_ids}

    async def relationship_to_existing_user(self, reader_id: int, user_id: int) -> Relationship:
        self._require(user_id)
        return self._relationship(reader_id, user_id)


@dataclass(frozen=True)
class FakeTweet:
    tweet_id: int
    author_id: int
    retweet_of_tweet_id: int | None = None


class FakeTweets:
    """The tweet service's view: tweets by id, deletions, and blocks hiding an author's tweets."""

    def __init__(self, graph: FakeGraph, reader: Callable[[], int | None] = lambda: None) -> None:
        self._graph = graph
        self._reader = reader  # the caller the hydration is for (mesh.context in the real one)
        self.tweets: dict[int, FakeTweet] = {}
        self.deleted: set[int] = set()
        self.hydrate_calls = 0

    def _visible(self, tweet_id: int, reader: int | None) -> bool:
        tweet = self.tweets.get(tweet_id)
        if tweet is None or tweet_id in self.deleted:
            return False
        # like svc_tweet: the tweets of a user who blocks the caller are hidden from the caller
        return reader is None or (tweet.author_id, reader) not in self._graph.blocks

    async def hydrate(self, tweet_ids: Sequence[int]) -> dict[int, HydratedTweet]:
        self.hydrate_calls += 1
        reader = self._reader()
        found = {}
        for tweet_id in tweet_ids:
            if not self._visible(tweet_id, reader):
                continue
            tweet = self.tweets[tweet_id]
            original = tweet.retweet_of_tweet_id
            original_visible = original is None or self._visible(original, reader)
            found[tweet_id] = HydratedTweet(
                tweet_id, tweet.author_id, original, original_visible=original_visible,
                body=self._body(tweet, with_original=original is not None and original_visible),
            )
        return found

    def _body(self, tweet: FakeTweet, with_original: bool) -> tweet_pb2.Tweet:
        """The message svc_tweet would answer (ids and the original of a visible retweet only)."""
        body = tweet_pb2.Tweet(tweet_id=str(tweet.tweet_id), author_id=str(tweet.author_id))
        if tweet.retweet_of_tweet_id is not None:
            body.retweet_of_tweet_id = str(tweet.retweet_of_tweet_id)
            if with_original:
                body.retweeted_tweet.CopyFrom(self._body(self.tweets[tweet.retweet_of_tweet_id], with_original=False))
        return body


class World:
    """A small social network for tests: users, a clock of increasing tweet ids, posting."""

    def __init__(self, graph: FakeGraph, tweets: FakeTweets, first_id: int = 1_000_000):
        self.graph = graph
        self.tweets = tweets
        self._ids = itertools.count(first_id, 7)  # increasing like Snowflake ids, not consecutive

    def post(self, author: int) -> TimelineEntry:
        tweet_id = next(self._ids)
        self.tweets.tweets[tweet_id] = FakeTweet(tweet_id, author)
        return TimelineEntry(tweet_id, author)

    def retweet(self, retweeter: int, original: TimelineEntry) -> TimelineEntry:
        tweet_id = next(self._ids)
        self.tweets.tweets[tweet_id] = FakeTweet(tweet_id, retweeter, original.tweet_id)
        return TimelineEntry(tweet_id, retweeter, original.tweet_id, original.author_id)


class Harness:
    """The use cases over fakes, wired like main.py wires the adapters."""

    def __init__(
        self,
        cache: FakeTimelineCache | None = None,
        settings: TimelineSettings | None = None,
        pages: FakeRenderedPages | None = None,
    ):
        self.settings = settings or TimelineSettings()
        self.graph = FakeGraph()
        self.reading_as: int | None = None
        self.tweets = FakeTweets(self.graph, lambda: self.reading_as)
        self.homes = FakeHomeTimelines()
        self.user_timelines = FakeUserTimelines()
        self.cache = cache if cache is not None else FakeTimelineCache()
        # none kept unless asked: most tests change the fakes directly, with no event to forget pages
        self.pages = pages if pages is not None else FakeRenderedPages(keeps=False)
        self.world = World(self.graph, self.tweets)
        self.fan_out = FanOut(self.homes, self.user_timelines, self.cache, self.graph, self.pages, self.settings)
        self.reader = TimelineReader(
            self.homes, self.user_timelines, self.cache, self.graph, self.tweets, self.pages, self.settings
        )

    async def post(self, author: int) -> TimelineEntry:
        entry = self.world.post(author)
        await self.fan_out.fan_out_tweet(entry)
        return entry

    async def home_page(self, reader: int, page_size: int = 20, token: str = ""):
        self.reading_as = reader
        return await self.reader.home(reader, page_size, token)

    async def home_ids(self, reader: int, page_size: int = 20, max_pages: int = 1000) -> list[int]:
        """Every tweet id of the reader's home, walking all pages."""
        return await self._walk(lambda token: self.home_page(reader, page_size, token), max_pages)

    async def user_ids(self, reader: int, user_id: int, page_size: int = 20, max_pages: int = 1000) -> list[int]:
        async def page(token: str):
            self.reading_as = reader
            return await self.reader.user(reader, user_id, page_size, token)

        return await self._walk(page, max_pages)

    @staticmethod
    async def _walk(next_page, max_pages: int) -> list[int]:
        seen: list[int] = []
        token = ""
        for _ in range(max_pages):
            page = await next_page(token)
            seen.extend(tweet.tweet_id for tweet in page.tweets)
            if not page.next_page_token:
                return seen
            token = page.next_page_token
        raise AssertionError(f"more than {max_pages} pages")
