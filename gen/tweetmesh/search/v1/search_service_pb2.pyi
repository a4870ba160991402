import datetime

from buf.validate import validate_pb2 as _validate_pb2
from google.api import annotations_pb2 as _annotations_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from tweetmesh.graph.v1 import user_pb2 as _user_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SearchOrder(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SEARCH_ORDER_UNSPECIFIED: _ClassVar[SearchOrder]
    SEARCH_ORDER_BEST_MATCH: _ClassVar[SearchOrder]
    SEARCH_ORDER_NEWEST: _ClassVar[SearchOrder]
SEARCH_ORDER_UNSPECIFIED: SearchOrder
SEARCH_ORDER_BEST_MATCH: SearchOrder
SEARCH_ORDER_NEWEST: SearchOrder

class SearchTweetsRequest(_message.Message):
    __slots__ = ("tweet_name", "limit_value", "cursor_value", "order")
    TWEET_NAME_FIELD_NUMBER: _ClassVar[int]
    LIMIT_VALUE_FIELD_NUMBER: _ClassVar[int]
    CURSOR_VALUE_FIELD_NUMBER: _ClassVar[int]
    ORDER_FIELD_NUMBER: _ClassVar[int]
    tweet_name: str
    limit_value: int
    cursor_value: str
    order: SearchOrder
    def __init__(self, tweet_name: _Optional[str] = ..., limit_value: _Optional[int] = ..., cursor_value: _Optional[str] = ..., order: _Optional[_Union[SearchOrder, str]] = ...) -> None: ...

class SearchTweetResult(_message.Message):
    __slots__ = ("tweet_id", "tweet_name", "posted_by", "create_time")
    TWEET_ID_FIELD_NUMBER: _ClassVar[int]
    TWEET_NAME_FIELD_NUMBER: _ClassVar[int]
    POSTED_BY_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    tweet_id: str
    tweet_name: str
    posted_by: str
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, tweet_id: _Optional[str] = ..., tweet_name: _Optional[str] = ..., posted_by: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class SearchTweetsResponse(_message.Message):
    __slots__ = ("results", "next_cursor")
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_CURSOR_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[SearchTweetResult]
    next_cursor: str
    def __init__(self, results: _Optional[_Iterable[_Union[SearchTweetResult, _Mapping]]] = ..., next_cursor: _Optional[str] = ...) -> None: ...

class SearchUsersRequest(_message.Message):
    __slots__ = ("handle_prefix", "page_size", "page_token")
    HANDLE_PREFIX_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    handle_prefix: str
    page_size: int
    page_token: str
    def __init__(self, handle_prefix: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class SearchUsersResponse(_message.Message):
    __slots__ = ("users", "next_page_token")
    USERS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    users: _containers.RepeatedCompositeFieldContainer[_user_pb2.User]
    next_page_token: str
    def __init__(self, users: _Optional[_Iterable[_Union[_user_pb2.User, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...
