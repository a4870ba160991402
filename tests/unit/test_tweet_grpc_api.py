"""TweetService over gRPC on an in-process server with the real call pipeline and in-memory fakes:
what a client sees (status codes, validation, the shape of the answers)."""

from __future__ import annotations

import grpc
import pytest

from mesh.interceptors import CALLER_HEADER, CallPipeline
from mesh.testing import ManualClock, SequentialIds
from svc_tweet.grpc_api import TweetServiceApi
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
from tweetmesh.tweet.v1 import tweet_pb2
from tweetmesh.tweet.v1 import tweet_service_pb2 as pb
from tweetmesh.tweet.v1 import tweet_service_pb2_grpc

ANN, BOB, CY = "11", "22", "33"


class MemoryAnswerLog:
    def __init__(self) -> None:
        self.answers: dict[tuple[str, str, str], bytes] = {}

    async def recall(self, scope: str, request_id: str, caller_id: str) -> bytes | None:
        return self.answers.get((scope, request_id, caller_id))

    async def remember(self, scope: str, request_id: str, caller_id: str, response: bytes) -> bytes:
        return self.answers.setdefault((scope, request_id, caller_id), response)


@pytest.fixture(scope="module")
async def stub():
    store, media_store, cache, users, objects = (
        FakeTweetStore(), FakeMediaStore(), FakeTweetCache(), FakeUserDirectory(), FakeObjectStore()
    )
    like_store, comment_store = FakeLikeStore(), FakeCommentStore()
    users.add(int(ANN), "ann")
    users.add(int(BOB), "bob")
    users.add(int(CY), "cy")
    settings, ids, clock = TweetSettings(), SequentialIds(), ManualClock()
    reader = TweetReader(store, cache, users, objects, settings, likes=like_store, comments=comment_store,
                         marks=FakeMarksCache())
    api = TweetServiceApi(
        reader=reader,
        tweets=Tweets(store, media_store, cache, users, reader, ids, clock, settings),
        media=MediaLibrary(media_store, objects, ids, clock, settings),
        likes=Likes(store, like_store, cache, users, reader, ids, clock, settings),
        comments=Comments(store, comment_store, cache, users, reader, ids, clock, settings),
        answers=MemoryAnswerLog(),
    )
    server = grpc.aio.server(interceptors=[CallPipeline(default_deadline_s=5)])
    tweet_service_pb2_grpc.add_TweetServiceServicer_to_server(api, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        yield tweet_service_pb2_grpc.TweetServiceStub(channel)
    await server.stop(None)


def as_user(user_id: str) -> dict:
    return {"metadata": ((CALLER_HEADER, user_id),), "timeout": 5}


async def _code(call) -> grpc.StatusCode:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call
    return raised.value.code()


async def test_create_then_get_answers_the_hydrated_tweet(stub):
    created = await stub.CreateTweet(pb.CreateTweetRequest(twitter_content="hi @bob", user_id=ANN), **as_user(ANN))
    assert created.tweet_id == created.tweet.tweet_id and created.tweet.author.handle == "ann"
    assert list(created.tweet.mentioned_user_ids) == [BOB]
    got = await stub.GetTweet(pb.GetTweetRequest(tweet_id=created.tweet_id), **as_user(BOB))
    assert got.tweet.text == "hi @bob" and got.tweet.create_time.seconds > 0


async def test_without_a_caller_every_rpc_is_unauthenticated(stub):
    assert await _code(stub.CreateTweet(pb.CreateTweetRequest(twitter_content="hi"), timeout=5)) == \
        grpc.StatusCode.UNAUTHENTICATED
    assert await _code(stub.GetTweet(pb.GetTweetRequest(tweet_id="1"), timeout=5)) == grpc.StatusCode.UNAUTHENTICATED


async def test_a_body_naming_another_author_is_permission_denied(stub):
    request = pb.CreateTweetRequest(twitter_content="hi", user_id=BOB)
    assert await _code(stub.CreateTweet(request, **as_user(ANN))) == grpc.StatusCode.PERMISSION_DENIED


async def test_text_length_counts_characters_not_bytes(stub):
    emoji = "\U0001F426" * 280  # 280 characters, 1120 bytes in UTF-8
    assert (await stub.CreateTweet(pb.CreateTweetRequest(twitter_content=emoji), **as_user(ANN))).tweet.text == emoji
    for bad in (emoji + "!", "   ", ""):
        assert await _code(stub.CreateTweet(pb.CreateTweetRequest(twitter_content=bad), **as_user(ANN))) == \
            grpc.StatusCode.INVALID_ARGUMENT


async def test_deleting_someone_elses_tweet_is_denied_and_a_missing_one_not_found(stub):
    created = await stub.CreateTweet(pb.CreateTweetRequest(twitter_content="mine"), **as_user(ANN))
    assert await _code(stub.DeleteTweet(pb.DeleteTweetRequest(tweet_id=created.tweet_id), **as_user(BOB))) == \
        grpc.StatusCode.PERMISSION_DENIED
    await stub.DeleteTweet(pb.DeleteTweetRequest(tweet_id=created.tweet_id, request_id="del-1"), **as_user(ANN))
    # a retry with the request id gets the first answer; without one, the tweet is simply gone
    await stub.DeleteTweet(pb.DeleteTweetRequest(tweet_id=created.tweet_id, request_id="del-1"), **as_user(ANN))
    assert await _code(stub.DeleteTweet(pb.DeleteTweetRequest(tweet_id=created.tweet_id), **as_user(ANN))) == \
        grpc.StatusCode.NOT_FOUND


async def test_retweet_answers_the_same_retweet_twice(stub):
    original = await stub.CreateTweet(pb.CreateTweetRequest(twitter_content="share me"), **as_user(BOB))
    first = await stub.Retweet(pb.RetweetRequest(tweet_id=original.tweet_id), **as_user(ANN))
    second = await stub.Retweet(pb.RetweetRequest(tweet_id=original.tweet_id), **as_user(ANN))
    assert first == second and first.retweet_of_tweet_id == original.tweet_id
    shown = await stub.GetTweet(pb.GetTweetRequest(tweet_id=first.tweet_id), **as_user(ANN))
    assert shown.tweet.retweeted_tweet.tweet_id == original.tweet_id and shown.tweet.caller_retweeted
    assert shown.tweet.retweeted_tweet.retweet_count == 1


async def test_a_media_upload_slot_tells_how_to_upload(stub):
    slot = await stub.CreateMediaUpload(pb.CreateMediaUploadRequest(content_type="image/png", size_bytes=42),
                                        **as_user(ANN))
    assert slot.upload_method == "PUT" and slot.upload_url
    assert dict(slot.upload_headers) == {"Content-Type": "image/png", "Content-Length": "42"}
    media = (await stub.GetMedia(pb.GetMediaRequest(media_id=slot.media_id), **as_user(ANN))).media
    assert media.state == tweet_pb2.MEDIA_STATE_PENDING_UPLOAD and media.url == ""
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stub.CompleteMediaUpload(pb.CompleteMediaUploadRequest(media_id=slot.media_id), **as_user(ANN))
    assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION and "PUT it to the upload_url" in raised.value.details()
    not_allowed = pb.CreateMediaUploadRequest(content_type="application/pdf", size_bytes=42)
    assert await _code(stub.CreateMediaUpload(not_allowed, **as_user(ANN))) == grpc.StatusCode.INVALID_ARGUMENT


async def test_like_twice_counts_once_and_unlike_answers_its_message(stub):
    tweet = (await stub.CreateTweet(pb.CreateTweetRequest(twitter_content="like me"), **as_user(BOB))).tweet
    for _ in range(2):
        liked = await stub.LikeTweet(pb.LikeTweetRequest(tweet_id=tweet.tweet_id), **as_user(ANN))
        assert liked.message == "successfully liked"
    shown = (await stub.GetTweet(pb.GetTweetRequest(tweet_id=tweet.tweet_id), **as_user(ANN))).tweet
    assert shown.like_count == 1 and shown.caller_liked
    assert not (await stub.GetTweet(pb.GetTweetRequest(tweet_id=tweet.tweet_id), **as_user(BOB))).tweet.caller_liked
    likers = await stub.ListLikers(pb.ListLikersRequest(tweet_id=tweet.tweet_id), **as_user(BOB))
    assert [(u.user_id, u.handle) for u in likers.users] == [(ANN, "ann")]
    unliked = await stub.UnlikeTweet(pb.UnlikeTweetRequest(tweet_id=tweet.tweet_id), **as_user(ANN))
    assert unliked.message == "successfully unliked"
    shown = (await stub.GetTweet(pb.GetTweetRequest(tweet_id=tweet.tweet_id), **as_user(ANN))).tweet
    assert shown.like_count == 0 and not shown.caller_liked
    assert await _code(stub.LikeTweet(pb.LikeTweetRequest(tweet_id="424242"), **as_user(ANN))) == \
        grpc.StatusCode.NOT_FOUND


async def test_a_comment_comes_as_comment_string_or_in_the_body_exactly_once(stub):
    tweet_id = (await stub.CreateTweet(pb.CreateTweetRequest(twitter_content="say something"), **as_user(BOB))).tweet_id
    by_field = await stub.AddComment(pb.AddCommentRequest(tweet_id=tweet_id, comment_string="first"), **as_user(ANN))
    assert by_field.message == "successfully added" and by_field.comment_id == by_field.comment.comment_id
    assert (by_field.comment.text, by_field.comment.author.handle, by_field.comment.tweet_id) == ("first", "ann", tweet_id)
    in_body = pb.AddCommentRequest(tweet_id=tweet_id, body=pb.AddCommentRequest.Body(comment_string="second"))
    assert (await stub.AddComment(in_body, **as_user(ANN))).comment.text == "second"
    emoji = "\U0001F426" * 280
    assert (await stub.AddComment(pb.AddCommentRequest(tweet_id=tweet_id, comment_string=emoji), **as_user(ANN))) \
        .comment.text == emoji
    invalid = [
        pb.AddCommentRequest(tweet_id=tweet_id),  # no text at all
        pb.AddCommentRequest(tweet_id=tweet_id, body=pb.AddCommentRequest.Body()),  # `{}` and no query string
        pb.AddCommentRequest(tweet_id=tweet_id, comment_string="a", body=pb.AddCommentRequest.Body(comment_string="b")),
        pb.AddCommentRequest(tweet_id=tweet_id, comment_string=emoji + "!"),  # 281 characters
        pb.AddCommentRequest(tweet_id=tweet_id, body=pb.AddCommentRequest.Body(comment_string="x" * 281)),
        pb.AddCommentRequest(tweet_id=tweet_id, comment_string="   "),
    ]
    for request in invalid:
        assert await _code(stub.AddComment(request, **as_user(ANN))) == grpc.StatusCode.INVALID_ARGUMENT, request
    listed = await stub.ListComments(pb.ListCommentsRequest(tweet_id=tweet_id), **as_user(CY))
    assert [c.text for c in listed.comments] == ["first", "second", emoji]
    shown = (await stub.GetTweet(pb.GetTweetRequest(tweet_id=tweet_id), **as_user(CY))).tweet
    assert shown.comment_count == 3
    assert await _code(stub.AddComment(pb.AddCommentRequest(tweet_id="424242", comment_string="hi"), **as_user(ANN))) \
        == grpc.StatusCode.NOT_FOUND


async def test_a_comment_is_deleted_by_its_author_or_the_tweets_author_only(stub):
    tweet_id = (await stub.CreateTweet(pb.CreateTweetRequest(twitter_content="my tweet"), **as_user(BOB))).tweet_id
    comments = [
        (await stub.AddComment(pb.AddCommentRequest(tweet_id=tweet_id, comment_string=f"c{i}"), **as_user(ANN))).comment_id
        for i in range(2)
    ]
    stranger = pb.DeleteCommentRequest(tweet_id=tweet_id, comment_id=comments[0])
    assert await _code(stub.DeleteComment(stranger, **as_user(CY))) == grpc.StatusCode.PERMISSION_DENIED
    by_tweet_author = pb.DeleteCommentRequest(tweet_id=tweet_id, comment_id=comments[0], request_id="dc-1")
    assert (await stub.DeleteComment(by_tweet_author, **as_user(BOB))).message == "successfully deleted"
    # a retry with the request id gets the first answer; without one, the comment is simply gone
    assert (await stub.DeleteComment(by_tweet_author, **as_user(BOB))).message == "successfully deleted"
    assert await _code(stub.DeleteComment(stranger, **as_user(BOB))) == grpc.StatusCode.NOT_FOUND
    await stub.DeleteComment(pb.DeleteCommentRequest(tweet_id=tweet_id, comment_id=comments[1]), **as_user(ANN))
    assert (await stub.GetTweet(pb.GetTweetRequest(tweet_id=tweet_id), **as_user(BOB))).tweet.comment_count == 0
