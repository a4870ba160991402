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
from typing import Generic, TypeVar

from mesh.consuming import PoisonEvent, decode_event, event_id_field, occurred_at, optional_event_id_field
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

C = TypeVar("C")


def tweet_posted(payload: bytes) -> TweetPosted:
    event = decode_event(events_pb2.TweetCreated, payload)
    return TweetPosted(IndexedTweet(
        tweet_id=event_id_field("tweet_id", event.tweet_id),
        author_id=event_id_field("actor_user_id", event.actor_user_id),
        text=event.text,
        create_time=occurred_at(event),  # the tweet's create_time, says the contract
        in_reply_to_tweet_id=optional_event_id_field("in_reply_to_tweet_id", event.in_reply_to_tweet_id),
        quoted_tweet_id=optional_event_id_field("quoted_tweet_id", event.quoted_tweet_id),
        has_media=bool(event.media_ids),
    ))


def tweet_removed(payload: bytes) -> TweetRemoved:
    event = decode_event(events_pb2.TweetDeleted, payload)
    return TweetRemoved(event_id_field("tweet_id", event.tweet_id))


def _profile_changed(message_type: type[events_pb2.UserCreated] | type[events_pb2.UserUpdated]):
    def decode(payload: bytes) -> ProfileChanged:
        event = decode_event(message_type, payload)
        if not event.handle:
            raise PoisonEvent("handle is missing")
        return ProfileChanged(event_id_field("actor_user_id", event.actor_user_id), event.handle, event.display_name,
                              occurred_at(event))

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
