"""The graph service as svc_tweet's user directory, against an in-process fake GraphService: what
it forwards, and how it degrades when graph cannot answer."""

from __future__ import annotations

import grpc
import pytest

from mesh import context
from mesh.interceptors import CALLER_HEADER
from svc_tweet.adapters.graph_users import GraphUserDirectory
from tweetmesh.graph.v1 import graph_service_pb2 as graph_pb
from tweetmesh.graph.v1 import graph_service_pb2_grpc, user_pb2


class FakeGraph(graph_service_pb2_grpc.GraphServiceServicer):
    def __init__(self) -> None:
        self.users = {"7": user_pb2.User(user_id="7", handle="Ann", display_name="Ann", follower_count=3)}
        self.implemented = True
        self.callers: list[str] = []

    async def BatchGetUsers(self, request, ctx):
        if not self.implemented:
            await ctx.abort(grpc.StatusCode.UNIMPLEMENTED, "not yet")
        return graph_pb.BatchGetUsersResponse(users=[self.users[u] for u in request.user_ids if u in self.users])

    async def LookupUser(self, request, ctx):
        self.callers.append(dict(ctx.invocation_metadata()).get(CALLER_HEADER, ""))
        if not self.implemented:
            await ctx.abort(grpc.StatusCode.UNAVAILABLE, "restarting")
        for user in self.users.values():
            if user.handle.lower() == request.handle.lower():
                return graph_pb.LookupUserResponse(user=user)
        await ctx.abort(grpc.StatusCode.NOT_FOUND, "no such handle")


@pytest.fixture(scope="module")
async def graph():
    fake = FakeGraph()
    server = grpc.aio.server()
    graph_service_pb2_grpc.add_GraphServiceServicer_to_server(fake, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        yield fake, GraphUserDirectory(graph_service_pb2_grpc.GraphServiceStub(channel))
    await server.stop(None)


async def test_profiles_and_mentions_resolve_known_users_only(graph):
    fake, directory = graph
    fake.implemented = True
    profiles = await directory.profiles([7, 8, 7])
    assert list(profiles) == [7] and profiles[7].handle == "Ann" and profiles[7].follower_count == 3
    token = context.caller_user_id.set("42")
    try:
        assert await directory.user_ids_by_handle(["ann", "nobody"]) == {"ann": 7}
    finally:
        context.caller_user_id.reset(token)
    assert fake.callers[-2:] == ["42", "42"]  # looked up on behalf of the caller


async def test_a_graph_that_cannot_answer_degrades_instead_of_failing(graph):
    fake, directory = graph
    fake.implemented = False
    try:
        assert await directory.profiles([7]) is None
        assert await directory.user_ids_by_handle(["ann"]) == {}
    finally:
        fake.implemented = True
