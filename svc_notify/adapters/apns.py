"""Apple Push Notification service: the HTTP/2 provider API with token-based authentication.

One long-lived HTTP/2 connection (Apple asks providers to keep connections open rather than open one
per notification); every request carries a provider token: an ES256 JWT {alg, kid: key id}
{iss: team id, iat} signed with the account's .p8 key, reused for `token_refresh_s` (Apple refuses
tokens older than an hour, and refreshing more often than every 20 minutes).

How Apple's answers map to SendOutcome:
  200                                           DELIVERED
  410 Unregistered / ExpiredToken               TARGET_GONE (the app is gone from that device)
  400 BadDeviceToken, DeviceTokenNotForTopic    TARGET_GONE (the token is not one of this app's)
  403 ExpiredProviderToken, InvalidProviderToken the JWT is made anew and the request sent once more;
                                                RETRY if that fails too
  429 (TooManyRequests, ...), 5xx               RETRY, with Retry-After when Apple sent one
  any other 4xx (BadTopic, PayloadTooLarge...)  REJECTED
  network errors, timeouts, no time left        RETRY
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from svc_notify.adapters.provider_http import NETWORK_ERRORS, deadline_s, retry_after_s, tls_context
from svc_notify.adapters.provider_settings import ApnsSettings
from svc_notify.domain import OutgoingMessage, SendOutcome, SendResult

log = logging.getLogger("svc_notify.apns")

MAX_PAYLOAD_BYTES = 4096  # Apple's limit for a regular (non-VoIP) remote notification
# apns-id is a UUID: derived from the delivery id, the same on every attempt of one delivery
DELIVERY_ID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_DNS, "delivery.tweetmesh")
TARGET_GONE_REASONS = frozenset({"BadDeviceToken", "DeviceTokenNotForTopic"})
PROVIDER_TOKEN_REASONS = frozenset({"ExpiredProviderToken", "InvalidProviderToken"})


def apns_id(delivery_id: str) -> str:
    return str(uuid.uuid5(DELIVERY_ID_NAMESPACE, delivery_id))


def load_signing_key(pem: bytes) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise ValueError("the APNs key must be an EC P-256 private key (the .p8 file of the Apple account)")
    return key


class ProviderToken:
    """The APNs provider token: minted on first use, reused until `refresh_s` old, made anew when
    Apple refuses it. `clock` is wall-clock seconds (iat is compared with Apple's clock)."""

    def __init__(self, key: ec.EllipticCurvePrivateKey, key_id: str, team_id: str, refresh_s: float,
                 clock: Callable[[], float] = time.time) -> None:
        self._key, self._key_id, self._team_id = key, key_id, team_id
        self._refresh_s = refresh_s
        self._clock = clock
        self._token: str | None = None
        self._issued_at = 0.0
        self._lock = threading.Lock()  # minting is synchronous and quick; keep one token at a time

    def current(self) -> str:
        with self._lock:
            now = self._clock()
            if self._token is None or now - self._issued_at >= self._refresh_s:
                self._token = jwt.encode({"iss": self._team_id, "iat": int(now)}, self._key,
                                         algorithm="ES256", headers={"kid": self._key_id})
                self._issued_at = now
            return self._token

    def refused(self, token: str) -> None:
        """Apple refused `token`: the next `current()` mints a new one (unless another send already did)."""
        with self._lock:
            if self._token == token:
                self._token = None


def build_payload(message: OutgoingMessage) -> bytes:
    """The JSON payload, at most MAX_PAYLOAD_BYTES: a long body is shortened (with an ellipsis)
    rather than refused; the custom keys go beside "aps" (never replacing it)."""

    def encode(body: str) -> bytes:
        aps: dict[str, Any] = {"alert": {"title": message.title, "body": body}, "sound": "default",
                               "thread-id": message.kind.name.lower()}
        if message.badge is not None:
            aps["badge"] = message.badge
        payload = {**{k: v for k, v in message.data.items() if k != "aps"}, "aps": aps}
        return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()

    whole = encode(message.body)
    if len(whole) <= MAX_PAYLOAD_BYTES:
        return whole
    raw = message.body.encode()

    def shortened(keep: int) -> bytes:  # the first `keep` bytes of the body (whole characters) + "…"
        return encode(raw[:keep].decode(errors="ignore") + "…")

    # the longest prefix that fits (JSON escapes make the encoded size no simple function of it)
    low, high = 0, len(raw) - 1
    while low < high:
        middle = (low + high + 1) // 2
        if len(shortened(middle)) <= MAX_PAYLOAD_BYTES:
            low = middle
        else:
            high = middle - 1
    return shortened(low)  # still too large when the rest is: Apple answers 413, the send is REJECTED


def classify(status: int, reason: str, headers: httpx.Headers) -> SendResult:
    """One APNs answer as a SendResult (403 provider-token refusals are RETRY here; the sender
    retries them once itself with a new token first)."""
    detail = f"{status} {reason}".strip()
    if status == 200:
        return SendResult(SendOutcome.DELIVERED, detail)
    if status == 410 or (status == 400 and reason in TARGET_GONE_REASONS):
        return SendResult(SendOutcome.TARGET_GONE, detail)
    if status == 403 and reason in PROVIDER_TOKEN_REASONS:
        return SendResult(SendOutcome.RETRY, detail)
    if status == 429 or status >= 500:
        return SendResult(SendOutcome.RETRY, detail, retry_after_s(headers))
    if 400 <= status < 500:
        return SendResult(SendOutcome.REJECTED, detail)
    return SendResult(SendOutcome.RETRY, f"unexpected answer {detail}")


def _reason(response: httpx.Response) -> str:
    """Apple's reason, plus the 410 timestamp (when the token stopped being valid)."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if not isinstance(body, dict):
        return ""
    reason = str(body.get("reason", ""))
    if "timestamp" in body:
        reason += f" (since {body['timestamp']})"
    return reason


class ApnsSender:
    """svc_notify.ports.ChannelSender for APNs."""

    def __init__(self, settings: ApnsSettings, *, clock: Callable[[], float] = time.time) -> None:
        self._settings = settings
        key = load_signing_key(settings.key_file.read_bytes())
        self._token = ProviderToken(key, settings.key_id, settings.team_id, settings.token_refresh_s, clock)
        # http1=False: offer only h2 in ALPN (Apple serves nothing else); one pooled connection
        self._client = httpx.AsyncClient(
            http1=False, http2=True, verify=tls_context(settings.ca_file), base_url=settings.url,
            timeout=settings.timeout_s, limits=httpx.Limits(max_connections=1, keepalive_expiry=None),
        )

    def provider_token(self) -> str:
        """The provider token the next send uses (also a start-up check that the key signs)."""
        return self._token.current()

    async def send(self, target: str, message: OutgoingMessage) -> SendResult:
        payload = build_payload(message)
        try:
            response, token = await self._post(target, message, payload)
            reason = _reason(response)
            if response.status_code == 403 and reason in PROVIDER_TOKEN_REASONS:
                log.info("APNs refused the provider token (%s): minting a new one", reason)
                self._token.refused(token)
                response, token = await self._post(target, message, payload)
        except NETWORK_ERRORS as exc:
            return SendResult(SendOutcome.RETRY, f"APNs unreachable: {type(exc).__name__}: {exc}".rstrip(": "))
        result = classify(response.status_code, _reason(response), response.headers)
        if result.outcome is SendOutcome.DELIVERED:
            result = SendResult(result.outcome, f"{result.detail} apns-id {response.headers.get('apns-id', '')}".strip())
        return result

    async def _post(self, target: str, message: OutgoingMessage, payload: bytes) -> tuple[httpx.Response, str]:
        timeout = deadline_s(self._settings.timeout_s)
        token = self._token.current()
        headers = {
            "authorization": f"bearer {token}",
            "apns-topic": self._settings.topic,
            "apns-push-type": "alert",
            "apns-priority": "10",
            "apns-expiration": str(int(time.time()) + self._settings.expiration_s),
            "apns-id": apns_id(message.delivery_id),
            "apns-collapse-id": str(message.notification_id),
            "content-type": "application/json",
        }
        # httpx's timeout bounds each phase; asyncio.timeout bounds the whole exchange
        async with asyncio.timeout(timeout):
            response = await self._client.post(f"/3/device/{target}", content=payload, headers=headers,
                                               timeout=timeout)
        return response, token

    async def close(self) -> None:
        await self._client.aclose()
