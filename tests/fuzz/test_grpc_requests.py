"""Hypothesis on the gRPC requests: for every RPC of the public services, request messages built from
the proto descriptors with hostile values (huge and unicode strings, ids that are not ids or do not
fit in an int64, negative and extreme numbers, enum values no .proto defines, long repeated
fields, nested messages), sent with a real channel through Envoy (h2c, `authorization` metadata of
a signed-up caller). The internal RPCs the gateway refuses are sent straight to svc_graph, with the
caller header Envoy would set. Needs `make up`.

Every call must end within its deadline with a status other than INTERNAL, UNKNOWN, DATA_LOSS,
UNAVAILABLE or UNIMPLEMENTED (the gRPC faces of a 5xx). RESOURCE_EXHAUSTED (the caller's rate
limit) is a fine answer. The server stream (StreamNotifications) must answer or refuse within its
deadline, after which the client cancels it.
"""

from __future__ import annotations

import time

import grpc
import hypothesis.strategies as st
import pytest
from google.protobuf import descriptor as pb_descriptor
from google.protobuf import message_factory
from hypothesis import given

from mesh.config import service_spec
from tests.fuzz.conftest import FUZZ_SETTINGS, TIMEOUT_S
from tweetmesh.graph.v1 import graph_service_pb2
from tweetmesh.notify.v1 import notification_service_pb2
from tweetmesh.search.v1 import search_service_pb2
from tweetmesh.timeline.v1 import timeline_service_pb2
from tweetmesh.tweet.v1 import tweet_service_pb2

pytestmark = pytest.mark.fuzz

FD = pb_descriptor.FieldDescriptor
SERVICES = {
    "graph": graph_service_pb2.DESCRIPTOR.services_by_name["GraphService"],
    "tweet": tweet_service_pb2.DESCRIPTOR.services_by_name["TweetService"],
    "timeline": timeline_service_pb2.DESCRIPTOR.services_by_name["TimelineService"],
    "notify": notification_service_pb2.DESCRIPTOR.services_by_name["NotificationService"],
    "search": search_service_pb2.DESCRIPTOR.services_by_name["SearchService"],
}
# Refused at the gateway (a 404 / UNIMPLEMENTED there by design): fuzzed on the service's own port.
INTERNAL_RPCS = {"ListFollowerIds", "ListFollowingIds", "BatchGetRelationships"}
FAILURES = {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN, grpc.StatusCode.DATA_LOSS,
            grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.UNIMPLEMENTED}
STREAM_DEADLINE_S = 2.0
SLACK_S = 1.0

METHODS = [(name, method) for name, service in SERVICES.items() for method in service.methods]

# --- strategies from descriptors -----------------------------------------------------------------

INT64_MAX = 2**63 - 1
ids = st.one_of(
    st.from_regex(r"\A[1-9][0-9]{0,18}\Z"),  # the documented shape (mostly ids nobody has)
    st.sampled_from(["", "0", "-1", "01", "1.5", "1e3", " 1", "0x1f", str(INT64_MAX), str(INT64_MAX + 1),
                     "9" * 19, "9" * 40, "١٢٣", "1\x00", "null"]),
    st.text(max_size=30),
)
huge_strings = st.sampled_from([1_000, 70_000, 300_000]).flatmap(
    lambda n: st.sampled_from(["a" * n, "é" * n, "😀" * n, "\u0000" * n, " " * n]))
strings = st.one_of(st.text(max_size=60), st.text(alphabet=st.characters(codec="utf-8"), max_size=500),
                    huge_strings, st.sampled_from(["", " ", "\t\n", "#", "from:", "%", "\\", "'", '"', "${x}"]))
tokens = st.one_of(strings, st.binary(max_size=200).map(lambda b: b.hex()),
                   st.sampled_from(["eyJ9", "AAAA", "=" * 10, "ey" + "A" * 5000]))

SCALARS = {
    FD.TYPE_INT32: st.one_of(st.integers(-2**31, 2**31 - 1), st.sampled_from([0, -1, 1, 2**31 - 1, -2**31])),
    FD.TYPE_SINT32: st.integers(-2**31, 2**31 - 1),
    FD.TYPE_SFIXED32: st.integers(-2**31, 2**31 - 1),
    FD.TYPE_UINT32: st.integers(0, 2**32 - 1),
    FD.TYPE_FIXED32: st.integers(0, 2**32 - 1),
    FD.TYPE_INT64: st.one_of(st.integers(-2**63, INT64_MAX), st.sampled_from([0, -1, INT64_MAX, -2**63])),
    FD.TYPE_SINT64: st.integers(-2**63, INT64_MAX),
    FD.TYPE_SFIXED64: st.integers(-2**63, INT64_MAX),
    FD.TYPE_UINT64: st.integers(0, 2**64 - 1),
    FD.TYPE_FIXED64: st.integers(0, 2**64 - 1),
    FD.TYPE_BOOL: st.booleans(),
    FD.TYPE_DOUBLE: st.floats(allow_nan=True, allow_infinity=True),
    FD.TYPE_FLOAT: st.floats(width=32, allow_nan=True, allow_infinity=True),
    FD.TYPE_BYTES: st.binary(max_size=300),
}


