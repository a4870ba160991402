"""The language of svc_tweet: tweets, retweets, media, likes and comments, with their rules.

Plain data and pure functions; no I/O and no generated code. The typed errors subclass the ones of
mesh.errors, so the one table there turns each into its gRPC status, and each carries a stable
`reason` clients can branch on.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Union

from mesh.errors import FailedPrecondition, FieldViolation, InvalidArgument, NotFound, PermissionDenied

MAX_MEDIA_PER_TWEET = 4
# Only these may be attached several to a tweet; the other allowed types (GIF, video) come alone.
IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/webp"})
SINGLE_MEDIA_TYPES = frozenset({"image/gif", "video/mp4"})
# Mentions resolved per tweet: each costs a user lookup, and notifying more is spam, not conversation.
MAX_MENTIONS = 10


# ---------------------------------------------------------------------------------------------
# Errors (those every service raises, e.g. UserNotFound, are in mesh.errors)


class TweetNotFound(NotFound):
    default_reason = "TWEET_NOT_FOUND"

    def __init__(self, tweet_id: int, *, role: str = "tweet") -> None:
        # role names what the id was for ("tweet replied to"), so a person knows which id is wrong
        super().__init__(f"{role} {tweet_id} does not exist or was deleted", metadata={"tweet_id": str(tweet_id)})


class NotTheAuthor(PermissionDenied):
    default_reason = "NOT_THE_AUTHOR"

    def __init__(self, tweet_id: int) -> None:
        super().__init__(f"tweet {tweet_id} is not yours: only its author can delete it", metadata={"tweet_id": str(tweet_id)})


class CommentNotFound(NotFound):
    default_reason = "COMMENT_NOT_FOUND"

    def __init__(self, tweet_id: int, comment_id: int) -> None:
        super().__init__(
            f"comment {comment_id} on tweet {tweet_id} does not exist or was deleted",
            metadata={"tweet_id": str(tweet_id), "comment_id": str(comment_id)},
        )


class NotAllowedToDeleteComment(PermissionDenied):
    default_reason = "NOT_THE_COMMENT_OR_TWEET_AUTHOR"

    def __init__(self, comment_id: int) -> None:
        super().__init__(
            f"comment {comment_id} is not yours: only its author or the author of the tweet can delete it",
            metadata={"comment_id": str(comment_id)},
        )


class MediaNotFound(NotFound):
    """Unknown, and someone else's, are one error on purpose: no probing for other users' media."""

    default_reason = "MEDIA_NOT_FOUND"

    def __init__(self, media_id: int) -> None:
        super().__init__(f"media {media_id} does not exist or is not yours", metadata={"media_id": str(media_id)})


class MediaNotReady(FailedPrecondition):
    default_reason = "MEDIA_NOT_READY"

    def __init__(self, media_id: int, state: "MediaState") -> None:
        hint = {
            MediaState.PENDING_UPLOAD: "upload the file to its upload_url, then call CompleteMediaUpload",
            MediaState.FAILED: "its upload was rejected; upload the file again as a new media",
        }.get(state, "wait until it is READY")
        super().__init__(
            f"media {media_id} is {state.name}, not READY: {hint}",
            metadata={"media_id": str(media_id), "state": state.name},
        )


class MediaAlreadyAttached(FailedPrecondition):
    default_reason = "MEDIA_ALREADY_ATTACHED"

    def __init__(self, media_id: int) -> None:
        super().__init__(
            f"media {media_id} is already attached to another tweet; upload it again to post it twice",
            metadata={"media_id": str(media_id)},
        )


class MediaMixNotAllowed(InvalidArgument):
    default_reason = "MEDIA_MIX_NOT_ALLOWED"

    def __init__(self, content_types: list[str]) -> None:
        why = "attach up to 4 images (JPEG, PNG, WebP), or exactly one GIF or video"
        super().__init__(
            f"images: {why}; got {', '.join(content_types)}",
            violations=[FieldViolation("images", why)],
        )


class UploadNotFound(FailedPrecondition):
    default_reason = "UPLOAD_NOT_FOUND"

    def __init__(self, media_id: int) -> None:
        super().__init__(
            f"no file was uploaded for media {media_id} yet: PUT it to the upload_url with the upload_headers, "
            "then call CompleteMediaUpload again",
            metadata={"media_id": str(media_id)},
        )


class UploadRejected(FailedPrecondition):
    """The uploaded file is not the one declared; the media is FAILED for good."""

    default_reason = "UPLOAD_REJECTED"

    def __init__(self, media_id: int, why: str) -> None:
        super().__init__(
            f"media {media_id} was rejected: {why}; upload the file again as a new media",
            metadata={"media_id": str(media_id)},
        )


# ---------------------------------------------------------------------------------------------
# Tweets


@dataclass(frozen=True)
class MediaRef:
    """A media as attached to a tweet: fixed once attached, so tweets keep a copy."""

    media_id: int
    content_type: str
    size_bytes: int


@dataclass(frozen=True)
class Tweet:
    """A tweet as stored. A retweet has no text nor media and sets retweet_of_*."""

    tweet_id: int
    author_id: int
    text: str
    create_time: datetime
    media: tuple[MediaRef, ...] = ()
    in_reply_to_tweet_id: int | None = None
    in_reply_to_user_id: int | None = None
    quoted_tweet_id: int | None = None
    quoted_user_id: int | None = None
    retweet_of_tweet_id: int | None = None
    retweet_of_user_id: int | None = None
    mentioned_user_ids: tuple[int, ...] = ()
    delete_time: datetime | None = None

    @property
    def is_reply(self) -> bool:
        return self.in_reply_to_tweet_id is not None

    @property
    def is_retweet(self) -> bool:
        return self.retweet_of_tweet_id is not None

    @property
    def is_deleted(self) -> bool:
        return self.delete_time is not None

    @property
    def original_id(self) -> int:
        """What a retweet button acts on: the original for a retweet, the tweet itself otherwise."""
        return self.retweet_of_tweet_id if self.retweet_of_tweet_id is not None else self.tweet_id

    def referenced_ids(self) -> tuple[int, ...]:
        """The tweets whose counts this tweet is part of (replied to, quoted, retweeted)."""
        refs = (self.in_reply_to_tweet_id, self.quoted_tweet_id, self.retweet_of_tweet_id)
        return tuple(ref for ref in refs if ref is not None)


@dataclass(frozen=True)
class TweetDraft:
    """A tweet about to be written, with the id of the event announcing it.

    Claims (request ids, retweets) store the whole draft, so a retry that finds a claim whose tweet
    was never written writes exactly this tweet with exactly these events, which the stream then
    stores once (same event ids)."""

    tweet: Tweet
    event_id: str


@dataclass(frozen=True)
class TweetCounts:
    retweets: int = 0
    replies: int = 0
    quotes: int = 0
    likes: int = 0
    comments: int = 0


@dataclass(frozen=True)
class TweetView:
    """A live tweet with its counts: what the hydration cache keeps (nothing caller-specific)."""

    tweet: Tweet
    counts: TweetCounts


@dataclass(frozen=True)
class CallerMarks:
    """What one user did to one original tweet: the state of its like and retweet buttons."""

    liked: bool = False
    retweeted: bool = False


@dataclass(frozen=True)
class AuthorProfile:
    """The author's public profile, from the graph service (counts may lag)."""

    user_id: int
    handle: str
    display_name: str
    bio: str
    create_time: datetime | None
    follower_count: int
    following_count: int
    celebrity: bool


