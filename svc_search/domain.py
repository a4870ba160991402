"""The values of svc_search: parsed queries, hits, pages, index writes and their outcomes.

No I/O and no generated code. The Elasticsearch shape of these values (query bodies, documents)
lives in svc_search/documents.py and the adapters; the wire shape in grpc_api.py.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any

# ---------------------------------------------------------------------------------------------
# Hashtags and mentions, as the indexer extracts them from a tweet's text and a query names them

# `#tag`: letters, digits and underscores of any script (Python's \w), not glued to a word before it
# (so `a#b` and `##x` are not hashtags); stored lowercased, as the keyword normalizer does.
_HASHTAG_IN_TEXT = re.compile(r"(?<![\w#])#(\w{1,100})")
# `@handle`: the handle rules of the graph (3..15 of [A-Za-z0-9_]); `bob@example.com` is no mention.
_MENTION_IN_TEXT = re.compile(r"(?<![\w@])@([A-Za-z0-9_]{3,15})(?![A-Za-z0-9_])")


def hashtags_in(text: str) -> tuple[str, ...]:
    """The distinct hashtags of a text, lowercased, without the `#`, in order of appearance."""
    return tuple(dict.fromkeys(tag.lower() for tag in _HASHTAG_IN_TEXT.findall(text)))


def mentions_in(text: str) -> tuple[str, ...]:
    """The distinct handles a text mentions, lowercased, without the `@`, in order of appearance."""
    return tuple(dict.fromkeys(handle.lower() for handle in _MENTION_IN_TEXT.findall(text)))


# ---------------------------------------------------------------------------------------------
# Queries

# One query word each; trailing punctuation is forgiven (`#python,` and `from:bob.` still count).
_HASHTAG_TERM = re.compile(r"#(\w{1,100})[^\w]*")
_MENTION_TERM = re.compile(r"@([A-Za-z0-9_]{1,15})[^\w]*")
_FROM_TERM = re.compile(r"from:@?([A-Za-z0-9_]{1,15})[^\w]*", re.IGNORECASE)


@dataclass(frozen=True)
class TweetQuery:
    """A SearchTweets query, parsed. Every value is lowercased and distinct, in query order.

    - `words`: free text; a tweet matches if it has at least one, and ranks higher the more it has;
    - `hashtags` (`#tag`) and `mentions` (`@handle`): all are required;
    - `authors` (`from:handle`): the tweet is by one of them.
    """

    words: tuple[str, ...] = ()
    hashtags: tuple[str, ...] = ()
    mentions: tuple[str, ...] = ()
    authors: tuple[str, ...] = ()

    def key(self) -> str:
        """A canonical spelling: two texts that parse to the same query have the same key, so a
        cursor made for one is good for the other (`Hello #x` and `#X hello`)."""
        return "|".join(
            f"{name}={','.join(sorted(values))}"
            for name, values in (("w", self.words), ("h", self.hashtags), ("m", self.mentions), ("f", self.authors))
        )


def parse_query(text: str) -> TweetQuery:
    """`#tag from:bob @ann hello world` -> hashtags (tag), authors (bob), mentions (ann), words
    (hello, world). A word that only looks like an operator (`#`, `from:`) is searched as text."""
    words: list[str] = []
    hashtags: list[str] = []
    mentions: list[str] = []
    authors: list[str] = []
    for term in text.split():
        if match := _HASHTAG_TERM.fullmatch(term):
            hashtags.append(match.group(1))
        elif match := _FROM_TERM.fullmatch(term):
            authors.append(match.group(1))
        elif match := _MENTION_TERM.fullmatch(term):
            mentions.append(match.group(1))
        else:
            words.append(term)

    def distinct(values: list[str]) -> tuple[str, ...]:
        return tuple(dict.fromkeys(value.lower() for value in values))

    return TweetQuery(distinct(words), distinct(hashtags), distinct(mentions), distinct(authors))


class TweetOrder(Enum):
    """The order of tweet search results."""

    BEST_MATCH = "best_match"  # most query words matched first, then newest
    NEWEST = "newest"  # newest first (Snowflake ids grow with time), however many words matched


def results_key(query: TweetQuery, order: TweetOrder) -> str:
    """What a cursor is bound to: the query and the order (a position under one order means
    nothing under the other)."""
    return f"{query.key()}|o={order.value}"


# ---------------------------------------------------------------------------------------------
# Results


@dataclass(frozen=True)
class TweetPosition:
    """Where a tweet sits in a result list: best first = most query words matched, then newest
    (Snowflake ids grow with time); newest first = the tweet id alone (`words_matched` is 0 then:
    it takes no part in that order). Depends on the tweet and the query only, never on the rest of
    the index, so a cursor stays exact while tweets are added and removed."""

    words_matched: int
    tweet_id: int


@dataclass(frozen=True)
class TweetHit:
    tweet_id: int
    author_id: int
    text: str
    create_time: datetime | None
    position: TweetPosition


@dataclass(frozen=True)
class TweetPage:
    hits: list[TweetHit]
    next_cursor: str  # empty on the last page


@dataclass(frozen=True)
class UserPosition:
    """Where a user sits in a prefix search: shorter handles first, then alphabetical (the
    lowercased handle, as the index compares them)."""

    handle: str

    @property
    def length(self) -> int:
        return len(self.handle)


@dataclass(frozen=True)
class UserHit:
    user_id: int
    handle: str
    display_name: str
    position: UserPosition


@dataclass(frozen=True)
class UserProfile:
    """A user as the graph service describes it (tweetmesh.graph.v1.User)."""

    user_id: int
    handle: str
    display_name: str
    bio: str = ""
    create_time: datetime | None = None
    follower_count: int = 0
    following_count: int = 0
    celebrity: bool = False


@dataclass(frozen=True)
class UserPage:
    users: list[UserProfile]
    next_page_token: str


# ---------------------------------------------------------------------------------------------
# What the indexers are told (decoded events, rows of the tweet store)


@dataclass(frozen=True)
class IndexedTweet:
    """What the search index keeps of a tweet (posts, replies and quotes; retweets are not indexed:
    their text is the original's, which is indexed once)."""

    tweet_id: int
    author_id: int
    text: str
    create_time: datetime
    in_reply_to_tweet_id: int | None = None
    quoted_tweet_id: int | None = None
    has_media: bool = False


@dataclass(frozen=True)
class TweetPosted:
    tweet: IndexedTweet


@dataclass(frozen=True)
class TweetRemoved:
    tweet_id: int


TweetChange = TweetPosted | TweetRemoved


@dataclass(frozen=True)
class ProfileChanged:
    """A user's searchable profile as of `occurred_at` (from UserCreated or UserUpdated)."""

    user_id: int
    handle: str
    display_name: str
    occurred_at: datetime


@dataclass(frozen=True)
class IndexWrite:
    """One document to store under `doc_id`, unless the index already holds `version` or a later
    one (external versioning: the writer, not the index, says which state is newer)."""

    doc_id: str
    version: int
    document: Mapping[str, Any]


class WriteOutcome(Enum):
    STORED = "stored"
    SUPERSEDED = "superseded"  # this version or a newer one is already there: nothing left to do
    REJECTED = "rejected"  # the index can never take this document (it breaks the mapping)
    FAILED = "failed"  # the index could not take it now (overloaded, shard moving): try again


class EventOutcome(Enum):
    """What becomes of one consumed event."""

    DONE = "done"  # ack
    RETRY = "retry"  # nak, redelivered later
    REJECT = "reject"  # term: no retry can ever apply it (logged)


@dataclass(frozen=True)
class IncomingEvent:
    subject: str
    payload: bytes
    event_id: str = ""
