"""mesh.api, the helpers every servicer shares: ids from request fields, the caller, timestamps."""

from __future__ import annotations

import contextvars
from datetime import datetime, timedelta, timezone

import pytest

from mesh import context
from mesh.api import caller_id, optional_id, parse_id, to_timestamp
from mesh.errors import InvalidArgument, Unauthenticated


@pytest.mark.parametrize(("text", "value"), [("1", 1), ("1234567890123", 1234567890123), ("9223372036854775807", 2**63 - 1)])
def test_an_id_field_parses_to_its_int(text, value):
    assert parse_id("user_id", text) == value


@pytest.mark.parametrize("text", ["", "0", "007", "-1", " 1", "1 ", "+1", "1e3", "abc", "9223372036854775808", "１２"])
def test_a_field_that_is_no_id_is_an_invalid_argument_naming_the_field(text):
    with pytest.raises(InvalidArgument) as refused:
        parse_id("images[2]", text)
    error = refused.value
    assert error.reason == "INVALID_ID"
    assert error.message.startswith("images[2]: ")
    assert [v.field for v in error.violations] == ["images[2]"]
    assert "is not an id" in error.violations[0].description


def test_an_optional_id_may_be_left_empty_but_not_malformed():
    assert optional_id("quoted_tweet_id", "") is None
    assert optional_id("quoted_tweet_id", "77") == 77
    with pytest.raises(InvalidArgument) as refused:
        optional_id("quoted_tweet_id", "x")
    assert refused.value.reason == "INVALID_ID" and refused.value.violations[0].field == "quoted_tweet_id"


def _as_caller(raw: str):
    def read():
        context.caller_user_id.set(raw)
        return caller_id()

    return contextvars.copy_context().run(read)


def test_the_caller_is_the_verified_user_id_or_none():
    assert _as_caller("42") == 42
    assert _as_caller("") is None
    assert contextvars.copy_context().run(caller_id) is None  # a call the pipeline set no caller for


@pytest.mark.parametrize("raw", ["alice", "0", "-3", "42 "])
def test_a_caller_identity_that_is_no_user_id_is_unauthenticated(raw):
    with pytest.raises(Unauthenticated) as refused:
        _as_caller(raw)
    assert refused.value.reason == "INVALID_CALLER"


def test_a_timestamp_keeps_the_instant():
    moment = datetime(2025, 3, 1, 12, 30, 15, 123000, tzinfo=timezone.utc)
    stamp = to_timestamp(moment)
    assert (stamp.seconds, stamp.nanos) == (int(moment.timestamp()), 123_000_000)
    assert stamp.ToDatetime(tzinfo=timezone.utc) == moment
    elsewhere = moment.astimezone(timezone(timedelta(hours=-5)))
    assert to_timestamp(elsewhere) == stamp  # the instant, whatever the zone it is written in
