"""The event face of svc_notify: JetStream payloads (tweetmesh.events.v1) -> what happened to whom.

What each event does (durables `notify-tweets` on TWEETS and `notify-graph` on GRAPH):
  graph.follow.created   FOLLOW for the followed user
  graph.follow.deleted   removes that FOLLOW notification
  tweet.liked            LIKE for the tweet's author           tweet.unliked          removes it
  tweet.retweeted        RETWEET for the tweet's author        tweet.retweet_undone   removes it
  tweet.created          REPLY for the author replied to, QUOTE for the author quoted
  tweet.commented        COMMENT for the tweet's author
  tweet.mentioned        MENTION for the mentioned user (in a tweet, or in a comment)
Mentions come only from tweet.mentioned (svc_tweet emits one per mentioned user, for tweets and
comments alike), never from the mention list of tweet.created, so a mention notifies once.
Every other subject (blocks, profile changes, deletions...) needs nothing here and is acknowledged.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from mesh.consuming import decode_event, event_id_field, occurred_at, optional_event_id_field
from svc_notify.domain import Kind
from svc_notify.service import Happening, Notifier, Undoing
from tweetmesh.events.v1 import events_pb2

StillWorking = Callable[[], Awaitable[None]]


def follow_created(payload: bytes) -> list[Happening]:
    e = decode_event(events_pb2.FollowCreated, payload)
    return [Happening(e.event_id, occurred_at(e), event_id_field("following_user_id", e.following_user_id),
                      event_id_field("actor_user_id", e.actor_user_id), Kind.FOLLOW)]


def liked(payload: bytes) -> list[Happening]:
    e = decode_event(events_pb2.LikeCreated, payload)
    return [Happening(e.event_id, occurred_at(e), event_id_field("tweet_author_id", e.tweet_author_id),
                      event_id_field("actor_user_id", e.actor_user_id), Kind.LIKE,
                      tweet_id=event_id_field("tweet_id", e.tweet_id))]


def retweeted(payload: bytes) -> list[Happening]:
    e = decode_event(events_pb2.Retweeted, payload)
    return [Happening(e.event_id, occurred_at(e), event_id_field("tweet_author_id", e.tweet_author_id),
                      event_id_field("actor_user_id", e.actor_user_id), Kind.RETWEET,
                      tweet_id=event_id_field("tweet_id", e.tweet_id))]


def tweet_created(payload: bytes) -> list[Happening]:
    e = decode_event(events_pb2.TweetCreated, payload)
    actor = event_id_field("actor_user_id", e.actor_user_id)
    tweet_id = event_id_field("tweet_id", e.tweet_id)
    found: list[Happening] = []
    if e.in_reply_to_user_id:
        found.append(Happening(
            f"{e.event_id}:reply", occurred_at(e), event_id_field("in_reply_to_user_id", e.in_reply_to_user_id), actor,
            Kind.REPLY, tweet_id=optional_event_id_field("in_reply_to_tweet_id", e.in_reply_to_tweet_id), actor_tweet_id=tweet_id,
        ))
    if e.quoted_user_id:
        found.append(Happening(
            f"{e.event_id}:quote", occurred_at(e), event_id_field("quoted_user_id", e.quoted_user_id), actor,
            Kind.QUOTE, tweet_id=optional_event_id_field("quoted_tweet_id", e.quoted_tweet_id), actor_tweet_id=tweet_id,
        ))
    return found


def commented(payload: bytes) -> list[Happening]:
    e = decode_event(events_pb2.CommentCreated, payload)
    return [Happening(e.event_id, occurred_at(e), event_id_field("tweet_author_id", e.tweet_author_id),
                      event_id_field("actor_user_id", e.actor_user_id), Kind.COMMENT,
                      tweet_id=event_id_field("tweet_id", e.tweet_id),
                      comment_id=event_id_field("comment_id", e.comment_id))]


def mentioned(payload: bytes) -> list[Happening]:
    e = decode_event(events_pb2.MentionCreated, payload)
    tweet_id = event_id_field("tweet_id", e.tweet_id)
    comment_id = optional_event_id_field("comment_id", e.comment_id)
    return [Happening(
        e.event_id, occurred_at(e), event_id_field("mentioned_user_id", e.mentioned_user_id),
        event_id_field("actor_user_id", e.actor_user_id), Kind.MENTION,
        # in a comment: the tweet commented on and the comment; in a tweet: the actor's tweet
        tweet_id=tweet_id if comment_id else None,
        actor_tweet_id=None if comment_id else tweet_id,
        comment_id=comment_id,
    )]


def follow_deleted(payload: bytes) -> list[Undoing]:
    e = decode_event(events_pb2.FollowDeleted, payload)
    return [Undoing(event_id_field("following_user_id", e.following_user_id),
                    event_id_field("actor_user_id", e.actor_user_id), Kind.FOLLOW)]


def unliked(payload: bytes) -> list[Undoing]:
    e = decode_event(events_pb2.LikeDeleted, payload)
    return [Undoing(event_id_field("tweet_author_id", e.tweet_author_id), event_id_field("actor_user_id", e.actor_user_id),
                    Kind.LIKE, tweet_id=event_id_field("tweet_id", e.tweet_id))]


def retweet_undone(payload: bytes) -> list[Undoing]:
    e = decode_event(events_pb2.RetweetUndone, payload)
    return [Undoing(event_id_field("tweet_author_id", e.tweet_author_id), event_id_field("actor_user_id", e.actor_user_id),
                    Kind.RETWEET, tweet_id=event_id_field("tweet_id", e.tweet_id))]


HAPPENINGS: dict[str, Callable[[bytes], list[Happening]]] = {
    "graph.follow.created": follow_created,
    "tweet.liked": liked,
    "tweet.retweeted": retweeted,
    "tweet.created": tweet_created,
    "tweet.commented": commented,
    "tweet.mentioned": mentioned,
}
UNDOINGS: dict[str, Callable[[bytes], list[Undoing]]] = {
    "graph.follow.deleted": follow_deleted,
    "tweet.unliked": unliked,
    "tweet.retweet_undone": retweet_undone,
}


class NotifyEvents:
    def __init__(self, notifier: Notifier):
        self._notifier = notifier

    async def handle(self, subject: str, payload: bytes, still_working: StillWorking) -> None:
        """Apply one event; raises PoisonEvent for one that can never apply, anything else for a
        failure worth retrying."""
        if subject in HAPPENINGS:
            for happening in HAPPENINGS[subject](payload):
                await self._notifier.happened(happening)
        elif subject in UNDOINGS:
            for undoing in UNDOINGS[subject](payload):
                await self._notifier.undone(undoing)
