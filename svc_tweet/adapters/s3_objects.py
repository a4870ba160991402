"""The S3-compatible bucket of media (MinIO locally), through boto3.

boto3 blocks: stat and delete run in a worker thread, awaited for at most the caller's remaining
time (mesh.context.remaining, capped by TM_S3_TIMEOUT_S); boto3's own connect/read timeouts (the
same cap, mesh/deps.py) end the thread's request too. Presigning is local HMAC computation, no
I/O, so it runs inline.
"""

from __future__ import annotations

import asyncio
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from mesh import context
from mesh.deps import S3_TIMEOUT_S
from mesh.errors import Unavailable
from svc_tweet.domain import PresignedUpload, StoredObject

_MISSING = ("404", "NoSuchKey", "NotFound")


class S3ObjectStore:
    def __init__(self, client: Any, bucket: str, *, timeout_s: float = S3_TIMEOUT_S):
        self._client = client
        self._bucket = bucket
        self._timeout_s = timeout_s

    def upload_url(self, key: str, content_type: str, size_bytes: int, expires_in_s: int) -> PresignedUpload:
        # Content-Type and Content-Length are signed: the store refuses a file of another type or
        # size (SignatureDoesNotMatch), so what CompleteMediaUpload finds is normally what was declared
        url = self._client.generate_presigned_url(
            "put_object",
            Params={"Bucket": self._bucket, "Key": key, "ContentType": content_type, "ContentLength": size_bytes},
            ExpiresIn=expires_in_s,
        )
        return PresignedUpload(url=url, method="PUT",
                               headers={"Content-Type": content_type, "Content-Length": str(size_bytes)})

    def download_url(self, key: str, expires_in_s: int) -> str:
        return self._client.generate_presigned_url(
            "get_object", Params={"Bucket": self._bucket, "Key": key}, ExpiresIn=expires_in_s
        )

    async def stat(self, key: str) -> StoredObject | None:
        try:
            head = await self._call(self._client.head_object, Bucket=self._bucket, Key=key)
        except ClientError as exc:
            if str(exc.response.get("Error", {}).get("Code")) in _MISSING:
                return None
            raise Unavailable(f"the media store refused to describe the upload: {exc}", reason="OBJECT_STORE_ERROR") from exc
        return StoredObject(size_bytes=int(head["ContentLength"]), content_type=head.get("ContentType", ""))

    async def delete(self, key: str) -> None:
        await self._call(self._client.delete_object, Bucket=self._bucket, Key=key)

    async def _call(self, operation, **parameters) -> Any:
        try:
            return await asyncio.wait_for(asyncio.to_thread(operation, **parameters), context.remaining(self._timeout_s))
        except (TimeoutError, BotoCoreError) as exc:
            # BotoCoreError: connection refused or reset, read timeout; ClientError is an answer
            raise Unavailable(f"the media store did not answer in time ({type(exc).__name__}); try again",
                              reason="OBJECT_STORE_UNAVAILABLE") from exc
