"""The graph service (svc_graph) as svc_notify's user directory: actors' profiles, and whom a
recipient blocks or mutes. Every call carries the caller's remaining time (capped), request id and
identity (mesh.clients.call_options); retries on UNAVAILABLE are the channel's declared policy.

Profiles degrade: a notification is still worth storing and pushing without its actor's profile
(the list hydrates it again on read; a push says "Someone ..."). The block/mute check does not:
notifying a user of someone they blocked is worse than notifying them a little later, so a graph
that does not answer fails the event, which is retried.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection

import grpc

from mesh import ids
from mesh.clients import call_options, unavailable_from
from svc_notify.messages import actor_from_proto
from svc_notify.ports import ActorProfile
from tweetmesh.graph.v1 import graph_service_pb2 as graph_pb
from tweetmesh.graph.v1 import graph_service_pb2_grpc

log = logging.getLogger("svc_notify.graph")

PROFILE_TIMEOUT_S = 1.0  # a read waits for profiles at most this long
BATCH_LIMIT = 100  # BatchGetUsers.user_ids and BatchGetRelationships.target_user_ids: 1..100


def _batches(user_ids: Collection[int]) -> list[list[int]]:
    unique = list(dict.fromkeys(user_ids))
    return [unique[start:start + BATCH_LIMIT] for start in range(0, len(unique), BATCH_LIMIT)]


class GrpcUserDirectory:
    def __init__(self, channel: grpc.aio.Channel):
        self._stub = graph_service_pb2_grpc.GraphServiceStub(channel)

    async def profiles(self, user_ids: Collection[int]) -> dict[int, ActorProfile]:
        batches = _batches(user_ids)
        if not batches:
            return {}
        try:
            answers = await asyncio.gather(*(
                self._stub.BatchGetUsers(
                    graph_pb.BatchGetUsersRequest(user_ids=[ids.to_str(i) for i in batch]),
                    **call_options(PROFILE_TIMEOUT_S),
                )
                for batch in batches
            ))
        except grpc.aio.AioRpcError as exc:
            log.warning("graph did not return profiles (%s: %s); notifications go out without them",
                        exc.code().name, exc.details())
            return {}
        return {int(user.user_id): actor_from_proto(user) for answer in answers for user in answer.users}

    async def hidden_actors(self, recipient_id: int, actor_ids: Collection[int]) -> set[int]:
        hidden: set[int] = set()
        for batch in _batches(actor_ids):
            try:
                answer = await self._stub.BatchGetRelationships(
                    graph_pb.BatchGetRelationshipsRequest(
                        user_id=ids.to_str(recipient_id), target_user_ids=[ids.to_str(i) for i in batch]
                    ),
                    **call_options(),
                )
            except grpc.aio.AioRpcError as exc:
                raise unavailable_from(exc, "graph") from exc
            hidden.update(int(r.target_user_id) for r in answer.relationships if r.blocking or r.muting)
        return hidden
