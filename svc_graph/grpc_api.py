"""The gRPC face of svc_graph: proto <-> domain, nothing else.

The call pipeline (mesh/interceptors.py) has already validated each request against the proto's
rules and set the caller from the gateway's verified header; this module parses ids, reads the
caller, calls the use case and shapes the answer. Mutations that carry a `request_id` go through
mesh.idempotency.once, scoped by the RPC's full method name, so a retry returns the first answer.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from google.protobuf.message import Message

from mesh.api import caller_id, optional_id, parse_id, to_timestamp
from mesh.idempotency import AnswerLog, once
from svc_graph.domain import Profile, ProfileChanges, Relationship, SessionTokens, TOKEN_TYPE
from svc_graph.service import Accounts, ProfilePage, Sessions, SocialGraph
from tweetmesh.graph.v1 import graph_service_pb2 as pb
from tweetmesh.graph.v1 import graph_service_pb2_grpc, user_pb2

M = TypeVar("M", bound=Message)

_SERVICE = pb.DESCRIPTOR.services_by_name["GraphService"].full_name


def _user(profile: Profile) -> user_pb2.User:
    user = profile.user
    return user_pb2.User(
        user_id=str(user.user_id),
        handle=user.handle,
        display_name=user.display_name,
        bio=user.bio,
        create_time=to_timestamp(user.create_time),
        follower_count=profile.counts.followers,
        following_count=profile.counts.following,
        celebrity=profile.celebrity,
    )


RELATIONSHIP_FLAGS = frozenset({"following", "followed_by", "blocking", "blocked_by", "muting"})


def _relationship(relationship: Relationship, flags: frozenset[str] = RELATIONSHIP_FLAGS) -> user_pb2.Relationship:
    """The relationship with `flags` as computed, the others false (a read mask)."""
    return user_pb2.Relationship(
        user_id=str(relationship.user_id),
        target_user_id=str(relationship.target_user_id),
        **{flag: getattr(relationship, flag) for flag in flags},
    )


def _session_fields(tokens: SessionTokens) -> dict:
    return {
        "access_token": tokens.access_token.token,
        "user_id": str(tokens.user_id),
        "token_type": TOKEN_TYPE,
        "expire_time": to_timestamp(tokens.access_token.expire_time),
        "refresh_token": tokens.refresh_token,
        "refresh_expire_time": to_timestamp(tokens.refresh_expire_time),
    }


def _users_page(page: ProfilePage) -> dict:
    return {"users": [_user(p) for p in page.profiles], "next_page_token": page.next_page_token}


class GraphServiceApi(graph_service_pb2_grpc.GraphServiceServicer):
    def __init__(self, accounts: Accounts, sessions: Sessions, graph: SocialGraph, answers: AnswerLog):
        self._accounts = accounts
        self._sessions = sessions
        self._graph = graph
        self._answers = answers

    async def _once(
        self, method: str, request_id: str, requester: str, response_type: type[M], compute: Callable[[], Awaitable[M]]
    ) -> M:
        return await once(self._answers, f"/{_SERVICE}/{method}", request_id, requester, response_type, compute)

    # --- users --------------------------------------------------------------------------------

    async def CreateUser(self, request: pb.CreateUserRequest, ctx) -> pb.CreateUserResponse:
        async def create() -> pb.CreateUserResponse:
            profile = await self._accounts.create_user(request.handle, request.password, request.display_name)
            return pb.CreateUserResponse(user_id=str(profile.user.user_id), user=_user(profile))

        # anonymous: the handle being registered ties a retry to its requester
        return await self._once("CreateUser", request.request_id, f"signup:{request.handle.lower()}",
                                pb.CreateUserResponse, create)

    async def GetUser(self, request: pb.GetUserRequest, ctx) -> pb.GetUserResponse:
        profile, relationship = await self._accounts.get_user(caller_id(), parse_id("user_id", request.user_id))
        return pb.GetUserResponse(user=_user(profile), relationship=_relationship(relationship))

    async def LookupUser(self, request: pb.LookupUserRequest, ctx) -> pb.LookupUserResponse:
        profile, relationship = await self._accounts.lookup_user(caller_id(), request.handle)
        return pb.LookupUserResponse(user=_user(profile), relationship=_relationship(relationship))

    async def BatchGetUsers(self, request: pb.BatchGetUsersRequest, ctx) -> pb.BatchGetUsersResponse:
        user_ids = [parse_id(f"user_ids[{i}]", text) for i, text in enumerate(request.user_ids)]
        profiles = await self._accounts.batch_get_users(user_ids)
        return pb.BatchGetUsersResponse(users=[_user(p) for p in profiles])

    async def UpdateUser(self, request: pb.UpdateUserRequest, ctx) -> pb.UpdateUserResponse:
        caller = caller_id()
        user_id = parse_id("user_id", request.user_id)
        changes = ProfileChanges(
            display_name=request.display_name if request.HasField("display_name") else None,
            bio=request.bio if request.HasField("bio") else None,
        )

        async def update() -> pb.UpdateUserResponse:
            return pb.UpdateUserResponse(user=_user(await self._accounts.update_user(caller, user_id, changes)))

        return await self._once("UpdateUser", request.request_id, str(caller or ""), pb.UpdateUserResponse, update)

    # --- sessions (no request_id: see the proto) ----------------------------------------------

    async def CreateSession(self, request: pb.CreateSessionRequest, ctx) -> pb.CreateSessionResponse:
        tokens = await self._sessions.create_session(request.handle, request.password)
        return pb.CreateSessionResponse(**_session_fields(tokens))

    async def RefreshSession(self, request: pb.RefreshSessionRequest, ctx) -> pb.RefreshSessionResponse:
        tokens = await self._sessions.refresh_session(request.refresh_token)
        return pb.RefreshSessionResponse(**_session_fields(tokens))

    async def RevokeSession(self, request: pb.RevokeSessionRequest, ctx) -> pb.RevokeSessionResponse:
        await self._sessions.revoke_session(request.refresh_token)
        return pb.RevokeSessionResponse()

    # --- follows ------------------------------------------------------------------------------

    async def FollowUser(self, request: pb.FollowUserRequest, ctx) -> pb.FollowUserResponse:
        caller = caller_id()
        followee_id = parse_id("following_user_id", request.following_user_id)
        claimed_follower_id = optional_id("follower_user_id", request.follower_user_id)

        async def follow() -> pb.FollowUserResponse:
            follower_id = await self._graph.follow(caller, followee_id, claimed_follower_id)
            return pb.FollowUserResponse(following_user_id=str(followee_id), follower_user_id=str(follower_id))

        return await self._once("FollowUser", request.request_id, str(caller or ""), pb.FollowUserResponse, follow)

    async def UnfollowUser(self, request: pb.UnfollowUserRequest, ctx) -> pb.UnfollowUserResponse:
        caller = caller_id()
        followee_id = parse_id("following_user_id", request.following_user_id)

        async def unfollow() -> pb.UnfollowUserResponse:
            follower_id = await self._graph.unfollow(caller, followee_id)
            return pb.UnfollowUserResponse(following_user_id=str(followee_id), follower_user_id=str(follower_id))

        return await self._once("UnfollowUser", request.request_id, str(caller or ""), pb.UnfollowUserResponse, unfollow)

    async def ListFollowers(self, request: pb.ListFollowersRequest, ctx) -> pb.ListFollowersResponse:
        page = await self._graph.list_followers(
            caller_id(), parse_id("user_id", request.user_id), request.page_size, request.page_token
        )
        return pb.ListFollowersResponse(**_users_page(page))

    async def ListFollowing(self, request: pb.ListFollowingRequest, ctx) -> pb.ListFollowingResponse:
        page = await self._graph.list_following(
            caller_id(), parse_id("user_id", request.user_id), request.page_size, request.page_token
        )
        return pb.ListFollowingResponse(**_users_page(page))

    # --- blocks and mutes ---------------------------------------------------------------------

    async def BlockUser(self, request: pb.BlockUserRequest, ctx) -> pb.BlockUserResponse:
        caller = caller_id()
        blocked_id = parse_id("blocked_user_id", request.blocked_user_id)

        async def block() -> pb.BlockUserResponse:
            await self._graph.block(caller, blocked_id)
            return pb.BlockUserResponse(blocked_user_id=str(blocked_id))

        return await self._once("BlockUser", request.request_id, str(caller or ""), pb.BlockUserResponse, block)

    async def UnblockUser(self, request: pb.UnblockUserRequest, ctx) -> pb.UnblockUserResponse:
        caller = caller_id()
        blocked_id = parse_id("blocked_user_id", request.blocked_user_id)

        async def unblock() -> pb.UnblockUserResponse:
            await self._graph.unblock(caller, blocked_id)
            return pb.UnblockUserResponse(blocked_user_id=str(blocked_id))

        return await self._once("UnblockUser", request.request_id, str(caller or ""), pb.UnblockUserResponse, unblock)

    async def ListBlockedUsers(self, request: pb.ListBlockedUsersRequest, ctx) -> pb.ListBlockedUsersResponse:
        page = await self._graph.list_blocked(caller_id(), request.page_size, request.page_token)
        return pb.ListBlockedUsersResponse(**_users_page(page))

    async def MuteUser(self, request: pb.MuteUserRequest, ctx) -> pb.MuteUserResponse:
        caller = caller_id()
        muted_id = parse_id("muted_user_id", request.muted_user_id)

        async def mute() -> pb.MuteUserResponse:
            await self._graph.mute(caller, muted_id)
            return pb.MuteUserResponse(muted_user_id=str(muted_id))

        return await self._once("MuteUser", request.request_id, str(caller or ""), pb.MuteUserResponse, mute)

    async def UnmuteUser(self, request: pb.UnmuteUserRequest, ctx) -> pb.UnmuteUserResponse:
        caller = caller_id()
        muted_id = parse_id("muted_user_id", request.muted_user_id)

        async def unmute() -> pb.UnmuteUserResponse:
            await self._graph.unmute(caller, muted_id)
            return pb.UnmuteUserResponse(muted_user_id=str(muted_id))

        return await self._once("UnmuteUser", request.request_id, str(caller or ""), pb.UnmuteUserResponse, unmute)

    async def ListMutedUsers(self, request: pb.ListMutedUsersRequest, ctx) -> pb.ListMutedUsersResponse:
        page = await self._graph.list_muted(caller_id(), request.page_size, request.page_token)
        return pb.ListMutedUsersResponse(**_users_page(page))

    # --- internal: other services call these directly, with or without a caller ----------------

    async def ListFollowerIds(self, request: pb.ListFollowerIdsRequest, ctx) -> pb.ListFollowerIdsResponse:
        page = await self._graph.follower_ids(parse_id("user_id", request.user_id), request.page_size, request.page_token)
        return pb.ListFollowerIdsResponse(
            user_ids=[str(i) for i in page.user_ids], next_page_token=page.next_page_token, celebrity=page.celebrity
        )

    async def ListFollowingIds(self, request: pb.ListFollowingIdsRequest, ctx) -> pb.ListFollowingIdsResponse:
        page = await self._graph.following_ids(parse_id("user_id", request.user_id), request.page_size, request.page_token)
        return pb.ListFollowingIdsResponse(
            user_ids=[str(i) for i in page.user_ids],
            next_page_token=page.next_page_token,
            celebrity_user_ids=[str(i) for i in page.celebrity_user_ids],
        )

    async def BatchGetRelationships(
        self, request: pb.BatchGetRelationshipsRequest, ctx
    ) -> pb.BatchGetRelationshipsResponse:
        user_id = parse_id("user_id", request.user_id)
        targets = [parse_id(f"target_user_ids[{i}]", text) for i, text in enumerate(request.target_user_ids)]
        # the proto's rules allow only RELATIONSHIP_FLAGS as paths; none: all of them
        flags = frozenset(request.read_mask.paths) or RELATIONSHIP_FLAGS
        relationships = await self._graph.relationships(user_id, targets)
        return pb.BatchGetRelationshipsResponse(relationships=[_relationship(r, flags) for r in relationships])
