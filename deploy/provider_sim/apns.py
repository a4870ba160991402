"""The APNs simulator: Apple's provider API as an ASGI app (served over HTTP/2 + TLS by hypercorn)."""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization

from deploy.provider_sim.asgi import Receive, Send, answer, headers_of, lifespan, read_body
from deploy.provider_sim.state import SimState

MAX_PAYLOAD_BYTES = 4096
PROVIDER_TOKEN_MAX_AGE_S = 3600  # Apple: a provider token older than an hour is refused
CLOCK_SKEW_S = 300  # an iat this far in the future is still accepted
PUSH_TYPES = frozenset({"alert", "background", "location", "voip", "complication", "fileprovider", "mdm",
                        "liveactivity", "pushtotalk", "widgets", "controls"})
DEVICE_PATH = re.compile(r"^/3/device/(?P<token>[^/]*)$")
HEX_TOKEN = re.compile(r"^[0-9a-fA-F]{64,200}$")


@dataclass(frozen=True)
class ApnsAccount:
    """What Apple knows of the developer account: the key id, its public key, the team, the topics."""

    key_id: str
    team_id: str
    topics: frozenset[str]
    public_key: Any

    @classmethod
    def from_file(cls, path) -> ApnsAccount:
        info = json.loads(path.read_text())
        return cls(info["key_id"], info["team_id"], frozenset(info["topics"]),
                   serialization.load_pem_public_key(info["public_key"].encode()))


class ApnsSim:
    def __init__(self, account: ApnsAccount, state: SimState) -> None:
        self.account = account
        self.state = state

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        body = await read_body(receive, limit=MAX_PAYLOAD_BYTES * 4)
        headers = headers_of(scope)
        match = DEVICE_PATH.match(scope["path"])
        token = match["token"] if match else ""
        record: dict[str, Any] = {
            "time": time.time(), "token": token, "path": scope["path"], "http_version": scope["http_version"],
            "headers": {k: v[0] for k, v in headers.items() if k != "authorization"},
        }
        status, reason, extra = await self._decide(scope, headers, body, token, record)
        record.update(status=status, reason=reason)
        self.state.apns_requests.append(record)
        if status == 200:
            await answer(send, 200, None, {"apns-id": record["apns_id"]})
            return
        error: dict[str, Any] = {"reason": reason}
        response_headers = {"apns-id": record.get("apns_id") or str(uuid.uuid4())}
        if status == 410:
            error["timestamp"] = extra.get("timestamp", int(time.time() * 1000))
        if extra.get("retry_after") is not None:
            response_headers["retry-after"] = str(extra["retry_after"])
        await answer(send, status, error, response_headers)

    async def _decide(self, scope, headers, body: bytes, token: str, record) -> tuple[int, str, dict[str, Any]]:
        if scope["http_version"] != "2":
            return 505, "HTTP/2 required", {}  # Apple's endpoint speaks nothing else (ALPN h2)
        if scope["method"] != "POST":
            return 405, "MethodNotAllowed", {}
        if not scope["path"].startswith("/3/device/"):
            return 404, "BadPath", {}
        if not token:
            return 400, "MissingDeviceToken", {}
        if any(len(values) > 1 for values in headers.values()):
            return 400, "DuplicateHeaders", {}
        refused = self._check_provider_token(headers, record)
        if refused:
            return 403, refused, {}
        apns_id = headers.get("apns-id", [str(uuid.uuid4())])[0]
        try:
            record["apns_id"] = str(uuid.UUID(apns_id))
        except ValueError:
            return 400, "BadMessageId", {}
        if record["apns_id"] != apns_id.lower():
            return 400, "BadMessageId", {}

        scripted = self.state.apns_scripts.next(token)
        if scripted is not None:
            record["scripted"] = scripted
            if scripted.get("delay_s"):
                await asyncio.sleep(float(scripted["delay_s"]))
            if "status" in scripted:
                return int(scripted["status"]), str(scripted.get("reason", _default_reason(int(scripted["status"])))), scripted

        topic = headers.get("apns-topic", [""])[0]
        if not topic:
            return 400, "MissingTopic", {}
        if topic not in self.account.topics:
            return 400, "TopicDisallowed", {}
        if headers.get("apns-push-type", [""])[0] not in PUSH_TYPES:
            return 400, "InvalidPushType", {}
        if headers.get("apns-priority", ["10"])[0] not in ("1", "5", "10"):
            return 400, "BadPriority", {}
        if not headers.get("apns-expiration", ["0"])[0].isdigit():
            return 400, "BadExpirationDate", {}
        if len(headers.get("apns-collapse-id", [""])[0].encode()) > 64:
            return 400, "BadCollapseId", {}
        if not HEX_TOKEN.match(token):
            return 400, "BadDeviceToken", {}
        if not body:
            return 400, "PayloadEmpty", {}
        if len(body) > MAX_PAYLOAD_BYTES:
            return 413, "PayloadTooLarge", {}
        try:
            payload = json.loads(body)
        except ValueError:
            return 400, "BadPayload", {}
        if not isinstance(payload, dict) or not isinstance(payload.get("aps"), dict):
            return 400, "BadPayload", {}
        record["payload"] = payload
        if token in self.state.apns_unregistered:
            return 410, "Unregistered", {"timestamp": self.state.apns_unregistered[token]}
        return 200, "", {}

    def _check_provider_token(self, headers, record) -> str:
        """Apple's checks of the provider token; the reason of the refusal, '' when accepted."""
        authorization = headers.get("authorization", [""])[0]
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return "MissingProviderToken"
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            return "InvalidProviderToken"
        record["jwt_header"] = header
        if header.get("alg") != "ES256" or header.get("kid") != self.account.key_id:
            return "InvalidProviderToken"
        try:
            claims = jwt.decode(token, self.account.public_key, algorithms=["ES256"],
                                options={"require": ["iss", "iat"], "verify_iat": False, "verify_exp": False})
        except jwt.PyJWTError:
            return "InvalidProviderToken"
        record["jwt_claims"] = claims
        if claims.get("iss") != self.account.team_id or not isinstance(claims.get("iat"), int):
            return "InvalidProviderToken"
        age = time.time() - claims["iat"]
        if age > PROVIDER_TOKEN_MAX_AGE_S:
            return "ExpiredProviderToken"
        if age < -CLOCK_SKEW_S:
            return "InvalidProviderToken"
        return ""


def _default_reason(status: int) -> str:
    return {
        400: "BadDeviceToken", 403: "Forbidden", 405: "MethodNotAllowed", 410: "Unregistered",
        413: "PayloadTooLarge", 429: "TooManyRequests", 500: "InternalServerError", 503: "ServiceUnavailable",
    }.get(status, "InternalServerError" if status >= 500 else "BadRequest")
