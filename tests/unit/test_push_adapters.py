"""The delivery adapters' pure parts: provider tokens and their caching, payloads, and how each
provider answer is classified (no sockets: the FCM token endpoint is an httpx MockTransport)."""

from __future__ import annotations

import email.utils
import json
import time
from pathlib import Path

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from svc_notify.adapters import apns, fcm
from svc_notify.adapters.provider_http import retry_after_s
from svc_notify.adapters.provider_settings import ApnsSettings, FcmSettings, SmtpSettings
from svc_notify.adapters.smtp_email import _code_result, build_email
from svc_notify.domain import Kind, OutgoingMessage, SendOutcome

MESSAGE = OutgoingMessage(delivery_id="42-7", notification_id=42, kind=Kind.REPLY, title="bob replied",
                          body="nice one", badge=2, data={"tweet_id": "9", "aps": "must not replace aps"})


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


# --- APNs provider token -----------------------------------------------------------------------------


def test_provider_token_is_es256_with_kid_iss_iat_and_reused_until_refresh():
    key = ec.generate_private_key(ec.SECP256R1())
    clock = Clock(1_800_000_000.0)
    tokens = apns.ProviderToken(key, "KEY1234567", "TEAM123456", refresh_s=2400, clock=clock)

    first = tokens.current()
    assert jwt.get_unverified_header(first) == {"alg": "ES256", "kid": "KEY1234567", "typ": "JWT"}
    no_time_checks = {"verify_iat": False}
    assert jwt.decode(first, key.public_key(), algorithms=["ES256"], options=no_time_checks) == {
        "iss": "TEAM123456", "iat": 1_800_000_000}

    clock.now += 2399
    assert tokens.current() == first  # Apple refuses refreshing more often than every 20 minutes
    clock.now += 1
    second = tokens.current()
    assert second != first
    assert jwt.decode(second, key.public_key(), algorithms=["ES256"], options=no_time_checks)["iat"] == 1_800_002_400


def test_refused_provider_token_is_replaced_only_once_by_concurrent_refusals():
    key = ec.generate_private_key(ec.SECP256R1())
    clock = Clock(1_800_000_000.0)
    tokens = apns.ProviderToken(key, "K", "T", refresh_s=2400, clock=clock)
    old = tokens.current()
    clock.now += 1
    tokens.refused(old)
    new = tokens.current()
    tokens.refused(old)  # a second send that saw the same refusal: the new token stays
    assert new != old and tokens.current() == new


def test_signing_key_must_be_p256():
    rsa_pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    with pytest.raises(ValueError, match="P-256"):
        apns.load_signing_key(rsa_pem)


# --- APNs payload and answers ------------------------------------------------------------------------


def test_payload_carries_alert_badge_thread_and_data_but_never_replaces_aps():
    payload = json.loads(apns.build_payload(MESSAGE))
    assert payload == {
        "aps": {"alert": {"title": "bob replied", "body": "nice one"}, "badge": 2, "sound": "default", "thread-id": "reply"},
        "tweet_id": "9",
    }


@pytest.mark.parametrize("body", ["a" * 6000, "é" * 6000, '"' * 3000, "🙂" * 2000])
def test_long_body_is_shortened_to_fit_4096_bytes(body):
    encoded = apns.build_payload(OutgoingMessage("1-1", 1, Kind.MENTION, "t", body))
    assert apns.MAX_PAYLOAD_BYTES - 8 < len(encoded) <= apns.MAX_PAYLOAD_BYTES  # as much text as fits
    assert json.loads(encoded)["aps"]["alert"]["body"].endswith("…")


def test_apns_id_is_a_uuid_stable_per_delivery():
    assert apns.apns_id("42-7") == apns.apns_id("42-7") != apns.apns_id("42-8")


@pytest.mark.parametrize(("status", "reason", "outcome"), [
    (200, "", SendOutcome.DELIVERED),
    (410, "Unregistered (since 1)", SendOutcome.TARGET_GONE),
    (410, "ExpiredToken", SendOutcome.TARGET_GONE),
    (400, "BadDeviceToken", SendOutcome.TARGET_GONE),
    (400, "DeviceTokenNotForTopic", SendOutcome.TARGET_GONE),
    (403, "ExpiredProviderToken", SendOutcome.RETRY),
    (403, "InvalidProviderToken", SendOutcome.RETRY),
    (429, "TooManyRequests", SendOutcome.RETRY),
    (500, "InternalServerError", SendOutcome.RETRY),
    (503, "ServiceUnavailable", SendOutcome.RETRY),
    (400, "BadTopic", SendOutcome.REJECTED),
    (400, "TopicDisallowed", SendOutcome.REJECTED),
    (403, "BadCertificate", SendOutcome.REJECTED),
    (413, "PayloadTooLarge", SendOutcome.REJECTED),
])
def test_apns_answers(status, reason, outcome):
    result = apns.classify(status, reason, httpx.Headers())
    assert result.outcome is outcome
    assert result.detail == f"{status} {reason}".strip()


