"""The delivery adapters (APNs, FCM, SMTP) against the provider simulators of the local stack
(deploy/provider_sim, started by `make up`): what each provider answer becomes as a SendResult.

Every test uses its own device tokens and addresses, so tests (and the running svc_notify) never
see each other's scripted answers.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import secrets
import socket
import time
import uuid

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from mesh import context
from svc_notify.adapters.apns import ApnsSender, apns_id
from svc_notify.adapters.fcm import FcmSender
from svc_notify.adapters.provider_settings import ApnsSettings, FcmSettings, SmtpSettings
from svc_notify.adapters.smtp_email import SmtpSender
from svc_notify.domain import Kind, OutgoingMessage, SendOutcome
from tests.conftest import require_listening

pytestmark = pytest.mark.integration


@pytest.fixture
async def sim(stack):
    require_listening(stack.host, stack.provider_sim_control_port, "the provider simulators")
    async with httpx.AsyncClient(base_url=stack.provider_sim_control_url, timeout=5) as client:
        yield client


async def control(sim: httpx.AsyncClient, path: str, body: dict) -> None:
    response = await sim.post(path, json=body)
    assert response.status_code == 200, response.text


async def recorded(sim: httpx.AsyncClient, path: str, **query: str) -> list[dict]:
    response = await sim.get(path, params=query)
    assert response.status_code == 200, response.text
    return response.json()


def apns_token() -> str:
    return secrets.token_hex(32)


def fcm_token() -> str:
    return "fcm-" + secrets.token_urlsafe(48)


def message(**changes) -> OutgoingMessage:
    notification_id = secrets.randbits(60)
    base = OutgoingMessage(
        delivery_id=f"{notification_id}-7", notification_id=notification_id, kind=Kind.LIKE,
        title="ann liked your tweet", body="hello #tweetmesh", badge=4, data={"tweet_id": "123"},
    )
    return dataclasses.replace(base, **changes)


class Deadline:
    """A call deadline `seconds` from now, as the gRPC server sets it for a call."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def __enter__(self):
        self._token = context.deadline.set(time.monotonic() + self.seconds)

    def __exit__(self, *exc):
        context.deadline.reset(self._token)


# --- APNs ------------------------------------------------------------------------------------------


@pytest.fixture
async def apns(sim, stack):
    sender = ApnsSender(ApnsSettings.from_env(stack))
    yield sender
    await sender.close()


async def test_apns_delivers_over_http2_with_a_valid_provider_token(apns, sim, stack):
    token, msg = apns_token(), message()
    settings = ApnsSettings.from_env(stack)

    result = await apns.send(token, msg)

    assert result.outcome is SendOutcome.DELIVERED, result
    assert apns_id(msg.delivery_id) in result.detail
    (seen,) = await recorded(sim, "/apns/requests", token=token)
    assert seen["status"] == 200 and seen["http_version"] == "2"
    assert seen["jwt_header"] == {"alg": "ES256", "kid": settings.key_id, "typ": "JWT"}
    assert seen["jwt_claims"]["iss"] == settings.team_id
    assert abs(seen["jwt_claims"]["iat"] - time.time()) < 60
    headers = seen["headers"]
    assert headers["apns-topic"] == settings.topic
    assert headers["apns-push-type"] == "alert" and headers["apns-priority"] == "10"
    assert headers["apns-id"] == str(uuid.uuid5(uuid.uuid5(uuid.NAMESPACE_DNS, "delivery.tweetmesh"), msg.delivery_id))
    assert headers["apns-collapse-id"] == str(msg.notification_id)
    assert int(headers["apns-expiration"]) > time.time()
    assert seen["payload"] == {
        "aps": {"alert": {"title": msg.title, "body": msg.body}, "badge": 4, "sound": "default", "thread-id": "like"},
        "tweet_id": "123",
    }


async def test_apns_retries_of_one_delivery_carry_the_same_apns_id(apns, sim):
    token, msg = apns_token(), message()
    await control(sim, "/apns/script", {"token": token, "responses": [{"status": 503, "reason": "ServiceUnavailable"}]})

    first = await apns.send(token, msg)
    second = await apns.send(token, msg)

    assert (first.outcome, second.outcome) == (SendOutcome.RETRY, SendOutcome.DELIVERED)
    ids = [r["headers"]["apns-id"] for r in await recorded(sim, "/apns/requests", token=token)]
    assert ids == [apns_id(msg.delivery_id)] * 2


