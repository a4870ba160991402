"""Likes and comments of svc_tweet against the real Cassandra and Redis of the stack, through the use
cases: exact like counts under concurrent likes, likes and unlikes racing to a consistent state,
comments with their lists, claims, deletion markers and outbox rows."""

from __future__ import annotations

import asyncio
import random
import uuid

import pytest

from mesh.errors import NotFound
from tests.integration.test_tweet_stores import Service, deps  # noqa: F401 - deps: the scratch keyspace fixture
from tweetmesh.events.v1 import events_pb2


def new_users(service: Service, count: int) -> list[int]:
    """Users of this test only (the keyspace is shared by the module), known to the directory."""
    user_ids = [uuid.uuid4().int >> 68 for _ in range(count)]
    for user_id in user_ids:
        service.users.add(user_id, f"u{user_id % 10**12}")
    return user_ids


async def outbox_rows(service: Service, subject: str, tweet_id: int) -> list:
    """The outbox rows of one subject about one tweet (payload field 4 or 5 names it)."""
    rows = await service.rows("SELECT subject, payload, msg_id FROM {ks}.outbox")
    decoders = {
        "tweet.liked": events_pb2.LikeCreated, "tweet.unliked": events_pb2.LikeDeleted,
        "tweet.commented": events_pb2.CommentCreated, "tweet.comment_deleted": events_pb2.CommentDeleted,
        "tweet.mentioned": events_pb2.MentionCreated,
    }
    return [r for r in rows if r.subject == subject and decoders[subject].FromString(r.payload).tweet_id == str(tweet_id)]


async def state_of_likes(service: Service, tweet_id: int, user_ids: list[int]) -> dict:
    """Every place that says who likes the tweet, read from the store (not the cache)."""
    claims = {r.user_id for r in await service.rows("SELECT user_id FROM {ks}.likes_by_tweet WHERE tweet_id = %s", tweet_id)}
    recorded = set()
    for user_id in user_ids:
        if await service.like_store.liked_by(user_id, [tweet_id]):
            recorded.add(user_id)
    listed, token = set(), ""
    while True:
        page = await service.likes.list_likers(user_ids[0], tweet_id, 7, token)
        listed |= {liker.user_id for liker in page.users}
        token = page.next_page_token
        if not token:
            break
    (count,) = (await service.like_store.counts([tweet_id])).values()
    return {"claims": claims, "caller_liked": recorded, "listed": listed, "count": count}


async def test_counts_of_more_tweets_than_one_read_takes_are_each_their_own(deps):
    """Counts and tweets are read up to 100 tweets a query (IN, and GROUP BY for the counts): each
    tweet gets its own figure across the reads, and a tweet without rows counts 0."""
    service = Service(deps)
    liked = [(await service.tweets.create_tweet(service.bob, f"count me {n}")).tweet.tweet_id for n in range(2)]
    likers = new_users(service, 3)
    await asyncio.gather(*(service.likes.like_tweet(u, liked[0]) for u in likers))
    await service.likes.like_tweet(likers[0], liked[1])
    unknown = [random.getrandbits(62) for _ in range(150)]
    ids = [liked[0], *unknown[:120], liked[1], *unknown[120:]]  # the second liked tweet in the second read

    assert await service.like_store.counts(ids) == {liked[0]: 3, liked[1]: 1, **dict.fromkeys(unknown, 0)}
    assert set((await service.store.counts(ids)).keys()) == set(ids)
    assert set(await service.store.get_many(ids)) == set(liked)


async def test_concurrent_likes_from_many_users_count_each_liker_once(deps):
    service = Service(deps)
    tweet_id = (await service.tweets.create_tweet(service.bob, "like me")).tweet.tweet_id
    likers = new_users(service, 40)
    # every liker taps three times, everyone at once
    taps = [service.likes.like_tweet(user_id, tweet_id) for user_id in likers for _ in range(3)]
    random.Random(3).shuffle(taps)
    await asyncio.gather(*taps)
    hydrated = await service.reader.get_tweet(likers[0], tweet_id)
    assert hydrated.counts.likes == len(likers) and hydrated.caller_liked
    state = await state_of_likes(service, tweet_id, likers)
    assert state["claims"] == state["caller_liked"] == state["listed"] == set(likers)
    liked = await outbox_rows(service, "tweet.liked", tweet_id)
    assert len({r.msg_id for r in liked}) == len(likers)  # one LikeCreated each; twins repeat its msg id
    event = events_pb2.LikeCreated.FromString(liked[0].payload)
    assert event.tweet_author_id == str(service.bob) and int(event.actor_user_id) in likers


async def test_likes_and_unlikes_racing_converge(deps):
    service = Service(deps)
    tweet_id = (await service.tweets.create_tweet(service.bob, "make up your mind")).tweet.tweet_id
    users = new_users(service, 4)
    rng = random.Random(5)
    for round_ in range(6):
        calls = [
            (service.likes.like_tweet if rng.random() < 0.5 else service.likes.unlike_tweet)(user_id, tweet_id)
            for user_id in users for _ in range(4)
        ]
        rng.shuffle(calls)
        await asyncio.gather(*calls)
        state = await state_of_likes(service, tweet_id, users)
        assert state["claims"] == state["caller_liked"] == state["listed"], (round_, state)
        assert state["count"] == len(state["claims"])
        hydrated = await service.reader.get_tweet(users[0], tweet_id)  # through the cache
        assert hydrated.counts.likes == len(state["claims"]) and hydrated.caller_liked == (users[0] in state["claims"])
    await asyncio.gather(*(service.likes.unlike_tweet(user_id, tweet_id) for user_id in users))
    assert (await service.reader.get_tweet(users[0], tweet_id)).counts.likes == 0
    assert await state_of_likes(service, tweet_id, users) == {"claims": set(), "caller_liked": set(), "listed": set(),
                                                              "count": 0}


