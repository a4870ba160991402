import datetime

from buf.validate import validate_pb2 as _validate_pb2
from google.api import annotations_pb2 as _annotations_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from tweetmesh.graph.v1 import user_pb2 as _user_pb2
from tweetmesh.tweet.v1 import tweet_pb2 as _tweet_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CreateTweetRequest(_message.Message):
    __slots__ = ("twitter_content", "images", "user_id", "in_reply_to_tweet_id", "quoted_tweet_id", "request_id")
    TWITTER_CONTENT_FIELD_NUMBER: _ClassVar[int]
    IMAGES_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    IN_REPLY_TO_TWEET_ID_FIELD_NUMBER: _ClassVar[int]
    QUOTED_TWEET_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    twitter_content: str
    images: _containers.RepeatedScalarFieldContainer[str]
    user_id: str
    in_reply_to_tweet_id: str
    quoted_tweet_id: str
    request_id: str
    def __init__(self, twitter_content: _Optional[str] = ..., images: _Optional[_Iterable[str]] = ..., user_id: _Optional[str] = ..., in_reply_to_tweet_id: _Optional[str] = ..., quoted_tweet_id: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class CreateTweetResponse(_message.Message):
    __slots__ = ("tweet_id", "tweet")
    TWEET_ID_FIELD_NUMBER: _ClassVar[int]
    TWEET_FIELD_NUMBER: _ClassVar[int]
    tweet_id: str
    tweet: _tweet_pb2.Tweet
    def __init__(self, tweet_id: _Optional[str] = ..., tweet: _Optional[_Union[_tweet_pb2.Tweet, _Mapping]] = ...) -> None: ...

class GetTweetRequest(_message.Message):
    __slots__ = ("tweet_id",)
    TWEET_ID_FIELD_NUMBER: _ClassVar[int]
    tweet_id: str
    def __init__(self, tweet_id: _Optional[str] = ...) -> None: ...

class GetTweetResponse(_message.Message):
    __slots__ = ("tweet",)
    TWEET_FIELD_NUMBER: _ClassVar[int]
    tweet: _tweet_pb2.Tweet
    def __init__(self, tweet: _Optional[_Union[_tweet_pb2.Tweet, _Mapping]] = ...) -> None: ...

class BatchGetTweetsRequest(_message.Message):
    __slots__ = ("tweet_ids",)
    TWEET_IDS_FIELD_NUMBER: _ClassVar[int]
    tweet_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, tweet_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class BatchGetTweetsResponse(_message.Message):
    __slots__ = ("tweets",)
    TWEETS_FIELD_NUMBER: _ClassVar[int]
    tweets: _containers.RepeatedCompositeFieldContainer[_tweet_pb2.Tweet]
    def __init__(self, tweets: _Optional[_Iterable[_Union[_tweet_pb2.Tweet, _Mapping]]] = ...) -> None: ...

class DeleteTweetRequest(_message.Message):
    __slots__ = ("tweet_id", "request_id")
    TWEET_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    tweet_id: str
    request_id: str
    def __init__(self, tweet_id: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class DeleteTweetResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListUserTweetsRequest(_message.Message):
    __slots__ = ("user_id", "page_size", "page_token", "exclude_replies", "exclude_retweets")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    EXCLUDE_REPLIES_FIELD_NUMBER: _ClassVar[int]
    EXCLUDE_RETWEETS_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    page_size: int
    page_token: str
    exclude_replies: bool
    exclude_retweets: bool
    def __init__(self, user_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., exclude_replies: _Optional[bool] = ..., exclude_retweets: _Optional[bool] = ...) -> None: ...

class ListUserTweetsResponse(_message.Message):
    __slots__ = ("tweets", "next_page_token")
    TWEETS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    tweets: _containers.RepeatedCompositeFieldContainer[_tweet_pb2.Tweet]
    next_page_token: str
    def __init__(self, tweets: _Optional[_Iterable[_Union[_tweet_pb2.Tweet, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ListRepliesRequest(_message.Message):
    __slots__ = ("tweet_id", "page_size", "page_token")
    TWEET_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    tweet_id: str
    page_size: int
    page_token: str
    def __init__(self, tweet_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListRepliesResponse(_message.Message):
    __slots__ = ("tweets", "next_page_token")
    TWEETS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    tweets: _containers.RepeatedCompositeFieldContainer[_tweet_pb2.Tweet]
    next_page_token: str
    def __init__(self, tweets: _Optional[_Iterable[_Union[_tweet_pb2.Tweet, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class RetweetRequest(_message.Message):
    __slots__ = ("tweet_id", "request_id")
    TWEET_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    tweet_id: str
    request_id: str
    def __init__(self, tweet_id: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class RetweetResponse(_message.Message):
    __slots__ = ("tweet_id", "retweet_of_tweet_id")
    TWEET_ID_FIELD_NUMBER: _ClassVar[int]
    RETWEET_OF_TWEET_ID_FIELD_NUMBER: _ClassVar[int]
    tweet_id: str
    retweet_of_tweet_id: str
    def __init__(self, tweet_id: _Optional[str] = ..., retweet_of_tweet_id: _Optional[str] = ...) -> None: ...

class UndoRetweetRequest(_message.Message):
    __slots__ = ("tweet_id", "request_id")
    TWEET_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    tweet_id: str
    request_id: str
    def __init__(self, tweet_id: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class UndoRetweetResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class CreateMediaUploadRequest(_message.Message):
    __slots__ = ("content_type", "size_bytes", "request_id")
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    content_type: str
    size_bytes: int
    request_id: str
    def __init__(self, content_type: _Optional[str] = ..., size_bytes: _Optional[int] = ..., request_id: _Optional[str] = ...) -> None: ...

class CreateMediaUploadResponse(_message.Message):
    __slots__ = ("media_id", "upload_url", "upload_method", "upload_headers", "expire_time")
    class UploadHeadersEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    MEDIA_ID_FIELD_NUMBER: _ClassVar[int]
    UPLOAD_URL_FIELD_NUMBER: _ClassVar[int]
    UPLOAD_METHOD_FIELD_NUMBER: _ClassVar[int]
    UPLOAD_HEADERS_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    media_id: str
    upload_url: str
    upload_method: str
    upload_headers: _containers.ScalarMap[str, str]
    expire_time: _timestamp_pb2.Timestamp
    def __init__(self, media_id: _Optional[str] = ..., upload_url: _Optional[str] = ..., upload_method: _Optional[str] = ..., upload_headers: _Optional[_Mapping[str, str]] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CompleteMediaUploadRequest(_message.Message):
    __slots__ = ("media_id", "request_id")
    MEDIA_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    media_id: str
    request_id: str
    def __init__(self, media_id: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class CompleteMediaUploadResponse(_message.Message):
    __slots__ = ("media",)
    MEDIA_FIELD_NUMBER: _ClassVar[int]
    media: _tweet_pb2.Media
    def __init__(self, media: _Optional[_Union[_tweet_pb2.Media, _Mapping]] = ...) -> None: ...

class GetMediaRequest(_message.Message):
    __slots__ = ("media_id",)
    MEDIA_ID_FIELD_NUMBER: _ClassVar[int]
    media_id: str
    def __init__(self, media_id: _Optional[str] = ...) -> None: ...

class GetMediaResponse(_message.Message):
    __slots__ = ("media",)
    MEDIA_FIELD_NUMBER: _ClassVar[int]
    media: _tweet_pb2.Media
    def __init__(self, media: _Optional[_Union[_tweet_pb2.Media, _Mapping]] = ...) -> None: ...

class LikeTweetRequest(_message.Message):
    __slots__ = ("tweet_id", "request_id")
    TWEET_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    tweet_id: str
    request_id: str
    def __init__(self, tweet_id: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class LikeTweetResponse(_message.Message):
    __slots__ = ("message",)
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    message: str
    def __init__(self, message: _Optional[str] = ...) -> None: ...

class UnlikeTweetRequest(_message.Message):
    __slots__ = ("tweet_id", "request_id")
    TWEET_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    tweet_id: str
    request_id: str
    def __init__(self, tweet_id: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class UnlikeTweetResponse(_message.Message):
    __slots__ = ("message",)
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    message: str
    def __init__(self, message: _Optional[str] = ...) -> None: ...

class ListLikersRequest(_message.Message):
    __slots__ = ("tweet_id", "page_size", "page_token")
    TWEET_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    tweet_id: str
    page_size: int
    page_token: str
    def __init__(self, tweet_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListLikersResponse(_message.Message):
    __slots__ = ("users", "next_page_token")
    USERS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    users: _containers.RepeatedCompositeFieldContainer[_user_pb2.User]
    next_page_token: str
    def __init__(self, users: _Optional[_Iterable[_Union[_user_pb2.User, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class AddCommentRequest(_message.Message):
    __slots__ = ("tweet_id", "comment_string", "body", "request_id")
    class Body(_message.Message):
        __slots__ = ("comment_string",)
        COMMENT_STRING_FIELD_NUMBER: _ClassVar[int]
        comment_string: str
        def __init__(self, comment_string: _Optional[str] = ...) -> None: ...
    TWEET_ID_FIELD_NUMBER: _ClassVar[int]
    COMMENT_STRING_FIELD_NUMBER: _ClassVar[int]
    BODY_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    tweet_id: str
    comment_string: str
    body: AddCommentRequest.Body
    request_id: str
    def __init__(self, tweet_id: _Optional[str] = ..., comment_string: _Optional[str] = ..., body: _Optional[_Union[AddCommentRequest.Body, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class AddCommentResponse(_message.Message):
    __slots__ = ("message", "comment_id", "comment")
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    COMMENT_ID_FIELD_NUMBER: _ClassVar[int]
    COMMENT_FIELD_NUMBER: _ClassVar[int]
    message: str
    comment_id: str
    comment: _tweet_pb2.Comment
    def __init__(self, message: _Optional[str] = ..., comment_id: _Optional[str] = ..., comment: _Optional[_Union[_tweet_pb2.Comment, _Mapping]] = ...) -> None: ...

class ListCommentsRequest(_message.Message):
    __slots__ = ("tweet_id", "page_size", "page_token")
    TWEET_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    tweet_id: str
    page_size: int
    page_token: str
    def __init__(self, tweet_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListCommentsResponse(_message.Message):
    __slots__ = ("comments", "next_page_token")
    COMMENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    comments: _containers.RepeatedCompositeFieldContainer[_tweet_pb2.Comment]
    next_page_token: str
    def __init__(self, comments: _Optional[_Iterable[_Union[_tweet_pb2.Comment, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class DeleteCommentRequest(_message.Message):
    __slots__ = ("tweet_id", "comment_id", "request_id")
    TWEET_ID_FIELD_NUMBER: _ClassVar[int]
    COMMENT_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    tweet_id: str
    comment_id: str
    request_id: str
    def __init__(self, tweet_id: _Optional[str] = ..., comment_id: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class DeleteCommentResponse(_message.Message):
    __slots__ = ("message",)
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    message: str
    def __init__(self, message: _Optional[str] = ...) -> None: ...
