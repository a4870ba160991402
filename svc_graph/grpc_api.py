"""The gRPC face of svc_graph: proto <-> domain, nothing else.

RPCs not overridden here answer UNIMPLEMENTED (the generated base), after the call pipeline has
validated the request, so clients already get the contract's INVALID_ARGUMENT for bad input.
"""

from __future__ import annotations

from tweetmesh.graph.v1 import graph_service_pb2_grpc


class GraphServiceApi(graph_service_pb2_grpc.GraphServiceServicer):
    pass