async def test_apns_throttling_and_server_errors_are_retried_with_retry_after(apns, sim):
    token = apns_token()
    await control(sim, "/apns/script", {"token": token, "responses": [
        {"status": 429, "reason": "TooManyRequests", "retry_after": 7},
        {"status": 500, "reason": "InternalServerError"},
        {"status": 503, "reason": "ServiceUnavailable", "retry_after": 2},
    ]})

    results = [await apns.send(token, message()) for _ in range(4)]

    assert [r.outcome for r in results] == [SendOutcome.RETRY] * 3 + [SendOutcome.DELIVERED]
    assert [r.retry_after_s for r in results[:3]] == [7.0, None, 2.0]
    assert results[0].detail == "429 TooManyRequests"
    assert results[1].detail == "500 InternalServerError"


async def test_apns_unregistered_token_is_gone(apns, sim):
    token = apns_token()
    await control(sim, "/apns/unregister", {"token": token})

    result = await apns.send(token, message())

    assert result.outcome is SendOutcome.TARGET_GONE
    assert result.detail.startswith("410 Unregistered (since ")


async def test_apns_bad_device_token_or_another_apps_token_is_gone(apns, sim):
    not_hex = "this-is-no-apns-token"
    other_app = apns_token()
    await control(sim, "/apns/script", {"token": other_app, "responses": [{"status": 400, "reason": "DeviceTokenNotForTopic"}]})

    bad = await apns.send(not_hex, message())
    foreign = await apns.send(other_app, message())

    assert (bad.outcome, bad.detail) == (SendOutcome.TARGET_GONE, "400 BadDeviceToken")
    assert (foreign.outcome, foreign.detail) == (SendOutcome.TARGET_GONE, "400 DeviceTokenNotForTopic")


async def test_apns_expired_provider_token_is_made_anew_and_the_send_succeeds(sim, stack):
    # a provider token minted two hours ago that the cache still holds as fresh: Apple refuses it
    clock = [time.time() - 7200]
    settings = dataclasses.replace(ApnsSettings.from_env(stack), token_refresh_s=3 * 3600)
    sender = ApnsSender(settings, clock=lambda: clock[0])
    stale = sender.provider_token()
    clock[0] = time.time()
    token = apns_token()
    try:
        result = await sender.send(token, message())
    finally:
        await sender.close()

    assert result.outcome is SendOutcome.DELIVERED, result
    first, second = await recorded(sim, "/apns/requests", token=token)
    assert (first["status"], first["reason"]) == (403, "ExpiredProviderToken")
    assert second["status"] == 200
    assert second["jwt_claims"]["iat"] - first["jwt_claims"]["iat"] > 7000
    assert sender.provider_token() != stale


async def test_apns_provider_token_of_an_unknown_team_is_retried_not_delivered(sim, stack):
    sender = ApnsSender(dataclasses.replace(ApnsSettings.from_env(stack), team_id="NOSUCHTEAM"))
    token = apns_token()
    try:
        result = await sender.send(token, message())
    finally:
        await sender.close()

    assert (result.outcome, result.detail) == (SendOutcome.RETRY, "403 InvalidProviderToken")
    # refused, made anew, refused again: two requests, never a loop
    assert [r["reason"] for r in await recorded(sim, "/apns/requests", token=token)] == ["InvalidProviderToken"] * 2


async def test_apns_other_client_errors_are_rejected(sim, stack):
    sender = ApnsSender(dataclasses.replace(ApnsSettings.from_env(stack), topic="com.example.not-ours"))
    try:
        wrong_topic = await sender.send(apns_token(), message())
    finally:
        await sender.close()
    assert (wrong_topic.outcome, wrong_topic.detail) == (SendOutcome.REJECTED, "400 TopicDisallowed")


async def test_apns_payload_limit_long_text_is_shortened_too_much_data_is_rejected(apns, sim):
    token = apns_token()
    long = await apns.send(token, message(body="é" * 5000))
    huge = await apns.send(token, message(data={"blob": "x" * 5000}))

    assert long.outcome is SendOutcome.DELIVERED, long
    first, second = await recorded(sim, "/apns/requests", token=token)
    body = first["payload"]["aps"]["alert"]["body"]
    assert body.endswith("…") and 1000 < len(body) < 5000
    assert int(first["headers"]["content-length"]) <= 4096
    assert (huge.outcome, huge.detail) == (SendOutcome.REJECTED, "413 PayloadTooLarge")
    assert second["status"] == 413


async def test_apns_stalled_answer_is_retried_within_the_call_deadline(apns, sim):
    token = apns_token()
    await control(sim, "/apns/script", {"token": token, "responses": [{"delay_s": 5, "status": 200}]})

    started = time.monotonic()
    with Deadline(0.5):
        result = await apns.send(token, message())
    waited = time.monotonic() - started

    assert result.outcome is SendOutcome.RETRY and "Timeout" in result.detail, result
    assert waited < 1.5
    # the long-lived HTTP/2 connection outlives the abandoned stream
    assert (await apns.send(token, message())).outcome is SendOutcome.DELIVERED


