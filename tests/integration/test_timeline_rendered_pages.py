"""svc_timeline's rendered home pages against the real Redis of the stack, under a key prefix of its own."""

from __future__ import annotations

import asyncio

import pytest

from mesh.errors import Unavailable
from svc_timeline.adapters.redis_rendered_pages import RedisRenderedPages
from svc_timeline.adapters.tweet_client import hydrated
from svc_timeline.domain import PageSubjects
from svc_timeline.ports import RenderedPage
from tests.integration.scratch import scratch_redis, unreachable_redis
from tweetmesh.tweet.v1 import tweet_pb2

READER = 7
BIG = 1 << 60
SHOWN = PageSubjects((BIG + 1, BIG + 2), (5, 6))  # what _page() shows


@pytest.fixture
async def scratch(stack):
    async with scratch_redis(stack, "pages") as opened:
        yield opened


def _page(fingerprint: str = "fp-1") -> RenderedPage:
    original = tweet_pb2.Tweet(tweet_id=str(BIG + 1), author_id="5", text="the original | with a bar")
    retweet = tweet_pb2.Tweet(
        tweet_id=str(BIG + 2), author_id="6", retweet_of_tweet_id=str(BIG + 1), retweeted_tweet=original,
        caller_liked=True,
    )
    return RenderedPage(fingerprint, [hydrated(retweet), hydrated(original)])


async def test_a_page_comes_back_as_it_was_stored_for_its_size_only(scratch):
    redis, prefix = scratch
    pages = RedisRenderedPages(redis, max_age_s=30, prefix=prefix)
    lookup = await pages.lookup(READER, 20, SHOWN)
    assert lookup.page is None and lookup.as_of is not None
    await pages.store(READER, 20, _page(), lookup.as_of)

    found = (await pages.lookup(READER, 20, SHOWN)).page
    assert found == _page()
    assert found.tweets[0].original_visible and found.tweets[0].retweet_of_tweet_id == BIG + 1
    assert (await pages.lookup(READER, 10, SHOWN)).page is None
    assert (await pages.lookup(READER + 1, 20, SHOWN)).page is None


async def test_forgetting_a_reader_makes_every_page_stored_before_unreachable(scratch):
    redis, prefix = scratch
    pages = RedisRenderedPages(redis, max_age_s=30, prefix=prefix)
    before = await pages.lookup(READER, 20, SHOWN)
    await pages.store(READER, 20, _page(), before.as_of)
    await pages.forget([READER])
    assert (await pages.lookup(READER, 20, SHOWN)).page is None

    # rendered from what was read before the forget, stored after it: never served
    await pages.store(READER, 20, _page("rendered-before"), before.as_of)
    after = await pages.lookup(READER, 20, SHOWN)
    assert after.page is None and after.as_of != before.as_of
    await pages.store(READER, 20, _page("rendered-after"), after.as_of)
    assert (await pages.lookup(READER, 20, SHOWN)).page.fingerprint == "rendered-after"


async def test_a_change_to_a_tweet_or_user_it_shows_makes_a_page_unreachable_and_others_do_not(scratch):
    redis, prefix = scratch
    pages = RedisRenderedPages(redis, max_age_s=30, prefix=prefix)
    await pages.store(READER, 20, _page(), (await pages.lookup(READER, 20, SHOWN)).as_of)
    await pages.subjects_changed([BIG + 3], [8])  # not on the page
    assert (await pages.lookup(READER, 20, SHOWN)).page == _page()
    await pages.subjects_changed([BIG + 1], [])  # the original under the retweet: liked, deleted...
    assert (await pages.lookup(READER, 20, SHOWN)).page is None
    await pages.store(READER, 20, _page(), (await pages.lookup(READER, 20, SHOWN)).as_of)
    await pages.subjects_changed([], [6])  # the retweeter's profile
    assert (await pages.lookup(READER, 20, SHOWN)).page is None


async def test_a_page_rendered_while_a_subject_changed_is_never_served(scratch):
    redis, prefix = scratch
    pages = RedisRenderedPages(redis, max_age_s=30, prefix=prefix)
    before = await pages.lookup(READER, 20, SHOWN)
    await pages.subjects_changed([BIG + 2], [])  # a like committed while the page was hydrated
    await pages.store(READER, 20, _page("rendered-before"), before.as_of)
    after = await pages.lookup(READER, 20, SHOWN)
    assert after.page is None and after.as_of != before.as_of
    await pages.store(READER, 20, _page("rendered-after"), after.as_of)
    assert (await pages.lookup(READER, 20, SHOWN)).page.fingerprint == "rendered-after"


async def test_a_page_lives_max_age_s_and_the_version_and_change_tokens_twice_that(scratch):
    redis, prefix = scratch
    pages = RedisRenderedPages(redis, max_age_s=1, prefix=prefix)
    await pages.forget([READER])
    await pages.store(READER, 20, _page(), (await pages.lookup(READER, 20, SHOWN)).as_of)
    assert 0 < await redis.ttl(f"{prefix}:page:{{{READER}}}:20") <= 1
    assert 1 < await redis.ttl(f"{prefix}:page:{{{READER}}}:version") <= 2
    await pages.subjects_changed([BIG + 1], [5])
    assert 1 < await redis.ttl(f"{prefix}:changed:t:{BIG + 1}") <= 2
    assert 1 < await redis.ttl(f"{prefix}:changed:u:5") <= 2
    await asyncio.sleep(1.2)
    assert (await pages.lookup(READER, 20, SHOWN)).page is None


async def test_max_age_zero_keeps_nothing(scratch):
    redis, prefix = scratch
    pages = RedisRenderedPages(redis, max_age_s=0, prefix=prefix)
    await pages.store(READER, 20, _page(), "0")
    await pages.forget([READER])
    await pages.subjects_changed([BIG + 1], [5])
    assert (await pages.lookup(READER, 20, SHOWN)).page is None
    assert [key async for key in redis.scan_iter(match=f"{prefix}:*")] == []


async def test_unreachable_redis_misses_and_a_forget_fails_so_the_event_is_retried():
    async with unreachable_redis() as dead:
        pages = RedisRenderedPages(dead, max_age_s=30, prefix="it-dead")
        lookup = await pages.lookup(READER, 20, SHOWN)
        assert lookup.page is None and lookup.as_of is None
        await pages.store(READER, 20, _page(), "0")  # best effort: no error
        with pytest.raises(Unavailable):
            await pages.forget([READER])
        with pytest.raises(Unavailable):
            await pages.subjects_changed([BIG + 1], [])
