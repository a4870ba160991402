"""The gRPC face of svc_tweet: proto <-> domain, nothing else.

RPCs not overridden here answer UNIMPLEMENTED (the generated base), after the call pipeline has
validated the request, so clients already get the contract's INVALID_ARGUMENT for bad input.
"""

from __future__ import annotations

from tweetmesh.tweet.v1 import tweet_service_pb2_grpc


class TweetServiceApi(tweet_service_pb2_grpc.TweetServiceServicer):
    pass