# --- Retry-After -------------------------------------------------------------------------------------


def test_retry_after_in_seconds_or_as_a_date():
    assert retry_after_s(httpx.Headers({"retry-after": "30"})) == 30.0
    later = email.utils.formatdate(time.time() + 120, usegmt=True)
    assert 115 <= retry_after_s(httpx.Headers({"retry-after": later})) <= 120
    assert retry_after_s(httpx.Headers({"retry-after": "soon"})) is None
    assert retry_after_s(httpx.Headers()) is None


# --- FCM ---------------------------------------------------------------------------------------------


@pytest.fixture
def account() -> fcm.ServiceAccount:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return fcm.ServiceAccount("proj", "sa@proj.iam.gserviceaccount.com", pem.decode(), "kid1", "https://oauth2.test/token")


def test_assertion_is_the_jwt_bearer_grant_google_expects(account):
    assertion = account.assertion(1_800_000_000)
    public = serialization.load_pem_private_key(account.private_key.encode(), None).public_key()
    assert jwt.get_unverified_header(assertion)["kid"] == "kid1"
    claims = jwt.decode(assertion, public, algorithms=["RS256"], audience="https://oauth2.test/token",
                        options={"verify_exp": False, "verify_iat": False})
    assert claims == {"iss": "sa@proj.iam.gserviceaccount.com", "scope": fcm.SCOPE, "aud": "https://oauth2.test/token",
                      "iat": 1_800_000_000, "exp": 1_800_003_600}


async def test_access_token_is_cached_until_a_minute_before_it_expires(account):
    issued = []

    def token_endpoint(request: httpx.Request) -> httpx.Response:
        form = dict(httpx.QueryParams(request.content.decode()))
        assert form["grant_type"] == fcm.JWT_BEARER_GRANT and form["assertion"]
        issued.append(f"token-{len(issued)}")
        return httpx.Response(200, json={"access_token": issued[-1], "expires_in": 3599, "token_type": "Bearer"})

    clock = Clock(1_800_000_000.0)
    async with httpx.AsyncClient(transport=httpx.MockTransport(token_endpoint)) as client:
        tokens = fcm.AccessTokens(account, client, cap_s=5, clock=clock)
        assert await tokens.current() == "token-0"
        clock.now += 3599 - fcm.EXPIRY_MARGIN_S - 1
        assert await tokens.current() == "token-0"
        clock.now += 1
        assert await tokens.current() == "token-1"
        tokens.refused("token-1")
        assert await tokens.current() == "token-2"


async def test_token_endpoint_refusal_says_why(account):
    def refuse(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, json={"error": "invalid_grant", "error_description": "Invalid JWT Signature."})

    async with httpx.AsyncClient(transport=httpx.MockTransport(refuse)) as client:
        with pytest.raises(fcm.TokenUnavailable, match="400 invalid_grant Invalid JWT Signature."):
            await fcm.AccessTokens(account, client, cap_s=5).current()


def test_fcm_body_data_is_strings_with_the_delivery_id():
    body = fcm.build_body("tok", OutgoingMessage("42-7", 42, Kind.LIKE, "t", "b", data={"n": 5}))  # type: ignore[dict-item]
    assert body["message"]["data"] == {"n": "5", "delivery_id": "42-7", "notification_id": "42"}
    assert body["message"]["android"]["collapse_key"] == "42"


def _google_error(status: int, canonical: str, code: str | None) -> httpx.Response:
    error = {"code": status, "message": "words", "status": canonical}
    if code:
        error["details"] = [{"@type": fcm.FCM_ERROR_TYPE, "errorCode": code},
                            {"@type": "type.googleapis.com/google.rpc.BadRequest"}]
    return httpx.Response(status, json={"error": error})


