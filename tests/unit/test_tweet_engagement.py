"""Likes and comments on in-memory fakes: idempotent likes with exact counts under concurrency, unlike,
who likes, comments with their rights, pages, mentions and request ids, and the events they announce."""

from __future__ import annotations

import asyncio
import random
from datetime import datetime, timezone

import pytest

from mesh.errors import InvalidArgument, NotFound, PermissionDenied, Unauthenticated
from svc_tweet.adapters.outbox_events import outbox_event
from svc_tweet.domain import (
    Comment,
    CommentCreated,
    CommentDeleted,
    CommentMentionCreated,
    Like,
    LikeCreated,
    LikeDeleted,
    like_created,
    like_deleted,
)
from tests.unit.test_tweet_service import ANN, BOB, CY, World
from tweetmesh.events.v1 import events_pb2


@pytest.fixture
def world() -> World:
    return World()


async def shown(world: World, caller: int, tweet_id: int):
    return await world.reader.get_tweet(caller, tweet_id)


def consistent(world: World, tweet_id: int) -> set[int]:
    """The likers of a tweet, after checking that every view of them agrees; returns them."""
    claimed = {user for (tweet, user) in world.like_store.claims if tweet == tweet_id}
    recorded = {like.user_id for like in world.like_store.recorded_likes.values() if like.tweet_id == tweet_id}
    assert claimed == recorded, "what the tweet counts differs from what answers caller_liked"
    return claimed


# --- likes ---------------------------------------------------------------------------------------


async def test_liking_twice_is_one_like(world):
    tweet_id = await world.post(BOB)
    await world.likes.like_tweet(ANN, tweet_id)
    await world.likes.like_tweet(ANN, tweet_id)
    hydrated = await shown(world, ANN, tweet_id)
    assert hydrated.counts.likes == 1 and hydrated.caller_liked
    assert not (await shown(world, CY, tweet_id)).caller_liked
    (created,) = world.like_store.events_of(LikeCreated)
    assert (created.like.user_id, created.like.tweet_id, created.like.tweet_author_id) == (ANN, tweet_id, BOB)


async def test_concurrent_likes_are_counted_exactly(world):
    tweet_id = await world.post(BOB)
    likers = list(range(100, 140))
    for user_id in likers:
        world.users.add(user_id, f"user{user_id}")
    # every liker taps three times at once, all of them together
    taps = [world.likes.like_tweet(user_id, tweet_id) for user_id in likers for _ in range(3)]
    random.Random(7).shuffle(taps)
    await asyncio.gather(*taps)
    assert (await shown(world, ANN, tweet_id)).counts.likes == len(likers)
    assert consistent(world, tweet_id) == set(likers)
    announced = {(e.like.user_id, e.event_id) for e in world.like_store.events_of(LikeCreated)}
    assert len(announced) == len(likers)  # one LikeCreated per liker (twins repeat its id: stored once)


async def test_unliking_is_idempotent_and_undoes_the_count(world):
    tweet_id = await world.post(BOB)
    await world.likes.like_tweet(ANN, tweet_id)
    await shown(world, ANN, tweet_id)  # cached with its like
    await world.likes.unlike_tweet(ANN, tweet_id)
    await world.likes.unlike_tweet(ANN, tweet_id)  # nothing left: still fine
    await world.likes.unlike_tweet(CY, tweet_id)  # never liked: fine too
    hydrated = await shown(world, ANN, tweet_id)
    assert hydrated.counts.likes == 0 and not hydrated.caller_liked  # the cache was invalidated
    (deleted,) = world.like_store.events_of(LikeDeleted)
    assert deleted.like.user_id == ANN and deleted.event_id == f"{deleted.like.like_id}-unliked"
    # liking after an unlike is a new like
    await world.likes.like_tweet(ANN, tweet_id)
    assert (await shown(world, ANN, tweet_id)).counts.likes == 1
    assert len({e.event_id for e in world.like_store.events_of(LikeCreated)}) == 2


async def test_likes_and_unlikes_racing_converge(world):
    tweet_id = await world.post(BOB)
    rng = random.Random(11)
    for round_ in range(20):
        calls = [
            (world.likes.like_tweet if rng.random() < 0.5 else world.likes.unlike_tweet)(user, tweet_id)
            for user in (ANN, CY) for _ in range(4)
        ]
        rng.shuffle(calls)
        await asyncio.gather(*calls)
        likers = consistent(world, tweet_id)
        hydrated = await shown(world, ANN, tweet_id)
        assert hydrated.counts.likes == len(likers) and hydrated.caller_liked == (ANN in likers), round_
        listed = await world.likes.list_likers(BOB, tweet_id, 10, "")
        assert {liker.user_id for liker in listed.users} == likers


