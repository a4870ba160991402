"""Nothing is written by a rejected request. Hypothesis builds bodies for the write endpoints that
each break at least one rule (a field too long, blank, of the wrong JSON type, an id that is not
one or names nobody, a oneof set twice, an enum no one defined, the body not an object ...), on top
of otherwise valid values. Each must be answered 4xx, and what the user can see afterwards must be
what it was before: no tweet on their timeline, no comment, no device, the same preferences, the
handle still free. Needs `make up`.

Each endpoint has its own user, who never makes a valid write of that kind. A 429 (the user's
write budget: a long run sends hundreds of writes a user) is waited out and the request sent
again, so that every example reaches validation.
"""

from __future__ import annotations

import time
import uuid

import hypothesis.strategies as st
import pytest
from hypothesis import given

from tests.e2e.conftest import account, http
from tests.fuzz.conftest import FUZZ_SETTINGS

pytestmark = pytest.mark.fuzz

NOBODY = "987654321987654321"  # a well-formed id that names no user, tweet or media


def send(method: str, url: str, body=None, headers: dict | None = None):
    """http(), waiting out the caller's rate limit (a few times at most)."""
    for _ in range(20):
        code, response_headers, answer = http(method, url, body, headers)
        if code != 429:
            return code, answer
        time.sleep(min(5.0, float(response_headers.get("Retry-After") or 1)))
    return code, answer


def assert_rejected(code: int, answer) -> None:
    assert 400 <= code < 500 and code != 429, (code, answer)
    assert isinstance(answer, dict) and set(answer) == {"error"}, answer


def broken(valid: dict, breakers: dict[str, st.SearchStrategy]) -> st.SearchStrategy:
    """`valid` with one field (at least) replaced by a value from its breaker, or a body that is not an
    object at all."""
    def apply(choice):
        name, bad = choice
        return {**valid, name: bad}

    one_field = st.one_of(*(st.tuples(st.just(name), strategy).map(apply) for name, strategy in breakers.items()))
    not_an_object = st.one_of(st.lists(st.integers(), max_size=3), st.integers(), st.text(max_size=10), st.booleans())
    return st.one_of(one_field, not_an_object)


def wrong_json_type(*, list_ok: bool = False) -> st.SearchStrategy:
    """A JSON value of a type no string field accepts (a list, when `list_ok`, is left out: repeated
    fields take lists)."""
    options = [st.integers(min_value=1), st.booleans(), st.dictionaries(st.text(max_size=5), st.integers(), min_size=1, max_size=2)]
    if not list_ok:
        options.append(st.lists(st.text(max_size=5), min_size=1, max_size=3))
    return st.one_of(*options)


blank = st.text(alphabet=" \t\n\r", min_size=1, max_size=20)  # ASCII: what every regex engine calls \s
too_long = st.integers(min_value=1, max_value=300).map(lambda n: "x" * (280 + n))
not_an_id = st.one_of(st.sampled_from(["0", "-1", "01", "abc", "1 2", "9" * 20, "1.0", " 1"]),
                      st.text(alphabet="abcxyz-_. ", min_size=1, max_size=12))
bad_request_id = st.one_of(st.sampled_from(["has space", "x" * 65, "é", "a/b", "a.b"]),
                           st.text(alphabet="!@#$%^&*() ./", min_size=1, max_size=10))


# --- POST /v1/tweet ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def author(gateway):
    return account(gateway)


@pytest.fixture(scope="module")
def someone_else(gateway):
    return account(gateway)


def user_tweets(gateway, user) -> list:
    code, body = send("GET", f"{gateway}/v1/users/{user['id']}/tweets?pageSize=50", headers=user["auth"])
    assert code == 200, body
    return body.get("tweets", [])


