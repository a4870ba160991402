import datetime

from buf.validate import validate_pb2 as _validate_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from tweetmesh.notify.v1 import notification_pb2 as _notification_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class UserCreated(_message.Message):
    __slots__ = ("event_id", "occurred_at", "actor_user_id", "handle", "display_name")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    ACTOR_USER_ID_FIELD_NUMBER: _ClassVar[int]
    HANDLE_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    occurred_at: _timestamp_pb2.Timestamp
    actor_user_id: str
    handle: str
    display_name: str
    def __init__(self, event_id: _Optional[str] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., actor_user_id: _Optional[str] = ..., handle: _Optional[str] = ..., display_name: _Optional[str] = ...) -> None: ...

class UserUpdated(_message.Message):
    __slots__ = ("event_id", "occurred_at", "actor_user_id", "handle", "display_name", "bio")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    ACTOR_USER_ID_FIELD_NUMBER: _ClassVar[int]
    HANDLE_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    BIO_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    occurred_at: _timestamp_pb2.Timestamp
    actor_user_id: str
    handle: str
    display_name: str
    bio: str
    def __init__(self, event_id: _Optional[str] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., actor_user_id: _Optional[str] = ..., handle: _Optional[str] = ..., display_name: _Optional[str] = ..., bio: _Optional[str] = ...) -> None: ...

class FollowCreated(_message.Message):
    __slots__ = ("event_id", "occurred_at", "actor_user_id", "following_user_id")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    ACTOR_USER_ID_FIELD_NUMBER: _ClassVar[int]
    FOLLOWING_USER_ID_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    occurred_at: _timestamp_pb2.Timestamp
    actor_user_id: str
    following_user_id: str
    def __init__(self, event_id: _Optional[str] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., actor_user_id: _Optional[str] = ..., following_user_id: _Optional[str] = ...) -> None: ...

class FollowDeleted(_message.Message):
    __slots__ = ("event_id", "occurred_at", "actor_user_id", "following_user_id")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    ACTOR_USER_ID_FIELD_NUMBER: _ClassVar[int]
    FOLLOWING_USER_ID_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    occurred_at: _timestamp_pb2.Timestamp
    actor_user_id: str
    following_user_id: str
    def __init__(self, event_id: _Optional[str] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., actor_user_id: _Optional[str] = ..., following_user_id: _Optional[str] = ...) -> None: ...

class BlockCreated(_message.Message):
    __slots__ = ("event_id", "occurred_at", "actor_user_id", "blocked_user_id")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    ACTOR_USER_ID_FIELD_NUMBER: _ClassVar[int]
    BLOCKED_USER_ID_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    occurred_at: _timestamp_pb2.Timestamp
    actor_user_id: str
    blocked_user_id: str
    def __init__(self, event_id: _Optional[str] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., actor_user_id: _Optional[str] = ..., blocked_user_id: _Optional[str] = ...) -> None: ...

class BlockDeleted(_message.Message):
    __slots__ = ("event_id", "occurred_at", "actor_user_id", "blocked_user_id")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    ACTOR_USER_ID_FIELD_NUMBER: _ClassVar[int]
    BLOCKED_USER_ID_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    occurred_at: _timestamp_pb2.Timestamp
    actor_user_id: str
    blocked_user_id: str
    def __init__(self, event_id: _Optional[str] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., actor_user_id: _Optional[str] = ..., blocked_user_id: _Optional[str] = ...) -> None: ...

class MuteCreated(_message.Message):
    __slots__ = ("event_id", "occurred_at", "actor_user_id", "muted_user_id")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    ACTOR_USER_ID_FIELD_NUMBER: _ClassVar[int]
    MUTED_USER_ID_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    occurred_at: _timestamp_pb2.Timestamp
    actor_user_id: str
    muted_user_id: str
    def __init__(self, event_id: _Optional[str] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., actor_user_id: _Optional[str] = ..., muted_user_id: _Optional[str] = ...) -> None: ...

class MuteDeleted(_message.Message):
    __slots__ = ("event_id", "occurred_at", "actor_user_id", "muted_user_id")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    ACTOR_USER_ID_FIELD_NUMBER: _ClassVar[int]
    MUTED_USER_ID_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    occurred_at: _timestamp_pb2.Timestamp
    actor_user_id: str
    muted_user_id: str
    def __init__(self, event_id: _Optional[str] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., actor_user_id: _Optional[str] = ..., muted_user_id: _Optional[str] = ...) -> None: ...

