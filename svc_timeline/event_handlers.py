"""The event face of svc_timeline: JetStream payloads (tweetmesh.events.v1) -> use cases, nothing else.

What each event does (subjects as published into the TWEETS and GRAPH streams, mesh/events.py):
  tweet.created         fan the tweet out (FanOut.fan_out_tweet)
  tweet.retweeted       fan the retweet out, like a tweet of the retweeter
  tweet.deleted         remove the tweet everywhere it was written
  tweet.retweet_undone  remove the retweet likewise
  graph.follow.created  backfill the followee's recent tweets into the follower's home
  graph.follow.deleted  remove the followee's tweets from the former follower's home
  graph.block.created   remove each user's tweets from the other's home
  graph.block.deleted,  graph.mute.created, graph.mute.deleted, tweet.liked, tweet.unliked:
                        the actor's (and for a block, both users') rendered home pages are not
                        served any more (they show what the reader mutes, blocks and likes)
Everything else (user events...) needs nothing here: a profile change shows in rendered pages
within their lifetime.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from mesh.consuming import decode_event, event_id_field
from svc_timeline.domain import TimelineEntry
from svc_timeline.service import FanOut, StillWorking
from tweetmesh.events.v1 import events_pb2

log = logging.getLogger("svc_timeline.events")


class TimelineEvents:
    def __init__(self, fan_out: FanOut):
        self._fan_out = fan_out
        self._handlers: dict[str, Callable[[bytes, StillWorking], Awaitable[None]]] = {
            "tweet.created": self._tweet_created,
            "tweet.retweeted": self._retweeted,
            "tweet.deleted": self._tweet_deleted,
            "tweet.retweet_undone": self._retweet_undone,
            "graph.follow.created": self._follow_created,
            "graph.follow.deleted": self._follow_deleted,
            "graph.block.created": self._block_created,
            "graph.block.deleted": self._block_deleted,
            "graph.mute.created": self._actor_changed(events_pb2.MuteCreated),
            "graph.mute.deleted": self._actor_changed(events_pb2.MuteDeleted),
            "tweet.liked": self._actor_changed(events_pb2.LikeCreated),
            "tweet.unliked": self._actor_changed(events_pb2.LikeDeleted),
        }

    async def handle(self, subject: str, payload: bytes, still_working: StillWorking) -> None:
        """Apply one event; raises PoisonEvent for one that can never apply, anything else for a
        failure worth retrying."""
        handler = self._handlers.get(subject)
        if handler is None:
            return
        await handler(payload, still_working)

    async def _tweet_created(self, payload: bytes, still_working: StillWorking) -> None:
        event = decode_event(events_pb2.TweetCreated, payload)
        entry = TimelineEntry(event_id_field("tweet_id", event.tweet_id), event_id_field("actor_user_id", event.actor_user_id))
        await self._fan_out.fan_out_tweet(entry, still_working)

    async def _retweeted(self, payload: bytes, still_working: StillWorking) -> None:
        event = decode_event(events_pb2.Retweeted, payload)
        entry = TimelineEntry(
            tweet_id=event_id_field("retweet_id", event.retweet_id),
            author_id=event_id_field("actor_user_id", event.actor_user_id),
            retweet_of_tweet_id=event_id_field("tweet_id", event.tweet_id),
            retweet_of_author_id=event_id_field("tweet_author_id", event.tweet_author_id),
        )
        await self._fan_out.fan_out_tweet(entry, still_working)

    async def _tweet_deleted(self, payload: bytes, still_working: StillWorking) -> None:
        event = decode_event(events_pb2.TweetDeleted, payload)
        await self._fan_out.remove_tweet(
            event_id_field("actor_user_id", event.actor_user_id), event_id_field("tweet_id", event.tweet_id), still_working
        )

    async def _retweet_undone(self, payload: bytes, still_working: StillWorking) -> None:
        event = decode_event(events_pb2.RetweetUndone, payload)
        await self._fan_out.remove_tweet(event_id_field("actor_user_id", event.actor_user_id), event_id_field("retweet_id", event.retweet_id),
                                         still_working)

    async def _follow_created(self, payload: bytes, still_working: StillWorking) -> None:
        event = decode_event(events_pb2.FollowCreated, payload)
        await self._fan_out.backfill_follow(event_id_field("actor_user_id", event.actor_user_id),
                                            event_id_field("following_user_id", event.following_user_id))

    async def _follow_deleted(self, payload: bytes, still_working: StillWorking) -> None:
        event = decode_event(events_pb2.FollowDeleted, payload)
        await self._fan_out.remove_follow(event_id_field("actor_user_id", event.actor_user_id),
                                          event_id_field("following_user_id", event.following_user_id))

    async def _block_created(self, payload: bytes, still_working: StillWorking) -> None:
        event = decode_event(events_pb2.BlockCreated, payload)
        await self._fan_out.apply_block(event_id_field("actor_user_id", event.actor_user_id),
                                        event_id_field("blocked_user_id", event.blocked_user_id))

    async def _block_deleted(self, payload: bytes, still_working: StillWorking) -> None:
        event = decode_event(events_pb2.BlockDeleted, payload)
        await self._fan_out.readers_changed([event_id_field("actor_user_id", event.actor_user_id),
                                             event_id_field("blocked_user_id", event.blocked_user_id)])

    def _actor_changed(self, message: type) -> Callable[[bytes, StillWorking], Awaitable[None]]:
        """A handler for an event whose actor, as a reader, sees their home differently now."""
        async def handle(payload: bytes, still_working: StillWorking) -> None:
            event = decode_event(message, payload)
            await self._fan_out.readers_changed([event_id_field("actor_user_id", event.actor_user_id)])

        return handle
