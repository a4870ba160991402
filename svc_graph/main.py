"""Composition root of svc_graph: the only module that knows the concrete adapters.

Uses CQL (users, sessions, the graph in wide rows, the outbox), Redis (caches of user rows,
follow counts and relationships) and NATS (graph events, relayed from the
outbox). Settings, from the environment:

  TM_JWT_PRIVATE_KEY_FILE     PEM EC P-256 key signing access tokens
                              (default <TM_VAR_DIR>/secrets/jwt_signing_key.pem, made by `make up`)
  TM_ACCESS_TOKEN_TTL_S       lifetime of an access token (900)
  TM_CELEBRITY_THRESHOLD      more followers than this makes a celebrity (10000)
  TM_GRAPH_COUNT_CACHE_TTL_S  how long cached follow counts live; invalidation keeps them exact (3600)
  TM_GRAPH_USER_CACHE_TTL_S   how long cached user rows (profiles) live; invalidation keeps them exact (3600)
  TM_GRAPH_RELATIONSHIP_CACHE_TTL_S
                              how long a user's cached relationships live; invalidation keeps them
                              exact (3600)
  The TTLs only bound Redis memory; 600 s let the profiles of a page's authors expire between
  reads, and the bench's reads at low rates paid CQL for them (like the tweet service's views, 3600).

Run: python -m svc_graph.main (ports and endpoints from mesh/config.py).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import grpc

from mesh import events
from mesh.config import env_int, env_str, service_spec
from mesh.deps import Dependencies
from mesh.idempotency import RequestLog
from mesh.outbox import CqlOutbox, OutboxRelay
from mesh.server import BackgroundJob, ServiceApp, main
from svc_graph.adapters.argon2_hasher import Argon2PasswordHasher
from svc_graph.adapters.cql_graph import CqlGraphStore
from svc_graph.adapters.cql_sessions import CqlSessionStore
from svc_graph.adapters.cql_users import CqlUserStore
from svc_graph.adapters.jwt_tokens import JwtTokenIssuer
from svc_graph.adapters.redis_counts import RedisCountCache
from svc_graph.adapters.redis_relationships import RedisRelationshipCache
from svc_graph.adapters.redis_users import RedisUserCache
from mesh.system import SnowflakeIds, SystemClock
from svc_graph.grpc_api import GraphServiceApi
from svc_graph.service import Accounts, GraphSettings, Profiles, RelationshipReader, Sessions, SocialGraph
from tweetmesh.graph.v1 import graph_service_pb2_grpc


def register(server: grpc.aio.Server, deps: Dependencies) -> list[BackgroundJob]:
    stack, session, keyspace = deps.stack, deps.cql, deps.stack.cql_keyspace
    settings = GraphSettings(celebrity_threshold=env_int("TM_CELEBRITY_THRESHOLD", 10_000))
    key_file = Path(env_str("TM_JWT_PRIVATE_KEY_FILE", str(stack.var_dir / "secrets" / "jwt_signing_key.pem")))
    tokens = JwtTokenIssuer.from_pem_file(key_file, ttl=timedelta(seconds=env_int("TM_ACCESS_TOKEN_TTL_S", 900)))

    outbox = CqlOutbox(session, keyspace)
    relay = OutboxRelay(outbox, events.JetStreamPublisher(deps.nats.jetstream()))
    users = CqlUserStore(session, keyspace, outbox, on_commit=relay.kick)
    graph = CqlGraphStore(session, keyspace, outbox, on_commit=relay.kick)
    counts = RedisCountCache(deps.redis, ttl_s=env_int("TM_GRAPH_COUNT_CACHE_TTL_S", 3600))
    user_cache = RedisUserCache(deps.redis, ttl_s=env_int("TM_GRAPH_USER_CACHE_TTL_S", 3600))
    relationships = RedisRelationshipCache(deps.redis, ttl_s=env_int("TM_GRAPH_RELATIONSHIP_CACHE_TTL_S", 3600))
    hasher = Argon2PasswordHasher()
    ids, clock = SnowflakeIds(), SystemClock()

    profiles = Profiles(users, user_cache, graph, counts, settings)
    servicer = GraphServiceApi(
        accounts=Accounts(users, user_cache, RelationshipReader(graph, relationships, settings), profiles, hasher, ids, clock),
        sessions=Sessions(users, CqlSessionStore(session, keyspace), hasher, tokens, ids, clock),
        graph=SocialGraph(graph, counts, relationships, profiles, ids, clock, settings),
        answers=RequestLog(session, keyspace),
    )
    graph_service_pb2_grpc.add_GraphServiceServicer_to_server(servicer, server)
    return [relay.run]


APP = ServiceApp(spec=service_spec("graph"), needs=frozenset({"cql", "redis", "nats"}), register=register)

if __name__ == "__main__":
    main(APP)
