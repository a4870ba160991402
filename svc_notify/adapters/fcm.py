"""Firebase Cloud Messaging: the HTTP v1 API, authorised as a Google service account.

The access token comes from the service account's key file by the OAuth2 JWT-bearer grant: an RS256
assertion {iss: client_email, scope: firebase.messaging, aud: token_uri, iat, exp <= 1 h} posted to
token_uri; it is reused until a minute before it expires, and fetched anew once when FCM answers 401.

How FCM's answers map to SendOutcome (errorCode: the FcmError detail of Google's error body):
  200                                         DELIVERED (detail: the message name)
  UNREGISTERED (404), SENDER_ID_MISMATCH      TARGET_GONE
  QUOTA_EXCEEDED (429), UNAVAILABLE (503),
  INTERNAL (500), any other 429 / 5xx         RETRY, with Retry-After when Google sent one
  401 (UNAUTHENTICATED)                       a new access token, the request once more; RETRY if
                                              refused again
  any other 4xx (INVALID_ARGUMENT, THIRD_PARTY_AUTH_ERROR, PERMISSION_DENIED...)   REJECTED
  network errors, timeouts, no time left, no access token (the token endpoint failing or
  refusing the assertion: a credentials problem, not this message's)        RETRY
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import jwt

from svc_notify.adapters.provider_http import NETWORK_ERRORS, deadline_s, retry_after_s, tls_context
from svc_notify.adapters.provider_settings import FcmSettings
from svc_notify.domain import OutgoingMessage, SendOutcome, SendResult

log = logging.getLogger("svc_notify.fcm")

SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ASSERTION_LIFETIME_S = 3600  # Google's maximum
EXPIRY_MARGIN_S = 60  # an access token is replaced this long before it expires
FCM_ERROR_TYPE = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
TARGET_GONE_CODES = frozenset({"UNREGISTERED", "SENDER_ID_MISMATCH"})
RETRY_CODES = frozenset({"QUOTA_EXCEEDED", "UNAVAILABLE", "INTERNAL"})


@dataclass(frozen=True)
class ServiceAccount:
    project_id: str
    client_email: str
    private_key: str  # PEM
    private_key_id: str
    token_uri: str

    @classmethod
    def from_file(cls, path) -> ServiceAccount:
        fields = json.loads(path.read_text())
        if fields.get("type") != "service_account":
            raise ValueError(f"{path} is not a Google service-account key file (type {fields.get('type')!r})")
        missing = [k for k in ("project_id", "client_email", "private_key", "private_key_id", "token_uri") if not fields.get(k)]
        if missing:
            raise ValueError(f"{path} lacks {', '.join(missing)}")
        return cls(fields["project_id"], fields["client_email"], fields["private_key"], fields["private_key_id"],
                   fields["token_uri"])

    def assertion(self, now: float) -> str:
        claims = {"iss": self.client_email, "scope": SCOPE, "aud": self.token_uri,
                  "iat": int(now), "exp": int(now) + ASSERTION_LIFETIME_S}
        return jwt.encode(claims, self.private_key, algorithm="RS256", headers={"kid": self.private_key_id})


class TokenUnavailable(Exception):
    """No access token could be had; the message says what the token endpoint answered."""


class AccessTokens:
    """The OAuth2 access token of the service account, cached until shortly before it expires.
    Concurrent sends needing a new token wait for one request to the token endpoint."""

    def __init__(self, account: ServiceAccount, client: httpx.AsyncClient, cap_s: float,
                 clock: Callable[[], float] = time.time) -> None:
        self._account, self._client, self._cap_s, self._clock = account, client, cap_s, clock
        self._token: str | None = None
        self._valid_until = 0.0
        self._lock = asyncio.Lock()

    async def current(self) -> str:
        async with self._lock:
            if self._token is None or self._clock() >= self._valid_until:
                self._token, self._valid_until = await self._fetch()
            return self._token

    def refused(self, token: str) -> None:
        if self._token == token:
            self._token = None

    async def _fetch(self) -> tuple[str, float]:
        now = self._clock()
        form = {"grant_type": JWT_BEARER_GRANT, "assertion": self._account.assertion(now)}
        timeout = deadline_s(self._cap_s)
        async with asyncio.timeout(timeout):
            response = await self._client.post(self._account.token_uri, data=form, timeout=timeout)
        try:
            body = response.json()
        except ValueError:
            body = {}
        if response.status_code != 200 or not isinstance(body, dict) or not body.get("access_token"):
            what = body.get("error", "") if isinstance(body, dict) else ""
            why = body.get("error_description", "") if isinstance(body, dict) else ""
            raise TokenUnavailable(f"OAuth2 token endpoint answered {response.status_code} {what} {why}".strip())
        lifetime = float(body.get("expires_in", 3600))
        return body["access_token"], now + max(0.0, lifetime - EXPIRY_MARGIN_S)


def build_body(target: str, message: OutgoingMessage) -> dict[str, Any]:
    """The v1 `message`: the notification, `data` (strings only, as FCM requires) with the delivery
    id so the app can tell a repeat, and a collapse key so a newer notification replaces an older
    one of the same id on an offline device."""
    data = {str(k): str(v) for k, v in message.data.items()}
    data.setdefault("delivery_id", message.delivery_id)
    data.setdefault("notification_id", str(message.notification_id))
    return {
        "message": {
            "token": target,
            "notification": {"title": message.title, "body": message.body},
            "data": data,
            "android": {"collapse_key": str(message.notification_id), "priority": "high"},
        }
    }


def fcm_error(response: httpx.Response) -> tuple[str, str, str]:
    """(errorCode of the FcmError detail, status, message) of Google's error body; '' when absent."""
    try:
        error = response.json().get("error", {})
    except (ValueError, AttributeError):
        return "", "", response.text[:200]
    if not isinstance(error, dict):
        return "", "", str(error)[:200]
    code = ""
    for detail in error.get("details") or ():
        if isinstance(detail, dict) and detail.get("@type") == FCM_ERROR_TYPE:
            code = str(detail.get("errorCode", ""))
    return code, str(error.get("status", "")), str(error.get("message", ""))


