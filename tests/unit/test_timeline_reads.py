"""Reading timelines: merge, pagination, filtering, errors, and the pure merge rules."""

from __future__ import annotations

import pytest

from mesh.errors import AuthenticationRequired, InvalidPageToken, UserNotFound
from mesh.paging import decode_page_token, encode_page_token
from svc_timeline.domain import (
    BlockedByUser,
    TimelineEntry,
    TimelineKey,
    TimelineSlice,
    merge_newest_first,
)
from svc_timeline.testing import FakeTimelineCache, Harness, NoCache

READER, ANN, BOB, STAR, SUN = 1, 2, 3, 90, 91


@pytest.fixture(params=["cached", "small-cache", "uncached"])
def h(request) -> Harness:
    cache = {"cached": FakeTimelineCache(), "small-cache": FakeTimelineCache(capacity=4), "uncached": NoCache()}
    harness = Harness(cache=cache[request.param])
    harness.graph.add_users(READER, ANN, BOB, STAR, SUN)
    return harness


async def test_pages_return_every_tweet_once_newest_first_with_celebrities_merged(h):
    for followee in (ANN, BOB, STAR, SUN):
        h.graph.follow(READER, followee)
    h.graph.celebrities.update({STAR, SUN})
    posted = []
    for round_ in range(7):  # interleaved authors, some pushed, some merged on read
        for author in (ANN, STAR, BOB, SUN, READER) if round_ % 2 else (SUN, ANN, STAR):
            posted.append((await h.post(author)).tweet_id)
    expected = sorted(posted, reverse=True)
    for size in (1, 3, 4, 100):
        assert await h.home_ids(READER, page_size=size) == expected


async def test_tweets_posted_while_scrolling_appear_on_a_new_first_page_not_further_down(h):
    h.graph.follow(READER, ANN)
    h.graph.follow(READER, STAR)
    h.graph.celebrities.add(STAR)
    old = [(await h.post(author)).tweet_id for author in (ANN, STAR, ANN, STAR, ANN, STAR)]
    first = await h.home_page(READER, page_size=2)
    fresh = [(await h.post(author)).tweet_id for author in (ANN, STAR)]
    seen = [t.tweet_id for t in first.tweets]
    token = first.next_page_token
    while token:
        page = await h.home_page(READER, page_size=2, token=token)
        seen.extend(t.tweet_id for t in page.tweets)
        token = page.next_page_token
    assert seen == sorted(old, reverse=True)
    assert [t.tweet_id for t in (await h.home_page(READER, page_size=2)).tweets] == sorted(fresh, reverse=True)


async def test_a_page_is_hydrated_in_one_call(h):
    h.graph.follow(READER, ANN)
    h.graph.follow(READER, STAR)
    h.graph.celebrities.add(STAR)
    for author in (ANN, STAR, ANN, STAR):
        await h.post(author)
    calls = h.tweets.hydrate_calls
    page = await h.home_page(READER, page_size=3)
    assert len(page.tweets) == 3 and h.tweets.hydrate_calls == calls + 1


async def test_muted_and_blocked_authors_are_left_out_of_the_home(h):
    for followee in (ANN, BOB, STAR):
        h.graph.follow(READER, followee)
    h.graph.celebrities.add(STAR)
    ann, bob, star = await h.post(ANN), await h.post(BOB), await h.post(STAR)
    retweet_of_ann = h.world.retweet(BOB, ann)
    await h.fan_out.fan_out_tweet(retweet_of_ann)
    h.graph.mutes.add((READER, ANN))
    h.graph.blocks.add((READER, STAR))
    assert await h.home_ids(READER) == [bob.tweet_id]  # ANN's tweet and BOB's retweet of it: muted
    h.graph.mutes.clear()
    h.graph.blocks.clear()
    # a mute hides without removing: unmuted, the tweets are back
    assert await h.home_ids(READER) == [retweet_of_ann.tweet_id, star.tweet_id, bob.tweet_id]


async def test_an_original_and_its_retweet_show_once_per_page(h):
    h.graph.follow(READER, ANN)
    h.graph.follow(READER, BOB)
    original = await h.post(ANN)
    retweet = h.world.retweet(BOB, original)
    await h.fan_out.fan_out_tweet(retweet)
    assert await h.home_ids(READER) == [retweet.tweet_id]


