"""svc_tweet's adapters against the real Cassandra, Redis and MinIO of the stack, driven through the
use cases: batches with their outbox rows, conditional claims under concurrency, presigned uploads,
the hydration cache. The graph service is faked (its adapter has its own tests)."""

from __future__ import annotations

import asyncio
import dataclasses
import urllib.error
import urllib.request
import uuid
from datetime import datetime, timezone

import pytest

from mesh import cql, ids
from mesh.deps import Dependencies
from mesh.errors import FailedPrecondition, NotFound
from mesh.outbox import CqlOutbox
from mesh.schema import migrate_cql
from mesh.testing import ManualClock
from svc_tweet.adapters.cql_comments import CqlCommentStore
from svc_tweet.adapters.cql_likes import CqlLikeStore
from svc_tweet.adapters.cql_media import CqlMediaStore
from svc_tweet.adapters.cql_tweets import CqlTweetStore
from svc_tweet.adapters.outbox_events import SUBJECTS
from svc_tweet.adapters.redis_cache import RedisTweetCache
from svc_tweet.adapters.redis_marks import RedisMarksCache
from svc_tweet.adapters.s3_objects import S3ObjectStore
from mesh.system import SnowflakeIds, SystemClock
from svc_tweet.domain import MediaState, TweetDeleted, events_announcing
from svc_tweet.service import Comments, Likes, MediaLibrary, TweetReader, Tweets, TweetSettings
from svc_tweet.testing import FakeUserDirectory
from tests.conftest import require_listening
from tweetmesh.events.v1 import events_pb2

@pytest.fixture(scope="module")
async def deps(stack):
    """One scratch keyspace for the module (a migration takes seconds); each test has users of its own."""
    for port, what in ((stack.cql_port, "Cassandra"), (stack.redis_port, "Redis"), (stack.s3_port, "the object store")):
        require_listening(stack.host, port, what)
    scratch = dataclasses.replace(stack, cql_keyspace=f"it_{uuid.uuid4().hex[:12]}")
    await migrate_cql(scratch)
    opened = await Dependencies.open(scratch, name="integration-test-tweet", cql=True, redis=True, s3=True)
    yield opened
    try:
        await cql.execute(opened.cql, f"DROP KEYSPACE IF EXISTS {scratch.cql_keyspace}", cap_s=30)
    finally:
        await opened.close()


class Service:
    """The use cases over the real adapters, as main.py wires them (graph faked)."""

    def __init__(self, deps: Dependencies, clock=None, *, max_scanned_rows: int = 1000):
        keyspace = deps.stack.cql_keyspace
        # users of this test only, so tests sharing the keyspace never see each other's rows
        self.ann, self.bob = (uuid.uuid4().int >> 68 for _ in range(2))
        self.session, self.keyspace = deps.cql, keyspace
        self.kicks: list[str] = []
        outbox = self.cql_outbox = CqlOutbox(deps.cql, keyspace)
        self.store = CqlTweetStore(deps.cql, keyspace, outbox, on_commit=self._kick, max_scanned_rows=max_scanned_rows)
        self.like_store = CqlLikeStore(deps.cql, keyspace, outbox, on_commit=self._kick)
        self.comment_store = CqlCommentStore(deps.cql, keyspace, outbox, on_commit=self._kick)
        self.media_store = CqlMediaStore(deps.cql, keyspace)
        # a prefix of its own: the scratch keyspace's tweet ids must not meet the stack's cache
        self.cache = RedisTweetCache(deps.redis, ttl_s=60, prefix=f"it-tweet-{keyspace}")
        self.objects = S3ObjectStore(deps.s3, deps.stack.s3_bucket)
        self.users = FakeUserDirectory()
        self.users.add(self.ann, "ann")
        self.users.add(self.bob, "bob")
        settings = TweetSettings()
        self.clock = clock or SystemClock()
        self.reader = TweetReader(self.store, self.cache, self.users, self.objects, settings,
                                  likes=self.like_store, comments=self.comment_store,
                                  marks=RedisMarksCache(deps.redis, ttl_s=60, prefix=f"it-marks-{keyspace}"))
        self.tweets = Tweets(self.store, self.media_store, self.cache, self.users, self.reader, SnowflakeIds(),
                             self.clock, settings)
        self.media = MediaLibrary(self.media_store, self.objects, SnowflakeIds(), self.clock, settings)
        self.likes = Likes(self.store, self.like_store, self.cache, self.users, self.reader, SnowflakeIds(),
                           self.clock, settings)
        self.comments = Comments(self.store, self.comment_store, self.cache, self.users, self.reader, SnowflakeIds(),
                                 self.clock, settings)

    def _kick(self, key: str) -> None:
        self.kicks.append(key)

    async def rows(self, query: str, *parameters) -> list:
        return list(await cql.execute(self.session, query.format(ks=self.keyspace), parameters or None) or ())

    async def outbox(self) -> list:
        """The outbox rows of this test's users' events (every payload starts with actor_user_id)."""
        rows = await self.rows("SELECT shard, subject, payload, msg_id FROM {ks}.outbox")
        mine = {str(self.ann), str(self.bob)}
        return [r for r in rows if events_pb2.TweetDeleted.FromString(r.payload).actor_user_id in mine]


