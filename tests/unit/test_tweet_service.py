"""svc_tweet's use cases on in-memory fakes: posting, idempotency, media rules, deleting, retweets,
pagination, hydration and the cache."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta

import pytest

from mesh.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied, Unauthenticated
from mesh.testing import ManualClock, SequentialIds
from svc_tweet.domain import (
    MediaState,
    MentionCreated,
    RetweetUndone,
    Retweeted,
    StoredObject,
    TweetCreated,
    TweetDeleted,
    media_object_key,
)
from svc_tweet.service import Comments, Likes, MediaLibrary, TweetReader, Tweets, TweetSettings
from svc_tweet.testing import (
    FakeCommentStore,
    FakeLikeStore,
    FakeMarksCache,
    FakeMediaStore,
    FakeObjectStore,
    FakeTweetCache,
    FakeTweetStore,
    FakeUserDirectory,
)

ANN, BOB, CY = 11, 22, 33


class World:
    def __init__(self, settings: TweetSettings | None = None):
        self.settings = settings or TweetSettings(default_page_size=3)
        self.store = FakeTweetStore()
        self.media_store = FakeMediaStore()
        self.cache = FakeTweetCache()
        self.users = FakeUserDirectory()
        self.objects = FakeObjectStore()
        self.clock = ManualClock()
        self.ids = SequentialIds()
        self.like_store = FakeLikeStore()
        self.comment_store = FakeCommentStore()
        self.marks = FakeMarksCache()
        self.reader = TweetReader(self.store, self.cache, self.users, self.objects, self.settings,
                                  likes=self.like_store, comments=self.comment_store, marks=self.marks)
        self.tweets = Tweets(self.store, self.media_store, self.cache, self.users, self.reader, self.ids, self.clock,
                             self.settings)
        self.media = MediaLibrary(self.media_store, self.objects, self.ids, self.clock, self.settings)
        self.likes = Likes(self.store, self.like_store, self.cache, self.users, self.reader, self.ids, self.clock,
                           self.settings)
        self.comments = Comments(self.store, self.comment_store, self.cache, self.users, self.reader, self.ids,
                                 self.clock, self.settings)
        for user_id, handle in ((ANN, "ann"), (BOB, "bob"), (CY, "cy")):
            self.users.add(user_id, handle)

    async def post(self, author: int, text: str = "hello", **kwargs) -> int:
        self.clock.advance(seconds=1)
        return (await self.tweets.create_tweet(author, text, **kwargs)).tweet.tweet_id

    async def ready_media(self, owner: int, content_type: str = "image/png", size: int = 100) -> int:
        slot = await self.media.create_upload(owner, content_type, size)
        self.objects.objects[slot.media.object_key] = StoredObject(size, content_type)
        await self.media.complete_upload(owner, slot.media.media_id)
        return slot.media.media_id


@pytest.fixture
def world() -> World:
    return World()


# --- posting -------------------------------------------------------------------------------------


async def test_a_post_is_stored_announced_and_returned_hydrated(world):
    hydrated = await world.tweets.create_tweet(ANN, "hi @bob and @BOB and @nobody, mail ann@bob.com")
    tweet = hydrated.tweet
    assert tweet.author_id == ANN and tweet.text.startswith("hi @bob")
    assert hydrated.author is not None and hydrated.author.handle == "ann"
    assert tweet.mentioned_user_ids == (BOB,)  # once, known users only, not the e-mail address
    created = world.store.events_of(TweetCreated)
    assert [e.tweet.tweet_id for e in created] == [tweet.tweet_id]
    assert [e.mentioned_user_id for e in world.store.events_of(MentionCreated)] == [BOB]
    assert (await world.reader.get_tweet(BOB, tweet.tweet_id)).tweet.text == tweet.text


async def test_nobody_signed_in_cannot_post_or_read(world):
    with pytest.raises(Unauthenticated):
        await world.tweets.create_tweet(None, "hi")
    tweet_id = await world.post(ANN)
    with pytest.raises(Unauthenticated):
        await world.reader.get_tweet(None, tweet_id)


async def test_posting_as_someone_else_is_refused(world):
    with pytest.raises(PermissionDenied, match="not you"):
        await world.tweets.create_tweet(ANN, "hi", claimed_author_id=BOB)
    assert world.store.tweets == {}
    # naming yourself is fine (older REST clients send userId)
    await world.tweets.create_tweet(ANN, "hi", claimed_author_id=ANN)


async def test_a_retry_with_the_same_request_id_returns_the_first_tweet(world):
    first = await world.tweets.create_tweet(ANN, "once", request_id="r-1")
    again = await world.tweets.create_tweet(ANN, "once", request_id="r-1")
    assert again.tweet.tweet_id == first.tweet.tweet_id
    assert len(world.store.tweets) == 1 and len(world.store.events_of(TweetCreated)) == 1
    # the same request id of another author is another request
    other = await world.tweets.create_tweet(BOB, "once", request_id="r-1")
    assert other.tweet.tweet_id != first.tweet.tweet_id


async def test_a_retry_answers_with_the_first_tweet_even_when_the_tweet_replied_to_is_gone_since(world):
    parent = (await world.tweets.create_tweet(BOB, "ask me")).tweet.tweet_id
    first = await world.tweets.create_tweet(ANN, "an answer", in_reply_to_tweet_id=parent, request_id="r-reply")
    await world.tweets.delete_tweet(BOB, parent)
    again = await world.tweets.create_tweet(ANN, "an answer", in_reply_to_tweet_id=parent, request_id="r-reply")
    assert again.tweet.tweet_id == first.tweet.tweet_id
    # without a request id (or with a new one) the reply is refused as it should be
    with pytest.raises(NotFound):
        await world.tweets.create_tweet(ANN, "an answer", in_reply_to_tweet_id=parent, request_id="r-new")


async def test_a_first_attempt_reads_no_request_claim_before_claiming_it(world, monkeypatch):
    async def no_read(author_id, request_id):
        raise AssertionError("the claim (IF NOT EXISTS) answers retries: no read before it")

    monkeypatch.setattr(world.store, "find_request", no_read)
    first = await world.tweets.create_tweet(ANN, "once", request_id="r-no-read")
    assert (await world.tweets.create_tweet(ANN, "once", request_id="r-no-read")).tweet.tweet_id == first.tweet.tweet_id


async def test_concurrent_duplicates_make_one_tweet(world):
    results = await asyncio.gather(*(world.tweets.create_tweet(ANN, "dup", request_id="same") for _ in range(5)))
    assert len({r.tweet.tweet_id for r in results}) == 1
    assert len([t for t in world.store.tweets.values() if t.author_id == ANN]) == 1
    # twins may write the claimed tweet again: same event id, which the stream stores once
    assert len({e.event_id for e in world.store.events_of(TweetCreated)}) == 1


async def test_a_retry_finishes_a_claimed_tweet_whose_write_failed(world):
    world.store.fail_next_create = ConnectionError("store timed out")
    with pytest.raises(ConnectionError):
        await world.tweets.create_tweet(ANN, "after a crash", request_id="r-2")
    assert world.store.tweets == {}  # claimed, never written
    retried = await world.tweets.create_tweet(ANN, "after a crash", request_id="r-2")
    claimed = world.store.requests[(ANN, "r-2")]
    assert retried.tweet.tweet_id == claimed.tweet.tweet_id
    assert [e.event_id for e in world.store.events_of(TweetCreated)] == [claimed.event_id]


async def test_without_request_id_each_post_is_a_new_tweet(world):
    first = await world.post(ANN, "same text")
    second = await world.post(ANN, "same text")
    assert first != second


async def test_a_reply_records_the_author_replied_to_and_counts(world):
    parent = await world.post(BOB, "question?")
    reply = await world.tweets.create_tweet(ANN, "answer", in_reply_to_tweet_id=parent)
    assert reply.tweet.in_reply_to_user_id == BOB
    assert (await world.reader.get_tweet(ANN, parent)).counts.replies == 1


async def test_replying_to_or_quoting_a_missing_or_deleted_tweet_is_not_found(world):
    with pytest.raises(NotFound, match="tweet replied to 999"):
        await world.tweets.create_tweet(ANN, "hi", in_reply_to_tweet_id=999)
    gone = await world.post(BOB)
    await world.tweets.delete_tweet(BOB, gone)
    with pytest.raises(NotFound, match="tweet quoted"):
        await world.tweets.create_tweet(ANN, "hi", quoted_tweet_id=gone)
    assert all(t.author_id != ANN for t in world.store.tweets.values())


async def test_a_quote_is_hydrated_one_level_deep(world):
    inner = await world.post(CY, "inner")
    middle = await world.post(BOB, "middle", quoted_tweet_id=inner)
    outer = await world.reader.get_tweet(ANN, await world.post(ANN, "outer", quoted_tweet_id=middle))
    assert outer.quoted is not None and outer.quoted.tweet.tweet_id == middle
    assert outer.quoted.author.handle == "bob"
    assert outer.quoted.quoted is None  # not two levels
    assert outer.tweet.quoted_user_id == BOB


# --- media rules ---------------------------------------------------------------------------------


async def test_a_tweet_carries_ready_media_with_download_urls(world):
    media_id = await world.ready_media(ANN)
    hydrated = await world.tweets.create_tweet(ANN, "look", media_ids=[media_id])
    (view,) = hydrated.media
    assert view.ref.media_id == media_id and view.ref.content_type == "image/png"
    assert view.url.startswith(f"https://bucket.test/{media_object_key(ANN, media_id)}?get")


async def test_media_of_someone_else_or_unknown_is_not_found(world):
    bobs = await world.ready_media(BOB)
    with pytest.raises(NotFound, match=f"media {bobs} does not exist or is not yours"):
        await world.tweets.create_tweet(ANN, "mine?", media_ids=[bobs])
    with pytest.raises(NotFound):
        await world.tweets.create_tweet(ANN, "?", media_ids=[424242])


async def test_media_not_uploaded_yet_cannot_be_attached(world):
    slot = await world.media.create_upload(ANN, "image/png", 100)
    with pytest.raises(FailedPrecondition, match="PENDING_UPLOAD, not READY"):
        await world.tweets.create_tweet(ANN, "too early", media_ids=[slot.media.media_id])
    assert world.store.tweets == {}


async def test_a_media_goes_to_one_tweet_only(world):
    media_id = await world.ready_media(ANN)
    await world.post(ANN, "first", media_ids=[media_id])
    with pytest.raises(FailedPrecondition, match="already attached"):
        await world.post(ANN, "second", media_ids=[media_id])
    assert len(world.store.tweets) == 1


async def test_a_media_held_by_a_post_that_never_got_written_is_freed_later(world):
    media_id = await world.ready_media(ANN)
    world.store.fail_next_create = ConnectionError("store timed out")
    with pytest.raises(ConnectionError):
        await world.post(ANN, "lost", media_ids=[media_id])
    with pytest.raises(FailedPrecondition, match="already attached"):  # maybe still being written
        await world.post(ANN, "too soon", media_ids=[media_id])
    world.clock.advance(minutes=5)
    await world.post(ANN, "found again", media_ids=[media_id])


async def test_a_video_goes_alone(world):
    video = await world.ready_media(ANN, "video/mp4")
    image = await world.ready_media(ANN)
    with pytest.raises(InvalidArgument, match="exactly one GIF or video"):
        await world.post(ANN, "mix", media_ids=[image, video])
    four_images = [await world.ready_media(ANN) for _ in range(4)]
    assert len((await world.tweets.create_tweet(ANN, "album", media_ids=four_images)).media) == 4


# --- media uploads -------------------------------------------------------------------------------


async def test_an_upload_slot_names_where_and_how_to_upload(world):
    slot = await world.media.create_upload(ANN, "image/jpeg", 1234)
    assert slot.media.state is MediaState.PENDING_UPLOAD
    assert slot.media.object_key == f"media/{ANN}/{slot.media.media_id}"
    assert slot.upload.method == "PUT"
    assert slot.upload.headers == {"Content-Type": "image/jpeg", "Content-Length": "1234"}
    assert slot.expire_time == world.clock.now() + timedelta(seconds=world.settings.upload_url_ttl_s)


async def test_completing_before_the_upload_keeps_the_slot_open(world):
    slot = await world.media.create_upload(ANN, "image/png", 10)
    with pytest.raises(FailedPrecondition, match="no file was uploaded"):
        await world.media.complete_upload(ANN, slot.media.media_id)
    world.objects.objects[slot.media.object_key] = StoredObject(10, "image/png")
    assert (await world.media.complete_upload(ANN, slot.media.media_id)).state is MediaState.READY
    # completing again is harmless
    assert (await world.media.complete_upload(ANN, slot.media.media_id)).state is MediaState.READY


async def test_an_upload_of_another_size_is_rejected_for_good(world):
    slot = await world.media.create_upload(ANN, "image/png", 10)
    world.objects.objects[slot.media.object_key] = StoredObject(11, "image/png")
    with pytest.raises(FailedPrecondition, match="11 bytes, 10 were declared"):
        await world.media.complete_upload(ANN, slot.media.media_id)
    media = await world.media.get_media(ANN, slot.media.media_id)
    assert media.state is MediaState.FAILED and "10 were declared" in media.failure_reason
    assert world.objects.deleted == [slot.media.object_key]
    assert world.media.download_url(media) == ""


async def test_media_of_others_is_invisible(world):
    slot = await world.media.create_upload(ANN, "image/png", 10)
    with pytest.raises(NotFound):
        await world.media.get_media(BOB, slot.media.media_id)
    with pytest.raises(NotFound):
        await world.media.complete_upload(BOB, slot.media.media_id)


# --- deleting ------------------------------------------------------------------------------------


async def test_only_the_author_deletes(world):
    tweet_id = await world.post(ANN)
    with pytest.raises(PermissionDenied, match="not yours"):
        await world.tweets.delete_tweet(BOB, tweet_id)
    assert not world.store.tweets[tweet_id].is_deleted


async def test_a_deleted_tweet_is_gone_everywhere(world):
    parent = await world.post(BOB)
    tweet_id = await world.post(ANN, "oops", in_reply_to_tweet_id=parent)
    await world.reader.get_tweet(ANN, parent)  # cached with its reply count
    await world.tweets.delete_tweet(ANN, tweet_id)
    with pytest.raises(NotFound):
        await world.reader.get_tweet(ANN, tweet_id)
    assert [t.tweet.tweet_id for t in await world.reader.batch_get_tweets(ANN, [tweet_id, parent])] == [parent]
    assert (await world.reader.get_tweet(ANN, parent)).counts.replies == 0  # cache invalidated
    assert tweet_id not in [t.tweet.tweet_id for t in (await world.reader.list_user_tweets(ANN, ANN, 10, "")).tweets]
    (deleted,) = world.store.events_of(TweetDeleted)
    assert deleted.tweet.tweet_id == tweet_id
    with pytest.raises(NotFound):
        await world.tweets.delete_tweet(ANN, tweet_id)


async def test_a_retry_of_a_deleted_post_does_not_bring_it_back(world):
    tweet_id = (await world.tweets.create_tweet(ANN, "short-lived", request_id="r-3")).tweet.tweet_id
    await world.tweets.delete_tweet(ANN, tweet_id)
    with pytest.raises(NotFound):
        await world.tweets.create_tweet(ANN, "short-lived", request_id="r-3")
    assert world.store.tweets[tweet_id].is_deleted


# --- retweets ------------------------------------------------------------------------------------


async def test_retweeting_twice_returns_the_same_retweet(world):
    original = await world.post(BOB)
    first, of = await world.tweets.retweet(ANN, original)
    second, _ = await world.tweets.retweet(ANN, original)
    assert first == second and of == original
    assert len(world.store.events_of(Retweeted)) == 1
    hydrated = await world.reader.get_tweet(ANN, original)
    assert hydrated.counts.retweets == 1 and hydrated.caller_retweeted
    assert not (await world.reader.get_tweet(CY, original)).caller_retweeted


async def test_concurrent_retweets_make_one(world):
    original = await world.post(BOB)
    results = await asyncio.gather(*(world.tweets.retweet(ANN, original) for _ in range(5)))
    assert len(set(results)) == 1
    assert (await world.reader.get_tweet(ANN, original)).counts.retweets == 1


async def test_retweeting_a_retweet_retweets_the_original(world):
    original = await world.post(BOB)
    anns_retweet, _ = await world.tweets.retweet(ANN, original)
    cys_retweet, of = await world.tweets.retweet(CY, anns_retweet)
    assert of == original
    shown = await world.reader.get_tweet(CY, cys_retweet)
    assert shown.retweeted is not None and shown.retweeted.tweet.tweet_id == original
    assert shown.retweeted.counts.retweets == 2


async def test_undoing_a_retweet_removes_it_and_is_idempotent(world):
    original = await world.post(BOB)
    retweet_id, _ = await world.tweets.retweet(ANN, original)
    await world.tweets.undo_retweet(ANN, original)
    await world.tweets.undo_retweet(ANN, original)  # nothing left: still fine
    assert len(world.store.events_of(RetweetUndone)) == 1
    with pytest.raises(NotFound):
        await world.reader.get_tweet(ANN, retweet_id)
    hydrated = await world.reader.get_tweet(ANN, original)
    assert hydrated.counts.retweets == 0 and not hydrated.caller_retweeted
    again, _ = await world.tweets.retweet(ANN, original)  # a new retweet after the undo
    assert again != retweet_id
    with pytest.raises(NotFound):
        await world.tweets.undo_retweet(ANN, 987654)


async def test_deleting_a_retweet_undoes_it(world):
    original = await world.post(BOB)
    retweet_id, _ = await world.tweets.retweet(ANN, original)
    await world.tweets.delete_tweet(ANN, retweet_id)
    assert [e.retweet.tweet_id for e in world.store.events_of(RetweetUndone)] == [retweet_id]
    assert world.store.events_of(TweetDeleted) == []
    assert (await world.reader.get_tweet(ANN, original)).counts.retweets == 0


async def test_a_retweet_of_a_deleted_tweet_disappears(world):
    original = await world.post(BOB)
    retweet_id, _ = await world.tweets.retweet(ANN, original)
    await world.tweets.delete_tweet(BOB, original)
    assert await world.reader.batch_get_tweets(ANN, [retweet_id]) == []
    with pytest.raises(NotFound):
        await world.tweets.retweet(CY, original)


async def test_a_claim_left_by_an_interrupted_undo_is_repaired(world):
    original = await world.post(BOB)
    retweet_id, _ = await world.tweets.retweet(ANN, original)
    claim = world.store.retweet_claims[(ANN, original)]
    await world.tweets.delete_tweet(ANN, retweet_id)
    world.store.retweet_claims[(ANN, original)] = claim  # as if the undo died before releasing it
    again, _ = await world.tweets.retweet(ANN, original)
    assert again != retweet_id and not world.store.tweets[again].is_deleted


# --- lists ---------------------------------------------------------------------------------------


async def test_user_tweets_page_newest_first_with_opaque_tokens(world):
    posted = [await world.post(ANN, f"t{i}") for i in range(7)]
    seen, token, pages = [], "", 0
    while True:
        page = await world.reader.list_user_tweets(BOB, ANN, 0, token)  # 0: the default size (3)
        seen += [t.tweet.tweet_id for t in page.tweets]
        pages += 1
        token = page.next_page_token
        if not token:
            break
    assert seen == list(reversed(posted)) and pages == 3


async def test_user_tweets_span_months(world):
    first = await world.post(ANN, "march")
    world.clock.advance(days=40)
    second = await world.post(ANN, "april")
    page = await world.reader.list_user_tweets(ANN, ANN, 1, "")
    rest = await world.reader.list_user_tweets(ANN, ANN, 1, page.next_page_token)
    assert [t.tweet.tweet_id for t in page.tweets + rest.tweets] == [second, first]
    assert rest.next_page_token == ""


async def test_user_tweets_filters_replies_and_retweets(world):
    post = await world.post(ANN, "post")
    await world.post(ANN, "reply", in_reply_to_tweet_id=post)
    await world.tweets.retweet(ANN, await world.post(BOB))
    page = await world.reader.list_user_tweets(CY, ANN, 10, "", exclude_replies=True, exclude_retweets=True)
    assert [t.tweet.tweet_id for t in page.tweets] == [post]
    assert len((await world.reader.list_user_tweets(CY, ANN, 10, "")).tweets) == 3


async def test_a_page_token_only_works_for_its_own_list(world):
    for i in range(4):
        await world.post(ANN, f"t{i}")
    token = (await world.reader.list_user_tweets(BOB, ANN, 2, "")).next_page_token
    with pytest.raises(InvalidArgument, match="another list"):
        await world.reader.list_user_tweets(BOB, BOB, 2, token)
    with pytest.raises(InvalidArgument, match="another list"):
        await world.reader.list_user_tweets(BOB, ANN, 2, token, exclude_replies=True)
    with pytest.raises(InvalidArgument, match="not a page token"):
        await world.reader.list_user_tweets(BOB, ANN, 2, "garbage!")


async def test_listing_an_unknown_user_is_not_found_unless_the_directory_is_down(world):
    with pytest.raises(NotFound, match="user 999"):
        await world.reader.list_user_tweets(ANN, 999, 10, "")
    world.users.answering = False
    assert (await world.reader.list_user_tweets(ANN, 999, 10, "")).tweets == []


async def test_replies_are_listed_oldest_first(world):
    parent = await world.post(BOB)
    replies = [await world.post(ANN, f"r{i}", in_reply_to_tweet_id=parent) for i in range(3)]
    first = await world.reader.list_replies(CY, parent, 2, "")
    rest = await world.reader.list_replies(CY, parent, 2, first.next_page_token)
    assert [t.tweet.tweet_id for t in first.tweets + rest.tweets] == replies and rest.next_page_token == ""


# --- hydration -----------------------------------------------------------------------------------


async def test_tweets_without_author_profiles_when_the_graph_cannot_answer(world):
    tweet_id = await world.post(ANN)
    world.users.answering = False
    hydrated = await world.reader.get_tweet(BOB, tweet_id)
    assert hydrated.author is None and hydrated.tweet.author_id == ANN


async def test_batch_get_keeps_the_order_asked_and_leaves_out_what_is_missing(world):
    a, b = await world.post(ANN), await world.post(BOB)
    found = await world.reader.batch_get_tweets(CY, [b, 123456, a])
    assert [t.tweet.tweet_id for t in found] == [b, a]


async def test_reads_are_served_from_the_cache_once_filled(world):
    tweet_id = await world.post(ANN)
    await world.reader.get_tweet(BOB, tweet_id)
    world.store.tweets[tweet_id] = replace(world.store.tweets[tweet_id], text="changed behind the cache's back")
    assert (await world.reader.get_tweet(BOB, tweet_id)).tweet.text == "hello"
    assert tweet_id in world.cache.cached_ids()


async def test_concurrent_reads_of_an_uncached_tweet_share_one_store_read(world, monkeypatch):
    tweet_id = await world.post(ANN, "shown in many homes")
    world.cache.values.clear()  # cold, like a restarted Redis
    reads: list[list[int]] = []
    real = world.store.get_many

    async def counted(tweet_ids):
        reads.append(list(tweet_ids))
        return await real(tweet_ids)

    monkeypatch.setattr(world.store, "get_many", counted)
    pages = await asyncio.gather(*(world.reader.batch_get_tweets(who, [tweet_id]) for who in (ANN, BOB, CY) * 4))
    assert all([t.tweet.tweet_id for t in page] == [tweet_id] for page in pages)
    assert reads == [[tweet_id]]
