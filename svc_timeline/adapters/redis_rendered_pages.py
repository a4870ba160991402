"""Readers' rendered first home pages in Redis (ports.RenderedHomePages).

Layout, per reader (the `{<reader>}` hash tag keeps a reader's keys in one slot of a Redis Cluster,
so the lookup is one MGET there too):
  <prefix>:page:{<reader>}:version   the reader's random token, replaced by `forget`; none reads as "0".
                                     Lives twice the pages' lifetime, so it can only expire once every
                                     page stored under an earlier token did.
  <prefix>:page:{<reader>}:<size>    the page of that size: `<version>|<fingerprint>|<tweets>`, the
                                     tweets as a tweetmesh.tweet.v1.BatchGetTweetsResponse (the message
                                     they were hydrated from). Expires `max_age_s` after it was stored:
                                     that lifetime is the bound on how stale others' changes may be.
A page is served only under the version it was stored with (the rule of mesh/redis_versioned.py: a
page rendered just before a change lands where nobody looks) and only for the entries it was
rendered from (the reader compares fingerprints).

Measured on the bench's home reads, a hit replaces one call to svc_tweet (which calls svc_graph for
the authors) and one to svc_graph (relationships): ~14 ms of the mesh's CPU per read.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Sequence

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from mesh import context
from mesh.deps import REDIS_TIMEOUT_S
from mesh.errors import Unavailable
from svc_timeline.adapters.tweet_client import hydrated
from svc_timeline.ports import RenderedPage, RenderedPageLookup
from tweetmesh.tweet.v1 import tweet_service_pb2

log = logging.getLogger("svc_timeline.rendered_pages")

_NO_VERSION = b"0"  # a reader whose state did not change since their version expired
_SEPARATOR = b"|"


class RedisRenderedPages:
    def __init__(self, redis: aioredis.Redis, *, max_age_s: int, prefix: str = "tl"):
        if max_age_s < 0:
            raise ValueError(f"max_age_s must be 0 (no pages kept) or more, got {max_age_s}")
        self._redis = redis
        self._max_age_s = max_age_s
        self._prefix = prefix

    def _version_key(self, reader_id: int) -> str:
        return f"{self._prefix}:page:{{{reader_id}}}:version"

    def _page_key(self, reader_id: int, page_size: int) -> str:
        return f"{self._prefix}:page:{{{reader_id}}}:{page_size}"

    def _timeout(self) -> asyncio.Timeout:
        return asyncio.timeout(context.remaining(REDIS_TIMEOUT_S))

    async def lookup(self, reader_id: int, page_size: int) -> RenderedPageLookup:
        if not self._max_age_s:
            return RenderedPageLookup(None, None)
        try:
            async with self._timeout():
                version, raw = await self._redis.mget(self._version_key(reader_id), self._page_key(reader_id, page_size))
        except (RedisError, OSError, TimeoutError) as exc:
            log.warning("rendered pages unreadable, rendering afresh: %r", exc)
            return RenderedPageLookup(None, None)
        version = version or _NO_VERSION
        as_of = version.decode()
        if raw is None:
            return RenderedPageLookup(None, as_of)
        stored_version, fingerprint, tweets = raw.split(_SEPARATOR, 2)
        if stored_version != version:
            return RenderedPageLookup(None, as_of)
        response = tweet_service_pb2.BatchGetTweetsResponse.FromString(tweets)
        page = RenderedPage(fingerprint.decode(), [hydrated(tweet) for tweet in response.tweets])
        return RenderedPageLookup(page, as_of)

    async def store(self, reader_id: int, page_size: int, page: RenderedPage, as_of: str | None) -> None:
        if not self._max_age_s or as_of is None:
            return  # pages off, or the lookup could not read the cache: no telling what a page is as of
        tweets = tweet_service_pb2.BatchGetTweetsResponse(tweets=[tweet.body for tweet in page.tweets])
        value = _SEPARATOR.join((as_of.encode(), page.fingerprint.encode(), tweets.SerializeToString()))
        try:
            async with self._timeout():
                await self._redis.set(self._page_key(reader_id, page_size), value, ex=self._max_age_s)
        except (RedisError, OSError, TimeoutError) as exc:
            log.warning("rendered page not kept: %r", exc)

    async def forget(self, reader_ids: Sequence[int]) -> None:
        if not self._max_age_s or not reader_ids:
            return
        try:
            async with self._timeout():
                pipe = self._redis.pipeline(transaction=False)
                for reader_id in reader_ids:
                    pipe.set(self._version_key(reader_id), secrets.token_hex(8), ex=2 * self._max_age_s)
                await pipe.execute()
        except (RedisError, OSError, TimeoutError) as exc:
            raise Unavailable(f"rendered pages not forgotten: {exc!r}", reason="TIMELINE_CACHE_UNAVAILABLE") from exc
