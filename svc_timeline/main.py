"""Composition root of svc_timeline: the only module that knows the concrete adapters.

Uses CQL (timeline wide rows), Redis (recent timelines), NATS (fan-out consumer).
Run: python -m svc_timeline.main (ports and endpoints from mesh/config.py).
"""

from __future__ import annotations

import grpc

from mesh.config import service_spec
from mesh.deps import Dependencies
from mesh.server import BackgroundJob, ServiceApp, main
from svc_timeline.grpc_api import TimelineServiceApi
from tweetmesh.timeline.v1 import timeline_service_pb2_grpc


def register(server: grpc.aio.Server, deps: Dependencies) -> list[BackgroundJob]:
    timeline_service_pb2_grpc.add_TimelineServiceServicer_to_server(TimelineServiceApi(), server)
    return []


APP = ServiceApp(spec=service_spec("timeline"), needs=frozenset({"cql", "redis", "nats"}), register=register)

if __name__ == "__main__":
    main(APP)
