"""Secrets the local stack makes for itself at set-up, never committed: the token signing key, and
the notification providers' local credentials (see below).

svc_graph signs access tokens (ES256) with the private key; Envoy verifies them with the public key
set (JWKS) and never sees the private key. Both files live under var/secrets/ (gitignored), the
private key readable by its owner only. Made once; a second `make up` keeps them, so tokens stay
valid across restarts. Rotating: delete the folder and `make up` (every session then logs in again).
"""

from __future__ import annotations

import base64
import datetime as _dt
import hashlib
import ipaddress
import json
import os
import secrets as _random
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from mesh.config import Stack


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


# --- the notification providers' local credentials --------------------------------------------------
#
# What Apple, Google and a mail relay would hand an operator, made locally for the provider
# simulators (deploy/provider_sim) and for svc_notify's adapters, which read the same files:
#   apns_auth_key.p8          the APNs token-signing key (EC P-256, PKCS#8 PEM, as Apple's .p8), 0600
#   apns_key.json             what Apple's developer account knows of it: key id, team id, topics
#   fcm_service_account.json  a Google service-account key file (RSA 2048), token_uri -> the FCM sim, 0600
#   provider_ca.pem / .key    a local test CA (key 0600); clients trust the sims through it
#   provider_sim.pem / .key   the sims' TLS server certificate (SAN localhost, 127.0.0.1, TM_HOST)
# Keys are made once; the public files and the service account's token_uri are rewritten at every
# `make up` from the keys and the current ports, so they never drift.

@dataclass(frozen=True)
class ProviderSecretFiles:
    apns_key: Path
    apns_key_info: Path
    fcm_service_account: Path
    ca_cert: Path
    ca_key: Path
    server_cert: Path
    server_key: Path


def provider_secret_files(var_dir: Path) -> ProviderSecretFiles:
    folder = var_dir / "secrets"
    return ProviderSecretFiles(
        apns_key=folder / "apns_auth_key.p8",
        apns_key_info=folder / "apns_key.json",
        fcm_service_account=folder / "fcm_service_account.json",
        ca_cert=folder / "provider_ca.pem",
        ca_key=folder / "provider_ca.key",
        server_cert=folder / "provider_sim.pem",
        server_key=folder / "provider_sim.key",
    )


def _write_private(path: Path, data: bytes) -> None:
    """Write a secret file readable by its owner only (0600 from creation, replaced atomically)."""
    partial = path.with_name(path.name + ".partial")
    partial.unlink(missing_ok=True)
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as out:
        out.write(data)
    partial.replace(path)


def _pem_private(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def _load_or_make_key(path: Path, make):
    if not path.exists():
        _write_private(path, _pem_private(make()))
    return serialization.load_pem_private_key(path.read_bytes(), password=None)


def _ensure_ca(files: ProviderSecretFiles) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = _load_or_make_key(files.ca_key, lambda: ec.generate_private_key(ec.SECP256R1()))
    if files.ca_cert.exists():
        cert = x509.load_pem_x509_certificate(files.ca_cert.read_bytes())
        if cert.public_key() == key.public_key() and cert.not_valid_after_utc > _now() + _dt.timedelta(days=60):
            return cert, key
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tweetmesh local provider CA")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now() - _dt.timedelta(minutes=5))
        .not_valid_after(_now() + _dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                     crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    files.ca_cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files.server_cert.unlink(missing_ok=True)  # a new CA: the server certificate must be reissued
    return cert, key


def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc)


def _san_names(host: str) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        if host != "localhost":
            names.append(x509.DNSName(host))
    else:
        if str(address) != "127.0.0.1":
            names.append(x509.IPAddress(address))
    return names


def _ensure_server_cert(files: ProviderSecretFiles, ca_cert: x509.Certificate, ca_key, host: str) -> None:
    key = _load_or_make_key(files.server_key, lambda: ec.generate_private_key(ec.SECP256R1()))
    wanted = _san_names(host)
    if files.server_cert.exists():
        cert = x509.load_pem_x509_certificate(files.server_cert.read_bytes())
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        if (cert.public_key() == key.public_key() and cert.issuer == ca_cert.subject
                and all(name in san for name in wanted)
                and cert.not_valid_after_utc > _now() + _dt.timedelta(days=30)):
            return
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tweetmesh provider simulators")]))
        .issuer_name(ca_cert.subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now() - _dt.timedelta(minutes=5))
        .not_valid_after(_now() + _dt.timedelta(days=365))
        .add_extension(x509.SubjectAlternativeName(wanted), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    files.server_cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _ensure_apns_key(files: ProviderSecretFiles) -> None:
    from svc_notify.adapters.provider_settings import LOCAL_APNS_KEY_ID, LOCAL_APNS_TEAM_ID, LOCAL_APNS_TOPIC

    key = _load_or_make_key(files.apns_key, lambda: ec.generate_private_key(ec.SECP256R1()))
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{files.apns_key} is not an EC private key")
    public_pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    info = {"key_id": LOCAL_APNS_KEY_ID, "team_id": LOCAL_APNS_TEAM_ID, "topics": [LOCAL_APNS_TOPIC],
            "public_key": public_pem.decode()}
    files.apns_key_info.write_text(json.dumps(info, indent=2) + "\n")


def _ensure_fcm_service_account(files: ProviderSecretFiles, stack: Stack) -> None:
    from svc_notify.adapters.provider_settings import LOCAL_FCM_PROJECT_ID

    account = json.loads(files.fcm_service_account.read_text()) if files.fcm_service_account.exists() else {}
    if not account.get("private_key"):
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        account = {"private_key": _pem_private(key).decode(), "private_key_id": _random.token_hex(20)}
    project = LOCAL_FCM_PROJECT_ID
    email = f"firebase-adminsdk@{project}.iam.gserviceaccount.com"
    account = {
        "type": "service_account",
        "project_id": project,
        "private_key_id": account["private_key_id"],
        "private_key": account["private_key"],
        "client_email": email,
        "client_id": account.get("client_id") or str(int.from_bytes(_random.token_bytes(8), "big")),
        "auth_uri": f"{stack.fcm_sim_url}/o/oauth2/auth",
        "token_uri": f"{stack.fcm_sim_url}/token",
        "auth_provider_x509_cert_url": f"{stack.fcm_sim_url}/oauth2/v1/certs",
        "client_x509_cert_url": f"{stack.fcm_sim_url}/robot/v1/metadata/x509/{email}",
    }
    serialized = (json.dumps(account, indent=2) + "\n").encode()
    if not files.fcm_service_account.exists() or files.fcm_service_account.read_bytes() != serialized:
        _write_private(files.fcm_service_account, serialized)


def ensure_provider_secrets(stack: Stack) -> ProviderSecretFiles:
    """Make (once) and refresh (always, cheaply) the providers' local credentials; idempotent."""
    files = provider_secret_files(stack.var_dir)
    files.apns_key.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(files.apns_key.parent, 0o700)
    ca_cert, ca_key = _ensure_ca(files)
    _ensure_server_cert(files, ca_cert, ca_key, stack.host)
    _ensure_apns_key(files)
    _ensure_fcm_service_account(files, stack)
    return files