async def test_liking_a_retweet_likes_its_original(world):
    original = await world.post(BOB)
    retweet_id, _ = await world.tweets.retweet(CY, original)
    await world.likes.like_tweet(ANN, retweet_id)
    shown_retweet = await shown(world, ANN, retweet_id)
    assert shown_retweet.caller_liked and shown_retweet.retweeted.counts.likes == 1
    await world.likes.unlike_tweet(ANN, retweet_id)
    assert (await shown(world, ANN, original)).counts.likes == 0


async def test_liking_a_missing_or_deleted_tweet_is_not_found(world):
    with pytest.raises(NotFound):
        await world.likes.like_tweet(ANN, 987654)
    with pytest.raises(NotFound):
        await world.likes.unlike_tweet(ANN, 987654)
    gone = await world.post(BOB)
    await world.tweets.delete_tweet(BOB, gone)
    with pytest.raises(NotFound):
        await world.likes.like_tweet(ANN, gone)
    with pytest.raises(Unauthenticated):
        await world.likes.like_tweet(None, gone)
    assert world.like_store.claims == {}


async def test_a_like_left_unclaimed_by_an_interrupted_unlike_is_skipped_then_erased(world):
    tweet_id = await world.post(BOB)
    await world.likes.like_tweet(ANN, tweet_id)
    claim = world.like_store.claims[(tweet_id, ANN)]
    await world.like_store.release(claim)  # the unlike died right after releasing the claim
    assert (await shown(world, CY, tweet_id)).counts.likes == 0
    assert (await world.likes.list_likers(CY, tweet_id, 10, "")).users == []
    await world.likes.unlike_tweet(ANN, tweet_id)  # the user unlikes again: the leftover goes
    assert consistent(world, tweet_id) == set()
    assert [e.like.like_id for e in world.like_store.events_of(LikeDeleted)] == [claim.like_id]


async def test_a_claim_whose_like_was_never_recorded_is_recorded_by_the_next_like(world):
    tweet_id = await world.post(BOB)
    await world.likes.like_tweet(ANN, tweet_id)
    like = world.like_store.claims[(tweet_id, ANN)]
    # as if the like had died between its claim and its recording
    world.like_store.recorded_likes.clear()
    await world.likes.like_tweet(ANN, tweet_id)
    assert consistent(world, tweet_id) == {ANN}
    assert {e.event_id for e in world.like_store.events_of(LikeCreated)} == {f"{like.like_id}-liked"}


async def test_a_like_recorded_late_after_its_unlike_stays_undone(world):
    tweet_id = await world.post(BOB)
    slow = Like(world.ids.new_id(), tweet_id, ANN, BOB, world.clock.now())
    assert await world.like_store.claim(slow) == slow  # a like claimed it, and is slow to record it
    await world.likes.unlike_tweet(ANN, tweet_id)
    await world.like_store.record(slow, like_created(slow))  # ...which lands now
    assert consistent(world, tweet_id) == set()
    assert not (await shown(world, ANN, tweet_id)).caller_liked


async def test_likers_are_listed_most_recent_first_with_their_profiles(world):
    tweet_id = await world.post(BOB)
    for user_id in (ANN, CY, BOB):
        world.clock.advance(seconds=1)
        await world.likes.like_tweet(user_id, tweet_id)
    first = await world.likes.list_likers(ANN, tweet_id, 2, "")
    rest = await world.likes.list_likers(ANN, tweet_id, 2, first.next_page_token)
    assert [u.profile.handle for u in first.users + rest.users] == ["bob", "cy", "ann"]
    assert rest.next_page_token == ""
    with pytest.raises(InvalidArgument, match="another list"):
        await world.likes.list_likers(ANN, await world.post(ANN), 2, first.next_page_token)
    world.users.answering = False
    assert [(u.user_id, u.profile) for u in (await world.likes.list_likers(ANN, tweet_id, 1, "")).users] == [(BOB, None)]
    with pytest.raises(NotFound):
        await world.likes.list_likers(ANN, 987654, 10, "")


async def test_caller_liked_takes_one_read_per_page(world):
    tweet_ids = [await world.post(BOB, f"t{i}") for i in range(5)]
    await world.likes.like_tweet(ANN, tweet_ids[1])
    await world.likes.like_tweet(ANN, tweet_ids[3])
    reads = 0
    liked_by, likes_of = world.like_store.liked_by, world.like_store.likes_of

    async def counting(user_id, ids):
        nonlocal reads
        reads += 1
        return await liked_by(user_id, ids)

    async def counting_every(user_id, limit):
        nonlocal reads
        reads += 1
        return await likes_of(user_id, limit)

    world.like_store.liked_by, world.like_store.likes_of = counting, counting_every
    page = await world.reader.batch_get_tweets(ANN, tweet_ids)
    assert [t.caller_liked for t in page] == [False, True, False, True, False] and reads == 1


# --- comments ------------------------------------------------------------------------------------