def string_strategy(field: pb_descriptor.FieldDescriptor):
    name = field.name
    if name.endswith(("_id", "_ids")) or name in ("images",):
        return st.one_of(ids, strings)
    if name.endswith("_token") or name == "cursor_value":
        return tokens
    return strings


def value_strategy(field: pb_descriptor.FieldDescriptor, depth: int):
    if field.type == FD.TYPE_MESSAGE:
        return message_dict(field.message_type, depth + 1)
    if field.type == FD.TYPE_ENUM:
        defined = [v.number for v in field.enum_type.values]
        return st.one_of(st.sampled_from(defined), st.integers(-2**31, 2**31 - 1))  # open enums: any int32
    if field.type == FD.TYPE_STRING:
        return string_strategy(field)
    return SCALARS[field.type]


def field_strategy(field: pb_descriptor.FieldDescriptor, depth: int):
    value = value_strategy(field, depth)
    if not field.is_repeated:
        return value
    short = st.lists(value, max_size=4)
    if field.type != FD.TYPE_STRING:
        return short
    # past every max_items, but of short elements (a list of huge strings is only a bigger message)
    return st.one_of(short, st.tuples(st.sampled_from([65, 101, 1001]), ids).map(lambda nv: [nv[1]] * nv[0]))


def message_dict(descriptor: pb_descriptor.Descriptor, depth: int = 0):
    if depth > 3:
        return st.just({})
    if descriptor.full_name == "google.protobuf.Timestamp":
        return st.fixed_dictionaries({}, optional={"seconds": st.integers(-2**40, 2**40), "nanos": st.integers(-2**31, 2**31 - 1)})
    return st.fixed_dictionaries({}, optional={f.name: field_strategy(f, depth) for f in descriptor.fields})


def build(cls, values: dict):
    message = cls()
    fill(message, values)
    return message


def fill(message, values: dict) -> None:
    for name, value in values.items():
        field = message.DESCRIPTOR.fields_by_name[name]
        if field.type == FD.TYPE_MESSAGE:
            if field.is_repeated:
                for item in value:
                    fill(getattr(message, name).add(), item)
            else:
                getattr(message, name).SetInParent()
                fill(getattr(message, name), value)
        elif field.is_repeated:
            getattr(message, name).extend(value)
        else:
            setattr(message, name, value)


# --- calls ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def channels(stack):
    opened = {"gateway": grpc.insecure_channel(f"{stack.host}:{stack.envoy_port}",
                                               options=[("grpc.max_send_message_length", 64 * 1024 * 1024)]),
              "graph": grpc.insecure_channel(f"{stack.host}:{service_spec('graph').grpc_port}")}
    yield opened
    for channel in opened.values():
        channel.close()


@pytest.mark.parametrize(("service", "method"), METHODS, ids=[f"{s}.{m.name}" for s, m in METHODS])
def test_no_request_message_gets_a_5xx_or_hangs(channels, callers, grpc_tally, service, method):
    request_cls = message_factory.GetMessageClass(method.input_type)
    response_cls = message_factory.GetMessageClass(method.output_type)
    path = f"/{method.containing_service.full_name}/{method.name}"
    internal = method.name in INTERNAL_RPCS
    channel = channels["graph" if internal else "gateway"]
    kind = channel.unary_stream if method.server_streaming else channel.unary_unary
    call = kind(path, request_serializer=request_cls.SerializeToString, response_deserializer=response_cls.FromString)

    @FUZZ_SETTINGS
    @given(values=message_dict(method.input_type))
    def one_request(values):
        request = build(request_cls, values)
        caller = callers.next()
        metadata = ((("x-tweetmesh-user-id", caller["id"]),) if internal
                    else (("authorization", caller["auth"]["Authorization"]),))
        deadline = STREAM_DEADLINE_S if method.server_streaming else TIMEOUT_S
        started = time.monotonic()
        code = grpc.StatusCode.OK
        try:
            if method.server_streaming:
                for _ in call(request, timeout=deadline, metadata=metadata):
                    pass
            else:
                call(request, timeout=deadline, metadata=metadata)
        except grpc.RpcError as exc:
            code = exc.code()
            details = exc.details()
        else:
            details = ""
        elapsed = time.monotonic() - started
        grpc_tally.add(code.name)
        assert code not in FAILURES, f"{path}: {code.name} {details!r} for {str(request)[:500]!r}"
        assert elapsed < deadline + SLACK_S, f"{path}: {elapsed:.1f}s (deadline {deadline}s)"
        if not method.server_streaming:  # a unary call that runs out its deadline hung
            assert code != grpc.StatusCode.DEADLINE_EXCEEDED, f"{path}: no answer within {deadline}s"

    one_request()
