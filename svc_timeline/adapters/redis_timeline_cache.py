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

`v2` is the member format: a change of format changes it, so no replica ever reads keys written in
another format (old keys just expire). v1 (decimal ids) never left development.

Merge sources. `<prefix>:v3:sources:<user>` holds a reader's merge sources as
`<epoch>.<version>|<comma-separated user ids>`, for `merge_sources_ttl_s` (an hour): they may live
long because they are exact. `<epoch>.<version>` is what the lookup that missed saw, before the
sources were computed; a lookup answers only sources stored under what it sees now, so sources
computed just before a change land where nobody looks (the rule of the versions of
svc_tweet/adapters/redis_cache.py). Two things change a reader's sources:
  <prefix>:celebrity-epoch          a random token, replaced whenever an author crosses the celebrity
                                    threshold: a crossing may change any reader's sources. Fan-out
                                    reads every author's status (note_celebrity) and keeps
                                    `<prefix>:celebrities`, the authors it last saw as celebrities;
                                    the SADD or SREM that changes that set replaces the epoch in the
                                    same script (a retry of a bump that failed after its SADD would
                                    find nothing to add, and never bump). Neither key expires; a
                                    lookup that finds no epoch creates one (every lookup then misses once).
  <prefix>:sources-version:<user>   the reader's own random token, replaced when their follows change
                                    (forget_merge_sources); none reads as "0". It lives twice the
                                    sources' TTL, so it only expires after every value stored under
                                    an earlier one did.
A lookup is one script: the epoch (created if missing), the version and the value. On a Redis
Cluster the epoch would have to be read apart (it cannot share a hash slot with every reader).
`v3` is the format of the sources alone (v2 held bare ids for a minute): the timelines keep theirs,
so a change of it drops no cached timeline.

Active users only: writers update a timeline only if its key exists (Lua: check and write in one
step); a reader that misses fills it; a key read within `ttl_s` stays, others expire.

Failures: reads answer a miss (the store serves); writes that must not be lost raise Unavailable so
the event is retried (forgetting merge sources and noting a celebrity too: a lost one would leave
stale sources for an hour); fills and storing merge sources are best effort.
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
from svc_timeline.aio import chunks
from svc_timeline.domain import MergeSources, TimelineEntry, TimelineKey
from svc_timeline.ports import CachedMergeSources, CachedSlice

log = logging.getLogger("svc_timeline.redis_cache")

FORMAT_VERSION = 2  # of the member format below; part of every timeline key
SOURCES_FORMAT_VERSION = 3  # of the merge sources' value; part of their key
_NO_VERSION = "0"  # a reader whose follows did not change since their version expired
_PENDING, _READY, _COMPLETE = b"!pending", b"!ready", b"!complete"
_LOWEST_ENTRY = "[0"  # lexicographic range start that leaves the markers out
_FILL_WINDOW_S = 30  # a filler that dies leaves its !pending key behind at most this long
_KEYS_PER_PIPELINE = 1000
# timelines per add or read script: bounds how long one call holds Redis (measured: 0.2 ms to add
# to 200 homes, 5% of them cached)
_KEYS_PER_SCRIPT = 200

