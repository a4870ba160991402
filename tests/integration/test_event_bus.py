"""JetStream declarations and the de-duplicating publisher against the real NATS server."""

from __future__ import annotations

import uuid

import pytest
from nats.js.api import RetentionPolicy, StreamConfig

from mesh import events
from tests.conftest import require_listening


@pytest.fixture
async def js(stack):
    require_listening(stack.host, stack.nats_port, "NATS")
    nc = await events.connect(stack, name="integration-test")
    yield nc.jetstream(timeout=5)
    await nc.close()


async def test_declaring_twice_leaves_every_stream_and_consumer_as_specified(js):
    await events.declare(js)
    await events.declare(js)  # idempotent: a restart of any service may declare again
    for spec in events.STREAMS:
        info = await js.stream_info(spec.name)
        assert info.config.subjects == list(spec.subjects)
        assert info.config.retention == spec.retention
        assert info.config.duplicate_window == events.DUPLICATE_WINDOW_S
    for spec in events.CONSUMERS:
        info = await js.consumer_info(spec.stream, spec.durable)
        assert info.config.durable_name == spec.durable
        assert set(info.config.filter_subjects or [info.config.filter_subject]) == set(spec.filter_subjects)
    delivery = await js.stream_info("NOTIFY_DELIVERY")
    assert delivery.config.retention == RetentionPolicy.WORK_QUEUE


async def test_a_retried_publish_is_stored_once(js):
    name = f"IT_{uuid.uuid4().hex[:10].upper()}"
    subject_root = f"it.{name.lower()}"
    await js.add_stream(StreamConfig(name=name, subjects=[f"{subject_root}.>"], duplicate_window=60))
    try:
        publisher = events.JetStreamPublisher(js)
        await publisher.publish(f"{subject_root}.created", b"one", event_id="evt-1")
        await publisher.publish(f"{subject_root}.created", b"one", event_id="evt-1")  # the retry
        await publisher.publish(f"{subject_root}.created", b"two", event_id="evt-2")
        info = await js.stream_info(name)
        assert info.state.messages == 2
        first = await js.get_msg(name, seq=1)
        assert first.data == b"one" and first.headers["Nats-Msg-Id"] == "evt-1"
    finally:
        await js.delete_stream(name)
