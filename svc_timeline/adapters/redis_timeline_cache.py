"""The recent part of active timelines in Redis: one sorted set per cached timeline.

Layout. `<prefix>:v2:home:<user>` and `<prefix>:v2:user:<user>` hold entries as members
`<tweet id>:<author>:<retweet_of or 0>:<retweet_of_author or 0>`, ids in base 36, the tweet id
zero-padded to 13 characters, all with score 0: the set is then ordered by member bytes, i.e. by
tweet id. Not by score: a score is a double and Snowflake ids (above 2^53 since 2024) would lose
their low bits; lexicographic ranges (ZREVRANGEBYLEX) are exact. Base 36 and at most 120 entries
keep a set in Redis' compact listpack encoding (<= 128 members of <= 64 bytes; decimal ids make a
retweet's member 76 bytes): measured with 10% retweets, 5.2 KB per cached timeline instead of
28.8 KB for 200 decimal members, so a million active users fit in ~5 GB.
Three markers sort below every entry ('!' < '0') and never show in a range read, which starts at
'[0':
  !pending   a reader is filling the timeline from the store (the key exists, so writers add to it)
  !ready     the fill finished: readers may use the entries
  !complete  the whole timeline is cached (it had at most `capacity` entries when filled, and
             nothing was trimmed since): fewer entries than asked means the timeline ends there.
Everything a cached timeline holds is contiguous from its newest entry down to its oldest one
(writes below the oldest entry of an incomplete timeline are dropped: the store has them), so a
range read that returns a full page is exactly what the store would return.

`<prefix>:v2:sources:<user>` holds a reader's merge sources (comma-separated user ids), for a minute.
`v2` is the member format: a change of format changes it, so no replica ever reads keys written in
another format (old keys just expire). v1 (decimal ids) never left development.

Active users only: writers update a timeline only if its key exists (Lua: check and write in one
step); a reader that misses fills it; a key read within `ttl_s` stays, others expire.

Failures: reads answer a miss (the store serves); writes that must not be lost raise Unavailable so
the event is retried; fills and merge-source updates are best effort.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from mesh import context
from mesh.deps import REDIS_TIMEOUT_S
from mesh.errors import Unavailable
from svc_timeline.aio import chunks
from svc_timeline.domain import MergeSources, TimelineEntry, TimelineKey
from svc_timeline.ports import CachedSlice

log = logging.getLogger("svc_timeline.redis_cache")

FORMAT_VERSION = 2  # of the member format below; part of every key
_PENDING, _READY, _COMPLETE = b"!pending", b"!ready", b"!complete"
_LOWEST_ENTRY = "[0"  # lexicographic range start that leaves the markers out
_FILL_WINDOW_S = 30  # a filler that dies leaves its !pending key behind at most this long
_KEYS_PER_PIPELINE = 1000

_READ = """
if not redis.call('ZSCORE', KEYS[1], '!ready') then return false end
redis.call('EXPIRE', KEYS[1], ARGV[3])
local complete = redis.call('ZSCORE', KEYS[1], '!complete') and 1 or 0
return {complete, redis.call('ZREVRANGEBYLEX', KEYS[1], ARGV[1], '[0', 'LIMIT', 0, tonumber(ARGV[2]))}
"""

# Shared by add and fill: keep at most ARGV[1] entries; trimming ends completeness.
_TRIM = """
local function trim(key, capacity)
  local excess = redis.call('ZLEXCOUNT', key, '[0', '+') - capacity
  if excess > 0 then
    local oldest = redis.call('ZRANGEBYLEX', key, '[0', '+', 'LIMIT', 0, excess)
    redis.call('ZREM', key, unpack(oldest))
    redis.call('ZREM', key, '!complete')
  end
end
"""

# KEYS[1]; ARGV[1] capacity, ARGV[2..] members. Only into an existing (cached or filling) key.
# A ready, incomplete timeline drops entries older than its oldest one (it does not cover them);
# one being filled takes everything, and the fill then cuts below the oldest entry it read. The
# cut is a ZREMRANGEBYLEX (byte order, like the set) rather than a comparison in Lua (strcoll:
# locale collation).
_ADD = _TRIM + """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local floor = nil
if redis.call('ZSCORE', KEYS[1], '!ready') and not redis.call('ZSCORE', KEYS[1], '!complete') then
  floor = redis.call('ZRANGEBYLEX', KEYS[1], '[0', '+', 'LIMIT', 0, 1)[1]
  if not floor then
    -- removals emptied it: it covers nothing any more; the next read fills it afresh
    redis.call('DEL', KEYS[1])
    return 0
  end