@dataclass(frozen=True)
class MediaView:
    ref: MediaRef
    owner_id: int
    url: str  # time-limited download URL


@dataclass(frozen=True)
class HydratedTweet:
    """A tweet as a caller sees it: author, media URLs, counts, flags, referenced tweet."""

    tweet: Tweet
    counts: TweetCounts
    author: AuthorProfile | None  # None when the graph service could not say
    media: tuple[MediaView, ...]
    caller_retweeted: bool
    caller_liked: bool = False
    quoted: HydratedTweet | None = None
    retweeted: HydratedTweet | None = None


def month_of(moment: datetime) -> int:
    """The month partition (yyyymm, UTC) of an author's list a tweet made at `moment` lives in."""
    return moment.year * 100 + moment.month


# ---------------------------------------------------------------------------------------------
# Likes and comments


@dataclass(frozen=True)
class Like:
    """One like of a tweet by a user. A like, its unlike and a new like are two likes (two ids):
    an unlike removes exactly its like, never a later one."""

    like_id: int
    tweet_id: int
    user_id: int
    tweet_author_id: int
    create_time: datetime


@dataclass(frozen=True)
class Comment:
    """A comment as stored. tweet_author_id: the other user allowed to delete it."""

    comment_id: int
    tweet_id: int
    author_id: int
    tweet_author_id: int
    text: str
    create_time: datetime
    delete_time: datetime | None = None

    @property
    def is_deleted(self) -> bool:
        return self.delete_time is not None

    def deletable_by(self, user_id: int) -> bool:
        return user_id in (self.author_id, self.tweet_author_id)


