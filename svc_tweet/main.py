"""Composition root of svc_tweet: the only module that knows the concrete adapters.

Uses CQL (tweets, likes, comments, claims, media, the outbox), Redis (the hydration cache and the
callers' liked/retweeted marks), NATS (tweet events, relayed from the outbox), the object store
(media bytes) and the graph service (authors, likers, mentions).
Settings, from the environment:

  TM_TWEET_CACHE_TTL_S          how long a cached tweet view lives; invalidation keeps it fresh (3600:
                                at 300 s, every read tweet was read from CQL again every 5 min, 7 queries)
  TM_TWEET_MARKS_TTL_S          how long a user's cached liked/retweeted marks live; invalidation
                                keeps them fresh, this only bounds memory (3600)
  TM_MEDIA_UPLOAD_URL_TTL_S     how long a pre-signed upload URL accepts the file (900)
  TM_MEDIA_DOWNLOAD_URL_TTL_S   how long a pre-signed download URL in a tweet works (3600)

Run: python -m svc_tweet.main (ports and endpoints from mesh/config.py).
"""

from __future__ import annotations

import grpc

from mesh import events
from mesh.config import env_int, service_spec
from mesh.deps import Dependencies
from mesh.idempotency import RequestLog
from mesh.outbox import CqlOutbox, OutboxRelay
from mesh.server import BackgroundJob, ServiceApp, main
from svc_tweet.adapters.cql_comments import CqlCommentStore
from svc_tweet.adapters.cql_likes import CqlLikeStore
from svc_tweet.adapters.cql_media import CqlMediaStore
from svc_tweet.adapters.cql_tweets import CqlTweetStore
from svc_tweet.adapters.graph_users import GraphUserDirectory
from svc_tweet.adapters.redis_cache import RedisTweetCache
from svc_tweet.adapters.redis_marks import RedisMarksCache
from svc_tweet.adapters.s3_objects import S3ObjectStore
from mesh.system import SnowflakeIds, SystemClock
from svc_tweet.grpc_api import TweetServiceApi
from svc_tweet.service import Comments, Likes, MediaLibrary, TweetReader, Tweets, TweetSettings
from tweetmesh.graph.v1 import graph_service_pb2_grpc
from tweetmesh.tweet.v1 import tweet_service_pb2_grpc


def register(server: grpc.aio.Server, deps: Dependencies) -> list[BackgroundJob]:
    session, keyspace = deps.cql, deps.stack.cql_keyspace
    settings = TweetSettings(
        upload_url_ttl_s=env_int("TM_MEDIA_UPLOAD_URL_TTL_S", 900),
        download_url_ttl_s=env_int("TM_MEDIA_DOWNLOAD_URL_TTL_S", 3600),
    )

    outbox = CqlOutbox(session, keyspace)
    relay = OutboxRelay(outbox, events.JetStreamPublisher(deps.nats.jetstream()))
    tweet_store = CqlTweetStore(session, keyspace, outbox, on_commit=relay.kick)
    like_store = CqlLikeStore(session, keyspace, outbox, on_commit=relay.kick)
    comment_store = CqlCommentStore(session, keyspace, outbox, on_commit=relay.kick)
    media_store = CqlMediaStore(session, keyspace)
    cache = RedisTweetCache(deps.redis, ttl_s=env_int("TM_TWEET_CACHE_TTL_S", 3600))
    marks = RedisMarksCache(deps.redis, ttl_s=env_int("TM_TWEET_MARKS_TTL_S", 3600))
    objects = S3ObjectStore(deps.s3, deps.stack.s3_bucket)
    users = GraphUserDirectory(graph_service_pb2_grpc.GraphServiceStub(deps.peers["graph"]))
    ids, clock = SnowflakeIds(), SystemClock()

    reader = TweetReader(tweet_store, cache, users, objects, settings, likes=like_store, comments=comment_store,
                         marks=marks)
    servicer = TweetServiceApi(
        reader=reader,
        tweets=Tweets(tweet_store, media_store, cache, users, reader, ids, clock, settings),
        media=MediaLibrary(media_store, objects, ids, clock, settings),
        likes=Likes(tweet_store, like_store, cache, users, reader, ids, clock, settings),
        comments=Comments(tweet_store, comment_store, cache, users, reader, ids, clock, settings),
        answers=RequestLog(session, keyspace),
    )
    tweet_service_pb2_grpc.add_TweetServiceServicer_to_server(servicer, server)
    return [relay.run]


APP = ServiceApp(
    spec=service_spec("tweet"),
    needs=frozenset({"cql", "redis", "nats", "s3"}),
    register=register,
    peers=frozenset({"graph"}),
)

if __name__ == "__main__":
    main(APP)
