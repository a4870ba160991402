"""The event face of svc_timeline: JetStream payloads (tweetmesh.events.v1) -> use cases, nothing else.

What each event does (subjects as published into the TWEETS and GRAPH streams, mesh/events.py):
  tweet.created         fan the tweet out (FanOut.fan_out_tweet); the tweet it replies to or quotes
                        has a new count
  tweet.retweeted       fan the retweet out, like a tweet of the retweeter; the original has a new count
  tweet.deleted         remove the tweet everywhere it was written; retweets of it show it gone
  tweet.retweet_undone  remove the retweet likewise; the original has a new count
  graph.follow.created  backfill the followee's recent tweets into the follower's home
  graph.follow.deleted  remove the followee's tweets from the former follower's home
  graph.block.created   remove each user's tweets from the other's home
  graph.block.deleted,  graph.mute.created, graph.mute.deleted, tweet.liked, tweet.unliked:
                        the actor's (and for a block, both users') rendered home pages are not
                        served any more (they show what the reader mutes, blocks and likes)
  tweet.liked, tweet.unliked, tweet.commented, tweet.comment_deleted, graph.user.updated:
                        and the liked or commented tweet, or the user's profile, changed for
                        everyone: no rendered page that shows it is served any more
  ("a new count" above means the same, for that tweet.) Everything else needs nothing here.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from mesh.consuming import decode_event, event_id_field, optional_event_id_field
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
            "tweet.liked": self._like_changed(events_pb2.LikeCreated),
            "tweet.unliked": self._like_changed(events_pb2.LikeDeleted),
            "tweet.commented": self._comment_changed(events_pb2.CommentCreated),
            "tweet.comment_deleted": self._comment_changed(events_pb2.CommentDeleted),
            "graph.user.updated": self._profile_changed,
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
        referenced = [
            tweet_id
            for tweet_id in (
                optional_event_id_field("in_reply_to_tweet_id", event.in_reply_to_tweet_id),
                optional_event_id_field("quoted_tweet_id", event.quoted_tweet_id),
            )
            if tweet_id is not None
        ]
        if referenced:
            await self._fan_out.shown_changed(tweet_ids=referenced)  # their reply or quote counts
        await self._fan_out.fan_out_tweet(entry, still_working)

    async def _retweeted(self, payload: bytes, still_working: StillWorking) -> None:
        event = decode_event(events_pb2.Retweeted, payload)
        entry = TimelineEntry(
            tweet_id=event_id_field("retweet_id", event.retweet_id),
            author_id=event_id_field("actor_user_id", event.actor_user_id),
            retweet_of_tweet_id=event_id_field("tweet_id", event.tweet_id),
            retweet_of_author_id=event_id_field("tweet_author_id", event.tweet_author_id),
        )
        await self._fan_out.shown_changed(tweet_ids=[entry.retweet_of_tweet_id])  # its retweet count
        await self._fan_out.fan_out_tweet(entry, still_working)

    async def _tweet_deleted(self, payload: bytes, still_working: StillWorking) -> None:
        event = decode_event(events_pb2.TweetDeleted, payload)
        tweet_id = event_id_field("tweet_id", event.tweet_id)
        await self._fan_out.shown_changed(tweet_ids=[tweet_id])  # retweets of it show it gone
        await self._fan_out.remove_tweet(event_id_field("actor_user_id", event.actor_user_id), tweet_id, still_working)

    async def _retweet_undone(self, payload: bytes, still_working: StillWorking) -> None:
        event = decode_event(events_pb2.RetweetUndone, payload)
        await self._fan_out.shown_changed(tweet_ids=[event_id_field("tweet_id", event.tweet_id)])  # its retweet count
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

    def _like_changed(self, message: type) -> Callable[[bytes, StillWorking], Awaitable[None]]:
        """A like or unlike: the liker's own pages show it (caller_liked), everyone's its count."""
        async def handle(payload: bytes, still_working: StillWorking) -> None:
            event = decode_event(message, payload)
            await self._fan_out.readers_changed([event_id_field("actor_user_id", event.actor_user_id)])
            await self._fan_out.shown_changed(tweet_ids=[event_id_field("tweet_id", event.tweet_id)])

        return handle

    def _comment_changed(self, message: type) -> Callable[[bytes, StillWorking], Awaitable[None]]:
        async def handle(payload: bytes, still_working: StillWorking) -> None:
            event = decode_event(message, payload)
            await self._fan_out.shown_changed(tweet_ids=[event_id_field("tweet_id", event.tweet_id)])  # its comment count

        return handle

    async def _profile_changed(self, payload: bytes, still_working: StillWorking) -> None:
        event = decode_event(events_pb2.UserUpdated, payload)
        await self._fan_out.shown_changed(user_ids=[event_id_field("actor_user_id", event.actor_user_id)])