@pytest.mark.parametrize(("status", "canonical", "code", "outcome"), [
    (404, "NOT_FOUND", "UNREGISTERED", SendOutcome.TARGET_GONE),
    (403, "PERMISSION_DENIED", "SENDER_ID_MISMATCH", SendOutcome.TARGET_GONE),
    (429, "RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED", SendOutcome.RETRY),
    (503, "UNAVAILABLE", "UNAVAILABLE", SendOutcome.RETRY),
    (500, "INTERNAL", "INTERNAL", SendOutcome.RETRY),
    (502, "UNKNOWN", None, SendOutcome.RETRY),
    (401, "UNAUTHENTICATED", None, SendOutcome.RETRY),
    (401, "UNAUTHENTICATED", "THIRD_PARTY_AUTH_ERROR", SendOutcome.REJECTED),
    (400, "INVALID_ARGUMENT", "INVALID_ARGUMENT", SendOutcome.REJECTED),
    (403, "PERMISSION_DENIED", None, SendOutcome.REJECTED),
])
def test_fcm_answers(status, canonical, code, outcome):
    response = _google_error(status, canonical, code)
    error_code, error_status, text = fcm.fcm_error(response)
    assert (error_code, error_status, text) == (code or "", canonical, "words")
    result = fcm.classify(status, error_code, error_status, text, response.headers)
    assert result.outcome is outcome
    assert result.detail == f"{status} {code or canonical} words"


def test_fcm_error_body_that_is_not_json_is_still_classified():
    response = httpx.Response(502, text="<html>bad gateway</html>")
    assert fcm.classify(502, *fcm.fcm_error(response), response.headers).outcome is SendOutcome.RETRY


# --- SMTP --------------------------------------------------------------------------------------------


def test_email_has_a_message_id_stable_across_retries():
    settings = SmtpSettings(host="h", port=25, from_address="TweetMesh <no-reply@mail.tweetmesh.example>")
    first, again = build_email(settings, "ann@example.com", MESSAGE), build_email(settings, "ann@example.com", MESSAGE)
    assert first["Message-ID"] == again["Message-ID"] == "<42-7@mail.tweetmesh.example>"
    assert (first["From"], first["To"], first["Subject"]) == ("TweetMesh <no-reply@mail.tweetmesh.example>", "ann@example.com", "bob replied")
    assert first["Date"] and first.get_content().strip() == "nice one"


@pytest.mark.parametrize(("code", "outcome"), [
    (421, SendOutcome.RETRY), (450, SendOutcome.RETRY), (451, SendOutcome.RETRY), (452, SendOutcome.RETRY),
    (550, SendOutcome.REJECTED), (551, SendOutcome.REJECTED), (553, SendOutcome.REJECTED), (554, SendOutcome.REJECTED),
])
def test_smtp_replies(code, outcome):
    result = _code_result(code, b"5.1.1 words", "RCPT")
    assert result.outcome is outcome and result.detail == f"{code} 5.1.1 words (at RCPT)"


# --- settings ----------------------------------------------------------------------------------------


def test_settings_default_to_the_local_simulators(monkeypatch, tmp_path):
    for name in ("TM_APNS_URL", "TM_APNS_CA_FILE", "TM_FCM_URL", "TM_SMTP_HOST", "TM_SMTP_PORT", "TM_SMTP_STARTTLS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TM_VAR_DIR", str(tmp_path))
    monkeypatch.setenv("TM_APNS_SIM_PORT", "19471")
    apns_settings, fcm_settings, smtp_settings = ApnsSettings.from_env(), FcmSettings.from_env(), SmtpSettings.from_env()
    assert apns_settings.url == "https://127.0.0.1:19471"
    assert apns_settings.key_file == tmp_path / "secrets" / "apns_auth_key.p8"
    assert apns_settings.ca_file == fcm_settings.ca_file == tmp_path / "secrets" / "provider_ca.pem"
    assert fcm_settings.service_account_file == tmp_path / "secrets" / "fcm_service_account.json"
    assert (smtp_settings.host, smtp_settings.port, smtp_settings.starttls) == ("127.0.0.1", 2525, False)
    assert smtp_settings.id_domain == "tweetmesh.local"


def test_production_settings(monkeypatch):
    monkeypatch.setenv("TM_APNS_URL", "https://api.push.apple.com/")
    monkeypatch.setenv("TM_APNS_CA_FILE", "")  # the system trust store
    monkeypatch.setenv("TM_APNS_KEY_FILE", "/run/secrets/AuthKey_ABC.p8")
    monkeypatch.setenv("TM_SMTP_STARTTLS", "true")
    monkeypatch.setenv("TM_SMTP_PORT", "587")
    apns_settings, smtp_settings = ApnsSettings.from_env(), SmtpSettings.from_env()
    assert apns_settings.url == "https://api.push.apple.com" and apns_settings.ca_file is None
    assert apns_settings.key_file == Path("/run/secrets/AuthKey_ABC.p8")
    assert smtp_settings.starttls is True and smtp_settings.port == 587
    monkeypatch.setenv("TM_SMTP_STARTTLS", "maybe")
    with pytest.raises(ValueError, match="TM_SMTP_STARTTLS"):
        SmtpSettings.from_env()
