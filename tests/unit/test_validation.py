"""The protovalidate rules of the contracts, as the call pipeline reports them to clients."""

from mesh.interceptors import MAX_REPORTED_VIOLATIONS, validation_error
from tweetmesh.graph.v1 import graph_service_pb2
from tweetmesh.tweet.v1 import tweet_service_pb2


def test_valid_request_passes():
    request = graph_service_pb2.CreateUserRequest(handle="ann_lee", password="correct horse", display_name="Ann")
    assert validation_error(request) is None


def test_every_violated_field_is_named_with_a_readable_reason():
    error = validation_error(graph_service_pb2.CreateUserRequest(handle="a b", password="short", display_name="Ann"))
    assert error is not None and error.reason == "VALIDATION_FAILED"
    by_field = {v.field: v for v in error.violations}
    assert set(by_field) == {"handle", "password"}
    assert by_field["password"].rule == "string.min_len"
    assert "at least 8" in by_field["password"].description
    assert error.message.startswith("invalid request: handle: ")


def test_list_items_are_named_with_their_index():
    request = tweet_service_pb2.CreateTweetRequest(twitter_content="hello", images=["7", "not-an-id"])
    error = validation_error(request)
    assert [v.field for v in error.violations] == ["images[1]"]


def test_tweet_text_is_counted_in_characters_not_bytes():
    emoji_tweet = "\N{GRINNING FACE}" * 280  # 280 characters, 1120 UTF-8 bytes
    assert validation_error(tweet_service_pb2.CreateTweetRequest(twitter_content=emoji_tweet)) is None
    too_long = validation_error(tweet_service_pb2.CreateTweetRequest(twitter_content=emoji_tweet + "!"))
    assert [v.field for v in too_long.violations] == ["twitter_content"]


def test_a_rule_over_the_whole_message_is_reported_not_crashed_on():
    # media size limits depend on the content type: a CEL rule of the message, not of one field
    error = validation_error(tweet_service_pb2.CreateMediaUploadRequest(content_type="image/png", size_bytes=50 * 1024 * 1024))
    assert error is not None and error.violations
    assert error.violations[0].field == "(message)"
    assert error.violations[0].description


def test_a_thousand_bad_items_make_a_short_answer_not_a_thousand_violations():
    # found by tests/fuzz: 1001 empty ids made trailers over gRPC's 16 KiB limit (INTERNAL, a REST 502)
    from tweetmesh.notify.v1 import notification_service_pb2

    error = validation_error(notification_service_pb2.MarkNotificationsReadRequest(notification_ids=[""] * 1001))
    assert len(error.violations) == MAX_REPORTED_VIOLATIONS
    assert error.message.endswith("more") and len(error.message) < 2000
