"""The event face of svc_timeline: JetStream payloads reach the right use case, bad ones are poison."""

from __future__ import annotations

import pytest

from mesh.consuming import PoisonEvent
from svc_timeline.event_handlers import TimelineEvents
from svc_timeline.testing import Harness
from tweetmesh.events.v1 import events_pb2

ANN, BOB, CAT = 11, 12, 13


async def _nothing() -> None:
    return None


@pytest.fixture
def h() -> Harness:
    harness = Harness()
    harness.graph.add_users(ANN, BOB, CAT)
    harness.graph.follow(BOB, ANN)
    return harness


async def test_tweet_events_fan_out_and_remove(h):
    events = TimelineEvents(h.fan_out)
    tweet = h.world.post(ANN)
    created = events_pb2.TweetCreated(event_id="e1", actor_user_id=str(ANN), tweet_id=str(tweet.tweet_id), text="hi")
    await events.handle("tweet.created", created.SerializeToString(), _nothing)
    assert h.homes.ids(BOB) == [tweet.tweet_id]

    retweet = h.world.retweet(CAT, tweet)
    h.graph.follow(ANN, CAT)
    retweeted = events_pb2.Retweeted(
        event_id="e2", actor_user_id=str(CAT), retweet_id=str(retweet.tweet_id), tweet_id=str(tweet.tweet_id),
        tweet_author_id=str(ANN),
    )
    await events.handle("tweet.retweeted", retweeted.SerializeToString(), _nothing)
    assert h.homes.homes[ANN][retweet.tweet_id] == retweet

    undone = events_pb2.RetweetUndone(
        event_id="e2u", actor_user_id=str(CAT), retweet_id=str(retweet.tweet_id), tweet_id=str(tweet.tweet_id),
        tweet_author_id=str(ANN),
    )
    await events.handle("tweet.retweet_undone", undone.SerializeToString(), _nothing)
    assert retweet.tweet_id not in h.homes.ids(ANN) and h.user_timelines.ids(CAT) == []

    deleted = events_pb2.TweetDeleted(event_id="e3", actor_user_id=str(ANN), tweet_id=str(tweet.tweet_id))
    await events.handle("tweet.deleted", deleted.SerializeToString(), _nothing)
    assert h.homes.ids(BOB) == []


async def test_graph_events_backfill_and_remove(h):
    events = TimelineEvents(h.fan_out)
    tweet = h.world.post(CAT)
    await h.fan_out.fan_out_tweet(tweet)
    h.graph.follow(BOB, CAT)
    follow = events_pb2.FollowCreated(event_id="f1", actor_user_id=str(BOB), following_user_id=str(CAT))
    await events.handle("graph.follow.created", follow.SerializeToString(), _nothing)
    assert tweet.tweet_id in h.homes.ids(BOB)

    h.graph.unfollow(BOB, CAT)
    unfollow = events_pb2.FollowDeleted(event_id="f2", actor_user_id=str(BOB), following_user_id=str(CAT))
    await events.handle("graph.follow.deleted", unfollow.SerializeToString(), _nothing)
    assert tweet.tweet_id not in h.homes.ids(BOB)

    ann_tweet = await h.post(ANN)
    block = events_pb2.BlockCreated(event_id="b1", actor_user_id=str(ANN), blocked_user_id=str(BOB))
    await events.handle("graph.block.created", block.SerializeToString(), _nothing)
    assert ann_tweet.tweet_id not in h.homes.ids(BOB)


async def test_events_that_need_nothing_are_accepted_and_change_nothing(h):
    events = TimelineEvents(h.fan_out)
    mute = events_pb2.MuteCreated(event_id="m1", actor_user_id=str(BOB), muted_user_id=str(ANN))
    await events.handle("graph.mute.created", mute.SerializeToString(), _nothing)
    await events.handle("graph.user.created", b"\x00garbage", _nothing)  # not ours: not even decoded
    assert h.homes.homes == {} and h.user_timelines.timelines == {}


async def test_undecodable_payloads_and_bad_ids_are_poison(h):
    events = TimelineEvents(h.fan_out)
    with pytest.raises(PoisonEvent):
        await events.handle("tweet.created", b"\xff\xff\xff", _nothing)
    bad_id = events_pb2.TweetCreated(event_id="e1", actor_user_id="0", tweet_id="12")
    with pytest.raises(PoisonEvent, match="actor_user_id"):
        await events.handle("tweet.created", bad_id.SerializeToString(), _nothing)
