"""Hybrid fan-out and the graph events, over fakes of the stores, the cache and the peers."""

from __future__ import annotations

import asyncio

import pytest

from svc_timeline import metrics
from svc_timeline.domain import TimelineKey
from svc_timeline.service import TimelineSettings
from svc_timeline.testing import FakeTimelineCache, Harness, NoCache

ANN, BOB, CAT, DAN, STAR = 1, 2, 3, 4, 99


@pytest.fixture(params=["cached", "uncached"])
def h(request) -> Harness:
    """Every behaviour must hold with and without the Redis cache in front of the store."""
    harness = Harness(cache=FakeTimelineCache() if request.param == "cached" else NoCache())
    harness.graph.add_users(ANN, BOB, CAT, DAN, STAR)
    return harness


async def test_a_follower_sees_a_new_tweet_and_the_author_sees_it_at_home_too(h):
    h.graph.follow(BOB, ANN)
    await h.home_ids(BOB)  # BOB is active: his home is cached before the tweet (when there is a cache)
    tweet = await h.post(ANN)
    assert await h.home_ids(BOB) == [tweet.tweet_id]
    assert await h.home_ids(ANN) == [tweet.tweet_id]
    assert await h.home_ids(CAT) == []  # not a follower


async def test_a_celebrity_tweet_is_written_nowhere_but_appears_merged_in_order(h):
    for fan in (ANN, BOB):
        h.graph.follow(fan, STAR)
    h.graph.follow(ANN, CAT)
    h.graph.celebrities.add(STAR)
    before_metric = metrics.FANOUT_HOME_WRITES._value.get()
    older = await h.post(CAT)
    writes_before_star = h.homes.fan_out_writes
    star_tweet = await h.post(STAR)
    assert h.homes.fan_out_writes == writes_before_star  # zero fan-out writes for the celebrity
    newer = await h.post(CAT)

    assert metrics.FANOUT_HOME_WRITES._value.get() - before_metric == 2 + 2  # CAT's two tweets: ANN and CAT
    assert all(star_tweet.tweet_id not in h.homes.ids(user) for user in (ANN, BOB, STAR))
    assert await h.home_ids(ANN) == [newer.tweet_id, star_tweet.tweet_id, older.tweet_id]
    assert await h.home_ids(BOB) == [star_tweet.tweet_id]
    # the celebrity sees their own tweet at home although it was written to nobody's home
    assert await h.home_ids(STAR) == [star_tweet.tweet_id]


async def test_a_redelivered_tweet_created_leaves_one_entry(h):
    h.graph.follow(BOB, ANN)
    await h.home_ids(BOB)
    tweet = h.world.post(ANN)
    for _ in range(3):  # the event delivered three times
        await h.fan_out.fan_out_tweet(tweet)
    assert h.homes.ids(BOB) == [tweet.tweet_id]
    assert h.user_timelines.ids(ANN) == [tweet.tweet_id]
    assert await h.home_ids(BOB) == [tweet.tweet_id]


async def test_a_deleted_tweet_disappears_from_every_home_and_the_cache(h):
    h.graph.follow(BOB, ANN)
    await h.home_ids(BOB)
    kept, deleted = await h.post(ANN), await h.post(ANN)
    h.tweets.deleted.add(deleted.tweet_id)
    await h.fan_out.remove_tweet(ANN, deleted.tweet_id)
    for user in (ANN, BOB):
        assert h.homes.ids(user) == [kept.tweet_id]
        assert await h.home_ids(user) == [kept.tweet_id]
    assert await h.user_ids(BOB, ANN) == [kept.tweet_id]


async def test_a_tweet_deleted_without_its_event_yet_is_skipped_and_removed_by_the_read(h):
    h.graph.follow(BOB, ANN)
    kept, deleted = await h.post(ANN), await h.post(ANN)
    h.tweets.deleted.add(deleted.tweet_id)  # TweetDeleted not consumed yet
    assert await h.home_ids(BOB) == [kept.tweet_id]
    assert h.homes.ids(BOB) == [kept.tweet_id]  # lazily removed from the store