class TweetCreated(_message.Message):
    __slots__ = ("event_id", "occurred_at", "actor_user_id", "tweet_id", "text", "media_ids", "in_reply_to_tweet_id", "in_reply_to_user_id", "quoted_tweet_id", "quoted_user_id", "mentioned_user_ids")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    ACTOR_USER_ID_FIELD_NUMBER: _ClassVar[int]
    TWEET_ID_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    MEDIA_IDS_FIELD_NUMBER: _ClassVar[int]
    IN_REPLY_TO_TWEET_ID_FIELD_NUMBER: _ClassVar[int]
    IN_REPLY_TO_USER_ID_FIELD_NUMBER: _ClassVar[int]
    QUOTED_TWEET_ID_FIELD_NUMBER: _ClassVar[int]
    QUOTED_USER_ID_FIELD_NUMBER: _ClassVar[int]
    MENTIONED_USER_IDS_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    occurred_at: _timestamp_pb2.Timestamp
    actor_user_id: str
    tweet_id: str
    text: str
    media_ids: _containers.RepeatedScalarFieldContainer[str]
    in_reply_to_tweet_id: str
    in_reply_to_user_id: str
    quoted_tweet_id: str
    quoted_user_id: str
    mentioned_user_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, event_id: _Optional[str] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., actor_user_id: _Optional[str] = ..., tweet_id: _Optional[str] = ..., text: _Optional[str] = ..., media_ids: _Optional[_Iterable[str]] = ..., in_reply_to_tweet_id: _Optional[str] = ..., in_reply_to_user_id: _Optional[str] = ..., quoted_tweet_id: _Optional[str] = ..., quoted_user_id: _Optional[str] = ..., mentioned_user_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class TweetDeleted(_message.Message):
    __slots__ = ("event_id", "occurred_at", "actor_user_id", "tweet_id")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    ACTOR_USER_ID_FIELD_NUMBER: _ClassVar[int]
    TWEET_ID_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    occurred_at: _timestamp_pb2.Timestamp
    actor_user_id: str
    tweet_id: str
    def __init__(self, event_id: _Optional[str] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., actor_user_id: _Optional[str] = ..., tweet_id: _Optional[str] = ...) -> None: ...

class Retweeted(_message.Message):
    __slots__ = ("event_id", "occurred_at", "actor_user_id", "retweet_id", "tweet_id", "tweet_author_id")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    ACTOR_USER_ID_FIELD_NUMBER: _ClassVar[int]
    RETWEET_ID_FIELD_NUMBER: _ClassVar[int]
    TWEET_ID_FIELD_NUMBER: _ClassVar[int]
    TWEET_AUTHOR_ID_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    occurred_at: _timestamp_pb2.Timestamp
    actor_user_id: str
    retweet_id: str
    tweet_id: str
    tweet_author_id: str
    def __init__(self, event_id: _Optional[str] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., actor_user_id: _Optional[str] = ..., retweet_id: _Optional[str] = ..., tweet_id: _Optional[str] = ..., tweet_author_id: _Optional[str] = ...) -> None: ...

class RetweetUndone(_message.Message):
    __slots__ = ("event_id", "occurred_at", "actor_user_id", "retweet_id", "tweet_id", "tweet_author_id")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    ACTOR_USER_ID_FIELD_NUMBER: _ClassVar[int]
    RETWEET_ID_FIELD_NUMBER: _ClassVar[int]
    TWEET_ID_FIELD_NUMBER: _ClassVar[int]
    TWEET_AUTHOR_ID_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    occurred_at: _timestamp_pb2.Timestamp
    actor_user_id: str
    retweet_id: str
    tweet_id: str
    tweet_author_id: str
    def __init__(self, event_id: _Optional[str] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., actor_user_id: _Optional[str] = ..., retweet_id: _Optional[str] = ..., tweet_id: _Optional[str] = ..., tweet_author_id: _Optional[str] = ...) -> None: ...

class LikeCreated(_message.Message):
    __slots__ = ("event_id", "occurred_at", "actor_user_id", "tweet_id", "tweet_author_id")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    ACTOR_USER_ID_FIELD_NUMBER: _ClassVar[int]
    TWEET_ID_FIELD_NUMBER: _ClassVar[int]
    TWEET_AUTHOR_ID_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    occurred_at: _timestamp_pb2.Timestamp
    actor_user_id: str
    tweet_id: str
    tweet_author_id: str
    def __init__(self, event_id: _Optional[str] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., actor_user_id: _Optional[str] = ..., tweet_id: _Optional[str] = ..., tweet_author_id: _Optional[str] = ...) -> None: ...

class LikeDeleted(_message.Message):
    __slots__ = ("event_id", "occurred_at", "actor_user_id", "tweet_id", "tweet_author_id")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    ACTOR_USER_ID_FIELD_NUMBER: _ClassVar[int]
    TWEET_ID_FIELD_NUMBER: _ClassVar[int]
    TWEET_AUTHOR_ID_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    occurred_at: _timestamp_pb2.Timestamp
    actor_user_id: str
    tweet_id: str
    tweet_author_id: str
    def __init__(self, event_id: _Optional[str] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., actor_user_id: _Optional[str] = ..., tweet_id: _Optional[str] = ..., tweet_author_id: _Optional[str] = ...) -> None: ...

