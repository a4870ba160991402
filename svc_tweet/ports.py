"""What the use cases of svc_tweet need from the outside world, as small Protocols.

The composition root (main.py) passes the real adapters (adapters/); unit tests pass the in-memory
fakes of svc_tweet/testing.py. Every method that does I/O is async and honours the caller's
deadline (mesh.context).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

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
)


class Clock(Protocol):
    def now(self) -> datetime:
        """The current UTC time, to the millisecond (what the store keeps)."""
        ...


class IdGenerator(Protocol):
    def new_id(self) -> int: ...


class TweetStore(Protocol):
    async def get_many(self, tweet_ids: Sequence[int]) -> dict[int, Tweet]:
        """The stored tweets among `tweet_ids`, by id, deleted ones included (`is_deleted`)."""
        ...

    async def counts(self, tweet_ids: Sequence[int]) -> dict[int, TweetCounts]:
        """Exact retweet, reply and quote counts (a partition count each: not cheap, cache them)."""
        ...

    async def create(self, tweet: Tweet, events: Sequence[TweetEvent]) -> None:
        """Store the tweet, its list entries and reference rows, and queue its events, atomically.
        Writing the same tweet again changes nothing, and never undoes a later delete."""
        ...

    async def delete(self, removal: TweetRemoval) -> None:
        """Mark the tweet deleted, drop its list entries and reference rows, queue the event,
        atomically. Deleting it again changes nothing."""
        ...

    async def page_by_author(
        self, author_id: int, after: AuthorListPosition | None, limit: int, *, exclude_replies: bool, exclude_retweets: bool
    ) -> AuthorTweetPage:
        """The author's tweet ids, newest first, starting after `after`. May return fewer than
        `limit` with a next position when the filters skipped many rows (bounded work per call)."""
        ...

    async def page_replies(self, tweet_id: int, after: int | None, limit: int) -> ReplyPage:
        """The ids of the direct replies to a tweet, oldest first, starting after reply `after`."""
        ...

    # --- CreateTweet request ids (AIP-155) ---------------------------------------------------

    async def find_request(self, author_id: int, request_id: str) -> TweetDraft | None:
        """The draft claimed for this request id, if any (a plain read: the fast path of a retry)."""
        ...

    async def claim_request(self, author_id: int, request_id: str, draft: TweetDraft) -> TweetDraft:
        """Claim the request id for `draft`, atomically: returns `draft` if this call claimed it,
        else the draft of whoever claimed it first."""
        ...

    # --- retweet claims (one retweet per user and original) ----------------------------------

    async def claim_retweet(self, draft: TweetDraft) -> TweetDraft:
        """Claim the (retweeter, original) pair for the retweet `draft`, atomically: returns
        `draft` if this call claimed it, else the draft of the retweet holding the claim."""
        ...

    async def find_retweet(self, user_id: int, original_id: int) -> TweetDraft | None:
        """The retweet claimed by the user for the original, if any."""
        ...

    async def release_retweet(self, user_id: int, original_id: int, retweet_id: int) -> None:
        """Drop the claim if it still names `retweet_id` (a newer claim is left alone)."""
        ...

    async def retweeted_by(self, user_id: int, original_ids: Sequence[int]) -> set[int]:
        """Those of `original_ids` the user holds a retweet of."""
        ...

    async def retweets_of(self, user_id: int, limit: int) -> list[int]:
        """Up to `limit` of the originals the user holds a retweet of, in no particular order (one
        partition read)."""
        ...


class LikeStore(Protocol):
    """Likes. A claim per (tweet, user) is the like: the tweet counts its claims. A claimed like is
    then recorded (the rows that list it and answer caller_liked, with its event); an unlike
    releases the claim, then erases the like. Rows of different likes never overwrite each other,
    and an erase beats every copy of its like's recording, whichever lands first."""

    async def claim(self, like: Like) -> Like:
        """Claim (like.tweet_id, like.user_id) for `like`, atomically: returns `like` if this call
        claimed it, else the like holding the claim."""
        ...

    async def find(self, user_id: int, tweet_id: int) -> Like | None:
        """The like claimed by the user for the tweet, if any."""
        ...

    async def release(self, like: Like) -> None:
        """Drop the claim if it still names `like` (a newer like is left alone)."""
        ...

    async def recorded(self, user_id: int, tweet_id: int) -> list[Like]:
        """The likes of the tweet recorded for the user and not erased (one, but for the leftovers
        of an unlike that died half way)."""
        ...

    async def record(self, like: Like, event: LikeCreated) -> None:
        """List the like, answer caller_liked with it, queue its event, atomically. Recording it
        again changes nothing, and never undoes an erase of it."""
        ...

    async def erase(self, like: Like, event: LikeDeleted) -> None:
        """Remove what recorded that like (and nothing of another like), queue the event,
        atomically. Erasing it again changes nothing; erasing one not recorded yet prevents it."""
        ...

    async def liked_by(self, user_id: int, tweet_ids: Sequence[int]) -> set[int]:
        """Those of `tweet_ids` the user has a recorded like of (one read)."""
        ...

    async def likes_of(self, user_id: int, limit: int) -> list[int]:
        """Up to `limit` of the tweets the user has a recorded like of, in no particular order (one
        partition read)."""
        ...

    async def counts(self, tweet_ids: Sequence[int]) -> dict[int, int]:
        """Exact like counts: the claims (a partition count each: not cheap, cache them)."""
        ...

    async def page_likers(self, tweet_id: int, before: int | None, limit: int) -> LikerIdPage:
        """The users who like the tweet, most recent like first, starting after like `before`.
        May return fewer than `limit` with a next position (rows of likes undone are skipped)."""
        ...