async def test_an_unlike_finishes_what_an_interrupted_unlike_left(deps):
    service = Service(deps)
    ANN, BOB = service.ann, service.bob
    tweet_id = (await service.tweets.create_tweet(BOB, "half undone")).tweet.tweet_id
    await service.likes.like_tweet(ANN, tweet_id)
    claim = await service.like_store.find(ANN, tweet_id)
    await service.like_store.release(claim)  # the unlike died right after releasing the claim
    assert (await service.like_store.counts([tweet_id]))[tweet_id] == 0
    assert (await service.likes.list_likers(BOB, tweet_id, 10, "")).users == []
    await service.likes.unlike_tweet(ANN, tweet_id)
    assert await service.like_store.recorded(ANN, tweet_id) == []
    (unliked,) = await outbox_rows(service, "tweet.unliked", tweet_id)
    assert unliked.msg_id == f"{claim.like_id}-unliked"


async def test_every_like_of_a_user_is_read_from_their_partition_up_to_a_limit(deps):
    service = Service(deps)
    ANN, BOB = service.ann, service.bob
    tweet_ids = [(await service.tweets.create_tweet(BOB, f"like {i}")).tweet.tweet_id for i in range(3)]
    for tweet_id in tweet_ids:
        await service.likes.like_tweet(ANN, tweet_id)
    await service.likes.unlike_tweet(ANN, tweet_ids[1])

    assert sorted(await service.like_store.likes_of(ANN, 100)) == [tweet_ids[0], tweet_ids[2]]
    assert len(await service.like_store.likes_of(ANN, 1)) == 1
    assert await service.like_store.likes_of(BOB, 100) == []


async def test_comments_are_stored_listed_oldest_first_counted_and_deleted(deps):
    service = Service(deps)
    ANN, BOB = service.ann, service.bob
    tweet_id = (await service.tweets.create_tweet(BOB, "what do you think?")).tweet.tweet_id
    assert (await service.reader.get_tweet(ANN, tweet_id)).counts.comments == 0  # cached
    written = [(await service.comments.add_comment(ANN, tweet_id, f"comment {i} @bob")).comment for i in range(5)]
    assert (await service.reader.get_tweet(ANN, tweet_id)).counts.comments == 5  # the cache was invalidated
    seen, token = [], ""
    while True:
        page = await service.comments.list_comments(BOB, tweet_id, 2, token)
        seen += [(c.comment.comment_id, c.comment.text, c.author.handle) for c in page.comments]
        token = page.next_page_token
        if not token:
            break
    assert seen == [(c.comment_id, c.text, "ann") for c in written]
    mentioned = await outbox_rows(service, "tweet.mentioned", tweet_id)
    assert {events_pb2.MentionCreated.FromString(r.payload).mentioned_user_id for r in mentioned} == {str(BOB)}
    assert len(await outbox_rows(service, "tweet.commented", tweet_id)) == 5

    await service.comments.delete_comment(BOB, tweet_id, written[0].comment_id)  # the tweet's author may
    stored = await service.comment_store.get(written[0].comment_id)
    assert stored.is_deleted and stored.text == "" and stored.tweet_id == tweet_id
    with pytest.raises(NotFound):
        await service.comments.delete_comment(ANN, tweet_id, written[0].comment_id)
    assert (await service.reader.get_tweet(ANN, tweet_id)).counts.comments == 4
    (deleted,) = await outbox_rows(service, "tweet.comment_deleted", tweet_id)
    assert events_pb2.CommentDeleted.FromString(deleted.payload).actor_user_id == str(BOB)


async def test_concurrent_add_comments_with_one_request_id_make_one_comment(deps):
    service = Service(deps)
    ANN, BOB = service.ann, service.bob
    tweet_id = (await service.tweets.create_tweet(BOB, "once please")).tweet.tweet_id
    results = await asyncio.gather(
        *(service.comments.add_comment(ANN, tweet_id, "only once", request_id="comment-storm") for _ in range(8))
    )
    assert len({r.comment.comment_id for r in results}) == 1
    assert [c.comment.comment_id for c in (await service.comments.list_comments(BOB, tweet_id, 10, "")).comments] == \
        [results[0].comment.comment_id]
    assert len({r.msg_id for r in await outbox_rows(service, "tweet.commented", tweet_id)}) == 1
    # a late writer of the same draft after a delete does not bring it back
    draft = await service.comment_store.find_request(ANN, "comment-storm")
    await service.comments.delete_comment(ANN, tweet_id, draft.comment.comment_id)
    await service.comment_store.create(draft.comment, ())
    assert (await service.comment_store.counts([tweet_id]))[tweet_id] == 0
    with pytest.raises(NotFound):
        await service.comments.add_comment(ANN, tweet_id, "only once", request_id="comment-storm")
