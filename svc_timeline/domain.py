"""The language of svc_timeline: timeline entries, slices of timelines and how they merge.

Plain data and pure functions; no I/O and no generated code. The typed errors subclass the ones of
mesh.errors, so the one table there turns each into its gRPC status.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from mesh.errors import PermissionDenied

# GetHomeTimeline and GetUserTimeline: a page_size of 0 gets the default; the proto rules bound it to 0..100
DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100


# ---------------------------------------------------------------------------------------------
# Errors (those every service raises, e.g. UserNotFound, are in mesh.errors)


class BlockedByUser(PermissionDenied):
    default_reason = "BLOCKED_BY_USER"

    def __init__(self, user_id: int) -> None:
        super().__init__(f"user {user_id} blocks you: their timeline is hidden", metadata={"user_id": str(user_id)})


# ---------------------------------------------------------------------------------------------
# Timelines


class TimelineKind(enum.Enum):
    HOME = "home"  # what a user reads: the tweets of the users they follow, and their own
    USER = "user"  # what a user wrote: posts, replies, quotes and retweets


@dataclass(frozen=True, order=True)
class TimelineKey:
    kind: TimelineKind
    owner_id: int

    @classmethod
    def home(cls, user_id: int) -> "TimelineKey":
        return cls(TimelineKind.HOME, user_id)

    @classmethod
    def user(cls, user_id: int) -> "TimelineKey":
        return cls(TimelineKind.USER, user_id)


@dataclass(frozen=True)
class TimelineEntry:
    """One tweet id in a timeline, with what reads and removals need without hydrating it.

    `author_id` wrote `tweet_id`; for a retweet that is the retweeter, and `retweet_of_*` name the
    original and its author.
    """

    tweet_id: int
    author_id: int
    retweet_of_tweet_id: int | None = None
    retweet_of_author_id: int | None = None

    @property
    def is_retweet(self) -> bool:
        return self.retweet_of_tweet_id is not None

    @property
    def content_id(self) -> int:
        """The tweet a reader actually sees: the original of a retweet, else the tweet itself."""
        return self.retweet_of_tweet_id if self.retweet_of_tweet_id is not None else self.tweet_id

    def authors(self) -> tuple[int, ...]:
        """Everyone whose content the entry shows: a mute or block of any of them hides it."""
        if self.retweet_of_author_id is None:
            return (self.author_id,)
        return (self.author_id, self.retweet_of_author_id)


@dataclass(frozen=True)
class TimelineSlice:
    """Entries of one timeline older than a cursor, newest first.

    `has_more`: the timeline holds entries older than the last one here (unknown counts as True:
    a reader then gets one more, possibly empty, page rather than missing tweets).
    """

    key: TimelineKey
    entries: tuple[TimelineEntry, ...]
    has_more: bool


@dataclass(frozen=True)
class MergedPage:
    """The newest `limit` entries of several timelines, each tagged with the timeline it came from."""

    entries: tuple[tuple[TimelineKey, TimelineEntry], ...]
    # the oldest tweet id considered on this page: the next page reads strictly below it
    cursor: int | None
    has_more: bool


def merge_newest_first(slices: Iterable[TimelineSlice], limit: int) -> MergedPage:
    """Merge slices read with the same cursor into one page of at most `limit` entries.

    Every slice holds the newest entries of its timeline below the cursor; so the newest `limit`
    of their union are exactly the newest `limit` of the union of the whole timelines below the
    cursor, and the next page, read below this page's oldest id, neither repeats nor skips one.
    An id in several slices (a user who became a celebrity has tweets both pushed and merged)
    counts once. A slice that was cut short (has_more) may only contribute entries down to its own
    oldest one, so the page never extends below what every such slice covered.
    """
    slices = list(slices)
    floor = max((s.entries[-1].tweet_id for s in slices if s.has_more and s.entries), default=None)
    by_id: dict[int, tuple[TimelineKey, TimelineEntry]] = {}
    for slice_ in slices:
        for entry in slice_.entries:
            if floor is not None and entry.tweet_id < floor:
                continue
            by_id.setdefault(entry.tweet_id, (slice_.key, entry))
    ordered = sorted(by_id.values(), key=lambda tagged: tagged[1].tweet_id, reverse=True)
    page = ordered[:limit]
    has_more = len(ordered) > limit or any(s.has_more for s in slices)
    cursor = page[-1][1].tweet_id if page else None
    if cursor is None:
        has_more = False  # nothing below the cursor anywhere (a cut slice always holds entries)
    return MergedPage(tuple(page), cursor, has_more)


def first_of_each_content(
    entries: Sequence[tuple[TimelineKey, TimelineEntry]],
) -> list[tuple[TimelineKey, TimelineEntry]]:
    """Each original shown once on a page: the newest of a tweet and its retweets wins."""
    seen: set[int] = set()
    kept = []
    for tagged in entries:
        content = tagged[1].content_id
        if content not in seen:
            seen.add(content)
            kept.append(tagged)
    return kept


def page_fingerprint(entries: Sequence[tuple[TimelineKey, TimelineEntry]]) -> str:
    """What a page was built from: every entry, and the timeline it came from. A rendered page
    serves again only a merge that gives the same fingerprint, so a tweet added to or removed from
    the timelines behind it, or a change of merge sources, makes it a miss."""
    digest = hashlib.blake2b(digest_size=12)
    for key, entry in entries:
        digest.update(
            f"{key.kind.value}:{key.owner_id}:{entry.tweet_id}:{entry.author_id}:"
            f"{entry.retweet_of_tweet_id or 0}:{entry.retweet_of_author_id or 0};".encode()
        )
    return digest.hexdigest()


@dataclass(frozen=True)
class PageSubjects:
    """The tweets and users a page shows, named by its entries: others' changes to them (a like
    count, a deleted original, a profile) make a rendered page stale. Sorted, without repeats, so
    the same entries always name them in the same order."""

    tweet_ids: tuple[int, ...]
    user_ids: tuple[int, ...]


def page_subjects(entries: Sequence[tuple[TimelineKey, TimelineEntry]]) -> PageSubjects:
    tweets = {entry.tweet_id for _, entry in entries} | {
        entry.retweet_of_tweet_id for _, entry in entries if entry.retweet_of_tweet_id is not None
    }
    users = {author for _, entry in entries for author in entry.authors()}
    return PageSubjects(tuple(sorted(tweets)), tuple(sorted(users)))


# ---------------------------------------------------------------------------------------------
# Reading


@dataclass(frozen=True)
class Relationship:
    """How the reader relates to an author (the graph service's Relationship, reader = subject)."""

    following: bool = False
    blocking: bool = False
    blocked_by: bool = False
    muting: bool = False

    @property
    def hides_from_home(self) -> bool:
        return self.blocking or self.blocked_by or self.muting


@dataclass(frozen=True)
class HydratedTweet:
    """A tweet as the tweet service returned it for the reader.

    `body` is the peer's representation (tweetmesh.tweet.v1.Tweet), passed to the API untouched;
    the use cases only look at the ids. `original_visible` is False for a retweet whose original
    was deleted or is hidden from the reader.
    """

    tweet_id: int
    author_id: int
    retweet_of_tweet_id: int | None
    original_visible: bool
    body: Any


@dataclass(frozen=True)
class TimelinePage:
    tweets: list[HydratedTweet]
    next_page_token: str


@dataclass(frozen=True)
class FollowerPage:
    """A page of a user's follower ids, with whether the user is a celebrity (no fan-out on write)."""

    user_ids: list[int]
    next_page_token: str
    celebrity: bool


@dataclass(frozen=True)
class FollowingPage:
    """A page of the ids a user follows, and which of them are celebrities (merged on read)."""

    user_ids: list[int]
    next_page_token: str
    celebrity_user_ids: list[int]


@dataclass(frozen=True)
class MergeSources:
    """The user timelines a reader's home merges in at read time: the celebrities the reader
    follows, and the reader's own when the reader is a celebrity (whose tweets go nowhere)."""

    user_ids: tuple[int, ...]
