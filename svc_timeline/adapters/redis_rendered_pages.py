"""Readers' rendered first home pages in Redis (ports.RenderedHomePages).

Layout, per reader (the `{<reader>}` hash tag keeps a reader's keys in one slot of a Redis Cluster):
  <prefix>:page:{<reader>}:version   the reader's random token, replaced by `forget`; none reads as "0".
                                     Lives twice the pages' lifetime, so it can only expire once every
                                     page stored under an earlier token did.
  <prefix>:page:{<reader>}:<size>    the page of that size: `<as of>|<fingerprint>|<tweets>`, the
                                     tweets as a tweetmesh.tweet.v1.BatchGetTweetsResponse (the message
                                     they were hydrated from). Expires `max_age_s` after it was stored.
and per subject, shared by every reader:
  <prefix>:changed:t:<tweet id>      a random token, replaced whenever the tweet changes for everyone
  <prefix>:changed:u:<user id>       (counts, deleted) or the user's profile does; none reads as "0";
                                     lives twice the pages' lifetime, like a reader's version.
A page's "as of" is the reader's version and a digest of its subjects' tokens, both read by the
lookup before the page was rendered. It is served only while both are unchanged (the rule of
mesh/redis_versioned.py: a page rendered just before a change lands where nobody looks) and only for
the entries it was rendered from (the reader compares fingerprints). A lookup is one MGET of the
reader's keys and the subjects' (in a Redis Cluster that MGET spans slots: split it by slot there).

Measured on the bench's home reads, a hit replaces one call to svc_tweet (which calls svc_graph for
the authors) and one to svc_graph (relationships): ~10 ms of the mesh's CPU per read (a miss
cost 15.5 ms, a hit ~5 ms).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
from collections.abc import Sequence

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from mesh import context
from mesh.deps import REDIS_TIMEOUT_S
from mesh.errors import Unavailable
from svc_timeline.adapters.tweet_client import hydrated
from svc_timeline.domain import PageSubjects
from svc_timeline.ports import RenderedPage, RenderedPageLookup
from tweetmesh.tweet.v1 import tweet_service_pb2

log = logging.getLogger("svc_timeline.rendered_pages")

_NO_VERSION = b"0"  # a reader or subject that did not change since their token expired
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

    def _changed_keys(self, tweet_ids: Sequence[int], user_ids: Sequence[int]) -> list[str]:
        return [*(f"{self._prefix}:changed:t:{t}" for t in tweet_ids), *(f"{self._prefix}:changed:u:{u}" for u in user_ids)]

    def _timeout(self) -> asyncio.Timeout:
        return asyncio.timeout(context.remaining(REDIS_TIMEOUT_S))

    async def lookup(self, reader_id: int, page_size: int, subjects: PageSubjects) -> RenderedPageLookup:
        if not self._max_age_s:
            return RenderedPageLookup(None, None)
        try:
            async with self._timeout():
                version, raw, *tokens = await self._redis.mget(
                    self._version_key(reader_id), self._page_key(reader_id, page_size),
                    *self._changed_keys(subjects.tweet_ids, subjects.user_ids),
                )
        except (RedisError, OSError, TimeoutError) as exc:
            log.warning("rendered pages unreadable, rendering afresh: %r", exc)
            return RenderedPageLookup(None, None)
        # the subjects are named in the same order for the same entries (domain.page_subjects)
        digest = hashlib.blake2b(b",".join(token or _NO_VERSION for token in tokens), digest_size=8).hexdigest()
        as_of = f"{(version or _NO_VERSION).decode()}:{digest}"
        if raw is None:
            return RenderedPageLookup(None, as_of)
        stored_as_of, fingerprint, tweets = raw.split(_SEPARATOR, 2)
        if stored_as_of.decode() != as_of:
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
        await self._replace_tokens([self._version_key(r) for r in reader_ids], "rendered pages not forgotten")

    async def subjects_changed(self, tweet_ids: Sequence[int], user_ids: Sequence[int]) -> None:
        await self._replace_tokens(self._changed_keys(tweet_ids, user_ids), "rendered pages not marked stale")

    async def _replace_tokens(self, keys: Sequence[str], failure: str) -> None:
        """New random tokens under `keys` (readers' versions, subjects' change tokens): every page
        stored under the old ones is unreachable. Raises Unavailable so the event is retried."""
        if not self._max_age_s or not keys:
            return
        try:
            async with self._timeout():
                pipe = self._redis.pipeline(transaction=False)
                for key in keys:
                    pipe.set(key, secrets.token_hex(8), ex=2 * self._max_age_s)
                await pipe.execute()
        except (RedisError, OSError, TimeoutError) as exc:
            raise Unavailable(f"{failure}: {exc!r}", reason="TIMELINE_CACHE_UNAVAILABLE") from exc
