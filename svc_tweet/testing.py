"""In-memory fakes of svc_tweet's ports, for unit tests: no I/O, same contracts as the adapters.

Each fake keeps what the real store keeps and records what was announced, so tests assert on
behaviour (what a reader sees, which events went out) rather than on calls. The fakes of the Clock
and IdGenerator ports are mesh.testing's (ManualClock, SequentialIds).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime

from mesh.errors import Unavailable
from svc_tweet.domain import (
    Attachment,
    AuthorListPosition,
    AuthorProfile,
    AuthorTweetPage,
    CallerMarks,
    Comment,
    CommentDraft,
    CommentIdPage,
    CommentRemoval,
    Like,
    LikeCreated,
    LikeDeleted,
    LikerIdPage,
    Media,
    PresignedUpload,
    ReplyPage,
    StoredObject,
    Tweet,
    TweetCounts,
    TweetDraft,
    TweetEvent,
    TweetRemoval,
    TweetView,
    month_of,
)
from svc_tweet.ports import CachedMarks, CachedViews


async def _yield() -> None:
    """Let other tasks run, as a real round trip would, so concurrency tests interleave."""
    await asyncio.sleep(0)


class FakeTweetStore:
    def __init__(self) -> None:
        self.tweets: dict[int, Tweet] = {}
        self.events: list[TweetEvent] = []
        self.requests: dict[tuple[int, str], TweetDraft] = {}
        self.retweet_claims: dict[tuple[int, int], TweetDraft] = {}
        self.creates = 0
        # set to an exception to make the next create fail before it stores anything
        self.fail_next_create: Exception | None = None

    # reads

    async def get_many(self, tweet_ids: Sequence[int]) -> dict[int, Tweet]:
        await _yield()
        return {t: self.tweets[t] for t in tweet_ids if t in self.tweets}

    def _live(self) -> list[Tweet]:
        return [t for t in self.tweets.values() if not t.is_deleted]

    async def counts(self, tweet_ids: Sequence[int]) -> dict[int, TweetCounts]:
        live = self._live()
        return {
            tweet_id: TweetCounts(
                retweets=sum(1 for t in live if t.retweet_of_tweet_id == tweet_id),
                replies=sum(1 for t in live if t.in_reply_to_tweet_id == tweet_id),
                quotes=sum(1 for t in live if t.quoted_tweet_id == tweet_id),
            )
            for tweet_id in tweet_ids
        }

    async def page_by_author(
        self, author_id: int, after: AuthorListPosition | None, limit: int, *, exclude_replies: bool, exclude_retweets: bool
    ) -> AuthorTweetPage:
        # the same order as the month partitions: month, then id, newest first
        listed = sorted(
            (AuthorListPosition(month_of(t.create_time), t.tweet_id) for t in self._live() if t.author_id == author_id),
            key=lambda p: (p.month, p.tweet_id), reverse=True,
        )
        if after is not None:
            listed = [p for p in listed if (p.month, p.tweet_id) < (after.month, after.tweet_id)]
        kept = [
            p for p in listed
            if not (exclude_replies and self.tweets[p.tweet_id].is_reply)
            and not (exclude_retweets and self.tweets[p.tweet_id].is_retweet)
        ]
        more = len(kept) > limit
        return AuthorTweetPage([p.tweet_id for p in kept[:limit]], kept[limit - 1] if more else None)

    async def page_replies(self, tweet_id: int, after: int | None, limit: int) -> ReplyPage:
        replies = sorted(t.tweet_id for t in self._live() if t.in_reply_to_tweet_id == tweet_id)
        if after is not None:
            replies = [r for r in replies if r > after]
        return ReplyPage(replies[:limit], replies[limit - 1] if len(replies) > limit else None)

    async def retweeted_by(self, user_id: int, original_ids: Sequence[int]) -> set[int]:
        return {o for o in original_ids if (user_id, o) in self.retweet_claims}

    async def retweets_of(self, user_id: int, limit: int) -> list[int]:
        return [o for (u, o) in self.retweet_claims if u == user_id][:limit]

    # writes

    async def create(self, tweet: Tweet, events: Sequence[TweetEvent]) -> None:
        await _yield()
        if self.fail_next_create is not None:
            failure, self.fail_next_create = self.fail_next_create, None
            raise failure
        self.creates += 1
        existing = self.tweets.get(tweet.tweet_id)
        if existing is None or not existing.is_deleted:  # like the fixed write timestamp: a delete wins
            self.tweets[tweet.tweet_id] = tweet
        self.events.extend(events)

    async def delete(self, removal: TweetRemoval) -> None:
        tweet = removal.tweet
        self.tweets[tweet.tweet_id] = Tweet(
            tweet_id=tweet.tweet_id, author_id=tweet.author_id, text="", create_time=tweet.create_time,
            in_reply_to_tweet_id=tweet.in_reply_to_tweet_id, quoted_tweet_id=tweet.quoted_tweet_id,
            retweet_of_tweet_id=tweet.retweet_of_tweet_id, retweet_of_user_id=tweet.retweet_of_user_id,
            delete_time=removal.delete_time,
        )
        self.events.append(removal.event)

    # claims: check and set with no await between, atomic on the event loop like IF NOT EXISTS

    async def find_request(self, author_id: int, request_id: str) -> TweetDraft | None:
        await _yield()
        return self.requests.get((author_id, request_id))

    async def claim_request(self, author_id: int, request_id: str, draft: TweetDraft) -> TweetDraft:
        await _yield()
        return self.requests.setdefault((author_id, request_id), draft)

    async def claim_retweet(self, draft: TweetDraft) -> TweetDraft:
        await _yield()
        key = (draft.tweet.author_id, draft.tweet.retweet_of_tweet_id)
        return self.retweet_claims.setdefault(key, draft)

    async def find_retweet(self, user_id: int, original_id: int) -> TweetDraft | None:
        await _yield()
        return self.retweet_claims.get((user_id, original_id))

    async def release_retweet(self, user_id: int, original_id: int, retweet_id: int) -> None:
        claim = self.retweet_claims.get((user_id, original_id))
        if claim is not None and claim.tweet.tweet_id == retweet_id:
            del self.retweet_claims[(user_id, original_id)]

    def events_of(self, kind: type) -> list:
        return [e for e in self.events if isinstance(e, kind)]


class FakeLikeStore:
    """Claims per (tweet, user); recorded likes by id. An erased like stays erased, whichever of its
    recording and its erase came first (as the erase's later write timestamp makes it in CQL)."""

    def __init__(self) -> None:
        self.claims: dict[tuple[int, int], Like] = {}
        self.recorded_likes: dict[int, Like] = {}
        self.erased: set[int] = set()
        self.events: list[TweetEvent] = []

    async def claim(self, like: Like) -> Like:
        await _yield()
        return self.claims.setdefault((like.tweet_id, like.user_id), like)

    async def find(self, user_id: int, tweet_id: int) -> Like | None:
        await _yield()
        return self.claims.get((tweet_id, user_id))

    async def release(self, like: Like) -> None:
        await _yield()
        held = self.claims.get((like.tweet_id, like.user_id))
        if held is not None and held.like_id == like.like_id:
            del self.claims[(like.tweet_id, like.user_id)]

    async def recorded(self, user_id: int, tweet_id: int) -> list[Like]:
        await _yield()
        return [like for like in self.recorded_likes.values() if (like.user_id, like.tweet_id) == (user_id, tweet_id)]

    async def record(self, like: Like, event: LikeCreated) -> None:
        await _yield()
        if like.like_id not in self.erased:
            self.recorded_likes[like.like_id] = like
        self.events.append(event)

    async def erase(self, like: Like, event: LikeDeleted) -> None:
        await _yield()
        self.erased.add(like.like_id)
        self.recorded_likes.pop(like.like_id, None)
        self.events.append(event)

    async def liked_by(self, user_id: int, tweet_ids: Sequence[int]) -> set[int]:
        return {like.tweet_id for like in self.recorded_likes.values() if like.user_id == user_id} & set(tweet_ids)

    async def likes_of(self, user_id: int, limit: int) -> list[int]:
        return list(dict.fromkeys(like.tweet_id for like in self.recorded_likes.values() if like.user_id == user_id))[:limit]

    async def counts(self, tweet_ids: Sequence[int]) -> dict[int, int]:
        return {t: sum(1 for (tweet_id, _) in self.claims if tweet_id == t) for t in tweet_ids}

    async def page_likers(self, tweet_id: int, before: int | None, limit: int) -> LikerIdPage:
        listed = sorted((like for like in self.recorded_likes.values() if like.tweet_id == tweet_id),
                        key=lambda like: like.like_id, reverse=True)
        if before is not None:
            listed = [like for like in listed if like.like_id < before]
        page = listed[:limit]
        held = [like.user_id for like in page if self._holds_claim(like)]
        return LikerIdPage(held, page[-1].like_id if len(listed) > limit else None)

    def _holds_claim(self, like: Like) -> bool:
        claim = self.claims.get((like.tweet_id, like.user_id))
        return claim is not None and claim.like_id == like.like_id

    def events_of(self, kind: type) -> list:
        return [e for e in self.events if isinstance(e, kind)]


class FakeCommentStore:
    def __init__(self) -> None:
        self.comments: dict[int, Comment] = {}
        self.requests: dict[tuple[int, str], CommentDraft] = {}
        self.events: list[TweetEvent] = []
        # set to an exception to make the next create fail before it stores anything
        self.fail_next_create: Exception | None = None

    def _live(self, tweet_id: int) -> list[Comment]:
        return sorted((c for c in self.comments.values() if c.tweet_id == tweet_id and not c.is_deleted),
                      key=lambda c: c.comment_id)

    async def get(self, comment_id: int) -> Comment | None:
        await _yield()
        return self.comments.get(comment_id)

    async def counts(self, tweet_ids: Sequence[int]) -> dict[int, int]:
        return {t: len(self._live(t)) for t in tweet_ids}

    async def create(self, comment: Comment, events: Sequence[TweetEvent]) -> None:
        await _yield()
        if self.fail_next_create is not None:
            failure, self.fail_next_create = self.fail_next_create, None
            raise failure
        existing = self.comments.get(comment.comment_id)
        if existing is None or not existing.is_deleted:  # like the fixed write timestamp: a delete wins
            self.comments[comment.comment_id] = comment
        self.events.extend(events)

    async def delete(self, removal: CommentRemoval) -> None:
        await _yield()
        self.comments[removal.comment.comment_id] = replace(removal.comment, text="", delete_time=removal.delete_time)
        self.events.append(removal.event)

    async def page(self, tweet_id: int, after: int | None, limit: int) -> CommentIdPage:
        listed = [c for c in self._live(tweet_id) if after is None or c.comment_id > after]
        return CommentIdPage(listed[:limit], listed[limit - 1].comment_id if len(listed) > limit else None)

    async def find_request(self, author_id: int, request_id: str) -> CommentDraft | None:
        await _yield()
        return self.requests.get((author_id, request_id))

    async def claim_request(self, author_id: int, request_id: str, draft: CommentDraft) -> CommentDraft:
        await _yield()
        return self.requests.setdefault((author_id, request_id), draft)

    def events_of(self, kind: type) -> list:
        return [e for e in self.events if isinstance(e, kind)]


class FakeMediaStore:
    def __init__(self) -> None:
        self.media: dict[int, Media] = {}
        self.attachments: dict[int, Attachment] = {}

    async def insert(self, media: Media) -> None:
        self.media[media.media_id] = media

    async def get_many(self, media_ids: Sequence[int]) -> dict[int, Media]:
        return {m: self.media[m] for m in media_ids if m in self.media}

    async def update_state(self, media: Media, now: datetime) -> None:
        self.media[media.media_id] = media

    async def attach(self, media_ids: Sequence[int], tweet_id: int, now: datetime) -> dict[int, Attachment]:
        return {m: self.attachments.setdefault(m, Attachment(tweet_id, now)) for m in media_ids}

    async def reassign(self, media_id: int, from_tweet_id: int, to_tweet_id: int, now: datetime) -> bool:
        if self.attachments.get(media_id, Attachment(0, now)).tweet_id != from_tweet_id:
            return False
        self.attachments[media_id] = Attachment(to_tweet_id, now)
        return True

    async def detach(self, media_ids: Sequence[int], tweet_id: int) -> None:
        for media_id in media_ids:
            if media_id in self.attachments and self.attachments[media_id].tweet_id == tweet_id:
                del self.attachments[media_id]


class FakeObjectStore:
    """A bucket in a dict; URLs name the key and the expiry so tests can tell them apart."""

    def __init__(self) -> None:
        self.objects: dict[str, StoredObject] = {}
        self.deleted: list[str] = []

    def upload_url(self, key: str, content_type: str, size_bytes: int, expires_in_s: int) -> PresignedUpload:
        return PresignedUpload(f"https://bucket.test/{key}?put&expires={expires_in_s}", "PUT",
                               {"Content-Type": content_type, "Content-Length": str(size_bytes)})

    def download_url(self, key: str, expires_in_s: int) -> str:
        return f"https://bucket.test/{key}?get&expires={expires_in_s}"

    async def stat(self, key: str) -> StoredObject | None:
        return self.objects.get(key)

    async def delete(self, key: str) -> None:
        self.objects.pop(key, None)
        self.deleted.append(key)


class FakeTweetCache:
    """Versioned like the Redis cache: a view stored under a version invalidated since is lost."""

    def __init__(self) -> None:
        self.values: dict[tuple[int, str], TweetView] = {}
        self.versions: dict[int, int] = {}
        self.lookups = 0

    async def lookup(self, tweet_ids: Sequence[int]) -> CachedViews:
        self.lookups += 1
        versions = {t: str(self.versions.get(t, 0)) for t in tweet_ids}
        hits = {t: self.values[(t, v)] for t, v in versions.items() if (t, v) in self.values}
        return CachedViews(hits, versions)

    async def store(self, views: Mapping[int, TweetView], versions: Mapping[int, str]) -> None:
        for tweet_id, view in views.items():
            self.values[(tweet_id, versions[tweet_id])] = view

    async def invalidate(self, tweet_ids: Iterable[int]) -> None:
        for tweet_id in tweet_ids:
            self.versions[tweet_id] = self.versions.get(tweet_id, 0) + 1

    def cached_ids(self) -> set[int]:
        return {t for (t, v) in self.values if str(self.versions.get(t, 0)) == v}


class FakeMarksCache:
    """Per user, marks by original tweet under the user's version, like the Redis hash (with its
    completeness marker: `wholly`)."""

    def __init__(self) -> None:
        self.marks: dict[tuple[int, str], dict[int, CallerMarks]] = {}
        self.wholly: dict[tuple[int, str], str] = {}  # "complete" or "many"
        self.versions: dict[int, int] = {}
        self.answering = True  # False: Redis is down (lookups miss, invalidations raise)

    def _version(self, user_id: int) -> str:
        return str(self.versions.get(user_id, 0))

    async def lookup(self, user_id: int, tweet_ids: Sequence[int]) -> CachedMarks:
        if not self.answering:
            return CachedMarks({}, None)
        key = (user_id, self._version(user_id))
        cached, wholly = self.marks.get(key, {}), self.wholly.get(key)
        return CachedMarks({t: cached[t] for t in tweet_ids if t in cached}, key[1],
                           complete=wholly == "complete", too_many=wholly == "many")

    async def store(self, user_id: int, marks: Mapping[int, CallerMarks], version: str | None) -> None:
        if version is not None and self.answering:
            self.marks.setdefault((user_id, version), {}).update(marks)

    async def store_all(self, user_id: int, marks: Mapping[int, CallerMarks] | None, version: str | None) -> None:
        if version is not None and self.answering:
            self.wholly[(user_id, version)] = "many" if marks is None else "complete"
            await self.store(user_id, marks or {}, version)

    async def invalidate(self, user_id: int) -> None:
        if not self.answering:
            raise Unavailable("cache down", reason="MARKS_CACHE_UNAVAILABLE")
        self.versions[user_id] = self.versions.get(user_id, 0) + 1


class FakeUserDirectory:
    def __init__(self) -> None:
        self.users: dict[int, AuthorProfile] = {}
        self.answering = True  # False: the graph service is down or does not implement the call

    def add(self, user_id: int, handle: str) -> AuthorProfile:
        profile = AuthorProfile(user_id, handle, handle.title(), "", None, 0, 0, False)
        self.users[user_id] = profile
        return profile

    async def profiles(self, user_ids: Sequence[int]) -> dict[int, AuthorProfile] | None:
        if not self.answering:
            return None
        return {u: self.users[u] for u in user_ids if u in self.users}

    async def user_ids_by_handle(self, handles: Sequence[str]) -> dict[str, int]:
        if not self.answering:
            return {}
        by_handle = {p.handle.lower(): p.user_id for p in self.users.values()}
        return {h: by_handle[h] for h in handles if h in by_handle}