@FUZZ_SETTINGS
@given(data=st.data())
def test_a_rejected_tweet_is_not_posted(gateway, author, someone_else, data):
    body = data.draw(broken({"twitterContent": "hello there", "userId": author["id"]}, {
        "twitterContent": st.one_of(st.just(""), blank, too_long, wrong_json_type()),
        "images": st.one_of(st.lists(not_an_id, min_size=1, max_size=3),
                            st.just([NOBODY]),  # well-formed, but no such media
                            st.just(["1", "2", "3", "4", "5"]), st.just(["7", "7"]), wrong_json_type(list_ok=True)),
        "userId": st.one_of(st.just(someone_else["id"]), not_an_id, wrong_json_type()),
        "inReplyToTweetId": st.one_of(st.just(NOBODY), not_an_id),
        "quotedTweetId": st.one_of(st.just(NOBODY), not_an_id),
        "requestId": bad_request_id,
    }), label="body")
    code, answer = send("POST", f"{gateway}/v1/tweet", body, author["auth"])
    assert_rejected(code, answer)
    assert user_tweets(gateway, author) == []
    assert user_tweets(gateway, someone_else) == []


# --- POST /v1/comment/{tweet_id} -------------------------------------------------------------------


@pytest.fixture(scope="module")
def commented(gateway):
    """A tweet, and the user who tries to comment on it."""
    owner, commenter = account(gateway), account(gateway)
    code, body = send("POST", f"{gateway}/v1/tweet", {"twitterContent": "comment on this", "userId": owner["id"]}, owner["auth"])
    assert code == 201, body
    return body["tweetId"], commenter


@FUZZ_SETTINGS
@given(data=st.data())
def test_a_rejected_comment_is_not_added(gateway, commented, data):
    tweet_id, commenter = commented
    query_text = data.draw(st.one_of(st.none(), st.just("nice"), blank, too_long), label="?commentString")
    body_text = data.draw(st.one_of(st.none(), st.just("nice"), blank, too_long, wrong_json_type()), label="body commentString")
    path_id = data.draw(st.one_of(st.just(tweet_id), st.just(tweet_id), not_an_id), label="path tweet id")
    request_id = data.draw(st.one_of(st.none(), st.none(), bad_request_id), label="requestId")
    valid_text = [t for t in (query_text, body_text) if t == "nice"]
    invalid_text = [t for t in (query_text, body_text) if t is not None and t != "nice"]
    # skip the one valid combination: a single good text, the right tweet, a good (or no) request id
    if len(valid_text) == 1 and not invalid_text and path_id == tweet_id and request_id is None:
        body_text, query_text = "nice", "nice"  # both given: the CEL rule "exactly once" refuses it
    params = {k: v for k, v in (("commentString", query_text), ("requestId", request_id)) if v is not None}
    query = "&".join(f"{k}={_quote(v)}" for k, v in params.items())
    body = {} if body_text is None else {"commentString": body_text}
    url = f"{gateway}/v1/comment/{_quote(path_id)}" + (f"?{query}" if query else "")
    code, answer = send("POST", url, body, commenter["auth"])
    assert_rejected(code, answer)
    code, listed = send("GET", f"{gateway}/v1/tweets/{tweet_id}/comments?pageSize=10", headers=commenter["auth"])
    assert code == 200 and listed.get("comments", []) == [], listed
    code, got = send("GET", f"{gateway}/v1/tweets/{tweet_id}", headers=commenter["auth"])
    assert code == 200 and int(got["tweet"].get("commentCount", 0)) == 0, got


def _quote(value: str) -> str:
    from urllib.parse import quote

    return quote(value, safe="")


# --- POST /v1/devices ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def device_owner(gateway):
    return account(gateway)


APNS = "ab" * 32
FCM = "f" * 40


@FUZZ_SETTINGS
@given(data=st.data())
def test_a_rejected_device_is_not_registered(gateway, device_owner, data):
    valid = data.draw(st.sampled_from([{"apnsToken": APNS}, {"fcmToken": FCM}, {"email": "fuzz@example.com"}]), label="target")
    body = data.draw(st.one_of(
        broken({**valid, "label": "phone"}, {
            "apnsToken": st.one_of(st.just("ab" * 31), st.just("zz" * 32), st.just("a" * 201), blank, wrong_json_type()),
            "fcmToken": st.one_of(st.just("f" * 31), st.just("f" * 4097), st.just("bad token " * 4), wrong_json_type()),
            "email": st.one_of(st.just("not-an-email"), st.just("a@" + "b" * 260 + ".com"), st.just("@x"), wrong_json_type()),
            "label": st.one_of(st.just("x" * 65), st.just("tab\there"), st.just("bell\x07"), wrong_json_type()),
            "requestId": bad_request_id,
        }),  # a breaker of another target sets the oneof twice: refused too
        st.just({"label": "no target"}),
        st.just({"apnsToken": APNS, "fcmToken": FCM}),  # a oneof set twice
        st.just({"email": "fuzz@example.com", "apnsToken": APNS, "label": "two"}),
    ), label="body")
    code, answer = send("POST", f"{gateway}/v1/devices", body, device_owner["auth"])
    assert_rejected(code, answer)
    code, listed = send("GET", f"{gateway}/v1/devices", headers=device_owner["auth"])
    assert code == 200 and listed.get("devices", []) == [], listed