async def test_a_post_is_one_batch_with_its_outbox_row(deps):
    service = Service(deps)
    ANN, BOB = service.ann, service.bob
    hydrated = await service.tweets.create_tweet(ANN, "hello @bob")
    tweet = hydrated.tweet
    (row,) = await service.rows("SELECT author_id, text, mentioned_user_ids FROM {ks}.tweets WHERE tweet_id = %s",
                                tweet.tweet_id)
    assert (row.author_id, row.text, row.mentioned_user_ids) == (ANN, "hello @bob", [BOB])
    listed = await service.rows("SELECT tweet_id FROM {ks}.tweets_by_author WHERE author_id = %s AND month = %s",
                                ANN, tweet.create_time.year * 100 + tweet.create_time.month)
    assert [r.tweet_id for r in listed] == [tweet.tweet_id]
    by_subject = {r.subject: r for r in await service.outbox()}
    assert set(by_subject) == {"tweet.created", "tweet.mentioned"}
    created = events_pb2.TweetCreated.FromString(by_subject["tweet.created"].payload)
    assert (created.tweet_id, created.actor_user_id, created.text) == (str(tweet.tweet_id), str(ANN), "hello @bob")
    assert list(created.mentioned_user_ids) == [str(BOB)]
    assert created.occurred_at.ToDatetime(tzinfo=timezone.utc) == tweet.create_time
    assert by_subject["tweet.created"].msg_id == created.event_id
    # the relay was woken for the shard the events went to: the author's
    assert service.kicks == [str(ANN)]
    assert {row.shard for row in await service.outbox()} == {service.cql_outbox.shard_of(str(ANN))}


async def test_concurrent_creates_with_one_request_id_make_one_tweet(deps):
    service = Service(deps)
    ANN, BOB = service.ann, service.bob
    results = await asyncio.gather(
        *(service.tweets.create_tweet(ANN, "only once", request_id="retry-storm") for _ in range(8))
    )
    assert len({r.tweet.tweet_id for r in results}) == 1
    listed = await service.store.page_by_author(ANN, None, 10, exclude_replies=False, exclude_retweets=False)
    assert listed.tweet_ids == [results[0].tweet.tweet_id]
    created = [r for r in await service.outbox() if r.subject == "tweet.created"]
    assert created and len({r.msg_id for r in created}) == 1  # rewrites carry the same event id


async def test_a_rewrite_of_a_deleted_tweet_does_not_bring_it_back(deps):
    service = Service(deps)
    ANN, BOB = service.ann, service.bob
    tweet = (await service.tweets.create_tweet(ANN, "gone soon", request_id="r-1")).tweet
    draft = await service.store.find_request(ANN, "r-1")
    await service.tweets.delete_tweet(ANN, tweet.tweet_id)
    # a late writer of the same draft (a twin that found the claim before the delete)
    await service.store.create(draft.tweet, events_announcing(draft))
    stored = (await service.store.get_many([tweet.tweet_id]))[tweet.tweet_id]
    assert stored.is_deleted and stored.text == ""
    page = await service.reader.list_user_tweets(BOB, ANN, 10, "")
    assert page.tweets == []
    deleted = [r for r in await service.outbox() if r.subject == SUBJECTS[TweetDeleted]]
    assert events_pb2.TweetDeleted.FromString(deleted[0].payload).tweet_id == str(tweet.tweet_id)
    with pytest.raises(NotFound):
        await service.reader.get_tweet(BOB, tweet.tweet_id)


