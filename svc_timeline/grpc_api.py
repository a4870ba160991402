"""The gRPC face of svc_timeline: proto <-> domain, nothing else.

RPCs not overridden here answer UNIMPLEMENTED (the generated base), after the call pipeline has
validated the request, so clients already get the contract's INVALID_ARGUMENT for bad input.
"""

from __future__ import annotations

from tweetmesh.timeline.v1 import timeline_service_pb2_grpc


class TimelineServiceApi(timeline_service_pb2_grpc.TimelineServiceServicer):
    pass