async def test_a_retweet_whose_original_was_deleted_is_dropped(h):
    h.graph.follow(READER, BOB)
    original = await h.post(ANN)
    retweet = h.world.retweet(BOB, original)
    await h.fan_out.fan_out_tweet(retweet)
    h.tweets.deleted.add(original.tweet_id)
    assert await h.home_ids(READER) == []
    assert h.homes.ids(READER) == []


async def test_reading_needs_a_caller_and_a_token_of_the_same_timeline(h):
    with pytest.raises(AuthenticationRequired):
        await h.reader.home(None, 20, "")
    with pytest.raises(AuthenticationRequired):
        await h.reader.user(None, ANN, 20, "")
    others = encode_page_token("home", ANN, (12345,))  # a token of ANN's home timeline
    with pytest.raises(InvalidPageToken):
        await h.reader.home(READER, 20, others)
    with pytest.raises(InvalidPageToken):
        await h.reader.home(READER, 20, "not-a-token!")
    with pytest.raises(InvalidPageToken):
        await h.reader.user(READER, ANN, 20, others)


async def test_a_user_timeline_lists_what_the_user_wrote_and_retweeted(h):
    mine = [await h.post(ANN) for _ in range(5)]
    retweet = h.world.retweet(ANN, await h.post(BOB))
    await h.fan_out.fan_out_tweet(retweet)
    h.tweets.deleted.add(mine[1].tweet_id)
    expected = [retweet.tweet_id, *[t.tweet_id for t in reversed(mine) if t is not mine[1]]]
    assert await h.user_ids(READER, ANN, page_size=2) == expected
    assert mine[1].tweet_id not in h.user_timelines.ids(ANN)  # the deleted one was cleaned up


async def test_a_user_timeline_of_an_unknown_or_blocking_user_is_refused(h):
    with pytest.raises(UserNotFound):
        await h.reader.user(READER, 777, 20, "")
    h.graph.blocks.add((ANN, READER))
    with pytest.raises(BlockedByUser):
        await h.reader.user(READER, ANN, 20, "")
    assert (await h.reader.user(ANN, ANN, 20, "")).tweets == []  # one's own timeline needs no check


async def test_reads_work_when_the_cache_is_down():
    cache = FakeTimelineCache()
    h = Harness(cache=cache)
    h.graph.add_users(READER, ANN)
    h.graph.follow(READER, ANN)
    tweet = await h.post(ANN)
    cache.broken = True
    assert await h.home_ids(READER) == [tweet.tweet_id]


# --- the pure rules ------------------------------------------------------------------------------


def _slice(owner: int, ids: list[int], has_more: bool) -> TimelineSlice:
    return TimelineSlice(TimelineKey.user(owner), tuple(TimelineEntry(i, owner) for i in ids), has_more)


def test_merge_takes_the_newest_and_counts_an_id_in_two_timelines_once():
    page = merge_newest_first([_slice(1, [50, 30, 10], False), _slice(2, [40, 30, 20], False)], limit=4)
    assert [e.tweet_id for _, e in page.entries] == [50, 40, 30, 20]
    assert page.cursor == 20 and page.has_more


def test_merge_of_exhausted_slices_that_fit_is_the_last_page():
    page = merge_newest_first([_slice(1, [5, 3], False), _slice(2, [4], False)], limit=3)
    assert [e.tweet_id for _, e in page.entries] == [5, 4, 3] and not page.has_more
    empty = merge_newest_first([_slice(1, [], False)], limit=3)
    assert empty.entries == () and empty.cursor is None and not empty.has_more


def test_merge_never_goes_below_what_a_cut_slice_covered():
    # slice 1 was cut after 90 (more below it, unknown): 20 from slice 2 must wait for the next page
    page = merge_newest_first([_slice(1, [100, 90], True), _slice(2, [20], False)], limit=3)
    assert [e.tweet_id for _, e in page.entries] == [100, 90]
    assert page.cursor == 90 and page.has_more


def test_page_tokens_round_trip_and_bind_to_their_timeline():
    # a timeline's token: listing the timeline's kind, owner its user, position the tweet id to read below
    assert decode_page_token(encode_page_token("home", 42, (987654321,)), "home", 42, arity=1) == (987654321,)
    assert decode_page_token("", "home", 42, arity=1) is None
    with pytest.raises(InvalidPageToken):
        decode_page_token(encode_page_token("home", 42, (5,)), "user", 42, arity=1)
