"""The delivery work queues against the real NATS JetStream and Cassandra of the stack.

Each test gets SCRATCH streams (TEST_DELIVERY_<id> on test.<id>.deliver.>, TEST_DEAD_<id> on
test.<id>.dead.>) with the production consumer specs of mesh/events.py re-pointed at them, and a
scratch keyspace for the devices and the delivery log (the real CQL adapters), so the real queues
and tables are never touched. The providers are the real adapters (APNs, FCM, SMTP) against the
provider simulators of the stack, scripted through their control API; every test uses targets of its
own, so scripted answers never reach another test.
"""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
import time
import uuid
from datetime import datetime, timezone

import httpx
import pytest
from nats.js.api import RetentionPolicy

from mesh import events
from svc_notify.adapters.apns import ApnsSender
from svc_notify.adapters.cql_delivery_log import CqlDeliveryLog
from svc_notify.adapters.cql_devices import CqlDeviceStore
from svc_notify.adapters.fcm import FcmSender
from svc_notify.adapters.jetstream_delivery import (
    DeliveryConsumer,
    JetStreamDeadLetters,
    JetStreamDeliveryQueue,
    dead_letters,
    replay_dead_letters,
)
from svc_notify.adapters.provider_settings import ApnsSettings, FcmSettings, SmtpSettings
from svc_notify.adapters.smtp_email import SmtpSender
from svc_notify.delivery import DeliveryWorker
from svc_notify.domain import Device, Kind, Notification, Platform
from svc_notify.ports import DeliveryRequest, TargetHolder
from tests.conftest import require_listening
from tests.integration.scratch import scratch_cql_session

DELAYS = (0.2, 0.2, 0.2)  # 4 attempts, 0.6 s of backoff in all
WHEN = datetime(2025, 3, 1, 12, 0, tzinfo=timezone.utc)
UNAVAILABLE = {"status": 500, "reason": "InternalServerError"}


@pytest.fixture(scope="module")
async def session(stack):
    async with scratch_cql_session(stack) as opened:
        yield opened


@pytest.fixture(scope="module")
async def nc(stack):
    require_listening(stack.host, stack.nats_port, "NATS")
    client = await events.connect(stack, name="it-notify-delivery")
    yield client
    await client.close()


@pytest.fixture(scope="module")
async def sim(stack):
    require_listening(stack.host, stack.provider_sim_control_port, "the provider simulators")
    async with httpx.AsyncClient(base_url=stack.provider_sim_control_url, timeout=5) as client:
        yield client


@pytest.fixture(scope="module")
async def senders(sim, stack):
    """The real provider adapters, against the simulators of the stack."""
    made = {Platform.APNS: ApnsSender(ApnsSettings.from_env(stack)), Platform.FCM: FcmSender(FcmSettings.from_env(stack)),
            Platform.EMAIL: SmtpSender(SmtpSettings.from_env(stack))}
    yield made
    for sender in made.values():
        await sender.close()


