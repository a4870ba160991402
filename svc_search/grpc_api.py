"""The gRPC face of svc_search: proto <-> domain, nothing else.

RPCs not overridden here answer UNIMPLEMENTED (the generated base), after the call pipeline has
validated the request, so clients already get the contract's INVALID_ARGUMENT for bad input.
"""

from __future__ import annotations

from tweetmesh.search.v1 import search_service_pb2_grpc


class SearchServiceApi(search_service_pb2_grpc.SearchServiceServicer):
    pass