async def test_a_comment_is_stored_counted_and_announced(world):
    tweet_id = await world.post(BOB)
    await shown(world, ANN, tweet_id)  # cached without comments
    hydrated = await world.comments.add_comment(ANN, tweet_id, "nice one")
    comment = hydrated.comment
    assert (comment.tweet_id, comment.author_id, comment.tweet_author_id, comment.text) == (tweet_id, ANN, BOB, "nice one")
    assert hydrated.author.handle == "ann"
    assert (await shown(world, CY, tweet_id)).counts.comments == 1
    (created,) = world.comment_store.events_of(CommentCreated)
    assert created.comment == comment


async def test_mentions_in_a_comment_are_announced_but_never_to_oneself(world):
    tweet_id = await world.post(BOB)
    await world.comments.add_comment(ANN, tweet_id, "@bob look, @Ann @nobody @BOB, mail ann@bob.com")
    mentions = world.comment_store.events_of(CommentMentionCreated)
    assert [m.mentioned_user_id for m in mentions] == [BOB]
    (created,) = world.comment_store.events_of(CommentCreated)
    assert mentions[0].event_id == f"{created.event_id}-m{BOB}"
    payload = events_pb2.MentionCreated.FromString(outbox_event(mentions[0]).payload)
    assert (payload.actor_user_id, payload.tweet_id, payload.mentioned_user_id) == (str(ANN), str(tweet_id), str(BOB))
    assert payload.comment_id == str(created.comment.comment_id)  # notify can link to the comment
    assert outbox_event(mentions[0]).subject == "tweet.mentioned"
    await world.comments.add_comment(ANN, tweet_id, "only @ann here")
    assert len(world.comment_store.events_of(CommentMentionCreated)) == 1


async def test_commenting_on_a_missing_or_deleted_tweet_is_not_found(world):
    with pytest.raises(NotFound, match="tweet 987654"):
        await world.comments.add_comment(ANN, 987654, "hello?")
    gone = await world.post(BOB)
    await world.tweets.delete_tweet(BOB, gone)
    with pytest.raises(NotFound):
        await world.comments.add_comment(ANN, gone, "too late")
    with pytest.raises(NotFound):
        await world.comments.list_comments(ANN, gone, 10, "")
    assert world.comment_store.comments == {}


async def test_comments_are_listed_oldest_first_page_by_page(world):
    tweet_id = await world.post(BOB)
    written = []
    for i in range(7):
        world.clock.advance(seconds=1)
        written.append((await world.comments.add_comment(CY if i % 2 else ANN, tweet_id, f"c{i}")).comment.comment_id)
    seen, token, pages = [], "", 0
    while True:
        page = await world.comments.list_comments(BOB, tweet_id, 0, token)  # 0: the default size (3)
        seen += [(c.comment.comment_id, c.author.handle) for c in page.comments]
        pages += 1
        token = page.next_page_token
        if not token:
            break
    assert [c for c, _ in seen] == written and pages == 3
    assert [h for _, h in seen] == ["ann", "cy"] * 3 + ["ann"]
    other = await world.post(BOB)
    token = (await world.comments.list_comments(BOB, tweet_id, 2, "")).next_page_token
    with pytest.raises(InvalidArgument, match="another list"):
        await world.comments.list_comments(BOB, other, 2, token)


async def test_only_the_commenter_or_the_tweets_author_deletes_a_comment(world):
    tweet_id = await world.post(BOB)
    first = (await world.comments.add_comment(ANN, tweet_id, "first")).comment.comment_id
    second = (await world.comments.add_comment(ANN, tweet_id, "second")).comment.comment_id
    with pytest.raises(PermissionDenied, match="only its author or the author of the tweet"):
        await world.comments.delete_comment(CY, tweet_id, first)
    await world.comments.delete_comment(BOB, tweet_id, first)  # the tweet's author
    await world.comments.delete_comment(ANN, tweet_id, second)  # the commenter
    assert (await world.comments.list_comments(CY, tweet_id, 10, "")).comments == []
    assert (await shown(world, CY, tweet_id)).counts.comments == 0
    assert [(e.comment.comment_id, e.actor_id) for e in world.comment_store.events_of(CommentDeleted)] == \
        [(first, BOB), (second, ANN)]
    with pytest.raises(NotFound):  # already deleted
        await world.comments.delete_comment(ANN, tweet_id, second)


async def test_a_comment_is_only_found_on_its_own_tweet(world):
    tweet_id, other = await world.post(BOB), await world.post(BOB)
    comment_id = (await world.comments.add_comment(ANN, tweet_id, "here")).comment.comment_id
    with pytest.raises(NotFound, match=f"comment {comment_id} on tweet {other}"):
        await world.comments.delete_comment(ANN, other, comment_id)
    with pytest.raises(NotFound):
        await world.comments.delete_comment(ANN, tweet_id, 424242)


