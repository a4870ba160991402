"""The gRPC face of svc_notify: proto <-> domain, nothing else.

RPCs not overridden here answer UNIMPLEMENTED (the generated base), after the call pipeline has
validated the request, so clients already get the contract's INVALID_ARGUMENT for bad input.
"""

from __future__ import annotations

from tweetmesh.notify.v1 import notification_service_pb2_grpc


class NotificationServiceApi(notification_service_pb2_grpc.NotificationServiceServicer):
    pass
