"""Composition root of svc_search: the only module that knows the concrete adapters.

Uses Elasticsearch (indices behind aliases), NATS (indexer consumer).
Run: python -m svc_search.main (ports and endpoints from mesh/config.py).
"""

from __future__ import annotations

import grpc

from mesh.config import service_spec
from mesh.deps import Dependencies
from mesh.server import BackgroundJob, ServiceApp, main
from svc_search.grpc_api import SearchServiceApi
from tweetmesh.search.v1 import search_service_pb2_grpc


def register(server: grpc.aio.Server, deps: Dependencies) -> list[BackgroundJob]:
    search_service_pb2_grpc.add_SearchServiceServicer_to_server(SearchServiceApi(), server)
    return []


APP = ServiceApp(spec=service_spec("search"), needs=frozenset({"es", "nats"}), register=register)

if __name__ == "__main__":
    main(APP)
