"""Access tokens for the benchmarks: minted with the stack's signing key, as svc_graph issues them.

A benchmark acts as thousands of users; logging each one in would measure argon2, not the mesh.
The tokens are what svc_graph signs (ES256 JWT: `iss` tweetmesh, `aud` tweetmesh-api, `sub` the
user id, `kid` the key's RFC 7638 thumbprint), made with the private key `make up` wrote under
var/secrets/ (deploy.secrets), so Envoy verifies them like any other. The key is read once per
process, and a token is reused while more than half of its lifetime is left.
"""

from __future__ import annotations

import functools
import threading
import time
import uuid
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from deploy.secrets import jwt_key_files, public_jwk
from mesh.config import Stack

ISSUER = "tweetmesh"
AUDIENCE = "tweetmesh-api"
DEFAULT_TTL_S = 3600

_issued: dict[tuple[Path, str, int], tuple[str, float]] = {}  # (key file, user, ttl) -> (token, reuse until)
_issued_lock = threading.Lock()


@functools.lru_cache(maxsize=4)
def _signing_key(private_key_file: Path) -> tuple[ec.EllipticCurvePrivateKey, str]:
    key = serialization.load_pem_private_key(private_key_file.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{private_key_file} does not hold an EC private key")
    return key, public_jwk(key)["kid"]


def access_token(stack: Stack, user_id: int | str, ttl_s: int = DEFAULT_TTL_S) -> str:
    """A bearer token that makes the gateway treat the caller as `user_id` for `ttl_s` seconds."""
    key_file = jwt_key_files(stack.var_dir).private_key
    subject = str(user_id)
    now = time.time()
    cache_key = (key_file, subject, ttl_s)
    with _issued_lock:
        cached = _issued.get(cache_key)
    if cached is not None and cached[1] > now:
        return cached[0]
    key, kid = _signing_key(key_file)
    issued_at = int(now)
    claims = {
        "iss": ISSUER, "aud": AUDIENCE, "sub": subject,
        "iat": issued_at, "exp": issued_at + ttl_s, "jti": uuid.uuid4().hex,
    }
    token = jwt.encode(claims, key, algorithm="ES256", headers={"kid": kid})
    with _issued_lock:
        _issued[cache_key] = (token, now + ttl_s / 2)
    return token


def bearer(stack: Stack, user_id: int | str, ttl_s: int = DEFAULT_TTL_S) -> dict[str, str]:
    """The Authorization header of `access_token`."""
    return {"Authorization": f"Bearer {access_token(stack, user_id, ttl_s)}"}
