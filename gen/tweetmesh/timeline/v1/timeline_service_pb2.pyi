from buf.validate import validate_pb2 as _validate_pb2
from google.api import annotations_pb2 as _annotations_pb2
from tweetmesh.tweet.v1 import tweet_pb2 as _tweet_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class GetHomeTimelineRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class GetHomeTimelineResponse(_message.Message):
    __slots__ = ("tweets", "next_page_token")
    TWEETS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    tweets: _containers.RepeatedCompositeFieldContainer[_tweet_pb2.Tweet]
    next_page_token: str
    def __init__(self, tweets: _Optional[_Iterable[_Union[_tweet_pb2.Tweet, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetUserTimelineRequest(_message.Message):
    __slots__ = ("user_id", "page_size", "page_token")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    page_size: int
    page_token: str
    def __init__(self, user_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class GetUserTimelineResponse(_message.Message):
    __slots__ = ("tweets", "next_page_token")
    TWEETS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    tweets: _containers.RepeatedCompositeFieldContainer[_tweet_pb2.Tweet]
    next_page_token: str
    def __init__(self, tweets: _Optional[_Iterable[_Union[_tweet_pb2.Tweet, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetPingRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetPingResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...