# KEYS: the timelines; ARGV[1] the upper bound, ARGV[2] the limit, ARGV[3] the TTL. Per timeline,
# 0 when it is not cached (or still being filled), else {complete, members}. Many timelines per call,
# not a pipeline of one call each: redis-py precedes every pipeline holding a script with a SCRIPT
# EXISTS round trip, which doubled the cost of the most frequent read. On a Redis Cluster, as for
# _ADD, the keys of one call would have to share a hash slot.
_READ = """
local found = {}
for i, key in ipairs(KEYS) do
  if redis.call('ZSCORE', key, '!ready') then
    redis.call('EXPIRE', key, ARGV[3])
    local complete = redis.call('ZSCORE', key, '!complete') and 1 or 0
    found[i] = {complete, redis.call('ZREVRANGEBYLEX', key, ARGV[1], '[0', 'LIMIT', 0, tonumber(ARGV[2]))}
  else
    found[i] = 0
  end
end
return found
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

# KEYS: the timelines; ARGV[1] capacity, ARGV[2..] members. Only into an existing (cached or
# filling) key. A ready, incomplete timeline drops entries older than its oldest one (it does not
# cover them); one being filled takes everything, and the fill then cuts below the oldest entry it
# read. The cut is a ZREMRANGEBYLEX (byte order, like the set) rather than a comparison in Lua
# (strcoll: locale collation). Many timelines per call: a fan-out to 1000 homes was 1000 EVALSHAs
# in a pipeline, and encoding and parsing them in redis-py was 85% of svc_timeline's CPU in a
# 10k-follower fan-out (most homes are not cached: EXISTS answers and the script moves on).
# Measured, 10k homes of which 5% cached: 179 ms of Python CPU and 188 ms wall before, 19 and 36
# after. On a Redis Cluster the keys of one call would have to share a hash slot (group by slot).
_ADD = _TRIM + """
local function add(key, capacity)
  if redis.call('EXISTS', key) == 0 then return 0 end
  local floor = nil
  if redis.call('ZSCORE', key, '!ready') and not redis.call('ZSCORE', key, '!complete') then
    floor = redis.call('ZRANGEBYLEX', key, '[0', '+', 'LIMIT', 0, 1)[1]
    if not floor then
      -- removals emptied it: it covers nothing any more; the next read fills it afresh
      redis.call('DEL', key)
      return 0
    end
  end
  for i = 2, #ARGV do redis.call('ZADD', key, 0, ARGV[i]) end
  if floor then redis.call('ZREMRANGEBYLEX', key, '[0', '(' .. floor) end
  trim(key, capacity)
  return 1
end
local added = 0
for _, key in ipairs(KEYS) do added = added + add(key, tonumber(ARGV[1])) end
return added
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

# KEYS[1] the celebrity epoch, KEYS[2] the reader's sources version, KEYS[3] the reader's sources;
# ARGV[1] the epoch to create if there is none, ARGV[2] the version of a reader who has none
_LOOKUP_SOURCES = """
local epoch = redis.call('GET', KEYS[1])
if not epoch then
  redis.call('SET', KEYS[1], ARGV[1])
  epoch = ARGV[1]
end
return {epoch, redis.call('GET', KEYS[2]) or ARGV[2], redis.call('GET', KEYS[3])}
"""

# KEYS[1] the celebrities, KEYS[2] the celebrity epoch; ARGV[1] the author, ARGV[2] 1 if a celebrity
# now, ARGV[3] the next epoch. Returns 1 if the author crossed the threshold.
_NOTE_CELEBRITY = """
local changed
if ARGV[2] == '1' then
  changed = redis.call('SADD', KEYS[1], ARGV[1])
else
  changed = redis.call('SREM', KEYS[1], ARGV[1])
end
if changed == 1 then redis.call('SET', KEYS[2], ARGV[3]) end
return changed
"""


def _token() -> str:
    return secrets.token_hex(8)


def _text(raw: bytes | str) -> str:
    return raw.decode() if isinstance(raw, bytes) else raw


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
    tweet_id, author_id, retweet_of, retweet_of_author = (int(part, 36) for part in _text(member).split(":"))
    return TimelineEntry(tweet_id, author_id, retweet_of or None, retweet_of_author or None)