class Simulators:
    """What the simulators received, through their control API."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def script(self, platform: Platform, target: str, *responses: dict) -> None:
        key = "address" if platform is Platform.EMAIL else "token"
        path = {Platform.APNS: "/apns/script", Platform.FCM: "/fcm/script", Platform.EMAIL: "/smtp/script"}[platform]
        answer = await self.client.post(path, json={key: target, "responses": list(responses)})
        assert answer.status_code == 200, answer.text

    async def unregister(self, token: str) -> None:
        assert (await self.client.post("/apns/unregister", json={"token": token})).status_code == 200

    async def calls(self, platform: Platform, target: str) -> list[dict]:
        """Every request for the target, in order (each with `time` and, for push, `status`)."""
        path, key = {Platform.APNS: ("/apns/requests", "token"), Platform.FCM: ("/fcm/requests", "token"),
                     Platform.EMAIL: ("/smtp/messages", "to")}[platform]
        answer = await self.client.get(path, params={key: target})
        assert answer.status_code == 200, answer.text
        return answer.json()

    async def delivered(self, device: Device) -> list[dict]:
        return [c for c in await self.calls(device.platform, device.target) if c.get("status", 200) == 200]


class Mesh:
    """Scratch queues, the real CQL stores, and one running DeliveryConsumer per channel."""

    def __init__(self, nc, session, senders) -> None:
        tag = uuid.uuid4().hex[:10]
        self.js = nc.jetstream(timeout=5)
        self.nc = nc
        self.stream, self.dead_stream = f"TEST_DELIVERY_{tag.upper()}", f"TEST_DEAD_{tag.upper()}"
        self.deliver_prefix, self.dead_prefix = f"test.{tag}.deliver", f"test.{tag}.dead"
        self.devices = CqlDeviceStore(session, session.scratch_keyspace)
        self.log = CqlDeliveryLog(session, session.scratch_keyspace)
        self.queue = JetStreamDeliveryQueue(self.js, subject_prefix=self.deliver_prefix)
        self.dead = JetStreamDeadLetters(self.js, subject_prefix=self.dead_prefix)
        self.senders = senders
        self.worker = DeliveryWorker(self.devices, self.log, senders, self.dead,
                                     retry_delays_s=DELAYS, max_attempts=len(DELAYS) + 1)
        self.stopping = asyncio.Event()
        self.jobs: list[asyncio.Task] = []

    def production_spec(self, platform: Platform) -> events.ConsumerSpec:
        (spec,) = (s for s in events.CONSUMERS if s.durable == f"deliver-{platform.queue}")
        return spec

    async def start(self, *, ack_wait_s: float | None = None, max_deliver: int | None = None) -> None:
        await self.js.add_stream(events.StreamSpec(self.stream, (f"{self.deliver_prefix}.>",),
                                                   retention=RetentionPolicy.WORK_QUEUE, max_age_s=600).config())
        await self.js.add_stream(events.StreamSpec(self.dead_stream, (f"{self.dead_prefix}.>",), max_age_s=600).config())
        for platform in Platform:
            spec = dataclasses.replace(
                self.production_spec(platform), stream=self.stream,
                filter_subjects=(f"{self.deliver_prefix}.{platform.queue}",),
                max_deliver=max_deliver or len(DELAYS) + 1, ack_wait_s=ack_wait_s or 30.0,
            )
            await self.js.add_consumer(self.stream, spec.config())
        for platform in Platform:
            consumer = DeliveryConsumer(self.js, platform=platform, worker=self.worker, nc=self.nc, dead=self.dead,
                                        stream=self.stream, fetch_wait_s=0.2)
            self.jobs.append(asyncio.create_task(consumer.as_job()(self.stopping)))

    async def stop(self) -> None:
        self.stopping.set()
        await asyncio.gather(*self.jobs, return_exceptions=True)
        for stream in (self.stream, self.dead_stream):
            await self.js.delete_stream(stream)

    async def register(self, user_id: int, platform: Platform, target: str) -> Device:
        device = Device(uuid.uuid4().int >> 72, user_id, platform, target, "it", WHEN)
        await self.devices.put(device)
        assert await self.devices.claim_target(platform, target, TargetHolder(user_id, device.device_id)) \
            == TargetHolder(user_id, device.device_id)
        return device

    async def pending(self) -> int:
        return (await self.js.stream_info(self.stream)).state.messages


@pytest.fixture
async def mesh(nc, session, senders):
    world = Mesh(nc, session, senders)
    yield world
    await world.stop()


@pytest.fixture
def sims(sim) -> Simulators:
    return Simulators(sim)


def new_user() -> int:
    return uuid.uuid4().int >> 72


def token(platform: Platform) -> str:
    """A target of this test only, so scripted answers never reach another test (or svc_notify)."""
    if platform is Platform.APNS:
        return secrets.token_hex(32)
    if platform is Platform.FCM:
        return "fcm-" + secrets.token_urlsafe(48)
    return f"reader-{secrets.token_hex(6)}@example.com"


def request_for(device: Device, kind: Kind = Kind.LIKE) -> DeliveryRequest:
    notification = Notification(uuid.uuid4().int >> 72, device.user_id, kind, actor_id=42, create_time=WHEN, tweet_id=7)
    return DeliveryRequest(notification, device.device_id, device.platform, actor=None, unread_count=1)


async def eventually(check, *, within_s: float = 5.0):
    """Polls `check` (async, truthy when done) until it holds; fails with the last value otherwise."""
    end = time.monotonic() + within_s
    while True:
        value = await check()
        if value or time.monotonic() > end:
            assert value, f"not within {within_s}s"
            return value
        await asyncio.sleep(0.05)


async def test_a_notification_reaches_each_registered_channel_exactly_once(mesh, sims):
    await mesh.start()
    bob = new_user()
    devices = [await mesh.register(bob, platform, token(platform)) for platform in Platform]
    requests = [request_for(d) for d in devices]
    requests = [dataclasses.replace(r, notification=requests[0].notification) for r in requests]  # one notification
    await mesh.queue.enqueue(requests)
    await mesh.queue.enqueue(requests)  # the fan-out retried: the stream keeps one item per delivery
    for device in devices:
        await eventually(lambda: sims.delivered(device))
    await eventually(lambda: _zero(mesh.pending()))  # every item acknowledged and gone
    await asyncio.sleep(0.3)  # nothing more arrives
    for device, r in zip(devices, requests):
        assert len(await sims.calls(device.platform, device.target)) == 1, device.platform
        assert await mesh.log.delivered(r.delivery_id)
    (mail,) = await sims.calls(Platform.EMAIL, devices[2].target)
    assert mail["message_id"].startswith(f"<{requests[2].delivery_id}@") and mail["body"].strip() == "liked your tweet"


async def test_a_5xx_is_retried_after_the_backoff_and_delivered_once(mesh, sims):
    await mesh.start()
    phone = await mesh.register(new_user(), Platform.APNS, token(Platform.APNS))
    await sims.script(Platform.APNS, phone.target, UNAVAILABLE)
    r = request_for(phone)
    await mesh.queue.enqueue([r])
    await eventually(lambda: sims.delivered(phone))
    await eventually(lambda: _zero(mesh.pending()))
    calls = await sims.calls(Platform.APNS, phone.target)
    assert [c["status"] for c in calls] == [500, 200]
    assert calls[0]["headers"]["apns-id"] == calls[1]["headers"]["apns-id"]  # the same delivery, retried
    assert calls[1]["time"] - calls[0]["time"] >= DELAYS[0] * 0.9  # after the backoff, not at once
    assert await mesh.log.delivered(r.delivery_id)
    assert await dead_letters(mesh.js, "apns", stream=mesh.dead_stream, subject_prefix=mesh.dead_prefix) == []


async def test_an_unregistered_token_removes_the_device_and_frees_the_token(mesh, sims):
    await mesh.start()
    bob, carol = new_user(), new_user()
    phone = await mesh.register(bob, Platform.APNS, token(Platform.APNS))
    keeps = await mesh.register(bob, Platform.FCM, token(Platform.FCM))
    await sims.unregister(phone.target)  # the app was deleted from the phone: APNs answers 410
    await mesh.queue.enqueue([request_for(phone)])
    await eventually(lambda: _is_none(mesh.devices.get(bob, phone.device_id)))
    assert [d.device_id for d in await mesh.devices.list(bob)] == [keeps.device_id]
    # the token is free: whoever registers it next gets it
    assert await mesh.devices.claim_target(Platform.APNS, phone.target, TargetHolder(carol, 1)) == TargetHolder(carol, 1)
    await eventually(lambda: _zero(mesh.pending()))
    assert [c["status"] for c in await sims.calls(Platform.APNS, phone.target)] == [410]  # not retried


async def test_a_provider_that_keeps_failing_ends_on_the_dead_letter_subject_and_can_be_replayed(mesh, sims):
    await mesh.start()
    phone = await mesh.register(new_user(), Platform.APNS, token(Platform.APNS))
    await sims.script(Platform.APNS, phone.target, *[UNAVAILABLE] * (len(DELAYS) + 1))
    r = request_for(phone)
    await mesh.queue.enqueue([r])

    async def buried():
        return await dead_letters(mesh.js, "apns", stream=mesh.dead_stream, subject_prefix=mesh.dead_prefix)

    (letter,) = await eventually(buried)
    assert letter.delivery_id == r.delivery_id and letter.attempts == len(DELAYS) + 1
    assert "500 InternalServerError" in letter.reason and f"{len(DELAYS) + 1} attempts" in letter.reason
    assert [c["status"] for c in await sims.calls(Platform.APNS, phone.target)] == [500] * (len(DELAYS) + 1)
    await eventually(lambda: _zero(mesh.pending()))
    assert not await mesh.log.delivered(r.delivery_id)

    # the provider is back: the operator replays the dead letters, and the device gets it once
    replayed = await replay_dead_letters(mesh.js, "apns", dead_stream=mesh.dead_stream, dead_prefix=mesh.dead_prefix,
                                         deliver_prefix=mesh.deliver_prefix)
    assert replayed == 1
    await eventually(lambda: sims.delivered(phone))
    await eventually(lambda: _zero(mesh.pending()))
    assert len(await sims.delivered(phone)) == 1 and await buried() == []
    assert await mesh.log.delivered(r.delivery_id)


async def test_a_slow_provider_delays_neither_another_channel_nor_the_rest_of_its_queue(mesh, sims):
    await mesh.start()
    bob = new_user()
    slow_phone = await mesh.register(bob, Platform.APNS, token(Platform.APNS))
    fast_phone = await mesh.register(bob, Platform.APNS, token(Platform.APNS))
    mailbox = await mesh.register(bob, Platform.EMAIL, token(Platform.EMAIL))
    await sims.script(Platform.APNS, slow_phone.target, {"delay_s": 2, "status": 200})  # APNs stalls 2 s
    stalled = request_for(slow_phone)
    await mesh.queue.enqueue([stalled])
    await asyncio.sleep(0.3)  # the stalled send is in flight
    started = time.time()
    await mesh.queue.enqueue([request_for(fast_phone), request_for(mailbox)])
    (mail,) = await eventually(lambda: sims.delivered(mailbox))
    (push,) = await eventually(lambda: sims.delivered(fast_phone))
    assert mail["time"] - started < 1.0 and push["time"] - started < 1.0
    assert not await mesh.log.delivered(stalled.delivery_id)  # the stalled send had not returned yet
    await eventually(lambda: mesh.log.delivered(stalled.delivery_id))
    assert len(await sims.delivered(slow_phone)) == 1
    await eventually(lambda: _zero(mesh.pending()))


async def test_an_item_whose_deliveries_all_timed_out_is_dead_lettered_from_the_advisory(mesh, sims):
    # a worker that crashes mid-send never answers: JetStream redelivers after ack_wait until
    # max_deliver, then gives up; the advisory moves the item to the dead letters
    mesh.worker = DeliveryWorker(mesh.devices, mesh.log, mesh.senders, mesh.dead, retry_delays_s=DELAYS,
                                 max_attempts=len(DELAYS) + 1, send_timeout_s=2.5)  # so the test ends soon
    await mesh.start(ack_wait_s=1.0, max_deliver=1)
    phone = await mesh.register(new_user(), Platform.FCM, token(Platform.FCM))
    await sims.script(Platform.FCM, phone.target, {"delay_s": 30})  # stalls past ack_wait: the "crash"
    r = request_for(phone)
    await mesh.queue.enqueue([r])

    async def buried():
        return await dead_letters(mesh.js, "fcm", stream=mesh.dead_stream, subject_prefix=mesh.dead_prefix)

    (letter,) = await eventually(buried, within_s=8.0)
    assert letter.delivery_id == r.delivery_id and "timed out" in letter.reason and letter.attempts == 1
    assert await mesh.pending() == 0  # removed from the work queue, not left to expire
    assert not await mesh.log.delivered(r.delivery_id)


async def _zero(count_coroutine):
    return await count_coroutine == 0


async def _is_none(coroutine):
    return await coroutine is None
