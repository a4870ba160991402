"""The gRPC face of svc_timeline: proto <-> domain, nothing else.

The call pipeline (mesh/interceptors.py) has already validated each request against the proto's
rules and set the caller from the gateway's verified header; this module parses ids, reads the
caller, calls the use case and shapes the answer. The hydrated tweets come from the tweet service
as tweetmesh.tweet.v1.Tweet messages and are returned as they are.
"""

from __future__ import annotations

from mesh.api import caller_id, parse_id
from mesh.errors import require_caller
from svc_timeline.domain import TimelinePage
from svc_timeline.service import TimelineReader
from tweetmesh.timeline.v1 import timeline_service_pb2 as pb
from tweetmesh.timeline.v1 import timeline_service_pb2_grpc


def _fields(page: TimelinePage) -> dict:
    return {"tweets": [tweet.body for tweet in page.tweets], "next_page_token": page.next_page_token}


class TimelineServiceApi(timeline_service_pb2_grpc.TimelineServiceServicer):
    def __init__(self, reader: TimelineReader):
        self._reader = reader

    async def GetHomeTimeline(self, request: pb.GetHomeTimelineRequest, ctx) -> pb.GetHomeTimelineResponse:
        page = await self._reader.home(caller_id(), request.page_size, request.page_token)
        return pb.GetHomeTimelineResponse(**_fields(page))

    async def GetUserTimeline(self, request: pb.GetUserTimelineRequest, ctx) -> pb.GetUserTimelineResponse:
        user_id = parse_id("user_id", request.user_id)
        page = await self._reader.user(caller_id(), user_id, request.page_size, request.page_token)
        return pb.GetUserTimelineResponse(**_fields(page))

    async def GetPing(self, request: pb.GetPingRequest, ctx) -> pb.GetPingResponse:
        require_caller(caller_id())  # like every RPC here; no other work, on purpose
        return pb.GetPingResponse()
