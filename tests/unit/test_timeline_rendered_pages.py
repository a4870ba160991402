"""Rendered first home pages: served again only for the same entries, the same reader state and
the same state of what the entries show; forgotten by the events of the reader's own changes and
of others' changes to what the page shows; never served past their lifetime."""

from __future__ import annotations

import pytest

from mesh.errors import Unavailable
from svc_timeline.domain import PageSubjects, TimelineEntry, TimelineKey, page_fingerprint, page_subjects
from svc_timeline.event_handlers import TimelineEvents
from svc_timeline.ports import RenderedPage
from svc_timeline.testing import FakeRenderedPages, Harness
from tweetmesh.events.v1 import events_pb2

READER, ANN, BOB, STAR, STRANGER = 1, 2, 3, 90, 77
NOTHING = PageSubjects((), ())


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


def _others_changes(tweet_id: int, author_id: int) -> list[tuple[str, object]]:
    """Events of other users' changes to a tweet on the reader's page, or to its author."""
    t, a, s = str(tweet_id), str(author_id), str(STRANGER)
    return [
        ("tweet.liked", events_pb2.LikeCreated(event_id="l1", actor_user_id=s, tweet_id=t, tweet_author_id=a)),
        ("tweet.unliked", events_pb2.LikeDeleted(event_id="l2", actor_user_id=s, tweet_id=t, tweet_author_id=a)),
        ("tweet.commented", events_pb2.CommentCreated(event_id="c1", actor_user_id=s, comment_id="5", tweet_id=t,
                                                      tweet_author_id=a)),
        ("tweet.comment_deleted", events_pb2.CommentDeleted(event_id="c2", actor_user_id=s, comment_id="5", tweet_id=t)),
        ("tweet.created", events_pb2.TweetCreated(event_id="r1", actor_user_id=s, tweet_id="9001", in_reply_to_tweet_id=t,
                                                  in_reply_to_user_id=a)),
        ("tweet.created", events_pb2.TweetCreated(event_id="q1", actor_user_id=s, tweet_id="9002", quoted_tweet_id=t,
                                                  quoted_user_id=a)),
        ("tweet.retweeted", events_pb2.Retweeted(event_id="rt1", actor_user_id=s, retweet_id="9003", tweet_id=t,
                                                 tweet_author_id=a)),
        ("tweet.retweet_undone", events_pb2.RetweetUndone(event_id="rt2", actor_user_id=s, retweet_id="9003", tweet_id=t,
                                                          tweet_author_id=a)),
        ("graph.user.updated", events_pb2.UserUpdated(event_id="u1", actor_user_id=a, handle="ann_again")),
    ]


@pytest.mark.parametrize("index", range(len(_others_changes(1, 1))))
async def test_others_changes_to_what_the_page_shows_render_it_again(h, index):
    h.graph.add_users(STRANGER)
    shown = await h.post(ANN)
    await _ids(h)
    subject, message = _others_changes(shown.tweet_id, ANN)[index]
    await TimelineEvents(h.fan_out).handle(subject, message.SerializeToString(), _nothing)
    calls = h.tweets.hydrate_calls
    await _ids(h)
    assert h.tweets.hydrate_calls == calls + 1, subject


async def test_others_changes_to_tweets_and_users_the_page_does_not_show_leave_it_served(h):
    h.graph.add_users(STRANGER)
    await h.post(ANN)
    await _ids(h)
    for subject, message in _others_changes(123456, STRANGER):
        await TimelineEvents(h.fan_out).handle(subject, message.SerializeToString(), _nothing)
    calls = h.tweets.hydrate_calls
    await _ids(h)
    assert h.tweets.hydrate_calls == calls


async def test_a_deleted_original_under_a_retweet_renders_the_page_again(h):
    original = h.world.post(BOB)  # BOB's tweet reaches the home as ANN's retweet only
    await h.fan_out.fan_out_tweet(h.world.retweet(ANN, original))
    await _ids(h)
    calls = h.tweets.hydrate_calls
    deleted = events_pb2.TweetDeleted(event_id="d1", actor_user_id=str(BOB), tweet_id=str(original.tweet_id))
    await TimelineEvents(h.fan_out).handle("tweet.deleted", deleted.SerializeToString(), _nothing)
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
    lookup = await h.pages.lookup(READER, 20, NOTHING)  # what a read saw before rendering
    await h.fan_out.readers_changed([READER])  # a like committed meanwhile
    await h.pages.store(READER, 20, RenderedPage("rendered-before-the-like", []), lookup.as_of)
    assert (await h.pages.lookup(READER, 20, NOTHING)).page is None


async def test_a_page_rendered_while_a_tweet_on_it_changed_is_never_served(h):
    shown = PageSubjects((10, 11), (ANN,))
    lookup = await h.pages.lookup(READER, 20, shown)
    await h.fan_out.shown_changed(tweet_ids=[11])  # someone's like of it committed meanwhile
    await h.pages.store(READER, 20, RenderedPage("rendered-before-the-like", []), lookup.as_of)
    assert (await h.pages.lookup(READER, 20, shown)).page is None
    again = await h.pages.lookup(READER, 20, shown)
    await h.pages.store(READER, 20, RenderedPage("rendered-after", []), again.as_of)
    assert (await h.pages.lookup(READER, 20, shown)).page.fingerprint == "rendered-after"


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
    with pytest.raises(Unavailable):
        await h.fan_out.shown_changed(tweet_ids=[1])


def test_the_fingerprint_tells_apart_the_timeline_an_entry_came_from_and_its_fields():
    entry = TimelineEntry(10, ANN)
    pushed = page_fingerprint([(TimelineKey.home(READER), entry)])
    assert pushed == page_fingerprint([(TimelineKey.home(READER), TimelineEntry(10, ANN))])
    assert pushed != page_fingerprint([(TimelineKey.user(ANN), entry)])
    assert pushed != page_fingerprint([(TimelineKey.home(READER), TimelineEntry(10, ANN, 5, BOB))])
    assert pushed != page_fingerprint([])


def test_a_pages_subjects_are_its_tweets_originals_and_authors_in_one_order():
    entries = [
        (TimelineKey.home(READER), TimelineEntry(30, BOB, 10, ANN)),
        (TimelineKey.user(STAR), TimelineEntry(20, STAR)),
        (TimelineKey.home(READER), TimelineEntry(10, ANN)),
    ]
    assert page_subjects(entries) == PageSubjects((10, 20, 30), (ANN, BOB, STAR))
    assert page_subjects(list(reversed(entries))) == page_subjects(entries)
    assert page_subjects([]) == NOTHING
