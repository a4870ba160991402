"""Rendered first home pages: served again only for the same entries and the same reader state,
forgotten by the events of the reader's own changes, never served past their lifetime."""

from __future__ import annotations

import pytest

from mesh.errors import Unavailable
from svc_timeline.domain import TimelineEntry, TimelineKey, page_fingerprint
from svc_timeline.event_handlers import TimelineEvents
from svc_timeline.ports import RenderedPage
from svc_timeline.testing import FakeRenderedPages, Harness
from tweetmesh.events.v1 import events_pb2

READER, ANN, BOB, STAR = 1, 2, 3, 90


async def _nothing() -> None:
    return None


@pytest.fixture
def h() -> Harness:
    harness = Harness(pages=FakeRenderedPages())
    harness.graph.add_users(READER, ANN, BOB, STAR)
    for followee in (ANN, BOB, STAR):
        harness.graph.follow(READER, followee)
    harness.graph.celebrities.add(STAR)
    return harness


async def _ids(h: Harness, page_size: int = 20) -> list[int]:
    return [tweet.tweet_id for tweet in (await h.home_page(READER, page_size)).tweets]


async def test_a_second_read_of_the_same_entries_hydrates_nothing(h):
    posted = [(await h.post(author)).tweet_id for author in (ANN, STAR, BOB)]
    first = await _ids(h)
    calls = h.tweets.hydrate_calls
    assert await _ids(h) == first == sorted(posted, reverse=True)
    assert h.tweets.hydrate_calls == calls


async def test_a_new_or_deleted_entry_pushed_or_merged_renders_the_page_again(h):
    await h.post(ANN)
    await _ids(h)
    pushed = await h.post(BOB)
    assert (await _ids(h))[0] == pushed.tweet_id
    merged = await h.post(STAR)  # a celebrity's: in no home, merged at read time
    assert (await _ids(h))[0] == merged.tweet_id
    h.tweets.deleted.add(merged.tweet_id)
    await h.fan_out.remove_tweet(STAR, merged.tweet_id)
    assert merged.tweet_id not in await _ids(h)


async def test_each_page_size_is_kept_apart_and_deeper_pages_are_never_kept(h):
    posted = [(await h.post(author)).tweet_id for author in (ANN, BOB, ANN, BOB, ANN)]
    newest = sorted(posted, reverse=True)
    assert await _ids(h, 2) == newest[:2]
    assert await _ids(h, 3) == newest[:3]
    first = await h.home_page(READER, 2)
    second = await h.home_page(READER, 2, first.next_page_token)
    assert [t.tweet_id for t in second.tweets] == newest[2:4]
    assert set(h.pages.pages) == {(READER, 2), (READER, 3)}


@pytest.mark.parametrize("subject, message", [
    ("tweet.liked", events_pb2.LikeCreated(event_id="l1", actor_user_id=str(READER), tweet_id="7", tweet_author_id="2")),
    ("tweet.unliked", events_pb2.LikeDeleted(event_id="l2", actor_user_id=str(READER), tweet_id="7", tweet_author_id="2")),
    ("graph.mute.created", events_pb2.MuteCreated(event_id="m1", actor_user_id=str(READER), muted_user_id=str(ANN))),
    ("graph.mute.deleted", events_pb2.MuteDeleted(event_id="m2", actor_user_id=str(READER), muted_user_id=str(ANN))),
    ("graph.block.deleted", events_pb2.BlockDeleted(event_id="b1", actor_user_id=str(ANN), blocked_user_id=str(READER))),
])
async def test_the_readers_own_changes_forget_their_pages(h, subject, message):
    await h.post(ANN)
    await _ids(h)
    calls = h.tweets.hydrate_calls
    await TimelineEvents(h.fan_out).handle(subject, message.SerializeToString(), _nothing)
    await _ids(h)
    assert h.tweets.hydrate_calls == calls + 1


async def test_a_mute_hides_the_author_once_its_event_is_consumed(h):
    muted = await h.post(ANN)
    assert muted.tweet_id in await _ids(h)
    h.graph.mutes.add((READER, ANN))
    mute = events_pb2.MuteCreated(event_id="m1", actor_user_id=str(READER), muted_user_id=str(ANN))
    await TimelineEvents(h.fan_out).handle("graph.mute.created", mute.SerializeToString(), _nothing)
    assert muted.tweet_id not in await _ids(h)


async def test_a_page_rendered_while_the_reader_changed_is_never_served(h):
    lookup = await h.pages.lookup(READER, 20)  # what a read saw before rendering
    await h.fan_out.readers_changed([READER])  # a like committed meanwhile
    await h.pages.store(READER, 20, RenderedPage("rendered-before-the-like", []), lookup.as_of)
    assert (await h.pages.lookup(READER, 20)).page is None


async def test_a_page_past_its_lifetime_renders_again(h):
    await h.post(ANN)
    await _ids(h)
    h.pages.expire()
    calls = h.tweets.hydrate_calls
    await _ids(h)
    assert h.tweets.hydrate_calls == calls + 1


async def test_a_page_that_dropped_entries_is_not_kept(h):
    gone = await h.post(ANN)
    h.tweets.deleted.add(gone.tweet_id)  # deleted, its event not consumed yet: the read drops it
    assert await _ids(h) == []
    assert h.pages.pages == {}


async def test_pages_unreachable_the_read_renders_and_a_forget_fails_for_a_retry(h):
    await h.post(ANN)
    h.pages.broken = True
    calls = h.tweets.hydrate_calls
    await _ids(h)
    await _ids(h)
    assert h.tweets.hydrate_calls == calls + 2
    with pytest.raises(Unavailable):
        await h.fan_out.readers_changed([READER])


def test_the_fingerprint_tells_apart_the_timeline_an_entry_came_from_and_its_fields():
    entry = TimelineEntry(10, ANN)
    pushed = page_fingerprint([(TimelineKey.home(READER), entry)])
    assert pushed == page_fingerprint([(TimelineKey.home(READER), TimelineEntry(10, ANN))])
    assert pushed != page_fingerprint([(TimelineKey.user(ANN), entry)])
    assert pushed != page_fingerprint([(TimelineKey.home(READER), TimelineEntry(10, ANN, 5, BOB))])
    assert pushed != page_fingerprint([])