@dataclass(frozen=True)
class CommentDraft:
    """A comment about to be written, with what announces it; claims store it whole (as TweetDraft)."""

    comment: Comment
    event_id: str
    mentioned_user_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class HydratedComment:
    comment: Comment
    author: AuthorProfile | None  # None when the graph service could not say


@dataclass(frozen=True)
class Liker:
    user_id: int
    profile: AuthorProfile | None  # None when the graph service could not say


# ---------------------------------------------------------------------------------------------
# Text: mentions

# A handle as graph defines it ([A-Za-z0-9_]{3,15}) after an @ that does not follow a word
# character or another @ (so e-mail addresses and @@x are not mentions) and is not followed by
# one more handle character (so @sixteen_letters is no mention of its first fifteen).
_MENTION = re.compile(r"(?<![A-Za-z0-9_@])@([A-Za-z0-9_]{3,15})(?![A-Za-z0-9_])")


def mentioned_handles(text: str, limit: int = MAX_MENTIONS) -> list[str]:
    """The handles mentioned in the text, lowercased, in order of appearance, without duplicates."""
    handles: list[str] = []
    for match in _MENTION.finditer(text):
        handle = match.group(1).lower()
        if handle not in handles:
            handles.append(handle)
            if len(handles) == limit:
                break
    return handles


# ---------------------------------------------------------------------------------------------
# Media


class MediaState(enum.Enum):
    PENDING_UPLOAD = "PENDING_UPLOAD"
    READY = "READY"
    FAILED = "FAILED"


@dataclass(frozen=True)
class Media:
    media_id: int
    owner_id: int
    content_type: str
    size_bytes: int
    state: MediaState
    object_key: str
    create_time: datetime
    failure_reason: str = ""

    def as_ref(self) -> MediaRef:
        return MediaRef(self.media_id, self.content_type, self.size_bytes)


@dataclass(frozen=True)
class Attachment:
    """The claim that attaches a media to a tweet (one tweet per media)."""

    tweet_id: int
    attach_time: datetime


def media_object_key(owner_id: int, media_id: int) -> str:
    return f"media/{owner_id}/{media_id}"


def check_media_mix(content_types: list[str]) -> None:
    """Up to 4 images, or exactly one GIF or video (what clients can lay out)."""
    if len(content_types) > MAX_MEDIA_PER_TWEET:
        raise MediaMixNotAllowed(content_types)
    if any(t in SINGLE_MEDIA_TYPES for t in content_types) and len(content_types) > 1:
        raise MediaMixNotAllowed(content_types)
    if any(t not in IMAGE_TYPES | SINGLE_MEDIA_TYPES for t in content_types):
        raise MediaMixNotAllowed(content_types)


@dataclass(frozen=True)
class PresignedUpload:
    url: str
    method: str
    headers: dict[str, str]  # part of the signature: the upload must send exactly these


@dataclass(frozen=True)
class UploadSlot:
    media: Media
    upload: PresignedUpload
    expire_time: datetime


@dataclass(frozen=True)
class StoredObject:
    size_bytes: int
    content_type: str


def upload_mismatch(media: Media, stored: StoredObject) -> str | None:
    """Why the stored object is not the declared one, or None if it is."""
    problems = []
    if stored.size_bytes != media.size_bytes:
        problems.append(f"the file has {stored.size_bytes} bytes, {media.size_bytes} were declared")
    if stored.content_type.split(";")[0].strip().lower() != media.content_type:
        problems.append(f"the file is {stored.content_type or 'of no type'}, {media.content_type} was declared")
    return "; ".join(problems) or None


# ---------------------------------------------------------------------------------------------
# Pages (AIP-158): where a page ended; mesh.paging turns it into a page token


@dataclass(frozen=True)
class AuthorListPosition:
    """Where a page of an author's list ended: the month partition and the last tweet id."""

    month: int
    tweet_id: int


@dataclass(frozen=True)
class AuthorTweetPage:
    tweet_ids: list[int]
    next_position: AuthorListPosition | None  # None on the last page


