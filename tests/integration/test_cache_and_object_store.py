"""Redis and the S3-compatible object store, opened the way the services open them."""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.request
import uuid

import pytest

from mesh.deps import Dependencies
from tests.conftest import require_listening


@pytest.fixture
async def deps(stack):
    require_listening(stack.host, stack.redis_port, "Redis")
    require_listening(stack.host, stack.s3_port, "the object store")
    opened = await Dependencies.open(stack, name="integration-test", redis=True, s3=True)
    yield opened
    await opened.close()


async def test_redis_round_trip_with_expiry(deps):
    key = f"it:{uuid.uuid4().hex}"
    await deps.redis.set(key, b"cached", ex=30)
    assert await deps.redis.get(key) == b"cached"
    assert 0 < await deps.redis.ttl(key) <= 30
    await deps.redis.delete(key)
    assert await deps.redis.get(key) is None


async def test_presigned_upload_then_download(stack, deps):
    key = f"it/{uuid.uuid4().hex}.png"
    body = b"\x89PNG\r\n\x1a\n" + b"0" * 1024
    put_url = deps.s3.generate_presigned_url(
        "put_object", Params={"Bucket": stack.s3_bucket, "Key": key, "ContentType": "image/png"}, ExpiresIn=60
    )

    def upload():
        request = urllib.request.Request(put_url, data=body, method="PUT", headers={"Content-Type": "image/png"})
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status

    assert await asyncio.to_thread(upload) == 200
    head = await asyncio.to_thread(deps.s3.head_object, Bucket=stack.s3_bucket, Key=key)
    assert head["ContentLength"] == len(body) and head["ContentType"] == "image/png"
    get_url = deps.s3.generate_presigned_url("get_object", Params={"Bucket": stack.s3_bucket, "Key": key}, ExpiresIn=60)

    def download():
        with urllib.request.urlopen(get_url, timeout=10) as response:
            return response.read()

    assert await asyncio.to_thread(download) == body
    await asyncio.to_thread(deps.s3.delete_object, Bucket=stack.s3_bucket, Key=key)


async def test_a_tampered_presigned_url_is_refused(stack, deps):
    put_url = deps.s3.generate_presigned_url(
        "put_object", Params={"Bucket": stack.s3_bucket, "Key": "it/tamper.bin"}, ExpiresIn=60
    )
    tampered = put_url.replace("it/tamper.bin", "it/other.bin")

    def upload():
        request = urllib.request.Request(tampered, data=b"x", method="PUT")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status
        except urllib.error.HTTPError as exc:
            return exc.code

    assert await asyncio.to_thread(upload) == 403
