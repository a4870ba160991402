"""svc_graph's servicer behind the real call pipeline, over fakes, on an in-process server: what a
gRPC client sees (statuses, reasons, caller identity from the header, idempotent retries)."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf.field_mask_pb2 import FieldMask
from google.rpc import error_details_pb2, status_pb2

from mesh.interceptors import CALLER_HEADER, STATUS_DETAILS_TRAILER, CallPipeline
from mesh.testing import ManualClock, SequentialIds
from svc_graph.grpc_api import GraphServiceApi
from svc_graph.service import Accounts, GraphSettings, Profiles, RelationshipReader, Sessions, SocialGraph
from svc_graph.testing import (
    FakeCountCache,
    FakeGraphStore,
    FakePasswordHasher,
    FakeRelationshipCache,
    FakeSessionStore,
    FakeTokenIssuer,
    FakeUserCache,
    FakeUserStore,
)
from tweetmesh.graph.v1 import graph_service_pb2 as pb
from tweetmesh.graph.v1 import graph_service_pb2_grpc


class MemoryAnswerLog:
    def __init__(self) -> None:
        self.answers: dict[tuple[str, str, str], bytes] = {}

    async def recall(self, scope: str, request_id: str, caller_id: str) -> bytes | None:
        return self.answers.get((scope, caller_id, request_id))

    async def remember(self, scope: str, request_id: str, caller_id: str, response: bytes) -> bytes:
        return self.answers.setdefault((scope, caller_id, request_id), response)


@pytest.fixture
async def api():
    users, user_cache, graph, counts = FakeUserStore(), FakeUserCache(), FakeGraphStore(), FakeCountCache()
    ids, clock, hasher, settings = SequentialIds(), ManualClock(), FakePasswordHasher(), GraphSettings(celebrity_threshold=1)
    profiles = Profiles(users, user_cache, graph, counts, settings)
    answers = MemoryAnswerLog()
    relationships = FakeRelationshipCache()
    servicer = GraphServiceApi(
        accounts=Accounts(users, user_cache, RelationshipReader(graph, relationships, settings), profiles, hasher, ids, clock),
        sessions=Sessions(users, FakeSessionStore(), hasher, FakeTokenIssuer(), ids, clock),
        graph=SocialGraph(graph, counts, relationships, profiles, ids, clock, settings),
        answers=answers,
    )
    server = grpc.aio.server(interceptors=[CallPipeline(default_deadline_s=5)])
    graph_service_pb2_grpc.add_GraphServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = graph_service_pb2_grpc.GraphServiceStub(channel)
        stub.graph = graph
        stub.answers = answers
        yield stub
    await server.stop(None)


def as_user(user_id: str):
    return ((CALLER_HEADER, user_id),)


def reason_of(error: grpc.aio.AioRpcError) -> str:
    details = dict(error.trailing_metadata() or ())[STATUS_DETAILS_TRAILER]
    status = status_pb2.Status.FromString(details)
    info = error_details_pb2.ErrorInfo()
    status.details[0].Unpack(info)
    return info.reason


async def sign_up(api, handle: str) -> str:
    answer = await api.CreateUser(pb.CreateUserRequest(handle=handle, password="password-1", display_name=handle))
    return answer.user_id


async def test_sign_up_then_log_in(api):
    user_id = await sign_up(api, "Ann")
    with pytest.raises(grpc.aio.AioRpcError) as taken:
        await sign_up(api, "ann")
    assert taken.value.code() == grpc.StatusCode.ALREADY_EXISTS and reason_of(taken.value) == "HANDLE_TAKEN"

    session = await api.CreateSession(pb.CreateSessionRequest(handle="ANN", password="password-1"))
    assert session.user_id == user_id and session.token_type == "Bearer" and session.refresh_token
    assert session.expire_time.ToDatetime() < session.refresh_expire_time.ToDatetime()

    with pytest.raises(grpc.aio.AioRpcError) as wrong:
        await api.CreateSession(pb.CreateSessionRequest(handle="ann", password="password-2"))
    assert wrong.value.code() == grpc.StatusCode.UNAUTHENTICATED and reason_of(wrong.value) == "INVALID_CREDENTIALS"


async def test_identity_comes_from_the_callers_header_never_from_the_body(api):
    ann, bob = await sign_up(api, "ann"), await sign_up(api, "bob")

    with pytest.raises(grpc.aio.AioRpcError) as anonymous:
        await api.FollowUser(pb.FollowUserRequest(following_user_id=bob, follower_user_id=ann))
    assert anonymous.value.code() == grpc.StatusCode.UNAUTHENTICATED

    with pytest.raises(grpc.aio.AioRpcError) as impostor:
        await api.FollowUser(pb.FollowUserRequest(following_user_id=ann, follower_user_id=ann), metadata=as_user(bob))
    assert impostor.value.code() == grpc.StatusCode.PERMISSION_DENIED and reason_of(impostor.value) == "NOT_THE_CALLER"

    answer = await api.FollowUser(pb.FollowUserRequest(following_user_id=bob), metadata=as_user(ann))
    assert (answer.follower_user_id, answer.following_user_id) == (ann, bob)

    with pytest.raises(grpc.aio.AioRpcError) as other_profile:
        await api.UpdateUser(pb.UpdateUserRequest(user_id=bob, bio="mine now"), metadata=as_user(ann))
    assert other_profile.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_profiles_carry_counts_and_the_callers_relationship(api):
    ann, bob = await sign_up(api, "ann"), await sign_up(api, "bob")
    await api.FollowUser(pb.FollowUserRequest(following_user_id=bob), metadata=as_user(ann))

    answer = await api.GetUser(pb.GetUserRequest(user_id=bob), metadata=as_user(ann))

    assert (answer.user.handle, answer.user.follower_count, answer.user.following_count) == ("bob", 1, 0)
    assert answer.relationship.following and not answer.relationship.followed_by
    updated = await api.UpdateUser(pb.UpdateUserRequest(user_id=ann, display_name="Annie"), metadata=as_user(ann))
    assert (updated.user.display_name, updated.user.following_count) == ("Annie", 1)


async def test_a_retry_with_the_same_request_id_gets_the_first_answer(api):
    ann, bob = await sign_up(api, "ann"), await sign_up(api, "bob")
    request = pb.FollowUserRequest(following_user_id=bob, request_id="req-1")

    first = await api.FollowUser(request, metadata=as_user(ann))
    await api.UnfollowUser(pb.UnfollowUserRequest(following_user_id=bob), metadata=as_user(ann))
    retried = await api.FollowUser(request, metadata=as_user(ann))

    assert retried == first
    # scoped by the RPC's full method name and tied to the caller
    assert ("/tweetmesh.graph.v1.GraphService/FollowUser", ann, "req-1") in api.answers.answers
    assert not api.graph.edges  # the retry did not follow again


async def test_bad_page_tokens_and_out_of_range_ids_are_invalid_arguments(api):
    ann = await sign_up(api, "ann")
    with pytest.raises(grpc.aio.AioRpcError) as bad_token:
        await api.ListFollowers(pb.ListFollowersRequest(user_id=ann, page_token="garbage"), metadata=as_user(ann))
    assert bad_token.value.code() == grpc.StatusCode.INVALID_ARGUMENT and reason_of(bad_token.value) == "INVALID_PAGE_TOKEN"

    with pytest.raises(grpc.aio.AioRpcError) as too_big:  # matches the proto's pattern, beyond int64
        await api.GetUser(pb.GetUserRequest(user_id="9999999999999999999"), metadata=as_user(ann))
    assert too_big.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "user_id" in too_big.value.details()


async def test_internal_id_lists_need_no_caller_and_flag_celebrities(api):
    ann, bob, cat = await sign_up(api, "ann"), await sign_up(api, "bob"), await sign_up(api, "cat")
    for fan in (bob, cat):  # two followers: over this test's threshold of 1
        await api.FollowUser(pb.FollowUserRequest(following_user_id=ann), metadata=as_user(fan))

    followers = await api.ListFollowerIds(pb.ListFollowerIdsRequest(user_id=ann))
    following = await api.ListFollowingIds(pb.ListFollowingIdsRequest(user_id=bob))
    profile = await api.GetUser(pb.GetUserRequest(user_id=ann), metadata=as_user(bob))

    assert sorted(followers.user_ids) == sorted([bob, cat]) and followers.next_page_token == ""
    assert followers.celebrity and profile.user.celebrity
    assert list(following.user_ids) == [ann] and list(following.celebrity_user_ids) == [ann]
    bobs_followers = await api.ListFollowerIds(pb.ListFollowerIdsRequest(user_id=bob))
    assert not bobs_followers.celebrity and not bobs_followers.user_ids
    relationships = await api.BatchGetRelationships(pb.BatchGetRelationshipsRequest(user_id=ann, target_user_ids=[bob]))
    assert relationships.relationships[0].followed_by


async def test_a_read_mask_answers_only_its_flags_all_from_one_cached_read(api):
    ann, bob, cat = await sign_up(api, "ann"), await sign_up(api, "bob"), await sign_up(api, "cat")
    await api.BlockUser(pb.BlockUserRequest(blocked_user_id=ann), metadata=as_user(bob))
    await api.FollowUser(pb.FollowUserRequest(following_user_id=cat), metadata=as_user(ann))
    api.graph.lookups = 0

    blocked_by = await api.BatchGetRelationships(pb.BatchGetRelationshipsRequest(
        user_id=ann, target_user_ids=[bob, cat], read_mask=FieldMask(paths=["blocked_by"])))

    assert [(r.target_user_id, r.blocked_by, r.following) for r in blocked_by.relationships] == [
        (bob, True, False), (cat, False, False)]  # following cat: not asked, so false
    assert api.graph.lookups == 5  # ann's relationships, read whole once (five partitions)

    following = await api.BatchGetRelationships(pb.BatchGetRelationshipsRequest(
        user_id=ann, target_user_ids=[bob, cat], read_mask=FieldMask(paths=["following"])))
    assert [(r.following, r.blocked_by) for r in following.relationships] == [(False, False), (True, False)]
    assert api.graph.lookups == 5  # another mask, the same cached relationships

    for not_a_flag in ("muted_by", "blocked_by.since", ""):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await api.BatchGetRelationships(pb.BatchGetRelationshipsRequest(
                user_id=ann, target_user_ids=[bob], read_mask=FieldMask(paths=[not_a_flag])))
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "read_mask" in refused.value.details()