async def test_retweets_are_claimed_once_and_counted_exactly(deps):
    service = Service(deps)
    ANN, BOB = service.ann, service.bob
    original = (await service.tweets.create_tweet(BOB, "share me")).tweet.tweet_id
    results = await asyncio.gather(*(service.tweets.retweet(ANN, original) for _ in range(5)))
    assert len(set(results)) == 1
    hydrated = await service.reader.get_tweet(ANN, original)
    assert hydrated.counts.retweets == 1 and hydrated.caller_retweeted
    await service.tweets.undo_retweet(ANN, original)
    hydrated = await service.reader.get_tweet(ANN, original)
    assert hydrated.counts.retweets == 0 and not hydrated.caller_retweeted
    subjects = [r.subject for r in await service.outbox()]
    assert subjects.count("tweet.retweeted") >= 1 and subjects.count("tweet.retweet_undone") == 1


async def test_every_retweet_of_a_user_is_read_from_their_partition_up_to_a_limit(deps):
    service = Service(deps)
    ANN, BOB = service.ann, service.bob
    originals = [(await service.tweets.create_tweet(BOB, f"share {i}")).tweet.tweet_id for i in range(3)]
    for original in originals:
        await service.tweets.retweet(ANN, original)
    await service.tweets.undo_retweet(ANN, originals[0])

    assert sorted(await service.store.retweets_of(ANN, 100)) == sorted(originals[1:])
    assert len(await service.store.retweets_of(ANN, 1)) == 1
    assert await service.store.retweets_of(BOB, 100) == []


async def test_user_tweets_page_across_month_partitions(deps):
    clock = ManualClock(datetime(2025, 1, 15, tzinfo=timezone.utc))
    service = Service(deps, clock, max_scanned_rows=3)
    ANN, BOB = service.ann, service.bob
    posted = []
    for month in range(5):  # two tweets a month, January to May, and a reply each month
        for i in range(2):
            clock.advance(hours=1)
            posted.append((await service.tweets.create_tweet(ANN, f"m{month} t{i}")).tweet.tweet_id)
        clock.advance(hours=1)
        await service.tweets.create_tweet(ANN, "a reply", in_reply_to_tweet_id=posted[-1])
        clock.advance(days=31)
    seen, token, calls = [], "", 0
    while True:
        page = await service.reader.list_user_tweets(BOB, ANN, 4, token, exclude_replies=True)
        seen += [t.tweet.tweet_id for t in page.tweets]
        calls += 1
        token = page.next_page_token
        if not token:
            break
    # every post once, newest first; the scan budget (3 rows) made some pages short, not wrong
    assert seen == list(reversed(posted))
    assert calls > 3


async def test_cache_read_through_and_invalidation(deps):
    service = Service(deps)
    ANN, BOB = service.ann, service.bob
    tweet_id = (await service.tweets.create_tweet(BOB, "cache me")).tweet.tweet_id
    assert (await service.reader.get_tweet(ANN, tweet_id)).counts.replies == 0
    cached = await service.cache.lookup([tweet_id])
    assert cached.hits[tweet_id].tweet.text == "cache me"
    # served from the cache: a change behind its back is not seen...
    await service.rows("UPDATE {ks}.tweets SET text = 'changed' WHERE tweet_id = %s", tweet_id)
    assert (await service.reader.get_tweet(ANN, tweet_id)).tweet.text == "cache me"
    # ...until a change through the service invalidates it: a reply changes the count
    await service.tweets.create_tweet(ANN, "a reply", in_reply_to_tweet_id=tweet_id)
    again = await service.reader.get_tweet(ANN, tweet_id)
    assert again.counts.replies == 1 and again.tweet.text == "changed"
    await service.tweets.delete_tweet(BOB, tweet_id)
    with pytest.raises(NotFound):
        await service.reader.get_tweet(ANN, tweet_id)


