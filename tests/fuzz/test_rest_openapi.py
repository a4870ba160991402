"""Schemathesis against the live gateway, driven by the OpenAPI document the gateway serves: every
operation gets generated requests, valid and invalid by the document, and every answer must be a
non-5xx, come within TIMEOUT_S, and match what the document promises (status, content type, body
schema of the success and of the error shape). Needs `make up`.

Checks left out, and why (they would report the document's deliberate choices, not bugs):
- positive_data_acceptance: "a schema-valid request gets a 2xx". Ids are only constrained by their
  shape, so a valid-looking id of a user or tweet that does not exist is a correct 404, and a body
  naming another user as the actor a correct 403.
- use_after_free, ensure_resource_availability: stateful checks (create, then fetch or delete): the
  document has no OpenAPI links, so the pytest run generates no such sequences.
Everything else schemathesis has runs, `not_a_server_error` first. (unsupported_method and
allow_header_conformance, 405 + Allow for an undocumented method, act only in schemathesis' coverage
phase, which these strategies do not run: tests/e2e/test_rest_surface.py sends every undocumented
method to every documented path instead.)

/v1/notifications:stream is left out of this run: it is a live stream that stays open as long as
the client does (heartbeats every 25 s), so any request that passes validation would read until the
timeout. test_the_stream_answers_or_refuses_quickly covers it with its own bounded reads.
"""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import hypothesis.strategies as st
import pytest
import requests
import schemathesis
from hypothesis import given
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import ensure_resource_availability, positive_data_acceptance, use_after_free

from mesh.config import REPO_ROOT
from tests.fuzz.conftest import EXAMPLES, FUZZ_SETTINGS, TIMEOUT_S

pytestmark = pytest.mark.fuzz

STREAM = "/v1/notifications:stream"
EXCLUDED_CHECKS = [positive_data_acceptance, use_after_free, ensure_resource_availability]


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
    negative = operation.as_strategy(GenerationMode.NEGATIVE).filter(sends_its_whole_query)
    cases = st.one_of(operation.as_strategy(GenerationMode.POSITIVE), negative)

    @FUZZ_SETTINGS
    @given(case=cases)
    def one_request(case):
        # every caller gets a token; the open operations (sign-up, log-in, ...) simply ignore it
        response = case.call(base_url=gateway, headers=callers.next()["auth"], timeout=TIMEOUT_S)
        rest_tally.add(response.status_code)
        case.validate_response(response, excluded_checks=EXCLUDED_CHECKS)

    one_request()


def sends_its_whole_query(case) -> bool:
    """Whether every query parameter of a generated case reaches the gateway. Some "unexpected
    parameters" schemathesis makes never leave the client: an empty name (`?pageSize=0&=null`, which
    the transcoder ignores: it binds to nothing) or a value that is an empty list (`{"x": []}`, which
    requests leaves out). The request sent is then a valid one, its 200 right, where
    negative_data_rejection wants a 4xx; such cases are not generated. Every unexpected parameter that
    is sent must be refused (400 MALFORMED_REQUEST)."""
    if not case.query:
        return True
    params = case.as_transport_kwargs(base_url="http://gateway").get("params")
    url = requests.Request("GET", "http://gateway/", params=params).prepare().url
    return "" not in case.query and set(case.query) <= set(parse_qs(urlsplit(url).query, keep_blank_values=True))


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
