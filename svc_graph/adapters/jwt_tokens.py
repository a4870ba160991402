"""Access tokens: ES256-signed JWTs that Envoy verifies with the public key set (JWKS).

Claims: iss "tweetmesh", aud "tweetmesh-api", sub the user id, iat, exp, jti (unique per token),
and sid (the session, for audit). The header's kid is the RFC 7638 thumbprint of the public key,
the same id deploy/secrets.py writes into the JWKS, so both sides name the key without sharing
any configuration but the key itself.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from datetime import datetime, timedelta
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from svc_graph.domain import AccessToken

ISSUER = "tweetmesh"
AUDIENCE = "tweetmesh-api"
ALGORITHM = "ES256"


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def key_id(public_key: ec.EllipticCurvePublicKey) -> str:
    """RFC 7638 thumbprint: SHA-256 of the required JWK members, sorted, without whitespace."""
    numbers = public_key.public_numbers()
    jwk = {
        "crv": "P-256",
        "kty": "EC",
        "x": _b64url(numbers.x.to_bytes(32, "big")),
        "y": _b64url(numbers.y.to_bytes(32, "big")),
    }
    canonical = json.dumps(jwk, separators=(",", ":"), sort_keys=True).encode()
    return _b64url(hashlib.sha256(canonical).digest())


class JwtTokenIssuer:
    def __init__(self, private_key: ec.EllipticCurvePrivateKey, ttl: timedelta):
        if not isinstance(private_key, ec.EllipticCurvePrivateKey) or not isinstance(private_key.curve, ec.SECP256R1):
            raise ValueError("ES256 needs an EC P-256 private key")
        self._private_key = private_key
        self._ttl = ttl
        self.key_id = key_id(private_key.public_key())

    @classmethod
    def from_pem_file(cls, path: Path, ttl: timedelta) -> "JwtTokenIssuer":
        """Read once at start-up; a missing or unreadable key stops the service with the reason."""
        try:
            pem = path.read_bytes()
        except OSError as exc:
            raise RuntimeError(
                f"cannot read the token signing key {path} ({exc.strerror}); `make up` creates it, "
                "or point TM_JWT_PRIVATE_KEY_FILE at a PEM EC P-256 private key"
            ) from None
        key = serialization.load_pem_private_key(pem, password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise RuntimeError(f"{path} is not an EC private key; ES256 needs P-256")
        return cls(key, ttl)

    def issue(self, user_id: int, session_id: int, now: datetime) -> AccessToken:
        # ECDSA signing takes tens of microseconds: fine on the event loop
        expire_time = now + self._ttl
        claims = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": str(user_id),
            "iat": int(now.timestamp()),
            "exp": int(expire_time.timestamp()),
            "jti": secrets.token_urlsafe(16),
            "sid": str(session_id),
        }
        token = jwt.encode(claims, self._private_key, algorithm=ALGORITHM, headers={"kid": self.key_id})
        return AccessToken(token=token, expire_time=datetime.fromtimestamp(claims["exp"], tz=now.tzinfo))
