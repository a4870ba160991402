"""The FCM simulator: Google's OAuth2 token endpoint and FCM HTTP v1 `messages:send`, as an ASGI app."""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import secrets
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization

from deploy.provider_sim.asgi import Receive, Send, answer, headers_of, lifespan, read_body
from deploy.provider_sim.state import SimState

JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
SCOPES = frozenset({"https://www.googleapis.com/auth/firebase.messaging",
                    "https://www.googleapis.com/auth/cloud-platform"})
ACCESS_TOKEN_LIFETIME_S = 3599
FCM_ERROR_TYPE = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
SEND_PATH = re.compile(r"^/v1/projects/(?P<project>[^/]+)/messages:send$")
# Google's canonical status of each HTTP status, and FCM's usual errorCode for it
CANONICAL = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
             429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}
FCM_CODE = {400: "INVALID_ARGUMENT", 403: "SENDER_ID_MISMATCH", 404: "UNREGISTERED", 429: "QUOTA_EXCEEDED",
            500: "INTERNAL", 503: "UNAVAILABLE"}
MESSAGES = {
    "UNREGISTERED": "Requested entity was not found.",
    "QUOTA_EXCEEDED": "Quota exceeded for quota metric 'Send requests' and limit 'Send requests per minute'.",
    "UNAVAILABLE": "The service is currently unavailable.",
    "INTERNAL": "Internal error encountered.",
    "SENDER_ID_MISMATCH": "SenderId mismatch",
    "INVALID_ARGUMENT": "Request contains an invalid argument.",
}


@dataclass(frozen=True)
class GoogleAccount:
    """What Google knows of the service account: its key (by id), email, project, token endpoint."""

    project_id: str
    client_email: str
    key_id: str
    public_key: Any
    token_uri: str

    @classmethod
    def from_file(cls, path) -> GoogleAccount:
        account = json.loads(path.read_text())
        private = serialization.load_pem_private_key(account["private_key"].encode(), password=None)
        return cls(account["project_id"], account["client_email"], account["private_key_id"],
                   private.public_key(), account["token_uri"])