end
for i = 2, #ARGV do redis.call('ZADD', KEYS[1], 0, ARGV[i]) end
if floor then redis.call('ZREMRANGEBYLEX', KEYS[1], '[0', '(' .. floor) end
trim(KEYS[1], tonumber(ARGV[1]))
return 1
"""

# KEYS[1]; ARGV[1] capacity, ARGV[2] ttl, ARGV[3] complete (1/0), ARGV[4..] members, newest first.
# Skipped when the key is gone: it was invalidated while the filler read the store, so what it
# read may already be stale.
_FILL = _TRIM + """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
for i = 4, #ARGV do redis.call('ZADD', KEYS[1], 0, ARGV[i]) end
if ARGV[3] == '1' then
  redis.call('ZADD', KEYS[1], 0, '!complete')
elseif #ARGV >= 4 then
  -- entries added during the fill below the oldest one read are outside what the cache covers
  redis.call('ZREMRANGEBYLEX', KEYS[1], '[0', '(' .. ARGV[#ARGV])
end
redis.call('ZADD', KEYS[1], 0, '!ready')
redis.call('ZREM', KEYS[1], '!pending')
trim(KEYS[1], tonumber(ARGV[1]))
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1
"""


_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"
_TWEET_ID_WIDTH = 13  # 2**63 - 1 is 13 base-36 digits: fixed width makes byte order = id order


def _base36(value: int) -> str:
    digits = ""
    while value:
        value, digit = divmod(value, 36)
        digits = _DIGITS[digit] + digits
    return digits or "0"


def _tweet_key(tweet_id: int) -> str:
    return _base36(tweet_id).rjust(_TWEET_ID_WIDTH, "0")


def encode_entry(entry: TimelineEntry) -> str:
    return ":".join((
        _tweet_key(entry.tweet_id),
        _base36(entry.author_id),
        _base36(entry.retweet_of_tweet_id or 0),
        _base36(entry.retweet_of_author_id or 0),
    ))


def decode_entry(member: bytes | str) -> TimelineEntry:
    text = member.decode() if isinstance(member, bytes) else member
    tweet_id, author_id, retweet_of, retweet_of_author = (int(part, 36) for part in text.split(":"))
    return TimelineEntry(tweet_id, author_id, retweet_of or None, retweet_of_author or None)


class RedisTimelineCache:
    def __init__(
        self,
        redis: aioredis.Redis,
        *,
        capacity: int = 120,
        ttl_s: int = 86_400,
        merge_sources_ttl_s: int = 60,
        prefix: str = "tl",
    ):
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self._redis = redis
        self._capacity = capacity
        self._ttl_s = ttl_s
        self._merge_sources_ttl_s = merge_sources_ttl_s
        self._prefix = prefix
        self._read_script = redis.register_script(_READ)
        self._add_script = redis.register_script(_ADD)
        self._fill_script = redis.register_script(_FILL)

    @property
    def capacity(self) -> int:
        return self._capacity

    def key_of(self, key: TimelineKey) -> str:
        return f"{self._prefix}:v{FORMAT_VERSION}:{key.kind.value}:{key.owner_id}"

    def sources_key_of(self, user_id: int) -> str:
        return f"{self._prefix}:v{FORMAT_VERSION}:sources:{user_id}"

    def _timeout(self) -> asyncio.Timeout:
        return asyncio.timeout(context.remaining(REDIS_TIMEOUT_S))

    # --- reads: a failure is a miss --------------------------------------------------------------

    async def read(self, keys: Sequence[TimelineKey], before: int | None, limit: int) -> dict[TimelineKey, CachedSlice]:
        if not keys:
            return {}
        upper = "+" if before is None else f"({_tweet_key(before)}"
        try:
            async with self._timeout():
                pipe = self._redis.pipeline(transaction=False)
                for key in keys:
                    await self._read_script(keys=[self.key_of(key)], args=[upper, limit, self._ttl_s], client=pipe)
                answers = await pipe.execute()
        except (RedisError, OSError, TimeoutError) as exc:
            log.warning("timeline cache unreadable, reading the store: %r", exc)
            return {}
        slices = {}
        for key, answer in zip(keys, answers):
            if answer:
                complete, members = answer
                slices[key] = CachedSlice([decode_entry(m) for m in members], complete=bool(complete))
        return slices

    async def merge_sources(self, user_id: int) -> MergeSources | None:
        try:
            async with self._timeout():
                raw = await self._redis.get(self.sources_key_of(user_id))
        except (RedisError, OSError, TimeoutError) as exc:
            log.warning("merge sources unreadable from the cache: %r", exc)
            return None
        if raw is None:
            return None
        return MergeSources(tuple(int(part) for part in raw.decode().split(",") if part))

    # --- best-effort writes --------------------------------------------------------------------

    async def begin_fill(self, keys: Sequence[TimelineKey]) -> None:
        try:
            async with self._timeout():
                pipe = self._redis.pipeline(transaction=True)
                for key in keys:
                    pipe.zadd(self.key_of(key), {_PENDING: 0})
                    pipe.expire(self.key_of(key), _FILL_WINDOW_S, nx=True)
                await pipe.execute()
        except (RedisError, OSError, TimeoutError) as exc:
            log.warning("timeline cache fill not started: %r", exc)

    async def fill(self, key: TimelineKey, entries: Sequence[TimelineEntry], complete: bool) -> None:
        members = [encode_entry(e) for e in entries[: self._capacity]]
        try:
            async with self._timeout():
                await self._fill_script(
                    keys=[self.key_of(key)], args=[self._capacity, self._ttl_s, 1 if complete else 0, *members]
                )
        except (RedisError, OSError, TimeoutError) as exc:
            log.warning("timeline cache not filled: %r", exc)

    async def store_merge_sources(self, user_id: int, sources: MergeSources) -> None:
        try:
            async with self._timeout():
                await self._redis.set(
                    self.sources_key_of(user_id), ",".join(str(u) for u in sources.user_ids), ex=self._merge_sources_ttl_s
                )
        except (RedisError, OSError, TimeoutError) as exc:
            log.warning("merge sources not cached: %r", exc)

    async def forget_merge_sources(self, user_ids: Sequence[int]) -> None:
        # best effort too: what is cached expires within merge_sources_ttl_s anyway
        try:
            async with self._timeout():
                await self._pipelined_deletes([self.sources_key_of(u) for u in user_ids])
        except (RedisError, OSError, TimeoutError) as exc:
            log.warning("merge sources not forgotten: %r", exc)

    # --- writes that must happen ---------------------------------------------------------------

    async def add_where_cached(self, keys: Sequence[TimelineKey], entries: Sequence[TimelineEntry]) -> None:
        if not keys or not entries:
            return
        members = [encode_entry(e) for e in entries]
        for batch in chunks(keys, _KEYS_PER_PIPELINE):
            try:
                async with self._timeout():
                    pipe = self._redis.pipeline(transaction=False)
                    for key in batch:
                        await self._add_script(keys=[self.key_of(key)], args=[self._capacity, *members], client=pipe)
                    await pipe.execute()
            except (RedisError, OSError, TimeoutError) as exc:
                raise Unavailable(f"timeline cache not updated: {exc!r}", reason="TIMELINE_CACHE_UNAVAILABLE") from exc

    async def remove_where_cached(self, keys: Sequence[TimelineKey], tweet_ids: Sequence[int]) -> None:
        if not keys or not tweet_ids:
            return
        for batch in chunks(keys, _KEYS_PER_PIPELINE):
            try:
                async with self._timeout():
                    pipe = self._redis.pipeline(transaction=False)
                    for key in batch:
                        for tweet_id in tweet_ids:
                            # every member of that tweet id, whatever its other fields: '[id:' .. '(id;'
                            # (';' is the byte after ':')
                            tweet_key = _tweet_key(tweet_id)
                            pipe.zremrangebylex(self.key_of(key), f"[{tweet_key}:", f"({tweet_key};")
                    await pipe.execute()
            except (RedisError, OSError, TimeoutError) as exc:
                raise Unavailable(f"timeline cache not updated: {exc!r}", reason="TIMELINE_CACHE_UNAVAILABLE") from exc

    async def invalidate(self, keys: Sequence[TimelineKey]) -> None:
        try:
            async with self._timeout():
                await self._pipelined_deletes([self.key_of(k) for k in keys])
        except (RedisError, OSError, TimeoutError) as exc:
            raise Unavailable(f"timeline cache not invalidated: {exc!r}", reason="TIMELINE_CACHE_UNAVAILABLE") from exc

    async def _pipelined_deletes(self, names: Sequence[str]) -> None:
        # one DEL per key, not DEL k1 k2 ...: keys of different users may live on different nodes
        # of a Redis Cluster
        if not names:
            return
        pipe = self._redis.pipeline(transaction=False)
        for name in names:
            pipe.delete(name)
        await pipe.execute()