class CommentCreated(_message.Message):
    __slots__ = ("event_id", "occurred_at", "actor_user_id", "comment_id", "tweet_id", "tweet_author_id", "text")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    ACTOR_USER_ID_FIELD_NUMBER: _ClassVar[int]
    COMMENT_ID_FIELD_NUMBER: _ClassVar[int]
    TWEET_ID_FIELD_NUMBER: _ClassVar[int]
    TWEET_AUTHOR_ID_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    occurred_at: _timestamp_pb2.Timestamp
    actor_user_id: str
    comment_id: str
    tweet_id: str
    tweet_author_id: str
    text: str
    def __init__(self, event_id: _Optional[str] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., actor_user_id: _Optional[str] = ..., comment_id: _Optional[str] = ..., tweet_id: _Optional[str] = ..., tweet_author_id: _Optional[str] = ..., text: _Optional[str] = ...) -> None: ...

class CommentDeleted(_message.Message):
    __slots__ = ("event_id", "occurred_at", "actor_user_id", "comment_id", "tweet_id")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    ACTOR_USER_ID_FIELD_NUMBER: _ClassVar[int]
    COMMENT_ID_FIELD_NUMBER: _ClassVar[int]
    TWEET_ID_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    occurred_at: _timestamp_pb2.Timestamp
    actor_user_id: str
    comment_id: str
    tweet_id: str
    def __init__(self, event_id: _Optional[str] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., actor_user_id: _Optional[str] = ..., comment_id: _Optional[str] = ..., tweet_id: _Optional[str] = ...) -> None: ...

class MentionCreated(_message.Message):
    __slots__ = ("event_id", "occurred_at", "actor_user_id", "tweet_id", "mentioned_user_id", "comment_id")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    ACTOR_USER_ID_FIELD_NUMBER: _ClassVar[int]
    TWEET_ID_FIELD_NUMBER: _ClassVar[int]
    MENTIONED_USER_ID_FIELD_NUMBER: _ClassVar[int]
    COMMENT_ID_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    occurred_at: _timestamp_pb2.Timestamp
    actor_user_id: str
    tweet_id: str
    mentioned_user_id: str
    comment_id: str
    def __init__(self, event_id: _Optional[str] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., actor_user_id: _Optional[str] = ..., tweet_id: _Optional[str] = ..., mentioned_user_id: _Optional[str] = ..., comment_id: _Optional[str] = ...) -> None: ...

class NotificationCreated(_message.Message):
    __slots__ = ("event_id", "occurred_at", "actor_user_id", "recipient_user_id", "notification")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    ACTOR_USER_ID_FIELD_NUMBER: _ClassVar[int]
    RECIPIENT_USER_ID_FIELD_NUMBER: _ClassVar[int]
    NOTIFICATION_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    occurred_at: _timestamp_pb2.Timestamp
    actor_user_id: str
    recipient_user_id: str
    notification: _notification_pb2.Notification
    def __init__(self, event_id: _Optional[str] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., actor_user_id: _Optional[str] = ..., recipient_user_id: _Optional[str] = ..., notification: _Optional[_Union[_notification_pb2.Notification, _Mapping]] = ...) -> None: ...

class NotificationDeliveryRequested(_message.Message):
    __slots__ = ("event_id", "occurred_at", "actor_user_id", "recipient_user_id", "device_id", "platform", "notification", "unread_count")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    ACTOR_USER_ID_FIELD_NUMBER: _ClassVar[int]
    RECIPIENT_USER_ID_FIELD_NUMBER: _ClassVar[int]
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    PLATFORM_FIELD_NUMBER: _ClassVar[int]
    NOTIFICATION_FIELD_NUMBER: _ClassVar[int]
    UNREAD_COUNT_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    occurred_at: _timestamp_pb2.Timestamp
    actor_user_id: str
    recipient_user_id: str
    device_id: str
    platform: _notification_pb2.DevicePlatform
    notification: _notification_pb2.Notification
    unread_count: int
    def __init__(self, event_id: _Optional[str] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., actor_user_id: _Optional[str] = ..., recipient_user_id: _Optional[str] = ..., device_id: _Optional[str] = ..., platform: _Optional[_Union[_notification_pb2.DevicePlatform, str]] = ..., notification: _Optional[_Union[_notification_pb2.Notification, _Mapping]] = ..., unread_count: _Optional[int] = ...) -> None: ...
