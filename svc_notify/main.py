"""Composition root of svc_notify: the only module that knows the concrete adapters.

Uses CQL (notifications per user), NATS (events in, delivery work queue).
Run: python -m svc_notify.main (ports and endpoints from mesh/config.py).
"""

from __future__ import annotations

import grpc

from mesh.config import service_spec
from mesh.deps import Dependencies
from mesh.server import BackgroundJob, ServiceApp, main
from svc_notify.grpc_api import NotificationServiceApi
from tweetmesh.notify.v1 import notification_service_pb2_grpc


def register(server: grpc.aio.Server, deps: Dependencies) -> list[BackgroundJob]:
    notification_service_pb2_grpc.add_NotificationServiceServicer_to_server(NotificationServiceApi(), server)
    return []


APP = ServiceApp(spec=service_spec("notify"), needs=frozenset({"cql", "nats"}), register=register)

if __name__ == "__main__":
    main(APP)