async def test_a_follow_backfills_the_followee_recent_tweets(h):
    h.settings = TimelineSettings(backfill_count=2)
    h.fan_out._settings = h.settings
    first, second, third = await h.post(ANN), await h.post(ANN), await h.post(ANN)
    await h.home_ids(BOB)
    h.graph.follow(BOB, ANN)
    assert await h.fan_out.backfill_follow(BOB, ANN) == 2
    assert await h.home_ids(BOB) == [third.tweet_id, second.tweet_id]  # the newest two
    assert first.tweet_id not in h.homes.ids(BOB)


async def test_a_follow_of_a_celebrity_backfills_nothing_but_their_tweets_show_at_once(h):
    h.graph.celebrities.add(STAR)
    star_tweet = await h.post(STAR)
    await h.home_ids(BOB)  # BOB's merge sources are cached without STAR
    h.graph.follow(BOB, STAR)
    assert await h.fan_out.backfill_follow(BOB, STAR) == 0
    assert h.homes.ids(BOB) == []
    assert await h.home_ids(BOB) == [star_tweet.tweet_id]


async def test_an_unfollow_removes_the_followee_tweets_but_keeps_retweets_by_others(h):
    h.graph.follow(BOB, ANN)
    h.graph.follow(BOB, CAT)
    h.graph.follow(CAT, ANN)
    ann_tweet = await h.post(ANN)
    cat_tweet = await h.post(CAT)
    cat_retweet = h.world.retweet(CAT, ann_tweet)
    await h.fan_out.fan_out_tweet(cat_retweet)
    await h.home_ids(BOB)
    h.graph.unfollow(BOB, ANN)
    await h.fan_out.remove_follow(BOB, ANN)
    assert await h.home_ids(BOB) == [cat_retweet.tweet_id, cat_tweet.tweet_id]


async def test_late_or_redelivered_follow_events_follow_the_current_graph(h):
    h.graph.follow(BOB, ANN)
    tweet = await h.post(ANN)
    # unfollowed, then the FollowCreated of the earlier follow is redelivered: no backfill
    h.graph.unfollow(BOB, ANN)
    await h.fan_out.remove_follow(BOB, ANN)
    assert await h.fan_out.backfill_follow(BOB, ANN) == 0
    assert await h.home_ids(BOB) == []
    # followed again, then the FollowDeleted of the unfollow is redelivered: nothing removed
    h.graph.follow(BOB, ANN)
    await h.fan_out.backfill_follow(BOB, ANN)
    assert await h.fan_out.remove_follow(BOB, ANN) == []
    assert await h.home_ids(BOB) == [tweet.tweet_id]


async def test_an_unfollowed_author_leaves_the_home_even_before_the_unfollow_event_is_consumed(h):
    # also what happens to a tweet whose fan-out listed the follower just before an unfollow
    # committed and wrote after the FollowDeleted was applied: the entry is there, the follow is not
    h.graph.follow(BOB, ANN)
    h.graph.follow(BOB, CAT)
    kept = await h.post(CAT)
    await h.post(ANN)
    h.graph.unfollow(BOB, ANN)
    assert await h.home_ids(BOB) == [kept.tweet_id]
    assert h.homes.ids(BOB) == [kept.tweet_id]  # and it is gone from the store


async def test_a_block_hides_each_user_from_the_other_home_including_retweets(h):
    h.graph.follow(BOB, ANN)
    h.graph.follow(ANN, BOB)
    h.graph.follow(BOB, CAT)
    ann_tweet, bob_tweet = await h.post(ANN), await h.post(BOB)
    cat_retweet = h.world.retweet(CAT, ann_tweet)
    await h.fan_out.fan_out_tweet(cat_retweet)
    cat_tweet = await h.post(CAT)
    h.graph.blocks.add((BOB, ANN))
    h.graph.unfollow(BOB, ANN)
    h.graph.unfollow(ANN, BOB)
    await h.fan_out.apply_block(BOB, ANN)
    assert await h.home_ids(BOB) == [cat_tweet.tweet_id, bob_tweet.tweet_id]
    assert await h.home_ids(ANN) == [ann_tweet.tweet_id]


