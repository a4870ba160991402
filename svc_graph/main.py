"""Composition root of svc_graph: the only module that knows the concrete adapters.

Uses CQL (users, follows in wide rows) and NATS (graph events).
Run: python -m svc_graph.main (ports and endpoints from mesh/config.py).
"""

from __future__ import annotations

import grpc

from mesh.config import service_spec
from mesh.deps import Dependencies
from mesh.server import BackgroundJob, ServiceApp, main
from svc_graph.grpc_api import GraphServiceApi
from tweetmesh.graph.v1 import graph_service_pb2_grpc


def register(server: grpc.aio.Server, deps: Dependencies) -> list[BackgroundJob]:
    graph_service_pb2_grpc.add_GraphServiceServicer_to_server(GraphServiceApi(), server)
    return []


APP = ServiceApp(spec=service_spec("graph"), needs=frozenset({"cql", "nats"}), register=register)

if __name__ == "__main__":
    main(APP)