async def test_apns_no_time_left_is_a_retry_without_a_request(apns, sim):
    token = apns_token()
    with Deadline(-1):
        result = await apns.send(token, message())
    assert result.outcome is SendOutcome.RETRY
    assert await recorded(sim, "/apns/requests", token=token) == []


# --- FCM -------------------------------------------------------------------------------------------


@pytest.fixture
async def fcm(sim, stack):
    sender = FcmSender(FcmSettings.from_env(stack))
    yield sender
    await sender.close()


async def test_fcm_delivers_with_an_oauth2_access_token(fcm, sim, stack):
    token, msg = fcm_token(), message()
    account = json.loads(FcmSettings.from_env(stack).service_account_file.read_text())

    result = await fcm.send(token, msg)

    assert result.outcome is SendOutcome.DELIVERED, result
    (seen,) = await recorded(sim, "/fcm/requests", token=token)
    assert seen["status"] == 200 and seen["project"] == account["project_id"]
    assert result.detail == f"200 {seen['name']}"
    assert seen["message"] == {
        "token": token,
        "notification": {"title": msg.title, "body": msg.body},
        "data": {"tweet_id": "123", "delivery_id": msg.delivery_id, "notification_id": str(msg.notification_id)},
        "android": {"collapse_key": str(msg.notification_id), "priority": "high"},
    }
    grants = [g for g in await recorded(sim, "/fcm/token-requests") if g.get("claims", {}).get("iss") == account["client_email"]]
    claims = grants[-1]["claims"]
    assert grants[-1]["status"] == 200
    assert claims["scope"] == "https://www.googleapis.com/auth/firebase.messaging"
    assert claims["aud"] == account["token_uri"] and 0 < claims["exp"] - claims["iat"] <= 3600


async def test_fcm_access_token_is_reused(fcm, sim):
    first = await fcm.access_token()
    for _ in range(3):
        assert (await fcm.send(fcm_token(), message())).outcome is SendOutcome.DELIVERED
    assert await fcm.access_token() == first


async def test_fcm_quota_and_server_errors_are_retried_with_retry_after(fcm, sim):
    token = fcm_token()
    await control(sim, "/fcm/script", {"token": token, "responses": [
        {"status": 429, "error_code": "QUOTA_EXCEEDED", "retry_after": 3},
        {"status": 503, "error_code": "UNAVAILABLE"},
        {"status": 500, "error_code": "INTERNAL"},
    ]})

    results = [await fcm.send(token, message()) for _ in range(4)]

    assert [r.outcome for r in results] == [SendOutcome.RETRY] * 3 + [SendOutcome.DELIVERED]
    assert [r.retry_after_s for r in results[:3]] == [3.0, None, None]
    assert results[0].detail.startswith("429 QUOTA_EXCEEDED")
    assert results[1].detail.startswith("503 UNAVAILABLE")


async def test_fcm_unregistered_or_foreign_token_is_gone(fcm, sim):
    gone, foreign = fcm_token(), fcm_token()
    await control(sim, "/fcm/unregister", {"token": gone})
    await control(sim, "/fcm/script", {"token": foreign, "responses": [{"status": 403, "error_code": "SENDER_ID_MISMATCH"}]})

    unregistered = await fcm.send(gone, message())
    mismatched = await fcm.send(foreign, message())

    assert unregistered.outcome is SendOutcome.TARGET_GONE
    assert unregistered.detail == "404 UNREGISTERED Requested entity was not found."
    assert mismatched.outcome is SendOutcome.TARGET_GONE and mismatched.detail.startswith("403 SENDER_ID_MISMATCH")


async def test_fcm_invalid_argument_is_rejected(fcm, sim):
    result = await fcm.send("bad token", message())  # the simulator's token check: not a registration token
    assert result.outcome is SendOutcome.REJECTED
    assert result.detail == "400 INVALID_ARGUMENT The registration token is not a valid FCM registration token"


async def test_fcm_refused_access_token_is_fetched_anew_once(fcm, sim):
    revoked = await fcm.access_token()
    await control(sim, "/fcm/revoke", {"access_token": revoked})
    token = fcm_token()

    result = await fcm.send(token, message())

    assert result.outcome is SendOutcome.DELIVERED, result
    assert [r["status"] for r in await recorded(sim, "/fcm/requests", token=token)] == [401, 200]
    assert await fcm.access_token() != revoked


async def test_fcm_service_account_with_a_foreign_key_gets_no_token_and_retries(sim, stack, tmp_path):
    settings = FcmSettings.from_env(stack)
    account = json.loads(settings.service_account_file.read_text())
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    account["private_key"] = other_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps(account))
    sender = FcmSender(dataclasses.replace(settings, service_account_file=forged))
    token = fcm_token()
    try:
        result = await sender.send(token, message())
    finally:
        await sender.close()

    assert result.outcome is SendOutcome.RETRY
    assert "400 invalid_grant" in result.detail
    assert await recorded(sim, "/fcm/requests", token=token) == []  # nothing sent without a token


