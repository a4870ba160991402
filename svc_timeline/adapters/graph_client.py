"""The follow graph through GraphService's internal RPCs (svc_graph), called directly on its port.

Every call carries the caller's remaining time, capped (mesh.clients.call_options), plus the
request id and the end user's identity of the call being served.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import grpc

from mesh.clients import call_options, unavailable_from
from mesh.errors import UserNotFound
from mesh.interceptors import CALLER_HEADER
from svc_timeline.aio import chunks, gather_bounded
from svc_timeline.domain import FollowerPage, FollowingPage, Relationship
from tweetmesh.graph.v1 import graph_service_pb2 as pb
from tweetmesh.graph.v1 import graph_service_pb2_grpc

MAX_RELATIONSHIP_TARGETS = 100  # BatchGetRelationshipsRequest.target_user_ids: 1..100


def _relationship(message: Any) -> Relationship:
    return Relationship(
        following=message.following, blocking=message.blocking, blocked_by=message.blocked_by, muting=message.muting
    )


class GrpcFollowerDirectory:
    def __init__(self, channel: grpc.aio.Channel):
        self._stub = graph_service_pb2_grpc.GraphServiceStub(channel)

    async def follower_ids(self, user_id: int, page_token: str, page_size: int) -> FollowerPage:
        request = pb.ListFollowerIdsRequest(user_id=str(user_id), page_size=page_size, page_token=page_token)
        try:
            response = await self._stub.ListFollowerIds(request, **call_options())
        except grpc.aio.AioRpcError as error:
            raise self._error(error, user_id) from error
        return FollowerPage([int(u) for u in response.user_ids], response.next_page_token, response.celebrity)

    async def following_ids(self, user_id: int, page_token: str, page_size: int) -> FollowingPage:
        request = pb.ListFollowingIdsRequest(user_id=str(user_id), page_size=page_size, page_token=page_token)
        try:
            response = await self._stub.ListFollowingIds(request, **call_options())
        except grpc.aio.AioRpcError as error:
            raise self._error(error, user_id) from error
        return FollowingPage(
            [int(u) for u in response.user_ids],
            response.next_page_token,
            [int(u) for u in response.celebrity_user_ids],
        )

    async def relationships(self, user_id: int, target_ids: Sequence[int]) -> Mapping[int, Relationship]:
        targets = list(dict.fromkeys(target_ids))
        if not targets:
            return {}
        pages = await gather_bounded(
            (self._relationships(user_id, chunk) for chunk in chunks(targets, MAX_RELATIONSHIP_TARGETS)), 8
        )
        return {target: relationship for page in pages for target, relationship in page.items()}

    async def _relationships(self, user_id: int, target_ids: Sequence[int]) -> dict[int, Relationship]:
        request = pb.BatchGetRelationshipsRequest(user_id=str(user_id), target_user_ids=[str(t) for t in target_ids])
        try:
            response = await self._stub.BatchGetRelationships(request, **call_options())
        except grpc.aio.AioRpcError as error:
            raise self._error(error, user_id) from error
        return {int(r.target_user_id): _relationship(r) for r in response.relationships}

    async def relationship_to_existing_user(self, reader_id: int, user_id: int) -> Relationship:
        # GetUser answers NOT_FOUND for an unknown user and the relationship of the CALLER to the
        # user: make sure the caller it sees is the reader, whatever the current call carries
        options = call_options()
        others = [(name, value) for name, value in options["metadata"] if name != CALLER_HEADER]
        options["metadata"] = (*others, (CALLER_HEADER, str(reader_id)))
        try:
            response = await self._stub.GetUser(pb.GetUserRequest(user_id=str(user_id)), **options)
        except grpc.aio.AioRpcError as error:
            raise self._error(error, user_id) from error
        return _relationship(response.relationship)

    @staticmethod
    def _error(error: grpc.aio.AioRpcError, user_id: int) -> Exception:
        if error.code() == grpc.StatusCode.NOT_FOUND:
            return UserNotFound(user_id)
        return unavailable_from(error, "graph")
