"""svc_notify's event face: which event notifies whom of what."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from mesh.consuming import PoisonEvent
from svc_notify.domain import Kind
from svc_notify.event_handlers import NotifyEvents
from svc_notify.service import Notifier
from svc_notify.testing import (
    FakeDeliveryQueue,
    FakeDeviceStore,
    FakeLiveFeed,
    FakeNotificationStore,
    FakePreferenceStore,
    FakeUserDirectory,
)
from tweetmesh.events.v1 import events_pb2

ALICE, BOB, CAROL = "101", "202", "303"
AT = Timestamp(seconds=int(datetime(2026, 11, 24, tzinfo=timezone.utc).timestamp()))


async def _nothing() -> None:
    return None


@pytest.fixture
def store() -> FakeNotificationStore:
    return FakeNotificationStore()


@pytest.fixture
def events(store: FakeNotificationStore) -> NotifyEvents:
    notifier = Notifier(store, FakePreferenceStore(), FakeDeviceStore(), FakeUserDirectory(), FakeDeliveryQueue(),
                        FakeLiveFeed())
    return NotifyEvents(notifier)


def _listed(store: FakeNotificationStore, user: str) -> set[tuple]:
    rows = store.rows.get(int(user), {}).values()
    return {(n.kind, n.actor_id, n.tweet_id, n.actor_tweet_id, n.comment_id) for n in rows}


async def test_follow_like_retweet_comment_notify_the_right_user(events: NotifyEvents, store):
    await events.handle("graph.follow.created", events_pb2.FollowCreated(
        event_id="f1", occurred_at=AT, actor_user_id=BOB, following_user_id=ALICE).SerializeToString(), _nothing)
    await events.handle("tweet.liked", events_pb2.LikeCreated(
        event_id="l1", occurred_at=AT, actor_user_id=BOB, tweet_id="9", tweet_author_id=ALICE).SerializeToString(), _nothing)
    await events.handle("tweet.retweeted", events_pb2.Retweeted(
        event_id="r1", occurred_at=AT, actor_user_id=CAROL, retweet_id="10", tweet_id="9",
        tweet_author_id=ALICE).SerializeToString(), _nothing)
    await events.handle("tweet.commented", events_pb2.CommentCreated(
        event_id="c1", occurred_at=AT, actor_user_id=CAROL, comment_id="11", tweet_id="9", tweet_author_id=ALICE,
        text="nice").SerializeToString(), _nothing)
    assert _listed(store, ALICE) == {
        (Kind.FOLLOW, 202, None, None, None),
        (Kind.LIKE, 202, 9, None, None),
        (Kind.RETWEET, 303, 9, None, None),
        (Kind.COMMENT, 303, 9, None, 11),
    }


async def test_a_reply_quoting_someone_else_notifies_both_authors(events: NotifyEvents, store):
    await events.handle("tweet.created", events_pb2.TweetCreated(
        event_id="t1", occurred_at=AT, actor_user_id=CAROL, tweet_id="20", text="hm",
        in_reply_to_tweet_id="9", in_reply_to_user_id=ALICE, quoted_tweet_id="8", quoted_user_id=BOB,
        mentioned_user_ids=[BOB]).SerializeToString(), _nothing)
    assert _listed(store, ALICE) == {(Kind.REPLY, 303, 9, 20, None)}
    assert _listed(store, BOB) == {(Kind.QUOTE, 303, 8, 20, None)}  # the mention comes as its own event


async def test_mentions_in_tweets_and_in_comments(events: NotifyEvents, store):
    await events.handle("tweet.mentioned", events_pb2.MentionCreated(
        event_id="m1", occurred_at=AT, actor_user_id=CAROL, tweet_id="20", mentioned_user_id=ALICE).SerializeToString(),
        _nothing)
    await events.handle("tweet.mentioned", events_pb2.MentionCreated(
        event_id="m2", occurred_at=AT, actor_user_id=CAROL, tweet_id="9", mentioned_user_id=ALICE,
        comment_id="11").SerializeToString(), _nothing)
    assert _listed(store, ALICE) == {(Kind.MENTION, 303, 9, None, 11), (Kind.MENTION, 303, None, 20, None)}


async def test_unfollow_and_unlike_take_the_notification_back(events: NotifyEvents, store):
    follow = events_pb2.FollowCreated(event_id="f1", occurred_at=AT, actor_user_id=BOB, following_user_id=ALICE)
    like = events_pb2.LikeCreated(event_id="l1", occurred_at=AT, actor_user_id=BOB, tweet_id="9", tweet_author_id=ALICE)
    await events.handle("graph.follow.created", follow.SerializeToString(), _nothing)
    await events.handle("tweet.liked", like.SerializeToString(), _nothing)
    await events.handle("graph.follow.deleted", events_pb2.FollowDeleted(
        event_id="f2", occurred_at=AT, actor_user_id=BOB, following_user_id=ALICE).SerializeToString(), _nothing)
    await events.handle("tweet.unliked", events_pb2.LikeDeleted(
        event_id="l2", occurred_at=AT, actor_user_id=BOB, tweet_id="9", tweet_author_id=ALICE).SerializeToString(), _nothing)
    assert _listed(store, ALICE) == set()


async def test_other_subjects_are_ignored_and_garbage_is_poison(events: NotifyEvents, store):
    await events.handle("graph.block.created", b"\x00\x01", _nothing)
    assert store.rows == {}
    with pytest.raises(PoisonEvent):
        await events.handle("tweet.liked", b"\xff\xff\xff", _nothing)
    with pytest.raises(PoisonEvent, match="tweet_author_id"):
        await events.handle("tweet.liked", events_pb2.LikeCreated(
            event_id="l1", occurred_at=AT, actor_user_id=BOB, tweet_id="9", tweet_author_id="x").SerializeToString(),
            _nothing)
