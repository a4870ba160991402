import time

import pytest

from mesh import context
from mesh.clients import call_options
from mesh.errors import Unavailable
from mesh.interceptors import CALLER_HEADER, REQUEST_ID_HEADER


def test_a_peer_call_carries_request_id_caller_and_the_remaining_time():
    tokens = [
        context.request_id.set("req-7"),
        context.caller_user_id.set("42"),
        context.deadline.set(time.monotonic() + 0.8),
    ]
    try:
        options = call_options(cap_s=2.0)
        assert 0.7 < options["timeout"] <= 0.8
        assert dict(options["metadata"]) == {REQUEST_ID_HEADER: "req-7", CALLER_HEADER: "42"}
        assert call_options(cap_s=0.1)["timeout"] == 0.1  # never more than the cap
    finally:
        for var, token in zip((context.request_id, context.caller_user_id, context.deadline), tokens):
            var.reset(token)


def test_outside_a_call_only_the_cap_applies_and_no_identity_is_invented():
    options = call_options(cap_s=1.5)
    assert options == {"timeout": 1.5, "metadata": ()}


def test_no_peer_call_once_the_time_is_spent():
    token = context.deadline.set(time.monotonic() - 0.001)
    try:
        with pytest.raises(Unavailable):
            call_options()
    finally:
        context.deadline.reset(token)