def _http(method: str, url: str, body: bytes | None = None, headers: dict | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


async def test_media_upload_through_the_presigned_url_then_attached_and_served(deps):
    service = Service(deps)
    ANN, BOB = service.ann, service.bob
    body = b"\x89PNG\r\n\x1a\n" + uuid.uuid4().bytes * 8
    slot = await service.media.create_upload(ANN, "image/png", len(body))
    try:
        # another size than declared (sent with its true length): the signature does not match
        status, _ = await asyncio.to_thread(_http, "PUT", slot.upload.url, body + b"x",
                                            {"Content-Type": slot.upload.headers["Content-Type"]})
        assert status == 403
        with pytest.raises(FailedPrecondition, match="no file was uploaded"):
            await service.media.complete_upload(ANN, slot.media.media_id)
        status, _ = await asyncio.to_thread(_http, "PUT", slot.upload.url, body, slot.upload.headers)
        assert status == 200
        ready = await service.media.complete_upload(ANN, slot.media.media_id)
        assert ready.state is MediaState.READY
        hydrated = await service.tweets.create_tweet(ANN, "a picture", media_ids=[ready.media_id])
        (media,) = hydrated.media
        assert await asyncio.to_thread(_http, "GET", media.url) == (200, body)
        with pytest.raises(FailedPrecondition, match="already attached"):
            await service.tweets.create_tweet(ANN, "again", media_ids=[ready.media_id])
    finally:
        await service.objects.delete(slot.media.object_key)


async def test_an_object_of_another_size_is_refused_at_completion(deps, stack):
    service = Service(deps)
    ANN, BOB = service.ann, service.bob
    slot = await service.media.create_upload(ANN, "image/png", 10)
    # a store that does not enforce the signed length (or a bug) let 11 bytes in
    await asyncio.to_thread(deps.s3.put_object, Bucket=stack.s3_bucket, Key=slot.media.object_key, Body=b"0" * 11,
                            ContentType="image/png")
    with pytest.raises(FailedPrecondition, match="11 bytes, 10 were declared"):
        await service.media.complete_upload(ANN, slot.media.media_id)
    assert (await service.media.get_media(ANN, slot.media.media_id)).state is MediaState.FAILED
    assert await service.objects.stat(slot.media.object_key) is None  # the rejected file is gone
    with pytest.raises(FailedPrecondition, match="is FAILED"):
        await service.tweets.create_tweet(ANN, "with it", media_ids=[slot.media.media_id])


async def test_a_media_claimed_by_a_post_that_never_got_written_is_taken_over_later(deps, stack):
    service = Service(deps)
    ANN = service.ann
    slot = await service.media.create_upload(ANN, "image/png", 4)
    await asyncio.to_thread(deps.s3.put_object, Bucket=stack.s3_bucket, Key=slot.media.object_key, Body=b"\x89PNG",
                            ContentType="image/png")
    try:
        await service.media.complete_upload(ANN, slot.media.media_id)
        # a post that claimed the media and died before writing its tweet, just now / an hour ago
        just_now = ids.new_id()
        an_hour_ago = ((ids.new_id() >> ids.TIMESTAMP_SHIFT) - 3_600_000) << ids.TIMESTAMP_SHIFT
        await service.media_store.attach([slot.media.media_id], just_now, service.clock.now())
        with pytest.raises(FailedPrecondition, match="already attached"):  # it may still be writing
            await service.tweets.create_tweet(ANN, "mine now?", media_ids=[slot.media.media_id])
        assert await service.media_store.reassign(slot.media.media_id, just_now, an_hour_ago, service.clock.now())
        posted = await service.tweets.create_tweet(ANN, "mine now", media_ids=[slot.media.media_id])
        # a claim attempt for another tweet answers with the holder
        holders = await service.media_store.attach([slot.media.media_id], 1, service.clock.now())
        assert holders[slot.media.media_id].tweet_id == posted.tweet.tweet_id
    finally:
        await service.objects.delete(slot.media.object_key)
