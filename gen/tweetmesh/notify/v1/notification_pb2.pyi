import datetime

from buf.validate import validate_pb2 as _validate_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from tweetmesh.graph.v1 import user_pb2 as _user_pb2
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class NotificationKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    NOTIFICATION_KIND_UNSPECIFIED: _ClassVar[NotificationKind]
    NOTIFICATION_KIND_FOLLOW: _ClassVar[NotificationKind]
    NOTIFICATION_KIND_LIKE: _ClassVar[NotificationKind]
    NOTIFICATION_KIND_RETWEET: _ClassVar[NotificationKind]
    NOTIFICATION_KIND_REPLY: _ClassVar[NotificationKind]
    NOTIFICATION_KIND_QUOTE: _ClassVar[NotificationKind]
    NOTIFICATION_KIND_COMMENT: _ClassVar[NotificationKind]
    NOTIFICATION_KIND_MENTION: _ClassVar[NotificationKind]

class NotificationChannel(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    NOTIFICATION_CHANNEL_UNSPECIFIED: _ClassVar[NotificationChannel]
    NOTIFICATION_CHANNEL_IN_APP: _ClassVar[NotificationChannel]
    NOTIFICATION_CHANNEL_PUSH: _ClassVar[NotificationChannel]
    NOTIFICATION_CHANNEL_EMAIL: _ClassVar[NotificationChannel]

class DevicePlatform(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DEVICE_PLATFORM_UNSPECIFIED: _ClassVar[DevicePlatform]
    DEVICE_PLATFORM_APNS: _ClassVar[DevicePlatform]
    DEVICE_PLATFORM_FCM: _ClassVar[DevicePlatform]
    DEVICE_PLATFORM_EMAIL: _ClassVar[DevicePlatform]
NOTIFICATION_KIND_UNSPECIFIED: NotificationKind
NOTIFICATION_KIND_FOLLOW: NotificationKind
NOTIFICATION_KIND_LIKE: NotificationKind
NOTIFICATION_KIND_RETWEET: NotificationKind
NOTIFICATION_KIND_REPLY: NotificationKind
NOTIFICATION_KIND_QUOTE: NotificationKind
NOTIFICATION_KIND_COMMENT: NotificationKind
NOTIFICATION_KIND_MENTION: NotificationKind
NOTIFICATION_CHANNEL_UNSPECIFIED: NotificationChannel
NOTIFICATION_CHANNEL_IN_APP: NotificationChannel
NOTIFICATION_CHANNEL_PUSH: NotificationChannel
NOTIFICATION_CHANNEL_EMAIL: NotificationChannel
DEVICE_PLATFORM_UNSPECIFIED: DevicePlatform
DEVICE_PLATFORM_APNS: DevicePlatform
DEVICE_PLATFORM_FCM: DevicePlatform
DEVICE_PLATFORM_EMAIL: DevicePlatform

class Notification(_message.Message):
    __slots__ = ("notification_id", "kind", "actor_user_id", "actor", "tweet_id", "actor_tweet_id", "comment_id", "create_time", "read")
    NOTIFICATION_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    ACTOR_USER_ID_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    TWEET_ID_FIELD_NUMBER: _ClassVar[int]
    ACTOR_TWEET_ID_FIELD_NUMBER: _ClassVar[int]
    COMMENT_ID_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    READ_FIELD_NUMBER: _ClassVar[int]
    notification_id: str
    kind: NotificationKind
    actor_user_id: str
    actor: _user_pb2.User
    tweet_id: str
    actor_tweet_id: str
    comment_id: str
    create_time: _timestamp_pb2.Timestamp
    read: bool
    def __init__(self, notification_id: _Optional[str] = ..., kind: _Optional[_Union[NotificationKind, str]] = ..., actor_user_id: _Optional[str] = ..., actor: _Optional[_Union[_user_pb2.User, _Mapping]] = ..., tweet_id: _Optional[str] = ..., actor_tweet_id: _Optional[str] = ..., comment_id: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., read: _Optional[bool] = ...) -> None: ...

class NotificationPreference(_message.Message):
    __slots__ = ("kind", "channel", "enabled")
    KIND_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    kind: NotificationKind
    channel: NotificationChannel
    enabled: bool
    def __init__(self, kind: _Optional[_Union[NotificationKind, str]] = ..., channel: _Optional[_Union[NotificationChannel, str]] = ..., enabled: _Optional[bool] = ...) -> None: ...

class Device(_message.Message):
    __slots__ = ("device_id", "platform", "label", "address_hint", "create_time")
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    PLATFORM_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_HINT_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    device_id: str
    platform: DevicePlatform
    label: str
    address_hint: str
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, device_id: _Optional[str] = ..., platform: _Optional[_Union[DevicePlatform, str]] = ..., label: _Optional[str] = ..., address_hint: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
