"""A reader's merge sources stay cached until something changes them, and not a read longer: a
crossing of the celebrity threshold seen by fan-out, or a change of the reader's follows."""

from __future__ import annotations

from svc_timeline.domain import TimelineEntry
from svc_timeline.testing import Harness

READER, ANN, STAR = 1, 2, 99


def _harness() -> Harness:
    h = Harness()
    h.graph.add_users(READER, ANN, STAR)
    return h


def _graph_calls(h: Harness) -> int:
    return h.graph.following_pages_served + h.graph.follower_pages_served


async def _a_reader_of_a_celebrity() -> tuple[Harness, TimelineEntry]:
    """READER follows the celebrity STAR, who tweeted, and has read it at home: sources cached."""
    h = _harness()
    h.graph.follow(READER, STAR)
    h.graph.celebrities.add(STAR)
    tweet = await h.post(STAR)
    assert await h.home_ids(READER) == [tweet.tweet_id]
    return h, tweet


async def test_cached_sources_spare_the_graph_until_something_changes():
    h, tweet = await _a_reader_of_a_celebrity()
    asked = _graph_calls(h)
    for _ in range(3):
        assert await h.home_ids(READER) == [tweet.tweet_id]
    assert _graph_calls(h) == asked


async def test_a_tweet_posted_right_after_its_author_became_a_celebrity_shows_at_the_next_read():
    h = _harness()
    h.graph.follow(READER, ANN)
    before = await h.post(ANN)
    assert await h.home_ids(READER) == [before.tweet_id]  # READER's sources are cached: nobody to merge
    h.graph.celebrities.add(ANN)
    after = await h.post(ANN)
    assert after.tweet_id not in h.homes.ids(READER)  # pushed nowhere: merged on read only
    assert await h.home_ids(READER) == [after.tweet_id, before.tweet_id]
    asked = _graph_calls(h)
    assert await h.home_ids(READER) == [after.tweet_id, before.tweet_id]
    assert _graph_calls(h) == asked  # the new sources are cached in turn


async def test_a_celebrity_who_drops_below_the_threshold_and_crosses_it_again_is_never_missed():
    h, _ = await _a_reader_of_a_celebrity()
    h.graph.celebrities.discard(STAR)  # below the threshold: tweets are pushed again
    pushed = await h.post(STAR)
    assert pushed.tweet_id in h.homes.ids(READER)
    asked = _graph_calls(h)
    home = await h.home_ids(READER)
    assert home[0] == pushed.tweet_id and home.count(pushed.tweet_id) == 1
    assert _graph_calls(h) > asked  # the sources were computed again: STAR is merged no more
    await h.home_ids(READER)  # and cached so

    h.graph.celebrities.add(STAR)  # above it again: only seen because the drop was noted
    merged_again = await h.post(STAR)
    assert merged_again.tweet_id not in h.homes.ids(READER)
    assert (await h.home_ids(READER))[0] == merged_again.tweet_id


async def test_sources_computed_while_an_author_crossed_the_threshold_are_not_kept():
    h = _harness()
    h.graph.follow(READER, ANN)
    list_following = h.graph.following_ids
    posted = []

    async def following_ids_while_ann_crosses(user_id: int, page_token: str, page_size: int):
        page = await list_following(user_id, page_token, page_size)  # ANN is not a celebrity yet
        h.graph.following_ids = list_following
        h.graph.celebrities.add(ANN)
        posted.append(await h.post(ANN))  # fan-out sees the crossing before this read stores its sources
        return page

    h.graph.following_ids = following_ids_while_ann_crosses
    await h.home_ids(READER)
    assert await h.home_ids(READER) == [posted[0].tweet_id]


async def test_sources_computed_while_the_reader_followed_a_celebrity_are_not_kept():
    h = _harness()
    h.graph.celebrities.add(STAR)
    tweet = await h.post(STAR)
    list_following = h.graph.following_ids

    async def following_ids_while_reader_follows(user_id: int, page_token: str, page_size: int):
        page = await list_following(user_id, page_token, page_size)  # no STAR among the follows yet
        h.graph.following_ids = list_following
        h.graph.follow(READER, STAR)
        await h.fan_out.backfill_follow(READER, STAR)  # the FollowCreated consumed before this read stores
        return page

    h.graph.following_ids = following_ids_while_reader_follows
    assert await h.home_ids(READER) == []
    assert await h.home_ids(READER) == [tweet.tweet_id]
