"""svc_tweet's pure rules: mentions, the media mix, upload checks, page tokens."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from mesh.errors import InvalidArgument
from mesh.paging import decode_page_token, encode_page_token
from svc_tweet.domain import (
    Media,
    MediaState,
    StoredObject,
    check_media_mix,
    mentioned_handles,
    month_of,
    upload_mismatch,
)


@pytest.mark.parametrize(
    ("text", "handles"),
    [
        ("hi @Ann and @bob", ["ann", "bob"]),
        ("@ann @ANN @Ann", ["ann"]),  # once, case-insensitively
        ("mail me: ann@example.com", []),  # an e-mail address is no mention
        ("@ab is too short, @sixteen_letters1 too long", []),
        ("(@ann), @bob! @cy_3.", ["ann", "bob", "cy_3"]),
        ("@@ann", []),
        ("héllo @zoë", []),  # handles are ASCII
    ],
)
def test_mentions(text, handles):
    assert mentioned_handles(text) == handles


def test_mentions_are_capped():
    text = " ".join(f"@user{i:02d}" for i in range(20))
    assert mentioned_handles(text, limit=10) == [f"user{i:02d}" for i in range(10)]


@pytest.mark.parametrize(
    "types",
    [[], ["image/png"], ["image/jpeg", "image/png", "image/webp", "image/png"], ["image/gif"], ["video/mp4"]],
)
def test_allowed_media_mixes(types):
    check_media_mix(types)


@pytest.mark.parametrize(
    "types",
    [["image/gif", "image/png"], ["video/mp4", "video/mp4"], ["image/png"] * 5, ["application/pdf"]],
)
def test_refused_media_mixes(types):
    with pytest.raises(InvalidArgument) as raised:
        check_media_mix(types)
    assert raised.value.violations[0].field == "images"


def _media(size: int = 10, content_type: str = "image/png") -> Media:
    return Media(1, 2, content_type, size, MediaState.PENDING_UPLOAD, "media/2/1", datetime.now(timezone.utc))


def test_upload_checks_size_and_type():
    assert upload_mismatch(_media(), StoredObject(10, "image/png")) is None
    assert upload_mismatch(_media(), StoredObject(10, "image/png; charset=binary")) is None
    assert upload_mismatch(_media(), StoredObject(9, "image/png")) == "the file has 9 bytes, 10 were declared"
    assert "image/jpeg" in upload_mismatch(_media(), StoredObject(10, "image/jpeg"))


def test_page_tokens_round_trip_and_stay_bound_to_their_list():
    token = encode_page_token("user_tweets:00", 42, (202503, 1234))
    assert decode_page_token(token, "user_tweets:00", 42, arity=2) == (202503, 1234)
    assert decode_page_token("", "user_tweets:00", 42, arity=2) is None
    for listing, owner in (("user_tweets:10", 42), ("user_tweets:00", 43), ("replies", 42)):
        with pytest.raises(InvalidArgument, match="another list"):
            decode_page_token(token, listing, owner, arity=2)
    for forged in ("%%%", encode_page_token("user_tweets:00", 42, (0, -1)), token[:-3]):
        with pytest.raises(InvalidArgument, match="page_token"):
            decode_page_token(forged, "user_tweets:00", 42, arity=2)


def test_months_are_utc_calendar_months():
    assert month_of(datetime(2025, 12, 31, 23, 59, tzinfo=timezone.utc)) == 202512
    assert month_of(datetime(2026, 1, 1, tzinfo=timezone.utc)) == 202601