@dataclass(frozen=True)
class ReplyPage:
    reply_ids: list[int]
    next_after: int | None  # the last reply id of the page; None on the last page


@dataclass(frozen=True)
class LikerIdPage:
    user_ids: list[int]  # most recent like first
    next_before: int | None  # the last like id looked at; None on the last page


@dataclass(frozen=True)
class CommentIdPage:
    comments: list[Comment]  # oldest first
    next_after: int | None  # the last comment id of the page; None on the last page


# ---------------------------------------------------------------------------------------------
# Events (payloads of tweetmesh.events.v1; the adapters serialise them)


@dataclass(frozen=True)
class TweetCreated:
    event_id: str
    tweet: Tweet


@dataclass(frozen=True)
class MentionCreated:
    event_id: str
    tweet: Tweet
    mentioned_user_id: int


@dataclass(frozen=True)
class TweetDeleted:
    event_id: str
    occurred_at: datetime
    tweet: Tweet


@dataclass(frozen=True)
class Retweeted:
    event_id: str
    retweet: Tweet


@dataclass(frozen=True)
class RetweetUndone:
    event_id: str
    occurred_at: datetime
    retweet: Tweet


@dataclass(frozen=True)
class LikeCreated:
    event_id: str
    like: Like


@dataclass(frozen=True)
class LikeDeleted:
    event_id: str
    occurred_at: datetime
    like: Like


@dataclass(frozen=True)
class CommentCreated:
    event_id: str
    comment: Comment


@dataclass(frozen=True)
class CommentMentionCreated:
    """A comment mentioned a user: a MentionCreated whose tweet is the one commented on."""

    event_id: str
    comment: Comment
    mentioned_user_id: int


@dataclass(frozen=True)
class CommentDeleted:
    event_id: str
    occurred_at: datetime
    comment: Comment
    actor_id: int  # the comment's author or the tweet's


TweetEvent = Union[
    TweetCreated, MentionCreated, TweetDeleted, Retweeted, RetweetUndone,
    LikeCreated, LikeDeleted, CommentCreated, CommentMentionCreated, CommentDeleted,
]


def events_announcing(draft: TweetDraft) -> tuple[TweetEvent, ...]:
    """The events of a new tweet: Retweeted for a retweet; else TweetCreated and a MentionCreated
    per mentioned user but the author. Derived from the draft alone, event ids included, so
    writing the same draft twice announces the same events (stored once by the stream)."""
    tweet = draft.tweet
    if tweet.is_retweet:
        return (Retweeted(draft.event_id, tweet),)
    mentions = tuple(
        MentionCreated(f"{draft.event_id}-m{user_id}", tweet, user_id)
        for user_id in tweet.mentioned_user_ids
        if user_id != tweet.author_id  # nobody is notified of their own mention
    )
    return (TweetCreated(draft.event_id, tweet), *mentions)


@dataclass(frozen=True)
class TweetRemoval:
    """A tweet (or retweet) to delete and the event announcing it: stored together or not at all."""

    tweet: Tweet
    delete_time: datetime
    event: TweetDeleted | RetweetUndone = field(repr=False)


def like_created(like: Like) -> LikeCreated:
    """The event of a like, its id derived from the like: whoever records the like (its first
    attempt, a retry finding its claim) announces it with the same id, stored once by the stream."""
    return LikeCreated(f"{like.like_id}-liked", like)


def like_deleted(like: Like, occurred_at: datetime) -> LikeDeleted:
    """The event of an unlike, its id derived from the like it removes (once however often erased)."""
    return LikeDeleted(f"{like.like_id}-unliked", occurred_at, like)


def events_announcing_comment(draft: CommentDraft) -> tuple[TweetEvent, ...]:
    """CommentCreated and a mention per mentioned user but the commenter, derived from the draft
    alone (event ids included), as events_announcing does for tweets."""
    comment = draft.comment
    mentions = tuple(
        CommentMentionCreated(f"{draft.event_id}-m{user_id}", comment, user_id)
        for user_id in draft.mentioned_user_ids
        if user_id != comment.author_id  # nobody is notified of their own mention
    )
    return (CommentCreated(draft.event_id, comment), *mentions)


@dataclass(frozen=True)
class CommentRemoval:
    """A comment to delete and the event announcing it: stored together or not at all."""

    comment: Comment
    delete_time: datetime
    event: CommentDeleted = field(repr=False)