async def test_add_comment_with_a_request_id_happens_once(world):
    tweet_id = await world.post(BOB)
    results = await asyncio.gather(*(world.comments.add_comment(ANN, tweet_id, "once", request_id="r-1") for _ in range(5)))
    assert len({r.comment.comment_id for r in results}) == 1
    again = await world.comments.add_comment(ANN, tweet_id, "once", request_id="r-1")
    assert again.comment == results[0].comment
    assert (await shown(world, CY, tweet_id)).counts.comments == 1
    assert len({e.event_id for e in world.comment_store.events_of(CommentCreated)}) == 1
    # the same request id of another user is another request
    other = await world.comments.add_comment(CY, tweet_id, "once", request_id="r-1")
    assert other.comment.comment_id != results[0].comment.comment_id


async def test_a_retry_finishes_a_claimed_comment_and_never_revives_a_deleted_one(world):
    tweet_id = await world.post(BOB)
    world.comment_store.fail_next_create = ConnectionError("store timed out")
    with pytest.raises(ConnectionError):
        await world.comments.add_comment(ANN, tweet_id, "after a crash", request_id="r-2")
    retried = await world.comments.add_comment(ANN, tweet_id, "after a crash", request_id="r-2")
    assert retried.comment.comment_id == world.comment_store.requests[(ANN, "r-2")].comment.comment_id
    await world.comments.delete_comment(ANN, tweet_id, retried.comment.comment_id)
    with pytest.raises(NotFound):
        await world.comments.add_comment(ANN, tweet_id, "after a crash", request_id="r-2")
    assert (await shown(world, CY, tweet_id)).counts.comments == 0


async def test_a_comment_retry_answers_with_the_first_comment_even_when_the_tweet_is_gone_since(world):
    tweet_id = await world.post(BOB)
    first = await world.comments.add_comment(ANN, tweet_id, "first!", request_id="r-gone")
    await world.tweets.delete_tweet(BOB, tweet_id)
    again = await world.comments.add_comment(ANN, tweet_id, "first!", request_id="r-gone")
    assert again.comment.comment_id == first.comment.comment_id
    # a new request on the deleted tweet is refused as it should be
    with pytest.raises(NotFound):
        await world.comments.add_comment(ANN, tweet_id, "first!", request_id="r-new")


async def test_a_first_comment_attempt_reads_no_request_claim_before_claiming_it(world, monkeypatch):
    async def no_read(author_id, request_id):
        raise AssertionError("the claim (IF NOT EXISTS) answers retries: no read before it")

    tweet_id = await world.post(BOB)
    monkeypatch.setattr(world.comment_store, "find_request", no_read)
    first = await world.comments.add_comment(ANN, tweet_id, "once", request_id="r-no-read")
    again = await world.comments.add_comment(ANN, tweet_id, "once", request_id="r-no-read")
    assert again.comment.comment_id == first.comment.comment_id


def test_engagement_events_travel_on_their_subjects_with_their_payloads():
    at = datetime(2025, 3, 1, tzinfo=timezone.utc)
    like = Like(7, 70, 11, 22, at)
    liked, unliked = outbox_event(like_created(like)), outbox_event(like_deleted(like, at))
    assert (liked.subject, unliked.subject) == ("tweet.liked", "tweet.unliked")
    assert liked.msg_id == "7-liked" and unliked.msg_id == "7-unliked"
    payload = events_pb2.LikeCreated.FromString(liked.payload)
    assert (payload.actor_user_id, payload.tweet_id, payload.tweet_author_id) == ("11", "70", "22")
    comment = Comment(8, 70, 33, 22, "hey", at)
    created = outbox_event(CommentCreated("e1", comment))
    deleted = outbox_event(CommentDeleted("e2", at, comment, actor_id=22))
    assert (created.subject, deleted.subject) == ("tweet.commented", "tweet.comment_deleted")
    body = events_pb2.CommentCreated.FromString(created.payload)
    assert (body.comment_id, body.tweet_id, body.tweet_author_id, body.text) == ("8", "70", "22", "hey")
    assert events_pb2.CommentDeleted.FromString(deleted.payload).actor_user_id == "22"


def test_a_timed_out_conditional_write_is_recognised_through_the_kernels_unavailable():
    # mesh.cql answers driver timeouts as Unavailable with the driver's error as the cause; the
    # LWT claims must still see "outcome open" and settle it with a SERIAL read
    from cassandra import OperationTimedOut
    from mesh.errors import Unavailable
    from svc_tweet.adapters.cql_store import outcome_open

    timed_out = Unavailable("the CQL store did not answer: OperationTimedOut")
    timed_out.__cause__ = OperationTimedOut("no answer")
    assert outcome_open(timed_out)
    assert not outcome_open(Unavailable("no replicas"))
