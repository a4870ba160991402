"""Composition root of svc_tweet: the only module that knows the concrete adapters.

Uses CQL (tweets), Redis (hydration cache), NATS (tweet events), the object store (media).
Run: python -m svc_tweet.main (ports and endpoints from mesh/config.py).
"""

from __future__ import annotations

import grpc

from mesh.config import service_spec
from mesh.deps import Dependencies
from mesh.server import BackgroundJob, ServiceApp, main
from svc_tweet.grpc_api import TweetServiceApi
from tweetmesh.tweet.v1 import tweet_service_pb2_grpc


def register(server: grpc.aio.Server, deps: Dependencies) -> list[BackgroundJob]:
    tweet_service_pb2_grpc.add_TweetServiceServicer_to_server(TweetServiceApi(), server)
    return []


APP = ServiceApp(spec=service_spec("tweet"), needs=frozenset({"cql", "redis", "nats", "s3"}), register=register)

if __name__ == "__main__":
    main(APP)
