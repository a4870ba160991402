"""The documents of the search indices (mappings: migrations/elasticsearch/*.json), and their versions.

Tweets: one document per tweet, id = tweet id, written with EXTERNAL versions so that the order in
which events arrive does not matter:

  version 1  the tweet, as posted (tweets never change after that)
  version 2  its tombstone: the tweet was deleted

The index keeps a version only if it is higher than the one it holds. So a redelivered create
(1 over 1) and a late create after the delete (1 over 2) are refused as conflicts and change
nothing, and a delete wins whether it comes before or after the create. The tombstone is a real
document, not an Elasticsearch delete: a delete's own version marker is forgotten after
`index.gc_deletes` (60 s), after which a create redelivered late (a nak backoff, a replay by the
rebuild) would bring the tweet back. It mirrors the tweet store, which keeps a deleted tweet's row
with its content removed: the tombstone holds only the id, and every search asks for documents
with an author (`LIVE_TWEETS`), which a tombstone lacks. The mapping needed no new field for it.

Users: one document per user, id = user id, version = when the profile changed (microseconds),
so the newest profile wins whatever the delivery order.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from svc_search.domain import IndexedTweet, IndexWrite, ProfileChanged, hashtags_in, mentions_in

TWEETS_ALIAS = "tweets"
USERS_ALIAS = "users"

TWEET_POSTED_VERSION = 1
TWEET_DELETED_VERSION = 2

# the filter every tweet search carries: a tombstone has no author, a tweet always has one
LIVE_TWEETS: dict[str, Any] = {"exists": {"field": "author_id"}}


def tweet_write(tweet: IndexedTweet, author_handle: str | None) -> IndexWrite:
    """The tweet's document. `author_handle` None: unknown to the graph (the tweet is still found by
    its text, not by `from:`)."""
    document: dict[str, Any] = {
        "tweet_id": str(tweet.tweet_id),
        "tweet_id_num": tweet.tweet_id,
        "author_id": str(tweet.author_id),
        "text": tweet.text,
        "hashtags": list(hashtags_in(tweet.text)),
        "mentions": list(mentions_in(tweet.text)),
        "has_media": tweet.has_media,
        "created_at": _iso(tweet.create_time),
    }
    if author_handle:
        document["author_handle"] = author_handle.lower()
    if tweet.in_reply_to_tweet_id is not None:
        document["reply_to_tweet_id"] = str(tweet.in_reply_to_tweet_id)
    if tweet.quoted_tweet_id is not None:
        document["quoted_tweet_id"] = str(tweet.quoted_tweet_id)
    return IndexWrite(str(tweet.tweet_id), TWEET_POSTED_VERSION, document)


def tweet_tombstone(tweet_id: int) -> IndexWrite:
    """What stays of a deleted tweet: its id only (no author, so no search returns it)."""
    return IndexWrite(str(tweet_id), TWEET_DELETED_VERSION, {"tweet_id": str(tweet_id), "tweet_id_num": tweet_id})


def user_write(profile: ProfileChanged) -> IndexWrite:
    document = {"user_id": str(profile.user_id), "handle": profile.handle, "display_name": profile.display_name}
    return IndexWrite(str(profile.user_id), _micros(profile.occurred_at), document)


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def _iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)  # the store and protobuf hand out naive UTC
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds")


def _micros(moment: datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return (moment - _EPOCH) // timedelta(microseconds=1)  # exact, where float seconds would round
