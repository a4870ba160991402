"""Violations read as sentences a person understands, and every pattern of the protos has one."""

import protovalidate
from google.protobuf import descriptor_pb2

from buf.validate import validate_pb2
from mesh.config import REPO_ROOT
from mesh.interceptors import validation_error
from mesh.validation_messages import PATTERN_DESCRIPTIONS, UNKNOWN_PATTERN, describe
from tweetmesh.graph.v1 import graph_service_pb2
from tweetmesh.tweet.v1 import tweet_service_pb2


def _patterns_in_protos() -> set[str]:
    image = descriptor_pb2.FileDescriptorSet.FromString((REPO_ROOT / "gen" / "tweetmesh_descriptor.binpb").read_bytes())
    found = set()

    def walk(message):
        for field in message.field:
            if field.options.HasExtension(validate_pb2.field):
                rules = field.options.Extensions[validate_pb2.field]
                if rules.string.HasField("pattern"):
                    found.add(rules.string.pattern)
                if rules.repeated.items.string.HasField("pattern"):
                    found.add(rules.repeated.items.string.pattern)
        for nested in message.nested_type:
            walk(nested)

    for file in image.file:
        if file.name.startswith("tweetmesh/"):
            for message in file.message_type:
                walk(message)
    return found


def test_every_pattern_of_the_protos_has_a_description():
    patterns = _patterns_in_protos()
    assert "^[1-9][0-9]{0,18}$" in patterns
    assert patterns <= set(PATTERN_DESCRIPTIONS), patterns - set(PATTERN_DESCRIPTIONS)


def test_descriptions_name_no_regex_and_keep_protovalidate_words_when_good():
    assert describe("string.pattern", "^[1-9][0-9]{0,18}$", "does not match regex") == "must be a numeric id (digits only, no leading zero)"
    assert describe("string.pattern", "^x+$", "does not match regex pattern `^x+$`") == UNKNOWN_PATTERN
    assert describe("string.min_len", 1, "must be at least 1 characters") == "must not be empty"
    assert describe("string.min_len", 8, "") == "must be at least 8 characters"
    assert describe("repeated.max_items", 4, "") == "must have at most 4 items"
    assert describe("string.in", ["image/png", "video/mp4"], "") == "must be one of image/png, video/mp4"
    assert describe("update_user.nothing_to_update", None, "set at least one of display_name, bio") == (
        "set at least one of display_name, bio"
    )


def test_the_pipeline_answers_with_the_readable_text_and_keeps_path_and_rule():
    error = validation_error(graph_service_pb2.CreateUserRequest(handle="no spaces", password="x", display_name="Ann"))
    by_field = {v.field: v for v in error.violations}
    assert by_field["handle"].description == "must be 3 to 15 letters, digits or '_'"
    assert by_field["handle"].rule == "string.pattern"
    assert "regex" not in error.message and "handle: must be 3 to 15" in error.message
    nested = validation_error(tweet_service_pb2.CreateTweetRequest(twitter_content="hi", images=["0abc"], user_id="1"))
    assert [(v.field, v.description) for v in nested.violations] == [("images[0]", "must be a numeric id (digits only, no leading zero)")]
    assert protovalidate.collect_violations(tweet_service_pb2.CreateTweetRequest(twitter_content="hi")) == []
