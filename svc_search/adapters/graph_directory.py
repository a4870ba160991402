"""The graph service (svc_graph) as svc_search's user directory, called directly on its port.

Every call carries the caller's remaining time, capped, plus the request id and the end user's
identity of the call being served (mesh.clients.call_options); retries on UNAVAILABLE are the
channel's declared policy.

Handles are cached in-process (least recently used first out): the indexer asks for the author of
every tweet, and a handle never changes once claimed (UpdateUser changes the display name and the
bio only), so a cached handle is never stale.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Collection, Sequence
from datetime import timezone

import grpc
from google.protobuf.field_mask_pb2 import FieldMask

from mesh.clients import call_options, unavailable_from
from svc_search.domain import UserProfile
from tweetmesh.graph.v1 import graph_service_pb2 as pb
from tweetmesh.graph.v1 import graph_service_pb2_grpc, user_pb2

log = logging.getLogger("svc_search.graph")

MAX_IDS_PER_CALL = 100  # BatchGetUsers.user_ids and BatchGetRelationships.target_user_ids: 1..100
# the one flag asked: the graph answers it from the searcher's cached blockers, without a store read
_BLOCKED_BY_ONLY = FieldMask(paths=["blocked_by"])


def _chunks(items: Sequence[int], size: int = MAX_IDS_PER_CALL) -> list[Sequence[int]]:
    return [items[start:start + size] for start in range(0, len(items), size)]


def _profile(user: user_pb2.User) -> UserProfile:
    return UserProfile(
        user_id=int(user.user_id),
        handle=user.handle,
        display_name=user.display_name,
        bio=user.bio,
        create_time=user.create_time.ToDatetime(tzinfo=timezone.utc) if user.HasField("create_time") else None,
        follower_count=user.follower_count,
        following_count=user.following_count,
        celebrity=user.celebrity,
    )


class GrpcUserDirectory:
    def __init__(self, channel: grpc.aio.Channel, *, handle_cache_size: int = 10_000):
        self._stub = graph_service_pb2_grpc.GraphServiceStub(channel)
        self._handles: OrderedDict[int, str] = OrderedDict()
        self._handle_cache_size = handle_cache_size

    async def handles(self, user_ids: Collection[int]) -> dict[int, str]:
        found: dict[int, str] = {}
        missing: list[int] = []
        for user_id in dict.fromkeys(user_ids):
            handle = self._handles.get(user_id)
            if handle is None:
                missing.append(user_id)
            else:
                self._handles.move_to_end(user_id)
                found[user_id] = handle
        if missing:
            try:
                users = await self._users(missing)
            except grpc.aio.AioRpcError as exc:
                raise unavailable_from(exc, "graph") from exc
            for user in users:
                found[int(user.user_id)] = user.handle
                self._remember(int(user.user_id), user.handle)
        return found

    async def authors_blocking(self, user_id: int, author_ids: Collection[int]) -> set[int]:
        targets = [author for author in dict.fromkeys(author_ids) if author != user_id]
        if not targets:
            return set()
        try:
            answers = await asyncio.gather(*(
                self._stub.BatchGetRelationships(
                    pb.BatchGetRelationshipsRequest(
                        user_id=str(user_id), target_user_ids=[str(t) for t in chunk], read_mask=_BLOCKED_BY_ONLY,
                    ),
                    **call_options(),
                )
                for chunk in _chunks(targets)
            ))
        except grpc.aio.AioRpcError as exc:
            raise unavailable_from(exc, "graph") from exc
        # subject = the searcher, target = the author: `blocked_by` is "the author blocks the searcher"
        return {int(r.target_user_id) for answer in answers for r in answer.relationships if r.blocked_by}

    async def profiles(self, user_ids: Sequence[int]) -> dict[int, UserProfile] | None:
        ids = list(dict.fromkeys(user_ids))
        if not ids:
            return {}
        try:
            users = await self._users(ids)
        except grpc.aio.AioRpcError as exc:
            log.warning("graph did not return profiles (%s: %s); answering from the index", exc.code().name, exc.details())
            return None
        return {int(user.user_id): _profile(user) for user in users}

    async def _users(self, user_ids: Sequence[int]) -> list[user_pb2.User]:
        """Raises grpc.aio.AioRpcError; `handles` turns it into Unavailable, `profiles` into None."""
        answers = await asyncio.gather(*(
            self._stub.BatchGetUsers(pb.BatchGetUsersRequest(user_ids=[str(i) for i in chunk]), **call_options())
            for chunk in _chunks(list(user_ids))
        ))
        return [user for answer in answers for user in answer.users]

    def _remember(self, user_id: int, handle: str) -> None:
        self._handles[user_id] = handle
        self._handles.move_to_end(user_id)
        while len(self._handles) > self._handle_cache_size:
            self._handles.popitem(last=False)
