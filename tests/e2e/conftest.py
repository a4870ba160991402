"""What e2e tests need to act as a client: HTTP calls through the gateway and access tokens."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import uuid

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from deploy.secrets import jwt_key_files, public_jwk
from mesh.config import Stack
from tests.conftest import require_listening


@pytest.fixture(scope="session")
def gateway(stack: Stack) -> str:
    require_listening(stack.host, stack.envoy_port, "Envoy")
    return stack.envoy_url


def http(method: str, url: str, body: dict | None = None, headers: dict | None = None):
    """(status, headers, parsed JSON or raw text) of one request; error statuses are answers too."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status, response_headers, raw = response.status, response.headers, response.read()
    except urllib.error.HTTPError as exc:
        status, response_headers, raw = exc.code, exc.headers, exc.read()
    try:
        return status, response_headers, json.loads(raw) if raw else None
    except json.JSONDecodeError:
        return status, response_headers, raw.decode(errors="replace")


def mint_token(stack: Stack, user_id: str, *, ttl_s: int = 300, key: ec.EllipticCurvePrivateKey | None = None,
               audience: str = "tweetmesh-api") -> str:
    """An access token as svc_graph issues it, signed with the stack's key unless `key` is given
    (a foreign key: what a forger would have)."""
    if key is None:
        from cryptography.hazmat.primitives import serialization

        key = serialization.load_pem_private_key(jwt_key_files(stack.var_dir).private_key.read_bytes(), password=None)
    now = int(time.time())
    claims = {"iss": "tweetmesh", "aud": audience, "sub": user_id, "iat": now, "exp": now + ttl_s, "jti": uuid.uuid4().hex}
    return jwt.encode(claims, key, algorithm="ES256", headers={"kid": public_jwk(key)["kid"]})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


PASSWORD = "correct horse battery"


def unique_handle(prefix: str = "u") -> str:
    return f"{prefix}{uuid.uuid4().hex[:12]}"


def sign_up(gateway: str, handle: str | None = None, password: str = PASSWORD) -> tuple[str, str]:
    handle = handle or unique_handle()
    code, _, body = http("POST", f"{gateway}/v1/users", {"handle": handle, "password": password, "displayName": handle.title()})
    assert code == 200, body
    return handle, body["userId"]


def log_in(gateway: str, handle: str, password: str = PASSWORD) -> dict:
    code, _, body = http("POST", f"{gateway}/v1/sessions", {"handle": handle, "password": password})
    assert code == 200, body
    return body


def account(gateway: str) -> dict:
    """A new user, logged in: {"handle", "id", "auth" (the Authorization header)}."""
    handle, user_id = sign_up(gateway)
    return {"handle": handle, "id": user_id, "auth": bearer(log_in(gateway, handle)["accessToken"])}


def follow(gateway: str, follower: dict, followee: dict):
    return http("POST", f"{gateway}/v1/follow",
                {"followingUserId": followee["id"], "followerUserId": follower["id"]}, headers=follower["auth"])


def wait_until(condition, within_s: float) -> float:
    """Seconds until `condition()` held; fails after `within_s` (plus one last look)."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > within_s:
            assert condition(), f"not within {within_s}s"
            break
        time.sleep(0.02)
    return time.monotonic() - started
