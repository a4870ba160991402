"""Domain events -> the tweetmesh.events.v1 payloads and JetStream subjects they travel as."""

from __future__ import annotations

from mesh.api import to_timestamp
from mesh.outbox import OutboxEvent
from svc_tweet import domain
from tweetmesh.events.v1 import events_pb2

# The subjects of svc_tweet's events; all are in the TWEETS stream (mesh/events.py, `tweet.>`).
SUBJECTS: dict[type, str] = {
    domain.TweetCreated: "tweet.created",
    domain.TweetDeleted: "tweet.deleted",
    domain.Retweeted: "tweet.retweeted",
    domain.RetweetUndone: "tweet.retweet_undone",
    domain.MentionCreated: "tweet.mentioned",
    domain.LikeCreated: "tweet.liked",
    domain.LikeDeleted: "tweet.unliked",
    domain.CommentCreated: "tweet.commented",
    domain.CommentDeleted: "tweet.comment_deleted",
    # a mention in a comment is a MentionCreated whose tweet is the one commented on
    domain.CommentMentionCreated: "tweet.mentioned",
}


def _id(value: int | None) -> str:
    return "" if value is None else str(value)


def payload_of(event: domain.TweetEvent):
    """The protobuf message of an event (actor_user_id: the user whose action caused it)."""
    match event:
        case domain.TweetCreated(tweet=tweet):
            return events_pb2.TweetCreated(
                event_id=event.event_id,
                occurred_at=to_timestamp(tweet.create_time),
                actor_user_id=str(tweet.author_id),
                tweet_id=str(tweet.tweet_id),
                text=tweet.text,
                media_ids=[str(ref.media_id) for ref in tweet.media],
                in_reply_to_tweet_id=_id(tweet.in_reply_to_tweet_id),
                in_reply_to_user_id=_id(tweet.in_reply_to_user_id),
                quoted_tweet_id=_id(tweet.quoted_tweet_id),
                quoted_user_id=_id(tweet.quoted_user_id),
                mentioned_user_ids=[str(user_id) for user_id in tweet.mentioned_user_ids],
            )
        case domain.MentionCreated(tweet=tweet):
            return events_pb2.MentionCreated(
                event_id=event.event_id,
                occurred_at=to_timestamp(tweet.create_time),
                actor_user_id=str(tweet.author_id),
                tweet_id=str(tweet.tweet_id),
                mentioned_user_id=str(event.mentioned_user_id),
            )
        case domain.TweetDeleted(tweet=tweet):
            return events_pb2.TweetDeleted(
                event_id=event.event_id,
                occurred_at=to_timestamp(event.occurred_at),
                actor_user_id=str(tweet.author_id),
                tweet_id=str(tweet.tweet_id),
            )
        case domain.Retweeted(retweet=retweet):
            return events_pb2.Retweeted(
                event_id=event.event_id,
                occurred_at=to_timestamp(retweet.create_time),
                actor_user_id=str(retweet.author_id),
                retweet_id=str(retweet.tweet_id),
                tweet_id=_id(retweet.retweet_of_tweet_id),
                tweet_author_id=_id(retweet.retweet_of_user_id),
            )
        case domain.RetweetUndone(retweet=retweet):
            return events_pb2.RetweetUndone(
                event_id=event.event_id,
                occurred_at=to_timestamp(event.occurred_at),
                actor_user_id=str(retweet.author_id),
                retweet_id=str(retweet.tweet_id),
                tweet_id=_id(retweet.retweet_of_tweet_id),
                tweet_author_id=_id(retweet.retweet_of_user_id),
            )
        case domain.LikeCreated(like=like):
            return events_pb2.LikeCreated(
                event_id=event.event_id,
                occurred_at=to_timestamp(like.create_time),
                actor_user_id=str(like.user_id),
                tweet_id=str(like.tweet_id),
                tweet_author_id=str(like.tweet_author_id),
            )
        case domain.LikeDeleted(like=like):
            return events_pb2.LikeDeleted(
                event_id=event.event_id,
                occurred_at=to_timestamp(event.occurred_at),
                actor_user_id=str(like.user_id),
                tweet_id=str(like.tweet_id),
                tweet_author_id=str(like.tweet_author_id),
            )
        case domain.CommentCreated(comment=comment):
            return events_pb2.CommentCreated(
                event_id=event.event_id,
                occurred_at=to_timestamp(comment.create_time),
                actor_user_id=str(comment.author_id),
                comment_id=str(comment.comment_id),
                tweet_id=str(comment.tweet_id),
                tweet_author_id=str(comment.tweet_author_id),
                text=comment.text,
            )
        case domain.CommentMentionCreated(comment=comment):
            return events_pb2.MentionCreated(
                event_id=event.event_id,
                occurred_at=to_timestamp(comment.create_time),
                actor_user_id=str(comment.author_id),
                tweet_id=str(comment.tweet_id),
                mentioned_user_id=str(event.mentioned_user_id),
                comment_id=str(comment.comment_id),
            )
        case domain.CommentDeleted(comment=comment):
            return events_pb2.CommentDeleted(
                event_id=event.event_id,
                occurred_at=to_timestamp(event.occurred_at),
                actor_user_id=str(event.actor_id),
                comment_id=str(comment.comment_id),
                tweet_id=str(comment.tweet_id),
            )
    raise TypeError(f"not an event of svc_tweet: {event!r}")


def outbox_event(event: domain.TweetEvent) -> OutboxEvent:
    """What the outbox stores: subject, serialised payload, and the event id as Nats-Msg-Id."""
    return OutboxEvent(subject=SUBJECTS[type(event)], payload=payload_of(event).SerializeToString(), msg_id=event.event_id)
