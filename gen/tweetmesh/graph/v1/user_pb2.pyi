import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class User(_message.Message):
    __slots__ = ("user_id", "handle", "display_name", "bio", "create_time", "follower_count", "following_count", "celebrity")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    HANDLE_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    BIO_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    FOLLOWER_COUNT_FIELD_NUMBER: _ClassVar[int]
    FOLLOWING_COUNT_FIELD_NUMBER: _ClassVar[int]
    CELEBRITY_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    handle: str
    display_name: str
    bio: str
    create_time: _timestamp_pb2.Timestamp
    follower_count: int
    following_count: int
    celebrity: bool
    def __init__(self, user_id: _Optional[str] = ..., handle: _Optional[str] = ..., display_name: _Optional[str] = ..., bio: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., follower_count: _Optional[int] = ..., following_count: _Optional[int] = ..., celebrity: _Optional[bool] = ...) -> None: ...

class Relationship(_message.Message):
    __slots__ = ("user_id", "target_user_id", "following", "followed_by", "blocking", "blocked_by", "muting")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    TARGET_USER_ID_FIELD_NUMBER: _ClassVar[int]
    FOLLOWING_FIELD_NUMBER: _ClassVar[int]
    FOLLOWED_BY_FIELD_NUMBER: _ClassVar[int]
    BLOCKING_FIELD_NUMBER: _ClassVar[int]
    BLOCKED_BY_FIELD_NUMBER: _ClassVar[int]
    MUTING_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    target_user_id: str
    following: bool
    followed_by: bool
    blocking: bool
    blocked_by: bool
    muting: bool
    def __init__(self, user_id: _Optional[str] = ..., target_user_id: _Optional[str] = ..., following: _Optional[bool] = ..., followed_by: _Optional[bool] = ..., blocking: _Optional[bool] = ..., blocked_by: _Optional[bool] = ..., muting: _Optional[bool] = ...) -> None: ...