def classify(status: int, error_code: str, error_status: str, text: str, headers: httpx.Headers) -> SendResult:
    detail = " ".join(part for part in (str(status), error_code or error_status, text) if part)
    if status == 200:
        return SendResult(SendOutcome.DELIVERED, detail)
    if error_code in TARGET_GONE_CODES:
        return SendResult(SendOutcome.TARGET_GONE, detail)
    if error_code in RETRY_CODES or status == 429 or status >= 500:
        return SendResult(SendOutcome.RETRY, detail, retry_after_s(headers))
    if status == 401 and error_code != "THIRD_PARTY_AUTH_ERROR":
        return SendResult(SendOutcome.RETRY, detail)  # our access token, refused twice in a row
    if 400 <= status < 500:
        return SendResult(SendOutcome.REJECTED, detail)
    return SendResult(SendOutcome.RETRY, f"unexpected answer {detail}")


class FcmSender:
    """svc_notify.ports.ChannelSender for FCM HTTP v1."""

    def __init__(self, settings: FcmSettings, *, clock: Callable[[], float] = time.time) -> None:
        self._settings = settings
        self._account = ServiceAccount.from_file(settings.service_account_file)
        self._client = httpx.AsyncClient(http2=True, verify=tls_context(settings.ca_file), timeout=settings.timeout_s)
        self._tokens = AccessTokens(self._account, self._client, settings.token_timeout_s, clock)
        self._send_url = f"{settings.url}/v1/projects/{self._account.project_id}/messages:send"

    @property
    def project_id(self) -> str:
        return self._account.project_id

    async def access_token(self) -> str:
        """The access token the next send uses (fetched when there is none or it is about to expire)."""
        return await self._tokens.current()

    async def send(self, target: str, message: OutgoingMessage) -> SendResult:
        body = build_body(target, message)
        try:
            response, token = await self._post(body)
            if response.status_code == 401 and fcm_error(response)[0] != "THIRD_PARTY_AUTH_ERROR":
                log.info("FCM refused the access token: fetching a new one")
                self._tokens.refused(token)
                response, token = await self._post(body)
        except TokenUnavailable as exc:
            return SendResult(SendOutcome.RETRY, str(exc))
        except NETWORK_ERRORS as exc:
            return SendResult(SendOutcome.RETRY, f"FCM unreachable: {type(exc).__name__}: {exc}".rstrip(": "))
        if response.status_code == 200:
            try:
                name = str(response.json().get("name", ""))
            except (ValueError, AttributeError):
                name = ""
            return SendResult(SendOutcome.DELIVERED, f"200 {name}".strip())
        code, status, text = fcm_error(response)
        return classify(response.status_code, code, status, text, response.headers)

    async def _post(self, body: dict[str, Any]) -> tuple[httpx.Response, str]:
        token = await self._tokens.current()
        timeout = deadline_s(self._settings.timeout_s)
        async with asyncio.timeout(timeout):
            response = await self._client.post(self._send_url, json=body, timeout=timeout,
                                               headers={"authorization": f"Bearer {token}"})
        return response, token

    async def close(self) -> None:
        await self._client.aclose()
