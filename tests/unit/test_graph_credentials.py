"""The credential adapters of svc_graph: argon2id hashing off the event loop, ES256 access tokens."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta, timezone

import argon2
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from deploy.secrets import ensure_jwt_keys, public_jwk
from svc_graph.adapters.argon2_hasher import Argon2PasswordHasher
from svc_graph.adapters.jwt_tokens import JwtTokenIssuer

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=timezone.utc)


async def test_passwords_are_hashed_with_argon2id_and_verified():
    hasher = Argon2PasswordHasher()
    password_hash = await hasher.hash("correct horse battery")
    assert password_hash.startswith("$argon2id$")
    assert await hasher.verify(password_hash, "correct horse battery")
    assert not await hasher.verify(password_hash, "correct horse battery!")
    assert not await hasher.verify("not a hash", "correct horse battery")


async def test_hashing_does_not_block_the_event_loop():
    # a deliberately slow hash (~0.3 s of CPU); the loop must keep ticking meanwhile
    slow = Argon2PasswordHasher(argon2.PasswordHasher(time_cost=12, memory_cost=64 * 1024, parallelism=1))
    ticks: list[float] = []

    async def ticker():
        while True:
            ticks.append(time.perf_counter())
            await asyncio.sleep(0.01)

    ticking = asyncio.create_task(ticker())
    started = time.perf_counter()
    await slow.hash("correct horse battery")
    took = time.perf_counter() - started
    ticking.cancel()

    assert took > 0.1, "the hash was too fast to show anything"
    longest_gap = max(b - a for a, b in zip(ticks, ticks[1:]))
    assert longest_gap < 0.1, f"the event loop stalled for {longest_gap:.3f}s"


@pytest.fixture
def key_files(tmp_path):
    return ensure_jwt_keys(tmp_path)  # the same key files `make up` creates


def test_access_tokens_carry_the_claims_envoy_checks(key_files):
    issuer = JwtTokenIssuer.from_pem_file(key_files.private_key, ttl=timedelta(seconds=900))
    now = datetime.now(timezone.utc).replace(microsecond=0)

    access = issuer.issue(user_id=12345, session_id=678, now=now)

    public_key = serialization.load_pem_private_key(key_files.private_key.read_bytes(), None).public_key()
    claims = jwt.decode(access.token, public_key, algorithms=["ES256"], audience="tweetmesh-api", issuer="tweetmesh")
    assert claims["sub"] == "12345" and claims["sid"] == "678"
    assert claims["exp"] - claims["iat"] == 900 and access.expire_time == now + timedelta(seconds=900)
    assert len(claims["jti"]) >= 16
    header = jwt.get_unverified_header(access.token)
    assert header["alg"] == "ES256"
    # the kid is the one the JWKS of deploy/secrets.py publishes for the same key
    private_key = serialization.load_pem_private_key(key_files.private_key.read_bytes(), None)
    assert header["kid"] == public_jwk(private_key)["kid"]


def test_every_token_has_its_own_id(key_files):
    issuer = JwtTokenIssuer.from_pem_file(key_files.private_key, ttl=timedelta(minutes=15))
    first, second = issuer.issue(1, 2, NOW), issuer.issue(1, 2, NOW)
    jti = [jwt.decode(t.token, options={"verify_signature": False})["jti"] for t in (first, second)]
    assert jti[0] != jti[1]


def test_a_missing_or_wrong_key_stops_the_start_with_the_reason(tmp_path):
    with pytest.raises(RuntimeError, match=r"cannot read the token signing key .*`make up` creates it"):
        JwtTokenIssuer.from_pem_file(tmp_path / "absent.pem", ttl=timedelta(minutes=15))
    with pytest.raises(ValueError, match="P-256"):
        JwtTokenIssuer(ec.generate_private_key(ec.SECP384R1()), ttl=timedelta(minutes=15))
