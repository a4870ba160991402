"""The search use cases and the rebuild on fakes: pages, cursors, blocks, degraded profiles, the
order of a rebuild's steps."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from mesh.errors import AuthenticationRequired, InvalidArgument, Unavailable
from svc_search.domain import IncomingEvent, IndexedTweet, TweetOrder, TweetPosted, TweetRemoved, UserProfile
from svc_search.service import RebuildFailed, TweetIndexRebuild, TweetSearch, UserSearch
from svc_search.testing import FakeDocumentIndex, FakeTweetSearchIndex, FakeUserDirectory, FakeUserSearchIndex
from tweetmesh.events.v1 import events_pb2

ME, ANN, BOB = 1, 2, 3


@pytest.fixture
def index():
    tweets = FakeTweetSearchIndex()
    for tweet_id in range(10, 17):
        tweets.add(tweet_id, ANN, f"tweet {tweet_id} about cats", handle="ann")
    tweets.add(30, BOB, "cats and dogs #pets", handle="bob")
    return tweets


@pytest.fixture
def graph():
    return FakeUserDirectory()


async def test_pages_return_every_hit_once_best_match_first(index, graph):
    search = TweetSearch(index, graph)
    seen, cursor = [], ""
    while True:
        page = await search.search(ME, "cats dogs", 3, cursor)
        seen += [hit.tweet_id for hit in page.hits]
        cursor = page.next_cursor
        if not cursor:
            break
    assert seen == [30, 16, 15, 14, 13, 12, 11, 10]  # two words matched first, then newest first
    assert [size for _, _, size in index.requests] == [4, 4, 4]  # one more than asked: is there a next page?


async def test_a_full_last_page_has_no_cursor(index, graph):
    page = await TweetSearch(index, graph).search(ME, "#pets", 1, "")
    assert [hit.tweet_id for hit in page.hits] == [30] and page.next_cursor == ""


async def test_the_default_page_is_twenty(index, graph):
    await TweetSearch(index, graph).search(ME, "cats", 0, "")
    assert index.requests[-1][2] == 21


async def test_a_cursor_only_works_for_its_own_query(index, graph):
    search = TweetSearch(index, graph)
    page = await search.search(ME, "cats", 2, "")
    assert (await search.search(ME, "CATS", 2, page.next_cursor)).hits  # the same query, spelt otherwise
    with pytest.raises(InvalidArgument, match="another query"):
        await search.search(ME, "dogs", 2, page.next_cursor)


async def test_newest_first_pages_return_every_hit_once_whatever_the_words_matched(index, graph):
    search = TweetSearch(index, graph)
    seen, cursor = [], ""
    while True:
        page = await search.search(ME, "cats dogs", 3, cursor, TweetOrder.NEWEST)
        seen += [hit.tweet_id for hit in page.hits]
        cursor = page.next_cursor
        if not cursor:
            break
    assert seen == [30, 16, 15, 14, 13, 12, 11, 10]  # 30 is the newest
    index.add(40, ANN, "cats only", handle="ann")  # newer, and matching fewer words than 30
    assert [h.tweet_id for h in (await search.search(ME, "cats dogs", 2, "", TweetOrder.NEWEST)).hits] == [40, 30]
    assert [h.tweet_id for h in (await search.search(ME, "cats dogs", 2, "")).hits] == [30, 40]
    assert set(index.orders) == {TweetOrder.BEST_MATCH, TweetOrder.NEWEST}


@pytest.mark.parametrize("made_under, used_under", [(TweetOrder.BEST_MATCH, TweetOrder.NEWEST),
                                                    (TweetOrder.NEWEST, TweetOrder.BEST_MATCH)])
async def test_a_cursor_only_works_for_the_order_it_was_made_under(index, graph, made_under, used_under):
    search = TweetSearch(index, graph)
    page = await search.search(ME, "cats", 2, "", made_under)
    assert (await search.search(ME, "cats", 2, page.next_cursor, made_under)).hits
    with pytest.raises(InvalidArgument, match="another query"):
        await search.search(ME, "cats", 2, page.next_cursor, used_under)


async def test_tweets_of_authors_who_block_the_caller_are_left_out(index, graph):
    graph.blocks.add((BOB, ME))
    search = TweetSearch(index, graph)
    page = await search.search(ME, "cats", 5, "")
    # the page is short by the tweet left out, and the next one goes on where this one ended
    assert [hit.tweet_id for hit in page.hits] == [16, 15, 14, 13]
    assert [hit.tweet_id for hit in (await search.search(ME, "cats", 5, page.next_cursor)).hits] == [12, 11, 10]


async def test_without_the_graph_a_search_fails_rather_than_show_a_blocker(index, graph):
    graph.down = True
    with pytest.raises(Unavailable):
        await TweetSearch(index, graph).search(ME, "cats", 5, "")


async def test_searching_needs_a_signed_in_caller(index, graph):
    with pytest.raises(AuthenticationRequired):
        await TweetSearch(index, graph).search(None, "cats", 5, "")


@pytest.fixture
def users():
    index = FakeUserSearchIndex()
    for user_id, handle in enumerate(["bobby", "Bob", "bob_x", "bobcat", "alice", "boa"], start=100):
        index.add(user_id, handle)
    return index


async def test_users_by_prefix_shorter_handles_first_with_profiles_from_the_graph(users, graph):
    graph.profiles_by_id = {u.user_id: UserProfile(u.user_id, u.handle, u.display_name, follower_count=7) for u in users.users}
    search = UserSearch(users, graph)
    first = await search.search(ME, "BO", 2, "")
    assert [u.handle for u in first.users] == ["boa", "Bob"] and first.next_page_token
    second = await search.search(ME, "bo", 3, first.next_page_token)
    assert [u.handle for u in second.users] == ["bob_x", "bobby", "bobcat"] and second.next_page_token == ""
    assert all(u.follower_count == 7 for u in first.users + second.users)


async def test_without_the_graph_users_come_from_the_index(users, graph):
    graph.down = True
    page = await UserSearch(users, graph).search(ME, "alice", 5, "")
    assert [(u.user_id, u.handle, u.follower_count) for u in page.users] == [(104, "alice", 0)]


# --- the rebuild ------------------------------------------------------------------------------------

WHEN = datetime(2025, 3, 1, tzinfo=timezone.utc)


class FakeGenerations:
    def __init__(self, steps: list):
        self.steps = steps

    async def prepare_next(self):
        self.steps.append("prepare")
        return ["tweets-v1"], "tweets-v2"

    async def refresh(self, index):
        self.steps.append(("refresh", index))

    async def swap(self, old, new):
        self.steps.append(("swap", list(old), new))

    async def drop(self, indices):
        self.steps.append(("drop", list(indices)))


class FakeSource:
    def __init__(self, pages):
        self.pages = pages

    async def changes(self, page_size):
        for page in self.pages:
            yield page


class FakeEventLog:
    def __init__(self, steps: list, events_by_sequence: dict[int, IncomingEvent]):
        self.steps = steps
        self.events = events_by_sequence
        self.last = 0

    async def last_sequence(self):
        return self.last

    async def replay(self, after, through, handle):
        self.steps.append(("replay", after, through))
        batch = [event for sequence, event in sorted(self.events.items()) if after < sequence <= through]
        return len(await handle(batch)) if batch else 0


def _deleted(tweet_id: int) -> IncomingEvent:
    message = events_pb2.TweetDeleted(event_id=f"d{tweet_id}", actor_user_id=str(ANN), tweet_id=str(tweet_id))
    message.occurred_at.FromDatetime(WHEN)
    return IncomingEvent("tweet.deleted", message.SerializeToString())


async def test_a_rebuild_scans_catches_up_swaps_catches_up_again_then_drops_the_old_index():
    steps: list = []
    written = FakeDocumentIndex()
    source = FakeSource([
        [TweetPosted(IndexedTweet(1, ANN, "one", WHEN)), TweetRemoved(2)],
        [TweetPosted(IndexedTweet(3, BOB, "three", WHEN))],
    ])
    log = FakeEventLog(steps, {5: _deleted(1), 6: _deleted(3)})
    log.last = 4  # before the scan

    class MovingSource(FakeSource):
        async def changes(self, page_size):
            async for page in super().changes(page_size):
                yield page
            log.last = 5  # an event published during the scan

    generations = FakeGenerations(steps)
    original_swap = generations.swap

    async def swap_while_an_event_arrives(old, new):
        await original_swap(old, new)
        log.last = 6  # published while swapping: went to the old index

    generations.swap = swap_while_an_event_arrives
    rebuild = TweetIndexRebuild(generations, MovingSource(source.pages), log, lambda name: written,
                                FakeUserDirectory(handles_by_id={ANN: "ann", BOB: "bob"}))
    report = await rebuild.run()
    assert steps == ["prepare", ("replay", 4, 5), ("refresh", "tweets-v2"), ("swap", ["tweets-v1"], "tweets-v2"),
                     ("replay", 5, 6), ("drop", ["tweets-v1"])]
    assert (report.tweets, report.tombstones, report.replayed) == (2, 1, 2)
    assert {doc_id: version for doc_id, (version, _) in written.documents.items()} == {"1": 2, "2": 2, "3": 2}


async def test_a_rebuild_that_cannot_index_stops_before_the_swap():
    steps: list = []
    written = FakeDocumentIndex()
    written.down = True
    rebuild = TweetIndexRebuild(FakeGenerations(steps), FakeSource([[TweetRemoved(2)]]), FakeEventLog(steps, {}),
                                lambda name: written, FakeUserDirectory())
    with pytest.raises(RebuildFailed, match="run the rebuild again"):
        await rebuild.run()
    assert steps == ["prepare"]
