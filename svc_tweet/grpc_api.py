"""The gRPC face of svc_tweet: proto <-> domain, nothing else.

The call pipeline (mesh/interceptors.py) has already validated each request against the proto's
rules and set the caller from the gateway's verified header; this module parses ids, reads the
caller, calls the use case and shapes the answer.

Idempotency (AIP-155): CreateTweet and AddComment get it from their own claim of (author,
request_id) in the store, which also covers concurrent duplicates (svc_tweet.service.Tweets and
Comments). The other mutations go through mesh.idempotency.once, scoped by the RPC's full method
name, so a retry returns the first answer. A request without request_id (seed clients send none)
is simply a new request each time.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from google.protobuf.message import Message

from mesh.api import caller_id, optional_id, parse_id, to_timestamp
from mesh.idempotency import AnswerLog, once
from svc_tweet.domain import AuthorProfile, HydratedComment, HydratedTweet, Liker, Media, MediaState
from svc_tweet.service import Comments, Likes, MediaLibrary, TweetPage, TweetReader, Tweets
from tweetmesh.graph.v1 import user_pb2
from tweetmesh.tweet.v1 import tweet_pb2
from tweetmesh.tweet.v1 import tweet_service_pb2 as pb
from tweetmesh.tweet.v1 import tweet_service_pb2_grpc

M = TypeVar("M", bound=Message)

_SERVICE = pb.DESCRIPTOR.services_by_name["TweetService"].full_name

_MEDIA_STATES = {
    MediaState.PENDING_UPLOAD: tweet_pb2.MEDIA_STATE_PENDING_UPLOAD,
    MediaState.READY: tweet_pb2.MEDIA_STATE_READY,
    MediaState.FAILED: tweet_pb2.MEDIA_STATE_FAILED,
}


def _id(value: int | None) -> str:
    return "" if value is None else str(value)


def _user(profile: AuthorProfile) -> user_pb2.User:
    user = user_pb2.User(
        user_id=str(profile.user_id),
        handle=profile.handle,
        display_name=profile.display_name,
        bio=profile.bio,
        follower_count=profile.follower_count,
        following_count=profile.following_count,
        celebrity=profile.celebrity,
    )
    if profile.create_time is not None:
        user.create_time.CopyFrom(to_timestamp(profile.create_time))
    return user


def _tweet(hydrated: HydratedTweet) -> tweet_pb2.Tweet:
    tweet = hydrated.tweet
    message = tweet_pb2.Tweet(
        tweet_id=str(tweet.tweet_id),
        author_id=str(tweet.author_id),
        text=tweet.text,
        media=[
            tweet_pb2.Media(
                media_id=str(view.ref.media_id),
                owner_user_id=str(view.owner_id),
                content_type=view.ref.content_type,
                size_bytes=view.ref.size_bytes,
                state=tweet_pb2.MEDIA_STATE_READY,  # only READY media can be attached
                url=view.url,
            )
            for view in hydrated.media
        ],
        in_reply_to_tweet_id=_id(tweet.in_reply_to_tweet_id),
        in_reply_to_user_id=_id(tweet.in_reply_to_user_id),
        quoted_tweet_id=_id(tweet.quoted_tweet_id),
        retweet_of_tweet_id=_id(tweet.retweet_of_tweet_id),
        mentioned_user_ids=[str(user_id) for user_id in tweet.mentioned_user_ids],
        like_count=hydrated.counts.likes,
        retweet_count=hydrated.counts.retweets,
        comment_count=hydrated.counts.comments,
        reply_count=hydrated.counts.replies,
        quote_count=hydrated.counts.quotes,
        caller_liked=hydrated.caller_liked,
        caller_retweeted=hydrated.caller_retweeted,
        create_time=to_timestamp(tweet.create_time),
    )
    if hydrated.author is not None:
        message.author.CopyFrom(_user(hydrated.author))
    if hydrated.quoted is not None:
        message.quoted_tweet.CopyFrom(_tweet(hydrated.quoted))
    if hydrated.retweeted is not None:
        message.retweeted_tweet.CopyFrom(_tweet(hydrated.retweeted))
    return message


def _liker(liker: Liker) -> user_pb2.User:
    # without a profile (the graph service could not answer), the id is all there is to show
    return _user(liker.profile) if liker.profile is not None else user_pb2.User(user_id=str(liker.user_id))


def _comment(hydrated: HydratedComment) -> tweet_pb2.Comment:
    comment = hydrated.comment
    message = tweet_pb2.Comment(
        comment_id=str(comment.comment_id),
        tweet_id=str(comment.tweet_id),
        author_id=str(comment.author_id),
        text=comment.text,
        create_time=to_timestamp(comment.create_time),
    )
    if hydrated.author is not None:
        message.author.CopyFrom(_user(hydrated.author))
    return message


def _media(media: Media, url: str) -> tweet_pb2.Media:
    return tweet_pb2.Media(
        media_id=str(media.media_id),
        owner_user_id=str(media.owner_id),
        content_type=media.content_type,
        size_bytes=media.size_bytes,
        state=_MEDIA_STATES[media.state],
        url=url,
        failure_reason=media.failure_reason,
        create_time=to_timestamp(media.create_time),
    )


def _page(page: TweetPage) -> dict:
    return {"tweets": [_tweet(t) for t in page.tweets], "next_page_token": page.next_page_token}


class TweetServiceApi(tweet_service_pb2_grpc.TweetServiceServicer):
    def __init__(
        self, reader: TweetReader, tweets: Tweets, media: MediaLibrary, likes: Likes, comments: Comments,
        answers: AnswerLog,
    ):
        self._reader = reader
        self._tweets = tweets
        self._media = media
        self._likes = likes
        self._comments = comments
        self._answers = answers

    async def _once(
        self, method: str, request_id: str, caller: int | None, response_type: type[M], compute: Callable[[], Awaitable[M]]
    ) -> M:
        return await once(self._answers, f"/{_SERVICE}/{method}", request_id, str(caller or ""), response_type, compute)

    # --- tweets -------------------------------------------------------------------------------

    async def CreateTweet(self, request: pb.CreateTweetRequest, ctx) -> pb.CreateTweetResponse:
        hydrated = await self._tweets.create_tweet(
            caller_id(),
            request.twitter_content,
            media_ids=[parse_id(f"images[{i}]", text) for i, text in enumerate(request.images)],
            in_reply_to_tweet_id=optional_id("in_reply_to_tweet_id", request.in_reply_to_tweet_id),
            quoted_tweet_id=optional_id("quoted_tweet_id", request.quoted_tweet_id),
            claimed_author_id=optional_id("user_id", request.user_id),
            request_id=request.request_id,
        )
        return pb.CreateTweetResponse(tweet_id=str(hydrated.tweet.tweet_id), tweet=_tweet(hydrated))

    async def GetTweet(self, request: pb.GetTweetRequest, ctx) -> pb.GetTweetResponse:
        hydrated = await self._reader.get_tweet(caller_id(), parse_id("tweet_id", request.tweet_id))
        return pb.GetTweetResponse(tweet=_tweet(hydrated))

    async def BatchGetTweets(self, request: pb.BatchGetTweetsRequest, ctx) -> pb.BatchGetTweetsResponse:
        tweet_ids = [parse_id(f"tweet_ids[{i}]", text) for i, text in enumerate(request.tweet_ids)]
        found = await self._reader.batch_get_tweets(caller_id(), tweet_ids)
        return pb.BatchGetTweetsResponse(tweets=[_tweet(t) for t in found])

    async def DeleteTweet(self, request: pb.DeleteTweetRequest, ctx) -> pb.DeleteTweetResponse:
        caller = caller_id()
        tweet_id = parse_id("tweet_id", request.tweet_id)

        async def delete() -> pb.DeleteTweetResponse:
            await self._tweets.delete_tweet(caller, tweet_id)
            return pb.DeleteTweetResponse()

        return await self._once("DeleteTweet", request.request_id, caller, pb.DeleteTweetResponse, delete)

    async def ListUserTweets(self, request: pb.ListUserTweetsRequest, ctx) -> pb.ListUserTweetsResponse:
        page = await self._reader.list_user_tweets(
            caller_id(), parse_id("user_id", request.user_id), request.page_size, request.page_token,
            exclude_replies=request.exclude_replies, exclude_retweets=request.exclude_retweets,
        )
        return pb.ListUserTweetsResponse(**_page(page))

    async def ListReplies(self, request: pb.ListRepliesRequest, ctx) -> pb.ListRepliesResponse:
        page = await self._reader.list_replies(
            caller_id(), parse_id("tweet_id", request.tweet_id), request.page_size, request.page_token
        )
        return pb.ListRepliesResponse(**_page(page))

    # --- retweets -----------------------------------------------------------------------------

    async def Retweet(self, request: pb.RetweetRequest, ctx) -> pb.RetweetResponse:
        caller = caller_id()
        tweet_id = parse_id("tweet_id", request.tweet_id)

        async def retweet() -> pb.RetweetResponse:
            retweet_id, original_id = await self._tweets.retweet(caller, tweet_id)
            return pb.RetweetResponse(tweet_id=str(retweet_id), retweet_of_tweet_id=str(original_id))

        return await self._once("Retweet", request.request_id, caller, pb.RetweetResponse, retweet)

    async def UndoRetweet(self, request: pb.UndoRetweetRequest, ctx) -> pb.UndoRetweetResponse:
        caller = caller_id()
        tweet_id = parse_id("tweet_id", request.tweet_id)

        async def undo() -> pb.UndoRetweetResponse:
            await self._tweets.undo_retweet(caller, tweet_id)
            return pb.UndoRetweetResponse()

        return await self._once("UndoRetweet", request.request_id, caller, pb.UndoRetweetResponse, undo)

    # --- media --------------------------------------------------------------------------------

    async def CreateMediaUpload(self, request: pb.CreateMediaUploadRequest, ctx) -> pb.CreateMediaUploadResponse:
        caller = caller_id()

        async def create() -> pb.CreateMediaUploadResponse:
            slot = await self._media.create_upload(caller, request.content_type, request.size_bytes)
            return pb.CreateMediaUploadResponse(
                media_id=str(slot.media.media_id),
                upload_url=slot.upload.url,
                upload_method=slot.upload.method,
                upload_headers=slot.upload.headers,
                expire_time=to_timestamp(slot.expire_time),
            )

        # a retry gets the first slot back, URL and expiry included; once that expired, the
        # client starts a new upload with a new request_id
        return await self._once("CreateMediaUpload", request.request_id, caller, pb.CreateMediaUploadResponse, create)

    async def CompleteMediaUpload(self, request: pb.CompleteMediaUploadRequest, ctx) -> pb.CompleteMediaUploadResponse:
        # idempotent by nature (completing a READY media returns it, a rejected one stays
        # rejected), so no request log: a retry gets a fresh download URL, not an expired one
        media = await self._media.complete_upload(caller_id(), parse_id("media_id", request.media_id))
        return pb.CompleteMediaUploadResponse(media=_media(media, self._media.download_url(media)))

    async def GetMedia(self, request: pb.GetMediaRequest, ctx) -> pb.GetMediaResponse:
        media = await self._media.get_media(caller_id(), parse_id("media_id", request.media_id))
        return pb.GetMediaResponse(media=_media(media, self._media.download_url(media)))

    # --- likes --------------------------------------------------------------------------------

    async def LikeTweet(self, request: pb.LikeTweetRequest, ctx) -> pb.LikeTweetResponse:
        caller = caller_id()
        tweet_id = parse_id("tweet_id", request.tweet_id)

        async def like() -> pb.LikeTweetResponse:
            await self._likes.like_tweet(caller, tweet_id)
            return pb.LikeTweetResponse(message="successfully liked")

        return await self._once("LikeTweet", request.request_id, caller, pb.LikeTweetResponse, like)

    async def UnlikeTweet(self, request: pb.UnlikeTweetRequest, ctx) -> pb.UnlikeTweetResponse:
        caller = caller_id()
        tweet_id = parse_id("tweet_id", request.tweet_id)

        async def unlike() -> pb.UnlikeTweetResponse:
            await self._likes.unlike_tweet(caller, tweet_id)
            return pb.UnlikeTweetResponse(message="successfully unliked")

        return await self._once("UnlikeTweet", request.request_id, caller, pb.UnlikeTweetResponse, unlike)

    async def ListLikers(self, request: pb.ListLikersRequest, ctx) -> pb.ListLikersResponse:
        page = await self._likes.list_likers(
            caller_id(), parse_id("tweet_id", request.tweet_id), request.page_size, request.page_token
        )
        return pb.ListLikersResponse(users=[_liker(u) for u in page.users], next_page_token=page.next_page_token)

    # --- comments -----------------------------------------------------------------------------

    async def AddComment(self, request: pb.AddCommentRequest, ctx) -> pb.AddCommentResponse:
        # the proto's rule lets exactly one of the two carry the text: the query string (and gRPC)
        # or the JSON body of the REST form
        text = request.comment_string or request.body.comment_string
        hydrated = await self._comments.add_comment(
            caller_id(), parse_id("tweet_id", request.tweet_id), text, request_id=request.request_id
        )
        return pb.AddCommentResponse(
            message="successfully added", comment_id=str(hydrated.comment.comment_id), comment=_comment(hydrated)
        )

    async def ListComments(self, request: pb.ListCommentsRequest, ctx) -> pb.ListCommentsResponse:
        page = await self._comments.list_comments(
            caller_id(), parse_id("tweet_id", request.tweet_id), request.page_size, request.page_token
        )
        return pb.ListCommentsResponse(comments=[_comment(c) for c in page.comments], next_page_token=page.next_page_token)

    async def DeleteComment(self, request: pb.DeleteCommentRequest, ctx) -> pb.DeleteCommentResponse:
        caller = caller_id()
        tweet_id = parse_id("tweet_id", request.tweet_id)
        comment_id = parse_id("comment_id", request.comment_id)

        async def delete() -> pb.DeleteCommentResponse:
            await self._comments.delete_comment(caller, tweet_id, comment_id)
            return pb.DeleteCommentResponse(message="successfully deleted")

        return await self._once("DeleteComment", request.request_id, caller, pb.DeleteCommentResponse, delete)
