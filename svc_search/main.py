"""Composition root of svc_search: the only module that knows the concrete adapters.

Uses Elasticsearch (the indices behind the aliases `tweets` and `users`), NATS (the indexers: durable
consumers `search-indexer` on TWEETS and `search-users` on GRAPH, declared in mesh/events.py), and
calls svc_graph (authors' handles while indexing, blocks and profiles while searching). The index
is rebuilt from the tweet store by a separate command, `python -m svc_search.rebuild`. Settings,
from the environment:

  TM_SEARCH_INDEX_BATCH         events indexed with one bulk request, at most (256)
  TM_SEARCH_BULK_TIMEOUT_S      cap of one bulk request (10)
  TM_SEARCH_HANDLE_CACHE_SIZE   authors' handles kept in memory (10000; handles never change)

Run: python -m svc_search.main (ports and endpoints from mesh/config.py).
"""

from __future__ import annotations

import grpc

from mesh import events
from mesh.config import env_int, service_spec
from mesh.deps import Dependencies
from mesh.server import BackgroundJob, ServiceApp, main
from svc_search.adapters.elasticsearch_index import (
    ElasticsearchDocuments,
    ElasticsearchTweetSearch,
    ElasticsearchUserSearch,
)
from svc_search.adapters.graph_directory import GrpcUserDirectory
from svc_search.adapters.jetstream_batches import JetStreamBatchConsumer
from svc_search.documents import TWEETS_ALIAS, USERS_ALIAS
from svc_search.event_handlers import TweetEvents, UserEvents
from svc_search.grpc_api import SearchServiceApi
from svc_search.service import TweetIndexer, TweetSearch, UserIndexer, UserSearch
from tweetmesh.search.v1 import search_service_pb2_grpc

TWEETS_DURABLE = "search-indexer"
USERS_DURABLE = "search-users"


def _stream_of(durable: str) -> str:
    return next(spec.stream for spec in events.CONSUMERS if spec.durable == durable)


def register(server: grpc.aio.Server, deps: Dependencies) -> list[BackgroundJob]:
    users = GrpcUserDirectory(deps.peers["graph"], handle_cache_size=env_int("TM_SEARCH_HANDLE_CACHE_SIZE", 10_000))
    api = SearchServiceApi(
        TweetSearch(ElasticsearchTweetSearch(deps.es, TWEETS_ALIAS), users),
        UserSearch(ElasticsearchUserSearch(deps.es, USERS_ALIAS), users),
    )
    search_service_pb2_grpc.add_SearchServiceServicer_to_server(api, server)

    tweet_events = TweetEvents(TweetIndexer(ElasticsearchDocuments(deps.es, TWEETS_ALIAS, through_alias=True), users).apply)
    user_events = UserEvents(UserIndexer(ElasticsearchDocuments(deps.es, USERS_ALIAS, through_alias=True)).apply)
    js = deps.nats.jetstream()
    batch = env_int("TM_SEARCH_INDEX_BATCH", 256)
    consumers = [
        JetStreamBatchConsumer(js, stream=_stream_of(durable), durable=durable, handle_batch=handler, batch=batch)
        for durable, handler in ((TWEETS_DURABLE, tweet_events.handle_batch), (USERS_DURABLE, user_events.handle_batch))
    ]
    return [consumer.as_job() for consumer in consumers]


APP = ServiceApp(
    spec=service_spec("search"),
    needs=frozenset({"es", "nats"}),
    register=register,
    peers=frozenset({"graph"}),
)

if __name__ == "__main__":
    main(APP)