async def test_a_retweet_reaches_the_retweeter_followers(h):
    h.graph.follow(DAN, CAT)
    original = await h.post(ANN)
    retweet = h.world.retweet(CAT, original)
    await h.fan_out.fan_out_tweet(retweet)
    page = await h.home_page(DAN)
    assert [t.tweet_id for t in page.tweets] == [retweet.tweet_id]
    assert page.tweets[0].retweet_of_tweet_id == original.tweet_id


async def test_a_home_is_trimmed_to_its_capacity():
    h = Harness(settings=TimelineSettings(home_capacity=5, trim_one_in=1))
    h.graph.add_users(ANN, BOB)
    h.graph.follow(BOB, ANN)
    posted = [await h.post(ANN) for _ in range(12)]
    assert h.homes.ids(BOB) == [t.tweet_id for t in reversed(posted)][:5]


def ann_with_eleven_followers_in_pages_of_three() -> tuple[Harness, list[int]]:
    h = Harness(settings=TimelineSettings(id_page_size=3))
    followers = list(range(100, 111))
    h.graph.add_users(ANN, *followers)
    for follower in followers:
        h.graph.follow(follower, ANN)
    return h, followers


async def test_fan_out_pages_through_every_follower():
    h, followers = ann_with_eleven_followers_in_pages_of_three()
    result = await h.fan_out.fan_out_tweet(h.world.post(ANN))
    assert result.home_writes == len(followers) + 1
    assert h.graph.follower_pages_served == 4  # 11 followers in pages of 3
    assert all(h.homes.ids(f) for f in followers)


async def test_the_next_page_of_followers_is_read_while_the_current_one_is_pushed():
    h, followers = ann_with_eleven_followers_in_pages_of_three()
    pages_read_at_each_push = []
    insert_for_each = h.homes.insert_for_each

    async def recording_insert(user_ids, entry):
        await asyncio.sleep(0)  # a store call yields to the loop, where the read ahead runs
        pages_read_at_each_push.append(h.graph.follower_pages_served)
        await insert_for_each(user_ids, entry)

    h.homes.insert_for_each = recording_insert
    result = await h.fan_out.fan_out_tweet(h.world.post(ANN))
    assert result.home_writes == len(followers) + 1
    assert pages_read_at_each_push == [2, 3, 4, 4]  # one page ahead, and nothing past the last


async def test_the_cache_is_only_updated_for_timelines_it_holds():
    h = Harness()
    h.graph.add_users(ANN, BOB, CAT)
    h.graph.follow(BOB, ANN)
    h.graph.follow(CAT, ANN)
    await h.home_ids(BOB)  # BOB reads: active; CAT never reads
    await h.post(ANN)
    assert TimelineKey.home(BOB) in h.cache.timelines
    assert TimelineKey.home(CAT) not in h.cache.timelines


async def test_a_backfill_into_a_partly_cached_home_leaves_no_gap_between_pages():
    h = Harness(cache=FakeTimelineCache(capacity=4))
    h.graph.add_users(ANN, BOB, CAT)
    h.graph.follow(BOB, ANN)
    posted = [await h.post(author) for author in (CAT, ANN, CAT, ANN, CAT, ANN, CAT, ANN, ANN, ANN, ANN, ANN)]
    await h.home_ids(BOB, page_size=2)  # the cache now holds BOB's 4 newest, not the older ANN tweets
    for deleted in posted[-3:]:  # deletions leave room in the cached part
        h.tweets.deleted.add(deleted.tweet_id)
        await h.fan_out.remove_tweet(ANN, deleted.tweet_id)
    h.graph.follow(BOB, CAT)
    await h.fan_out.backfill_follow(BOB, CAT)  # CAT's tweets are older than what the cache covers
    assert await h.home_ids(BOB, page_size=2) == sorted((t.tweet_id for t in posted[:-3]), reverse=True)
