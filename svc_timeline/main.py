"""Composition root of svc_timeline: the only module that knows the concrete adapters.

Uses CQL (home and user timelines as wide rows), Redis (the recent part of active timelines),
NATS (the consumers `timeline-fanout` and `timeline-readers` on TWEETS and `timeline-graph` on GRAPH,
declared in mesh/events.py), and calls svc_graph (followers, follows, relationships) and svc_tweet
(hydration). Settings, from the environment:

  TM_TIMELINE_HOME_CAPACITY     entries a home timeline keeps, about (800)
  TM_TIMELINE_CACHE_ENTRIES     newest entries a cached timeline keeps (120: see adapters/redis_timeline_cache.py)
  TM_TIMELINE_CACHE_TTL_S       a cached timeline not read for this long is dropped (86400)
  TM_TIMELINE_SOURCES_TTL_S     how long a reader's merge sources stay cached; changes invalidate them (3600)
  TM_TIMELINE_PAGE_MAX_AGE_S    a first home page is kept rendered this long at most: the bound on how
                                stale what its entries do not name may be on it (a quoted tweet's
                                counts; the rest is kept exact by events: ports.RenderedHomePages)
                                (300; 0: none kept)
  TM_TIMELINE_CONSUMER_CONCURRENCY  events handled at once per consumer (8)

Run: python -m svc_timeline.main (ports and endpoints from mesh/config.py).
"""

from __future__ import annotations

import grpc

from mesh import events
from mesh.config import env_int, service_spec
from mesh.deps import Dependencies
from mesh.event_consumer import EventConsumer
from mesh.server import BackgroundJob, ServiceApp, main
from svc_timeline import metrics
from svc_timeline.adapters.cql_home import CqlHomeTimelines
from svc_timeline.adapters.cql_user_timeline import CqlUserTimelines
from svc_timeline.adapters.graph_client import GrpcFollowerDirectory
from svc_timeline.adapters.redis_rendered_pages import RedisRenderedPages
from svc_timeline.adapters.redis_timeline_cache import RedisTimelineCache
from svc_timeline.adapters.tweet_client import GrpcTweetDirectory
from svc_timeline.event_handlers import TimelineEvents
from svc_timeline.grpc_api import TimelineServiceApi
from svc_timeline.service import FanOut, TimelineReader, TimelineSettings
from tweetmesh.timeline.v1 import timeline_service_pb2_grpc

TWEETS_DURABLE = "timeline-fanout"
GRAPH_DURABLE = "timeline-graph"
READERS_DURABLE = "timeline-readers"


def _stream_of(durable: str) -> str:
    return next(spec.stream for spec in events.CONSUMERS if spec.durable == durable)


def register(server: grpc.aio.Server, deps: Dependencies) -> list[BackgroundJob]:
    keyspace = deps.stack.cql_keyspace
    settings = TimelineSettings(home_capacity=env_int("TM_TIMELINE_HOME_CAPACITY", 800))
    homes = CqlHomeTimelines(deps.cql, keyspace)
    user_timelines = CqlUserTimelines(deps.cql, keyspace)
    cache = RedisTimelineCache(
        deps.redis,
        capacity=env_int("TM_TIMELINE_CACHE_ENTRIES", 120),
        ttl_s=env_int("TM_TIMELINE_CACHE_TTL_S", 86_400),
        merge_sources_ttl_s=env_int("TM_TIMELINE_SOURCES_TTL_S", 3600),
    )
    pages = RedisRenderedPages(deps.redis, max_age_s=env_int("TM_TIMELINE_PAGE_MAX_AGE_S", 300))
    graph = GrpcFollowerDirectory(deps.peers["graph"])
    tweets = GrpcTweetDirectory(deps.peers["tweet"])

    reader = TimelineReader(homes, user_timelines, cache, graph, tweets, pages, settings)
    timeline_service_pb2_grpc.add_TimelineServiceServicer_to_server(TimelineServiceApi(reader), server)

    handlers = TimelineEvents(FanOut(homes, user_timelines, cache, graph, pages, settings))
    js = deps.nats.jetstream()
    concurrency = env_int("TM_TIMELINE_CONSUMER_CONCURRENCY", 8)
    consumers = [
        EventConsumer(
            js, stream=_stream_of(durable), durable=durable, handle=handlers.handle, outcomes=metrics.EVENTS,
            concurrency=concurrency,
        )
        for durable in (TWEETS_DURABLE, GRAPH_DURABLE, READERS_DURABLE)
    ]
    return [consumer.as_job() for consumer in consumers]


APP = ServiceApp(
    spec=service_spec("timeline"),
    needs=frozenset({"cql", "redis", "nats"}),
    register=register,
    peers=frozenset({"graph", "tweet"}),
)

if __name__ == "__main__":
    main(APP)
