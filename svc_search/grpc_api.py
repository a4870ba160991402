"""The gRPC face of svc_search: proto <-> domain, nothing else.

The call pipeline (mesh/interceptors.py) has already validated each request against the proto's
rules (an empty or blank query is INVALID_ARGUMENT there) and set the caller from the gateway's
verified header; this module reads the caller, calls the use case and shapes the answer.
"""

from __future__ import annotations

from mesh.api import caller_id, to_timestamp
from svc_search.domain import TweetHit, TweetOrder, UserProfile
from svc_search.service import TweetSearch, UserSearch
from tweetmesh.graph.v1 import user_pb2
from tweetmesh.search.v1 import search_service_pb2 as pb
from tweetmesh.search.v1 import search_service_pb2_grpc


# UNSPECIFIED is best match (the proto says so); the proto's rules refuse undefined values
_ORDER = {
    pb.SEARCH_ORDER_UNSPECIFIED: TweetOrder.BEST_MATCH,
    pb.SEARCH_ORDER_BEST_MATCH: TweetOrder.BEST_MATCH,
    pb.SEARCH_ORDER_NEWEST: TweetOrder.NEWEST,
}


def _result(hit: TweetHit) -> pb.SearchTweetResult:
    result = pb.SearchTweetResult(tweet_id=str(hit.tweet_id), tweet_name=hit.text, posted_by=str(hit.author_id))
    if hit.create_time is not None:
        result.create_time.CopyFrom(to_timestamp(hit.create_time))
    return result


def _user(profile: UserProfile) -> user_pb2.User:
    user = user_pb2.User(
        user_id=str(profile.user_id),
        handle=profile.handle,
        display_name=profile.display_name,
        bio=profile.bio,
        follower_count=profile.follower_count,
        following_count=profile.following_count,
        celebrity=profile.celebrity,
    )
    if profile.create_time is not None:
        user.create_time.CopyFrom(to_timestamp(profile.create_time))
    return user


class SearchServiceApi(search_service_pb2_grpc.SearchServiceServicer):
    def __init__(self, tweets: TweetSearch, users: UserSearch):
        self._tweets = tweets
        self._users = users

    async def SearchTweets(self, request: pb.SearchTweetsRequest, ctx) -> pb.SearchTweetsResponse:
        page = await self._tweets.search(caller_id(), request.tweet_name, request.limit_value, request.cursor_value,
                                         _ORDER[request.order])
        return pb.SearchTweetsResponse(results=[_result(hit) for hit in page.hits], next_cursor=page.next_cursor)

    async def SearchUsers(self, request: pb.SearchUsersRequest, ctx) -> pb.SearchUsersResponse:
        page = await self._users.search(caller_id(), request.handle_prefix, request.page_size, request.page_token)
        return pb.SearchUsersResponse(users=[_user(profile) for profile in page.users],
                                      next_page_token=page.next_page_token)
