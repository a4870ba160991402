"""Hydration through TweetService.BatchGetTweets (svc_tweet), called directly on its port.

The call carries the end user's identity of the call being served, so the tweet service applies
its visibility rules and fills the caller-relative fields (caller_liked, ...) for that reader.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import grpc

from mesh.clients import call_options, unavailable_from
from svc_timeline.aio import chunks, gather_bounded
from svc_timeline.domain import HydratedTweet
from tweetmesh.tweet.v1 import tweet_service_pb2 as pb
from tweetmesh.tweet.v1 import tweet_service_pb2_grpc

MAX_BATCH_TWEETS = 100  # BatchGetTweetsRequest.tweet_ids: 1..100


def hydrated(tweet: Any) -> HydratedTweet:
    return HydratedTweet(
        tweet_id=int(tweet.tweet_id),
        author_id=int(tweet.author_id),
        retweet_of_tweet_id=int(tweet.retweet_of_tweet_id) if tweet.retweet_of_tweet_id else None,
        original_visible=tweet.HasField("retweeted_tweet"),
        body=tweet,
    )


class GrpcTweetDirectory:
    def __init__(self, channel: grpc.aio.Channel):
        self._stub = tweet_service_pb2_grpc.TweetServiceStub(channel)

    async def hydrate(self, tweet_ids: Sequence[int]) -> dict[int, HydratedTweet]:
        wanted = list(dict.fromkeys(tweet_ids))
        if not wanted:
            return {}
        # a page asks for at most 100 (the max page size): one call, the chunks are for safety
        pages = await gather_bounded((self._batch(chunk) for chunk in chunks(wanted, MAX_BATCH_TWEETS)), 4)
        return {tweet.tweet_id: tweet for page in pages for tweet in page}

    async def _batch(self, tweet_ids: Sequence[int]) -> list[HydratedTweet]:
        request = pb.BatchGetTweetsRequest(tweet_ids=[str(t) for t in tweet_ids])
        try:
            response = await self._stub.BatchGetTweets(request, **call_options())
        except grpc.aio.AioRpcError as error:
            raise unavailable_from(error, "tweet") from error
        return [hydrated(tweet) for tweet in response.tweets]
