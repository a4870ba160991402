"""How the Redis cache spells timeline entries: byte order must be tweet-id order, exactly."""

from __future__ import annotations

import random

from svc_timeline.adapters.redis_timeline_cache import decode_entry, encode_entry
from svc_timeline.domain import TimelineEntry

MAX_ID = (1 << 63) - 1


def test_members_sort_like_their_tweet_ids_even_where_a_double_could_not_tell_them_apart():
    rng = random.Random(7)
    ids = [1, 35, 36, MAX_ID, MAX_ID - 1, (1 << 60) + 1, (1 << 60) + 2, *(rng.randrange(1, MAX_ID) for _ in range(2000))]
    members = {encode_entry(TimelineEntry(tweet_id, author_id=rng.randrange(1, MAX_ID))): tweet_id for tweet_id in ids}
    assert [members[m] for m in sorted(members, key=str.encode)] == sorted(ids)


def test_entries_round_trip_and_fit_redis_compact_encoding():
    retweet = TimelineEntry(MAX_ID, MAX_ID - 1, retweet_of_tweet_id=MAX_ID - 2, retweet_of_author_id=MAX_ID - 3)
    post = TimelineEntry(383731998565679104, 12)
    for entry in (retweet, post):
        assert decode_entry(encode_entry(entry).encode()) == entry
    assert len(encode_entry(retweet)) <= 64  # zset-max-listpack-value
