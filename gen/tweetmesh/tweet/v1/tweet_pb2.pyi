import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from tweetmesh.graph.v1 import user_pb2 as _user_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class MediaState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MEDIA_STATE_UNSPECIFIED: _ClassVar[MediaState]
    MEDIA_STATE_PENDING_UPLOAD: _ClassVar[MediaState]
    MEDIA_STATE_PROCESSING: _ClassVar[MediaState]
    MEDIA_STATE_READY: _ClassVar[MediaState]
    MEDIA_STATE_FAILED: _ClassVar[MediaState]
MEDIA_STATE_UNSPECIFIED: MediaState
MEDIA_STATE_PENDING_UPLOAD: MediaState
MEDIA_STATE_PROCESSING: MediaState
MEDIA_STATE_READY: MediaState
MEDIA_STATE_FAILED: MediaState

class Tweet(_message.Message):
    __slots__ = ("tweet_id", "author_id", "author", "text", "media", "in_reply_to_tweet_id", "in_reply_to_user_id", "quoted_tweet_id", "quoted_tweet", "retweet_of_tweet_id", "retweeted_tweet", "mentioned_user_ids", "like_count", "retweet_count", "comment_count", "reply_count", "quote_count", "caller_liked", "caller_retweeted", "create_time")
    TWEET_ID_FIELD_NUMBER: _ClassVar[int]
    AUTHOR_ID_FIELD_NUMBER: _ClassVar[int]
    AUTHOR_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    MEDIA_FIELD_NUMBER: _ClassVar[int]
    IN_REPLY_TO_TWEET_ID_FIELD_NUMBER: _ClassVar[int]
    IN_REPLY_TO_USER_ID_FIELD_NUMBER: _ClassVar[int]
    QUOTED_TWEET_ID_FIELD_NUMBER: _ClassVar[int]
    QUOTED_TWEET_FIELD_NUMBER: _ClassVar[int]
    RETWEET_OF_TWEET_ID_FIELD_NUMBER: _ClassVar[int]
    RETWEETED_TWEET_FIELD_NUMBER: _ClassVar[int]
    MENTIONED_USER_IDS_FIELD_NUMBER: _ClassVar[int]
    LIKE_COUNT_FIELD_NUMBER: _ClassVar[int]
    RETWEET_COUNT_FIELD_NUMBER: _ClassVar[int]
    COMMENT_COUNT_FIELD_NUMBER: _ClassVar[int]
    REPLY_COUNT_FIELD_NUMBER: _ClassVar[int]
    QUOTE_COUNT_FIELD_NUMBER: _ClassVar[int]
    CALLER_LIKED_FIELD_NUMBER: _ClassVar[int]
    CALLER_RETWEETED_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    tweet_id: str
    author_id: str
    author: _user_pb2.User
    text: str
    media: _containers.RepeatedCompositeFieldContainer[Media]
    in_reply_to_tweet_id: str
    in_reply_to_user_id: str
    quoted_tweet_id: str
    quoted_tweet: Tweet
    retweet_of_tweet_id: str
    retweeted_tweet: Tweet
    mentioned_user_ids: _containers.RepeatedScalarFieldContainer[str]
    like_count: int
    retweet_count: int
    comment_count: int
    reply_count: int
    quote_count: int
    caller_liked: bool
    caller_retweeted: bool
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, tweet_id: _Optional[str] = ..., author_id: _Optional[str] = ..., author: _Optional[_Union[_user_pb2.User, _Mapping]] = ..., text: _Optional[str] = ..., media: _Optional[_Iterable[_Union[Media, _Mapping]]] = ..., in_reply_to_tweet_id: _Optional[str] = ..., in_reply_to_user_id: _Optional[str] = ..., quoted_tweet_id: _Optional[str] = ..., quoted_tweet: _Optional[_Union[Tweet, _Mapping]] = ..., retweet_of_tweet_id: _Optional[str] = ..., retweeted_tweet: _Optional[_Union[Tweet, _Mapping]] = ..., mentioned_user_ids: _Optional[_Iterable[str]] = ..., like_count: _Optional[int] = ..., retweet_count: _Optional[int] = ..., comment_count: _Optional[int] = ..., reply_count: _Optional[int] = ..., quote_count: _Optional[int] = ..., caller_liked: _Optional[bool] = ..., caller_retweeted: _Optional[bool] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Media(_message.Message):
    __slots__ = ("media_id", "owner_user_id", "content_type", "size_bytes", "state", "url", "failure_reason", "create_time")
    MEDIA_ID_FIELD_NUMBER: _ClassVar[int]
    OWNER_USER_ID_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    FAILURE_REASON_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    media_id: str
    owner_user_id: str
    content_type: str
    size_bytes: int
    state: MediaState
    url: str
    failure_reason: str
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, media_id: _Optional[str] = ..., owner_user_id: _Optional[str] = ..., content_type: _Optional[str] = ..., size_bytes: _Optional[int] = ..., state: _Optional[_Union[MediaState, str]] = ..., url: _Optional[str] = ..., failure_reason: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Comment(_message.Message):
    __slots__ = ("comment_id", "tweet_id", "author_id", "author", "text", "create_time")
    COMMENT_ID_FIELD_NUMBER: _ClassVar[int]
    TWEET_ID_FIELD_NUMBER: _ClassVar[int]
    AUTHOR_ID_FIELD_NUMBER: _ClassVar[int]
    AUTHOR_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    comment_id: str
    tweet_id: str
    author_id: str
    author: _user_pb2.User
    text: str
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, comment_id: _Optional[str] = ..., tweet_id: _Optional[str] = ..., author_id: _Optional[str] = ..., author: _Optional[_Union[_user_pb2.User, _Mapping]] = ..., text: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