async def test_fcm_stalled_answer_is_retried_within_the_call_deadline(fcm, sim):
    await fcm.access_token()
    token = fcm_token()
    await control(sim, "/fcm/script", {"token": token, "responses": [{"delay_s": 5}]})

    started = time.monotonic()
    with Deadline(0.5):
        result = await fcm.send(token, message())

    assert result.outcome is SendOutcome.RETRY and "Timeout" in result.detail, result
    assert time.monotonic() - started < 1.5


# --- SMTP ------------------------------------------------------------------------------------------


def address() -> str:
    return f"reader-{secrets.token_hex(6)}@example.com"


@pytest.fixture
async def smtp(sim, stack):
    sender = SmtpSender(SmtpSettings.from_env(stack))
    yield sender
    await sender.close()


async def test_smtp_temporary_failure_is_retried_and_the_retry_keeps_the_message_id(smtp, sim):
    to, msg = address(), message()
    await control(sim, "/smtp/script", {"address": to, "responses": [{"code": 451}]})

    first = await smtp.send(to, msg)
    second = await smtp.send(to, msg)

    assert first.outcome is SendOutcome.RETRY and first.detail.startswith("451 ")
    assert second.outcome is SendOutcome.DELIVERED
    (mail,) = await recorded(sim, "/smtp/messages", to=to)
    assert mail["rcpt_tos"] == [to] and mail["mail_from"] == "notifications@tweetmesh.local"
    assert mail["message_id"] == f"<{msg.delivery_id}@tweetmesh.local>"
    assert mail["subject"] == msg.title and mail["body"].strip() == msg.body
    assert mail["headers"]["To"] == to and mail["headers"]["Date"]
    assert mail["headers"]["From"] == "TweetMesh <notifications@tweetmesh.local>"


async def test_smtp_undeliverable_address_is_rejected(smtp, sim):
    unknown, bad_name = address(), address()
    await control(sim, "/smtp/reject", {"address": unknown})
    await control(sim, "/smtp/script", {"address": bad_name, "responses": [{"code": 553}]})

    refused = await smtp.send(unknown, message())
    bad = await smtp.send(bad_name, message())

    assert refused.outcome is SendOutcome.REJECTED and refused.detail.startswith("550 5.1.1")
    assert bad.outcome is SendOutcome.REJECTED and bad.detail.startswith("553 ")
    assert await recorded(sim, "/smtp/messages", to=unknown) == []


async def test_smtp_starttls_with_the_configured_ca(sim, stack):
    sender = SmtpSender(dataclasses.replace(SmtpSettings.from_env(stack), starttls=True,
                                            ca_file=stack.var_dir / "secrets" / "provider_ca.pem"))
    to = address()
    assert (await sender.send(to, message())).outcome is SendOutcome.DELIVERED
    (mail,) = await recorded(sim, "/smtp/messages", to=to)
    assert mail["tls"] is True


async def test_smtp_starttls_to_an_untrusted_certificate_is_retried_not_sent(sim, stack):
    # the system trust store does not know the local CA: the upgrade fails, nothing is sent
    sender = SmtpSender(dataclasses.replace(SmtpSettings.from_env(stack), starttls=True, ca_file=None))
    to = address()
    result = await sender.send(to, message())
    assert result.outcome is SendOutcome.RETRY and "CERTIFICATE_VERIFY_FAILED" in result.detail
    assert await recorded(sim, "/smtp/messages", to=to) == []


async def test_smtp_stalled_relay_is_retried_within_the_deadline(smtp, sim):
    to = address()
    await control(sim, "/smtp/script", {"address": to, "responses": [{"delay_s": 5}]})

    started = time.monotonic()
    with Deadline(0.7):
        result = await smtp.send(to, message())

    assert result.outcome is SendOutcome.RETRY, result
    assert time.monotonic() - started < 1.5


async def test_smtp_relay_down_is_retried(stack):
    # a port bound but not listening: connecting to it is refused
    with socket.socket() as bound:
        bound.bind(("127.0.0.1", 0))
        sender = SmtpSender(dataclasses.replace(SmtpSettings.from_env(stack), host="127.0.0.1",
                                                port=bound.getsockname()[1]))
        result = await sender.send(address(), message())
    assert result.outcome is SendOutcome.RETRY and "ConnectionRefused" in result.detail


async def test_sends_run_concurrently_on_one_apns_connection(apns, sim):
    tokens = [apns_token() for _ in range(20)]
    results = await asyncio.gather(*(apns.send(t, message()) for t in tokens))
    assert all(r.outcome is SendOutcome.DELIVERED for r in results)