class RedisTimelineCache:
    def __init__(
        self,
        redis: aioredis.Redis,
        *,
        capacity: int = 120,
        ttl_s: int = 86_400,
        merge_sources_ttl_s: int = 3600,
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
        self._lookup_sources_script = redis.register_script(_LOOKUP_SOURCES)
        self._note_celebrity_script = redis.register_script(_NOTE_CELEBRITY)

    @property
    def capacity(self) -> int:
        return self._capacity

    def key_of(self, key: TimelineKey) -> str:
        return f"{self._prefix}:v{FORMAT_VERSION}:{key.kind.value}:{key.owner_id}"

    def sources_key_of(self, user_id: int) -> str:
        return f"{self._prefix}:v{SOURCES_FORMAT_VERSION}:sources:{user_id}"

    def _sources_version_key(self, user_id: int) -> str:
        return f"{self._prefix}:sources-version:{user_id}"

    def _epoch_key(self) -> str:
        return f"{self._prefix}:celebrity-epoch"

    def _celebrities_key(self) -> str:
        return f"{self._prefix}:celebrities"

    def _timeout(self) -> asyncio.Timeout:
        return asyncio.timeout(context.remaining(REDIS_TIMEOUT_S))

    # --- reads: a failure is a miss --------------------------------------------------------------

    async def read(self, keys: Sequence[TimelineKey], before: int | None, limit: int) -> dict[TimelineKey, CachedSlice]:
        if not keys:
            return {}
        upper = "+" if before is None else f"({_tweet_key(before)}"
        answers = []
        try:
            async with self._timeout():
                for batch in chunks(keys, _KEYS_PER_SCRIPT):
                    answers.extend(await self._read_script(
                        keys=[self.key_of(key) for key in batch], args=[upper, limit, self._ttl_s]
                    ))
        except (RedisError, OSError, TimeoutError) as exc:
            log.warning("timeline cache unreadable, reading the store: %r", exc)
            return {}
        slices = {}
        for key, answer in zip(keys, answers):
            if answer:
                complete, members = answer
                slices[key] = CachedSlice([decode_entry(m) for m in members], complete=bool(complete))
        return slices

    async def merge_sources(self, user_id: int) -> CachedMergeSources:
        keys = [self._epoch_key(), self._sources_version_key(user_id), self.sources_key_of(user_id)]
        try:
            async with self._timeout():
                epoch, version, raw = await self._lookup_sources_script(keys=keys, args=[_token(), _NO_VERSION])
        except (RedisError, OSError, TimeoutError) as exc:
            log.warning("merge sources unreadable from the cache: %r", exc)
            return CachedMergeSources(None, None)
        as_of = f"{_text(epoch)}.{_text(version)}"
        if raw is not None:
            stored_as_of, _, ids = _text(raw).partition("|")
            if stored_as_of == as_of:
                return CachedMergeSources(MergeSources(tuple(int(part) for part in ids.split(",") if part)), as_of)
        return CachedMergeSources(None, as_of)

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

    async def store_merge_sources(self, user_id: int, sources: MergeSources, as_of: str | None) -> None:
        if as_of is None:
            return  # the lookup could not read the cache: no telling what these sources are as of
        value = f"{as_of}|{','.join(str(u) for u in sources.user_ids)}"
        try:
            async with self._timeout():
                await self._redis.set(self.sources_key_of(user_id), value, ex=self._merge_sources_ttl_s)
        except (RedisError, OSError, TimeoutError) as exc:
            log.warning("merge sources not cached: %r", exc)

    # --- writes that must happen ---------------------------------------------------------------

    async def add_where_cached(self, keys: Sequence[TimelineKey], entries: Sequence[TimelineEntry]) -> None:
        if not keys or not entries:
            return
        members = [encode_entry(e) for e in entries]
        for batch in chunks(keys, _KEYS_PER_PIPELINE):
            try:
                async with self._timeout():
                    pipe = self._redis.pipeline(transaction=False)
                    for script_keys in chunks(batch, _KEYS_PER_SCRIPT):
                        await self._add_script(
                            keys=[self.key_of(key) for key in script_keys], args=[self._capacity, *members], client=pipe
                        )
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

    async def forget_merge_sources(self, user_ids: Sequence[int]) -> None:
        try:
            async with self._timeout():
                pipe = self._redis.pipeline(transaction=False)
                for user_id in user_ids:
                    pipe.set(self._sources_version_key(user_id), _token(), ex=2 * self._merge_sources_ttl_s)
                await pipe.execute()
        except (RedisError, OSError, TimeoutError) as exc:
            raise Unavailable(f"merge sources not forgotten: {exc!r}", reason="TIMELINE_CACHE_UNAVAILABLE") from exc

    async def note_celebrity(self, user_id: int, is_celebrity: bool) -> None:
        try:
            async with self._timeout():
                keys = [self._celebrities_key(), self._epoch_key()]
                crossed = await self._note_celebrity_script(keys=keys, args=[user_id, int(is_celebrity), _token()])
        except (RedisError, OSError, TimeoutError) as exc:
            raise Unavailable(f"celebrity status not noted: {exc!r}", reason="TIMELINE_CACHE_UNAVAILABLE") from exc
        if crossed:
            log.info("user %d %s: every reader's merge sources are computed afresh", user_id,
                     "became a celebrity" if is_celebrity else "is no longer a celebrity")

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
