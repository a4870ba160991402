"""Schemathesis against the live gateway, driven by the OpenAPI document the gateway serves: every
operation gets generated requests, valid and invalid by the document, and every answer must be a
non-5xx, come within TIMEOUT_S, and match what the document promises (status, content type, body
schema of the success and of the error shape). Needs `make up`.

Checks left out, and why (they would report the document's deliberate choices, not bugs):
- positive_data_acceptance: "a schema-valid request gets a 2xx". Ids are only constrained by their
  shape, so a valid-looking id of a user or tweet that does not exist is a correct 404, and a body
  naming another user as the actor a correct 403.
- unsupported_method, allow_header_conformance: they expect 405 with an Allow header for a wrong
  method; the transcoder cannot tell a wrong method from an unknown path, so the gateway answers
  404 NO_SUCH_PATH (README, "The REST surface"), in the documented error shape.
- use_after_free, ensure_resource_availability: stateful checks (create, then fetch or delete): the
  document has no OpenAPI links, so the pytest run generates no such sequences.
Everything else schemathesis has runs, `not_a_server_error` first.

/v1/notifications:stream is left out of this run: it is a live stream that stays open as long as
the client does (heartbeats every 25 s), so any request that passes validation would read until the
timeout. test_the_stream_answers_or_refuses_quickly covers it with its own bounded reads.
"""

from __future__ import annotations

import json

import hypothesis.strategies as st
import pytest
import requests
import schemathesis
from hypothesis import given
from schemathesis import GenerationMode
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    allow_header_conformance,
    ensure_resource_availability,
    positive_data_acceptance,
    unsupported_method,
    use_after_free,
)

from mesh.config import REPO_ROOT
from tests.fuzz.conftest import EXAMPLES, FUZZ_SETTINGS, TIMEOUT_S

pytestmark = pytest.mark.fuzz

STREAM = "/v1/notifications:stream"
EXCLUDED_CHECKS = [positive_data_acceptance, unsupported_method, allow_header_conformance, use_after_free,
                   ensure_resource_availability]


@pytest.fixture(scope="session")
def api_schema(gateway):
    config = schemathesis.Config.from_dict({
        "request-timeout": TIMEOUT_S,
        "generation": {"max-examples": EXAMPLES, "deterministic": True, "database": "none"},
    })
    return schemathesis.openapi.from_url(f"{gateway}/openapi.json", config=config, timeout=TIMEOUT_S)


def documented_operations() -> list[tuple[str, str]]:
    """(METHOD, path) of every operation, for the test ids: from the checked-in document, which the
    gateway serves byte for byte (tests/e2e/test_rest_surface.py); the requests use the served one."""
    document = json.loads((REPO_ROOT / "gen" / "openapi" / "tweetmesh.json").read_text())
    return [(method.upper(), path) for path, item in document["paths"].items() for method in item
            if method in ("get", "post", "put", "patch", "delete") and path != STREAM]


# Not schemathesis' pytest plugin (`schemathesis.pytest.from_fixture`): 4.32 breaks on pytest 9
# (`'Function' object has no attribute '_nodeid'`). Its strategies under a plain @given do the same,
# with one pytest item per operation.
@pytest.mark.parametrize(("method", "path"), documented_operations(), ids=lambda v: v)
def test_every_operation_answers_without_5xx_and_as_documented(api_schema, gateway, callers, rest_tally, method, path):
    operation = api_schema[path][method]
    # A query parameter with an empty name (`?pageSize=0&=null`) is one kind of "unexpected parameter"
    # schemathesis makes: the transcoder ignores it and the call succeeds, where negative_data_rejection
    # wants a 4xx. Harmless (it binds to nothing), so such cases are not generated; every other
    # unexpected parameter is still sent and must be refused (400 MALFORMED_REQUEST).
    negative = operation.as_strategy(GenerationMode.NEGATIVE).filter(lambda case: "" not in (case.query or {}))
    cases = st.one_of(operation.as_strategy(GenerationMode.POSITIVE), negative)

    @FUZZ_SETTINGS
    @given(case=cases)
    def one_request(case):
        # every caller gets a token; the open operations (sign-up, log-in, ...) simply ignore it
        response = case.call(base_url=gateway, headers=callers.next()["auth"], timeout=TIMEOUT_S)
        try:
            case.validate_response(response, excluded_checks=EXCLUDED_CHECKS)
        except FailureGroup:
            if not refused_by_the_http_codec(response):
                raise
            rest_tally.add("400 codec (requestId null, known)")
        else:
            rest_tally.add(response.status_code)

    one_request()


def refused_by_the_http_codec(response) -> bool:
    """Envoy's HTTP/1 codec refuses a header name with `_` (or a byte no header name may hold) before
    any filter runs: a 400 in the error shape, but with no request id ("requestId": null, no
    x-request-id header), which the document does not allow. A known defect, pinned by the strict
    xfail below; such answers are let through here so the fuzz run can look for others."""
    try:
        error = response.json()["error"]
    except (ValueError, KeyError, TypeError):
        return False
    return response.status_code == 400 and error.get("reason") == "MALFORMED_REQUEST" and error.get("requestId") is None


@pytest.mark.xfail(strict=True, reason="codec-level 400s carry no request id (see refused_by_the_http_codec)")
def test_a_request_refused_by_the_http_codec_still_gets_a_request_id(gateway):
    response = requests.get(f"{gateway}/v1/users/1", headers={"x_y": "1"}, timeout=TIMEOUT_S)
    assert response.status_code == 400
    assert response.json()["error"]["requestId"] and response.headers.get("x-request-id")


# --- the stream, bounded ---------------------------------------------------------------------------

after_ids = st.one_of(
    st.just(""),
    st.from_regex(r"\A[1-9][0-9]{0,18}\Z"),
    st.text(max_size=40),
    st.sampled_from(["0", "-1", "01", "9" * 19, "9" * 40, "1e9", " 1", "1 ", "null", "%00"]),
)


@FUZZ_SETTINGS
@given(after=after_ids)
def test_the_stream_answers_or_refuses_quickly(gateway, callers, rest_tally, after):
    """A valid resume point opens the stream (200, first line a heartbeat); anything else is a 4xx in
    the error shape. Either way the first bytes come within TIMEOUT_S; the stream is then closed."""
    with requests.get(f"{gateway}{STREAM}", params={"afterNotificationId": after}, headers=callers.next()["auth"],
                      stream=True, timeout=TIMEOUT_S) as response:
        rest_tally.add(response.status_code)
        assert response.status_code < 500, response.text
        if response.status_code == 200:
            first = json.loads(next(response.iter_lines()))
            assert isinstance(first, dict), first
        else:
            assert 400 <= response.status_code < 500
            assert set(response.json()) == {"error"}, response.text