# --- PATCH /v1/notificationPreferences --------------------------------------------------------------


@pytest.fixture(scope="module")
def preferences_owner(gateway):
    user = account(gateway)
    code, body = send("GET", f"{gateway}/v1/notificationPreferences", headers=user["auth"])
    assert code == 200, body
    return user, body


GOOD_PREF = {"kind": "NOTIFICATION_KIND_LIKE", "channel": "NOTIFICATION_CHANNEL_EMAIL", "enabled": True}
bad_pref = st.one_of(
    st.builds(lambda k: {**GOOD_PREF, "kind": k}, st.one_of(
        st.just("NOTIFICATION_KIND_UNSPECIFIED"), st.just("NOTIFICATION_KIND_NOPE"), st.just(0),
        st.integers(min_value=100, max_value=2**31 - 1), st.integers(max_value=-1, min_value=-2**31))),
    st.builds(lambda c: {**GOOD_PREF, "channel": c}, st.one_of(
        st.just("NOTIFICATION_CHANNEL_UNSPECIFIED"), st.just("PIGEON"), st.integers(min_value=100, max_value=2**31 - 1))),
    st.builds(lambda e: {**GOOD_PREF, "enabled": e}, st.one_of(st.just("yes"), st.just([True]), st.just({"on": 1}))),
    st.just({"channel": "NOTIFICATION_CHANNEL_EMAIL", "enabled": True}),  # no kind
)


@FUZZ_SETTINGS
@given(data=st.data())
def test_rejected_preferences_change_nothing(gateway, preferences_owner, data):
    user, before = preferences_owner
    body = data.draw(st.one_of(
        st.just({"preferences": []}),
        st.just({"preferences": [GOOD_PREF, {**GOOD_PREF, "enabled": False}]}),  # the same pair twice
        st.just({"preferences": [GOOD_PREF] * 65}),
        st.lists(bad_pref, min_size=1, max_size=3).map(lambda bad: {"preferences": [GOOD_PREF, *bad]}),
        st.just({"preferences": [GOOD_PREF], "requestId": "has space"}),
        st.builds(lambda v: {"preferences": v}, wrong_json_type(list_ok=True)),
    ), label="body")
    code, answer = send("PATCH", f"{gateway}/v1/notificationPreferences", body, user["auth"])
    assert_rejected(code, answer)
    code, after = send("GET", f"{gateway}/v1/notificationPreferences", headers=user["auth"])
    assert code == 200 and after == before


# --- POST /v1/users ---------------------------------------------------------------------------------


@FUZZ_SETTINGS
@given(data=st.data())
def test_a_rejected_sign_up_leaves_the_handle_free(gateway, author, data):
    handle = f"fz{uuid.uuid4().hex[:12]}"  # fresh every example: not drawn, so examples stay reproducible
    body = data.draw(broken({"handle": handle, "password": "correct horse battery", "displayName": "Fuzz"}, {
        "password": st.one_of(st.text(max_size=7), st.integers(min_value=129, max_value=400).map(lambda n: "p" * n), wrong_json_type()),
        "displayName": st.one_of(st.just(""), blank, st.just("x" * 51), st.just("bell\x07"), wrong_json_type()),
        "requestId": bad_request_id,
        "handle": st.just(handle + "!"),
    }), label="body")
    code, answer = send("POST", f"{gateway}/v1/users", body)
    assert_rejected(code, answer)
    code, looked_up = send("GET", f"{gateway}/v1/users:lookup?handle={handle}", headers=author["auth"])
    assert code == 404, looked_up
