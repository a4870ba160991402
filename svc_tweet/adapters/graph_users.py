"""The graph service as the user directory of svc_tweet: profiles of authors, ids of mentioned
handles. Every call carries the caller's remaining time (capped), request id and identity
(mesh.clients.call_options).

Both lookups degrade instead of failing the call: a tweet is still worth showing without its
author's profile (it keeps author_id), and still worth posting without resolved mentions. Each
degradation is logged.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import timezone

import grpc

from mesh.clients import call_options
from svc_tweet.domain import AuthorProfile
from tweetmesh.graph.v1 import graph_service_pb2 as graph_pb
from tweetmesh.graph.v1 import graph_service_pb2_grpc, user_pb2

log = logging.getLogger("svc_tweet.graph_users")

# Reads wait for profiles at most this long: a slow graph must not make every tweet read slow.
PROFILE_TIMEOUT_S = 1.0
BATCH_LIMIT = 100  # BatchGetUsers takes 1..100 ids


def _profile(user: user_pb2.User) -> AuthorProfile:
    return AuthorProfile(
        user_id=int(user.user_id),
        handle=user.handle,
        display_name=user.display_name,
        bio=user.bio,
        create_time=user.create_time.ToDatetime(tzinfo=timezone.utc) if user.HasField("create_time") else None,
        follower_count=user.follower_count,
        following_count=user.following_count,
        celebrity=user.celebrity,
    )


class GraphUserDirectory:
    def __init__(self, stub: graph_service_pb2_grpc.GraphServiceStub):
        self._stub = stub

    async def profiles(self, user_ids: Sequence[int]) -> dict[int, AuthorProfile] | None:
        ids = list(dict.fromkeys(user_ids))
        if not ids:
            return {}
        try:
            answers = await asyncio.gather(*(
                self._stub.BatchGetUsers(
                    graph_pb.BatchGetUsersRequest(user_ids=[str(i) for i in ids[start:start + BATCH_LIMIT]]),
                    **call_options(PROFILE_TIMEOUT_S),
                )
                for start in range(0, len(ids), BATCH_LIMIT)
            ))
        except grpc.aio.AioRpcError as exc:
            log.warning("graph did not return profiles (%s: %s); tweets go out with author ids only",
                        exc.code().name, exc.details())
            return None
        return {int(user.user_id): _profile(user) for answer in answers for user in answer.users}

    async def user_ids_by_handle(self, handles: Sequence[str]) -> dict[str, int]:
        handles = list(dict.fromkeys(handles))
        results = await asyncio.gather(
            *(self._stub.LookupUser(graph_pb.LookupUserRequest(handle=h), **call_options()) for h in handles),
            return_exceptions=True,
        )
        found: dict[str, int] = {}
        for handle, result in zip(handles, results):
            if isinstance(result, grpc.aio.AioRpcError):
                if result.code() is not grpc.StatusCode.NOT_FOUND:
                    log.warning("graph could not resolve @%s (%s: %s); the tweet is posted without that mention",
                                handle, result.code().name, result.details())
                continue
            if isinstance(result, BaseException):
                raise result
            found[handle] = int(result.user.user_id)
        return found