class CommentStore(Protocol):
    async def get(self, comment_id: int) -> Comment | None:
        """The stored comment, deleted ones included (`is_deleted`)."""
        ...

    async def counts(self, tweet_ids: Sequence[int]) -> dict[int, int]:
        """Exact counts of live comments (a partition count each: not cheap, cache them)."""
        ...

    async def create(self, comment: Comment, events: Sequence[TweetEvent]) -> None:
        """Store the comment and its list entry and queue its events, atomically. Writing the same
        comment again changes nothing, and never undoes a later delete."""
        ...

    async def delete(self, removal: CommentRemoval) -> None:
        """Mark the comment deleted, drop its list entry, queue the event, atomically."""
        ...

    async def page(self, tweet_id: int, after: int | None, limit: int) -> CommentIdPage:
        """The live comments on a tweet, oldest first, starting after comment `after`."""
        ...

    async def find_request(self, author_id: int, request_id: str) -> CommentDraft | None:
        """The draft claimed for this AddComment request id, if any."""
        ...

    async def claim_request(self, author_id: int, request_id: str, draft: CommentDraft) -> CommentDraft:
        """Claim the request id for `draft`, atomically: returns `draft` if this call claimed it,
        else the draft of whoever claimed it first."""
        ...


class MediaStore(Protocol):
    async def insert(self, media: Media) -> None: ...

    async def get_many(self, media_ids: Sequence[int]) -> dict[int, Media]: ...

    async def update_state(self, media: Media, now: datetime) -> None:
        """Write the media's state and failure reason."""
        ...

    async def attach(self, media_ids: Sequence[int], tweet_id: int, now: datetime) -> dict[int, Attachment]:
        """Claim each media for the tweet, atomically per media: returns, per media, the claim
        that holds it now (naming `tweet_id` where this call, or an earlier one for it, won).
        `now` is the claim time for stores that record one; others derive it from the tweet id."""
        ...

    async def reassign(self, media_id: int, from_tweet_id: int, to_tweet_id: int, now: datetime) -> bool:
        """Move the claim from one tweet to another if it still names `from_tweet_id`."""
        ...

    async def detach(self, media_ids: Sequence[int], tweet_id: int) -> None:
        """Release the claims that name `tweet_id` (for a tweet that will not be written)."""
        ...


class ObjectStore(Protocol):
    """The S3-compatible bucket. Presigning is local computation; stat and delete do I/O."""

    def upload_url(self, key: str, content_type: str, size_bytes: int, expires_in_s: int) -> PresignedUpload: ...

    def download_url(self, key: str, expires_in_s: int) -> str: ...

    async def stat(self, key: str) -> StoredObject | None:
        """Size and type of the stored object, None if there is none."""
        ...

    async def delete(self, key: str) -> None: ...


@dataclass(frozen=True)
class CachedViews:
    hits: dict[int, TweetView]
    # per tweet, the cache version the lookup saw: views computed after the lookup may be stored
    # under it, and an invalidation in between makes them unreachable instead of stale
    versions: dict[int, str]


class TweetCache(Protocol):
    """Never the truth: every method degrades to 'no cache' instead of failing the call."""

    async def lookup(self, tweet_ids: Sequence[int]) -> CachedViews: ...

    async def store(self, views: Mapping[int, TweetView], versions: Mapping[int, str]) -> None: ...

    async def invalidate(self, tweet_ids: Iterable[int]) -> None: ...


@dataclass(frozen=True)
class CachedMarks:
    hits: dict[int, CallerMarks]  # by original tweet id
    # the user's cache version the lookup saw: marks read from the stores after the lookup may be
    # stored under it, and an invalidation in between makes them unreachable instead of stale;
    # None if the cache could not answer, and then nothing may be stored
    version: str | None
    # every mark of the user is cached (store_all): a tweet not in `hits` has none
    complete: bool = False
    # the user has more marks than the cache keeps whole: the misses are read per tweet
    too_many: bool = False


class MarksCache(Protocol):
    """A user's marks (liked, retweeted) on original tweets, as LikeStore.liked_by and
    TweetStore.retweeted_by answer them, cached per user under a version that every committed like,
    unlike, retweet and undo by the user replaces."""

    async def lookup(self, user_id: int, tweet_ids: Sequence[int]) -> CachedMarks:
        """The cached marks among `tweet_ids`; a cache that cannot answer returns no hits."""
        ...

    async def store(self, user_id: int, marks: Mapping[int, CallerMarks], version: str | None) -> None:
        """Best effort, under the version a lookup saw before the marks were read: a failure only
        costs a store read later."""
        ...

    async def store_all(self, user_id: int, marks: Mapping[int, CallerMarks] | None, version: str | None) -> None:
        """Store every mark the user has, marked complete (any other tweet: none); None: the user
        has more than the cache keeps whole. Best effort, like store."""
        ...

    async def invalidate(self, user_id: int) -> None:
        """Make every cached mark of the user unreachable; called after each committed change of
        them. Raises Unavailable if it could not, because the marks would then stay stale; the
        change is committed and idempotent, so the client retries the whole call."""
        ...


class UserDirectory(Protocol):
    """The graph service, as far as tweets need it. Both calls degrade instead of failing."""

    async def profiles(self, user_ids: Sequence[int]) -> dict[int, AuthorProfile] | None:
        """The profiles of the users that exist among `user_ids`; None if the directory could not
        answer (tweets are then shown with their author id only)."""
        ...

    async def user_ids_by_handle(self, handles: Sequence[str]) -> dict[str, int]:
        """The ids of the users with these (lowercased) handles, by handle; unknown handles are
        left out, and so is everything when the directory could not answer."""
        ...
