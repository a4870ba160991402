"""The event face of svc_search: JetStream payloads (tweetmesh.events.v1) -> index changes, nothing else.

What each event does (subjects as published into the streams of mesh/events.py):
  tweet.created        index the tweet (durable `search-indexer`, stream TWEETS)
  tweet.deleted        replace it by its tombstone
  graph.user.created   index the user's handle and display name (durable `search-users`, stream GRAPH)
  graph.user.updated   the same, newer version
Every other subject of those streams (likes, retweets, follows...) needs nothing here and is
acknowledged as done. An event that cannot be decoded is rejected (terminated and logged): no
retry would ever make it readable.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timezone
from typing import Generic, TypeVar

from google.protobuf.message import DecodeError, Message

from mesh import ids
from svc_search.domain import (
    EventOutcome,
    IncomingEvent,
    IndexedTweet,
    ProfileChanged,
    TweetChange,
    TweetPosted,
    TweetRemoved,
)
from tweetmesh.events.v1 import events_pb2

log = logging.getLogger("svc_search.events")

E = TypeVar("E", bound=Message)
C = TypeVar("C")


class PoisonEvent(Exception):
    """An event no retry can apply (undecodable, ids that are not ids): rejected and logged."""


def _decode(message_type: type[E], payload: bytes) -> E:
    message = message_type()
    try:
        message.ParseFromString(payload)
    except DecodeError as exc:
        raise PoisonEvent(f"not a {message_type.__name__}: {exc}") from None
    return message


def _id(field: str, text: str) -> int:
    try:
        return ids.parse(text)
    except (TypeError, ValueError) as exc:
        raise PoisonEvent(f"{field}: {exc}") from None


def _optional_id(field: str, text: str) -> int | None:
    return _id(field, text) if text else None


def _occurred_at(event: Message) -> datetime:
    if not event.HasField("occurred_at"):
        raise PoisonEvent("occurred_at is missing")
    return event.occurred_at.ToDatetime(tzinfo=timezone.utc)


def tweet_posted(payload: bytes) -> TweetPosted:
    event = _decode(events_pb2.TweetCreated, payload)
    return TweetPosted(IndexedTweet(
        tweet_id=_id("tweet_id", event.tweet_id),
        author_id=_id("actor_user_id", event.actor_user_id),
        text=event.text,
        create_time=_occurred_at(event),  # the tweet's create_time, says the contract
        in_reply_to_tweet_id=_optional_id("in_reply_to_tweet_id", event.in_reply_to_tweet_id),
        quoted_tweet_id=_optional_id("quoted_tweet_id", event.quoted_tweet_id),
        has_media=bool(event.media_ids),
    ))


def tweet_removed(payload: bytes) -> TweetRemoved:
    event = _decode(events_pb2.TweetDeleted, payload)
    return TweetRemoved(_id("tweet_id", event.tweet_id))


def _profile_changed(message_type: type[events_pb2.UserCreated] | type[events_pb2.UserUpdated]):
    def decode(payload: bytes) -> ProfileChanged:
        event = _decode(message_type, payload)
        if not event.handle:
            raise PoisonEvent("handle is missing")
        return ProfileChanged(_id("actor_user_id", event.actor_user_id), event.handle, event.display_name,
                              _occurred_at(event))

    return decode


class EventBatches(Generic[C]):
    """Decodes a batch of events by subject and applies the changes together; one outcome per event."""

    def __init__(self, decoders: dict[str, Callable[[bytes], C]],
                 apply: Callable[[Sequence[C]], Awaitable[Sequence[EventOutcome]]]):
        self._decoders = decoders
        self._apply = apply

    async def handle_batch(self, events: Sequence[IncomingEvent]) -> list[EventOutcome]:
        outcomes = [EventOutcome.DONE] * len(events)  # subjects without a decoder are not ours: done
        changes: list[C] = []
        decoded_from: list[int] = []
        for position, event in enumerate(events):
            decode = self._decoders.get(event.subject)
            if decode is None:
                continue
            try:
                changes.append(decode(event.payload))
            except PoisonEvent as exc:
                log.error("rejecting %s %s: %s", event.subject, event.event_id, exc)
                outcomes[position] = EventOutcome.REJECT
                continue
            decoded_from.append(position)
        if changes:
            for position, outcome in zip(decoded_from, await self._apply(changes), strict=True):
                outcomes[position] = outcome
        return outcomes


class TweetEvents(EventBatches[TweetChange]):
    def __init__(self, apply: Callable[[Sequence[TweetChange]], Awaitable[Sequence[EventOutcome]]]):
        super().__init__({"tweet.created": tweet_posted, "tweet.deleted": tweet_removed}, apply)


class UserEvents(EventBatches[ProfileChanged]):
    def __init__(self, apply: Callable[[Sequence[ProfileChanged]], Awaitable[Sequence[EventOutcome]]]):
        super().__init__({
            "graph.user.created": _profile_changed(events_pb2.UserCreated),
            "graph.user.updated": _profile_changed(events_pb2.UserUpdated),
        }, apply)
