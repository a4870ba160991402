"""Secrets the local stack makes for itself at set-up, never committed: the token signing key.

svc_graph signs access tokens (ES256) with the private key; Envoy verifies them with the public key
set (JWKS) and never sees the private key. Both files live under var/secrets/ (gitignored), the
private key readable by its owner only. Made once; a second `make up` keeps them, so tokens stay
valid across restarts. Rotating: delete the folder and `make up` (every session then logs in again).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec


@dataclass(frozen=True)
class JwtKeyFiles:
    private_key: Path  # PEM, PKCS#8, mode 0600
    jwks: Path  # {"keys": [public EC P-256 JWK with kid]}


def jwt_key_files(var_dir: Path) -> JwtKeyFiles:
    folder = var_dir / "secrets"
    return JwtKeyFiles(private_key=folder / "jwt_signing_key.pem", jwks=folder / "jwks.json")


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def public_jwk(private_key: ec.EllipticCurvePrivateKey) -> dict[str, str]:
    numbers = private_key.public_key().public_numbers()
    jwk = {"crv": "P-256", "kty": "EC", "x": _b64url(numbers.x.to_bytes(32, "big")), "y": _b64url(numbers.y.to_bytes(32, "big"))}
    # kid: the RFC 7638 thumbprint, so the same key always has the same id
    canonical = json.dumps(jwk, separators=(",", ":"), sort_keys=True).encode()
    return {**jwk, "kid": _b64url(hashlib.sha256(canonical).digest()), "use": "sig", "alg": "ES256"}


def ensure_jwt_keys(var_dir: Path) -> JwtKeyFiles:
    files = jwt_key_files(var_dir)
    files.private_key.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(files.private_key.parent, 0o700)
    if not files.private_key.exists():
        key = ec.generate_private_key(ec.SECP256R1())
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        # created with 0600 from the start: the key is never readable by others, not even briefly
        descriptor = os.open(files.private_key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as out:
            out.write(pem)
    key = serialization.load_pem_private_key(files.private_key.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{files.private_key} is not an EC private key")
    # always rewritten from the private key: the public half can never drift from it
    files.jwks.write_text(json.dumps({"keys": [public_jwk(key)]}, indent=2) + "\n")
    return files