def google_error(status: int, message: str, error_code: str | None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": status, "message": message, "status": CANONICAL.get(status, "UNKNOWN")}
    if error_code:
        error["details"] = [{"@type": FCM_ERROR_TYPE, "errorCode": error_code}]
    return {"error": error}


class FcmSim:
    def __init__(self, account: GoogleAccount, state: SimState) -> None:
        self.account = account
        self.state = state
        self._message_ids = itertools.count(int(time.time() * 1000))

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        body = await read_body(receive)
        if scope["method"] == "POST" and scope["path"] == urllib.parse.urlsplit(self.account.token_uri).path:
            status, answer_body = self._token(body)
            await answer(send, status, answer_body, {"cache-control": "no-cache, no-store"})
            return
        match = SEND_PATH.match(scope["path"])
        if scope["method"] != "POST" or match is None:
            await answer(send, 404, google_error(404, f"The requested URL {scope['path']} was not found.", None))
            return
        status, answer_body, headers = await self._send(match["project"], headers_of(scope), body)
        await answer(send, status, answer_body, headers)

    # --- OAuth2 -----------------------------------------------------------------------------

    def _token(self, raw: bytes) -> tuple[int, dict[str, Any]]:
        form = dict(urllib.parse.parse_qsl(raw.decode(errors="replace")))
        record: dict[str, Any] = {"time": time.time(), "grant_type": form.get("grant_type")}
        status, body = self._grant(form, record)
        record.update(status=status, error=body.get("error"))
        self.state.fcm_token_requests.append(record)
        return status, body

    def _grant(self, form: dict[str, str], record: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        def refuse(error: str, description: str) -> tuple[int, dict[str, Any]]:
            return 400, {"error": error, "error_description": description}

        if form.get("grant_type") != JWT_BEARER_GRANT:
            return refuse("unsupported_grant_type", f"Invalid grant_type: {form.get('grant_type', '')}")
        assertion = form.get("assertion", "")
        try:
            header = jwt.get_unverified_header(assertion)
        except jwt.PyJWTError:
            return refuse("invalid_grant", "Invalid JWT Signature.")
        if header.get("alg") != "RS256" or header.get("kid") not in (None, self.account.key_id):
            return refuse("invalid_grant", "Invalid JWT Signature.")
        try:
            claims = jwt.decode(assertion, self.account.public_key, algorithms=["RS256"],
                                audience=self.account.token_uri, options={"require": ["iss", "aud", "iat", "exp"]},
                                leeway=60)
        except jwt.ExpiredSignatureError:
            return refuse("invalid_grant", "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.")
        except jwt.InvalidAudienceError:
            return refuse("invalid_grant", "Invalid JWT: Failed audience check.")
        except jwt.PyJWTError:
            return refuse("invalid_grant", "Invalid JWT Signature.")
        record["claims"] = claims
        if claims["iss"] != self.account.client_email:
            return refuse("invalid_grant", "Invalid grant: account not found")
        now = time.time()
        if claims["exp"] - claims["iat"] > 3600 or claims["iat"] > now + 60:
            return refuse("invalid_grant", "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.")
        if not SCOPES & set(str(claims.get("scope", "")).split()):
            return refuse("invalid_scope", "Invalid OAuth scope or ID token audience provided.")
        token = "ya29.sim-" + secrets.token_urlsafe(32)
        self.state.fcm_access_tokens[token] = now + ACCESS_TOKEN_LIFETIME_S
        return 200, {"access_token": token, "expires_in": ACCESS_TOKEN_LIFETIME_S, "token_type": "Bearer"}

    # --- messages:send -----------------------------------------------------------------------

    async def _send(self, project: str, headers: dict[str, list[str]], raw: bytes):
        record: dict[str, Any] = {"time": time.time(), "project": project}
        status, body, extra = await self._decide(project, headers, raw, record)
        record.update(status=status, error_code=_error_code(body))
        self.state.fcm_requests.append(record)
        response_headers = {}
        if extra.get("retry_after") is not None:
            response_headers["retry-after"] = str(extra["retry_after"])
        return status, body, response_headers

    async def _decide(self, project: str, headers, raw: bytes, record) -> tuple[int, dict[str, Any], dict[str, Any]]:
        try:  # recorded as asked, even when the request is then refused
            record["token"] = json.loads(raw)["message"]["token"]
        except (ValueError, KeyError, TypeError):
            pass
        scheme, _, token = headers.get("authorization", [""])[0].partition(" ")
        expires = self.state.fcm_access_tokens.get(token) if scheme.lower() == "bearer" else None
        if expires is None or expires < time.time() or token in self.state.fcm_revoked:
            return 401, google_error(401, "Request had invalid authentication credentials. Expected OAuth 2 "
                                     "access token, login cookie or other valid authentication credential.", None), {}
        if project != self.account.project_id:
            return 403, google_error(403, f"Permission 'cloudmessaging.messages.create' denied on resource "
                                     f"'//cloudresourcemanager.googleapis.com/projects/{project}' (or it may not exist).",
                                     None), {}
        try:
            body = json.loads(raw)
            message = body["message"]
            assert isinstance(message, dict)
        except (ValueError, KeyError, TypeError, AssertionError):
            return 400, google_error(400, "Invalid JSON payload received. Unknown name or missing \"message\".",
                                     "INVALID_ARGUMENT"), {}
        target = message.get("token")
        record.update(token=target, message=message)
        if not isinstance(target, str) or not target:
            if not (message.get("topic") or message.get("condition")):
                return 400, google_error(400, "Recipient of the message is not set.", "INVALID_ARGUMENT"), {}
            target = ""
        data = message.get("data", {})
        if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
            return 400, google_error(400, "Invalid value at 'message.data': values must be strings.",
                                     "INVALID_ARGUMENT"), {}

        scripted = self.state.fcm_scripts.next(target)
        if scripted is not None:
            record["scripted"] = scripted
            if scripted.get("delay_s"):
                await asyncio.sleep(float(scripted["delay_s"]))
            if "status" in scripted:
                status = int(scripted["status"])
                code = scripted.get("error_code", FCM_CODE.get(status))
                text = scripted.get("message") or MESSAGES.get(code or "", "Error.")
                return status, google_error(status, text, code), scripted
        if target in self.state.fcm_unregistered:
            return 404, google_error(404, MESSAGES["UNREGISTERED"], "UNREGISTERED"), {}
        if any(c.isspace() for c in target) or len(target) < 8:
            return 400, google_error(400, "The registration token is not a valid FCM registration token",
                                     "INVALID_ARGUMENT"), {}
        name = f"projects/{project}/messages/{next(self._message_ids)}"
        record["name"] = name
        return 200, {"name": name}, {}


def _error_code(body: dict[str, Any]) -> str | None:
    for detail in body.get("error", {}).get("details", []) if isinstance(body.get("error"), dict) else []:
        return detail.get("errorCode")
    return None
