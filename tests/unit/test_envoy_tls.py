"""TLS on the public listener: off by default, on with a certificate and key, and a config Envoy
itself accepts (`envoy --mode validate` on the rendered file)."""

from __future__ import annotations

import datetime
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from deploy import envoy_render
from deploy.secrets import ensure_jwt_keys
from mesh.config import Stack


def _self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "api.tweetmesh.test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


def _chain(config: dict) -> dict:
    (listener,) = config["static_resources"]["listeners"]
    (chain,) = listener["filter_chains"]
    return chain


def test_the_listener_is_plaintext_unless_configured(monkeypatch):
    monkeypatch.delenv(envoy_render.TLS_CERT_ENV, raising=False)
    monkeypatch.delenv(envoy_render.TLS_KEY_ENV, raising=False)
    assert "transport_socket" not in _chain(envoy_render.render(Stack()))


def test_half_a_tls_configuration_is_refused(monkeypatch, tmp_path):
    cert_file, _ = _self_signed(tmp_path)
    monkeypatch.setenv(envoy_render.TLS_CERT_ENV, str(cert_file))
    monkeypatch.delenv(envoy_render.TLS_KEY_ENV, raising=False)
    with pytest.raises(ValueError, match="both"):
        envoy_render.render(Stack())


def test_with_a_certificate_envoy_accepts_the_tls_listener(monkeypatch, tmp_path):
    cert_file, key_file = _self_signed(tmp_path)
    monkeypatch.setenv(envoy_render.TLS_CERT_ENV, str(cert_file))
    monkeypatch.setenv(envoy_render.TLS_KEY_ENV, str(key_file))
    ensure_jwt_keys(tmp_path / "var")  # the JWKS Envoy reads, without needing a stack set up
    config = envoy_render.render(Stack(var_dir=tmp_path / "var"))
    tls = _chain(config)["transport_socket"]["typed_config"]["common_tls_context"]
    assert tls["alpn_protocols"] == ["h2", "http/1.1"]
    assert tls["tls_certificates"][0]["private_key"]["filename"] == str(key_file.resolve())
    rendered = tmp_path / "envoy.yaml"
    rendered.write_text(yaml.dump(config, Dumper=envoy_render._PlainDumper, sort_keys=False))
    envoy = Path(sys.executable).parent / "envoy"
    checked = subprocess.run([str(envoy), "--mode", "validate", "-c", str(rendered)],
                             capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout[-2000:] + checked.stderr[-2000:]
