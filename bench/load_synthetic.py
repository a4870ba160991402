"""Part `synthetic`: the synthetic follow graph (bench/synthetic.py), written in bulk.

Users (profile rows, handle claims, the user search index) and follows (both directions) with
svc_graph's own statements (bench/bulk.py), then svc_graph's follow-count cache invalidated; the
fan-out authors and celebrities post their tweets through the API, so the fan-out runs for real;
then the special users are checked through ListFollowerIds and the API.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Iterable

import argon2

from bench.bulk import CqlBulk, EsBulk, refresh_paused, restore_refresh_if_paused, user_statements
from bench.corpus import TextGenerator
from bench.dataset import BENCH_PASSWORD, SEED, Celebrity, SyntheticPart
from bench.loading import (
    Mesh,
    Progress,
    check,
    cql_rows,
    invalidate_follow_caches,
    post_tweet,
    get_profile,
    rest_extra,
    say,
    tweet_count,
    wait_for_consumers,
    write_follows,
)
from bench.rest import pages, run_all
from bench.synthetic import GraphSpec, SyntheticGraph, as_datetime, generate
from mesh.config import env_int
from svc_graph.domain import User
from svc_search.documents import USERS_ALIAS, user_write
from svc_search.domain import ProfileChanged
from tweetmesh.graph.v1 import graph_service_pb2 as graph_pb

SPECIAL_AUTHOR_TWEETS = 20  # posted through the API by each fan-out author and celebrity
CELEBRITY_THRESHOLD = env_int("TM_CELEBRITY_THRESHOLD", 10_000)  # what the mesh was started with


async def load_synthetic(mesh: Mesh, timings: dict[str, float]) -> SyntheticPart:
    spec = GraphSpec(celebrity_threshold=CELEBRITY_THRESHOLD)
    started = time.monotonic()
    graph = generate(spec)
    timings["generate"] = round(time.monotonic() - started, 2)
    say(f"synthetic: {spec.users:,} users, {len(graph):,} follows generated in {timings['generate']:.1f}s "
        f"(fan-out authors {sorted(graph.fanout_authors)}, celebrities {[size for _, size in graph.celebrities]})")
    await _write_users(mesh, spec, timings)
    await write_follows(mesh, graph.follower, graph.followee, graph.follow_ms, spec.user_id, timings)
    await invalidate_follow_caches(mesh, [spec.user_id(index) for index in range(spec.users)])
    await _post_special_tweets(mesh, graph, timings)
    timings["consumers"] = await wait_for_consumers(mesh, "synthetic")

    part = SyntheticPart(
        users=spec.users, first_user_id=spec.first_user_id, user_id_stride=spec.user_id_stride,
        handle_format=spec.handle_format, follows=len(graph),
        fanout_authors={str(size): spec.user_id(index) for size, index in graph.fanout_authors.items()},
        celebrities=[Celebrity(spec.user_id(index), size) for index, size in graph.celebrities],
        tweets_per_special_author=SPECIAL_AUTHOR_TWEETS, spec=spec.as_json(),
    )
    await verify_synthetic(mesh, part, graph)
    return part


async def _write_users(mesh: Mesh, spec: GraphSpec, timings: dict[str, float]) -> None:
    """What a sign-up leaves: the profile row and handle claim (CQL), the user search document.
    Everybody has the dataset's password (one argon2id hash: log-in benchmarks can use it)."""
    password_hash = await asyncio.to_thread(argon2.PasswordHasher().hash, BENCH_PASSWORD)
    cql_bulk = CqlBulk(mesh.cql)
    es_bulk = EsBulk(mesh.es, USERS_ALIAS)
    progress = Progress("users", spec.users, "users")
    async with refresh_paused(mesh.es, USERS_ALIAS):
        for start in range(0, spec.users, 25):  # 25 users, 50 rows a batch
            statements = []
            for index in range(start, min(spec.users, start + 25)):
                user = User(user_id=spec.user_id(index), handle=spec.handle(index), display_name=spec.display_name(index),
                            bio="", create_time=as_datetime(spec.created_ms(index)))
                statements += await user_statements(mesh.keyspace, user, password_hash)
                await es_bulk.add(user_write(ProfileChanged(user.user_id, user.handle, user.display_name, user.create_time)))
            await cql_bulk.send(statements)
            progress.add(len(statements) // 2)
        await cql_bulk.drain()
        await es_bulk.drain()
    timings["users"] = progress.finish(f", {cql_bulk.rows:,} CQL rows, {es_bulk.stored:,} user documents "
                                       f"({es_bulk.existing:,} there already)")


async def _post_special_tweets(mesh: Mesh, graph: SyntheticGraph, timings: dict[str, float]) -> None:
    """The fan-out authors' and celebrities' tweets, through the API: their user timelines, and the
    fan-out into their followers' homes. Only those a user lacks (request ids expire after a day)."""
    spec = graph.spec
    progress = Progress("special authors' tweets", len(graph.special_users) * SPECIAL_AUTHOR_TWEETS, "tweets")
    text = TextGenerator()
    for index in graph.special_users:
        posted = await tweet_count(mesh.gateway, spec.user_id(index))

        async def tweet(k: int, index: int = index, posted: int = posted) -> None:
            if k >= posted:
                content, _ = text.text(random.Random(f"{SEED}:special:{index}:{k}"))
                await post_tweet(mesh.gateway, spec.user_id(index), content, k)
            progress.add()

        await run_all((lambda k=k: tweet(k) for k in range(SPECIAL_AUTHOR_TWEETS)), workers=4)
    timings["special_tweets"] = progress.finish(rest_extra(mesh.gateway))


def _followers_newest_first(graph: SyntheticGraph, users: Iterable[int]) -> dict[int, list[int]]:
    """The followers of each of `users` (numbers) in the order svc_graph lists them: most recent
    follow first, then the larger id first (followers_by_time's clustering order)."""
    spec = graph.spec
    found: dict[int, list[tuple[int, int]]] = {user: [] for user in users}
    for position, followee in enumerate(graph.followee):
        if followee in found:
            found[followee].append((graph.follow_ms[position], spec.user_id(graph.follower[position])))
    return {user: [follower for _, follower in sorted(follows, reverse=True)] for user, follows in found.items()}


async def _follower_ids(mesh: Mesh, user_id: int, page_size: int = 1000) -> tuple[list[int], bool]:
    """Every follower id through svc_graph's internal ListFollowerIds (what the fan-out reads)."""
    found: list[int] = []
    token, celebrity = "", False
    while True:
        response = await mesh.graph.ListFollowerIds(
            graph_pb.ListFollowerIdsRequest(user_id=str(user_id), page_size=page_size, page_token=token), timeout=30.0)
        found += [int(follower) for follower in response.user_ids]
        celebrity = response.celebrity
        token = response.next_page_token
        if not token:
            return found, celebrity


async def _warn_if_big_pages_stop_early(mesh: Mesh, user_id: int, followers: int) -> None:
    """svc_timeline's fan-out pages ListFollowerIds by 5000; say so when such pages do not reach
    every follower (seen: a page of 5000 asks the store for LIMIT 5001 rows, the driver hands back
    its first page of 5000 (its default fetch size), and the service then sees no next page)."""
    ids, _ = await _follower_ids(mesh, user_id, page_size=5000)
    if len(ids) != followers:
        say(f"  WARNING: ListFollowerIds of {user_id} by pages of 5000 lists {len(ids):,} of its {followers:,} "
            "followers (a fan-out paging this way misses the rest): a bug of svc_graph's paging, not of the data")


async def verify_synthetic(mesh: Mesh, part: SyntheticPart, graph: SyntheticGraph) -> None:
    """The fan-out authors and celebrities, then a sample of ordinary users."""
    started = time.monotonic()
    spec = graph.spec
    caller = spec.user_id(spec.users - 1)
    specials = [*graph.fanout_authors.items(), *((size, index) for index, size in graph.celebrities)]
    followers_of = _followers_newest_first(graph, [index for _, index in specials])
    for size, index in specials:
        await _verify_special(mesh, caller, spec.user_id(index), spec.handle(index), followers_of[index])
    await _verify_ordinary(mesh, caller, graph, random.Random(SEED).sample(range(spec.users), 20))
    await _warn_if_big_pages_stop_early(mesh, part.fanout_authors["10000"], 10_000)
    say(f"  verified {len(specials)} special users and 20 ordinary ones in {time.monotonic() - started:.1f}s")


async def _verify_special(mesh: Mesh, caller: int, user_id: int, handle: str, expected: list[int]) -> None:
    """Every follower id through ListFollowerIds (what the fan-out reads) and the celebrity flag
    it carries; the count and flag through the API; the follower list paged through the API in
    the order the service promises (all of it up to 1,000 followers, the first pages beyond)."""
    size = len(expected)
    celebrity = size > CELEBRITY_THRESHOLD
    ids, flagged = await _follower_ids(mesh, user_id)
    check(len(ids) == size and set(ids) == set(expected),
          f"ListFollowerIds of {user_id}: {len(ids)} ids, expected the {size} followers generated")
    check(flagged == celebrity, f"ListFollowerIds of {user_id}: celebrity={flagged}, expected {celebrity}")
    profile = await get_profile(mesh.gateway, caller, user_id)
    check(profile is not None and profile.get("followerCount", 0) == size,
          f"GET /v1/users/{user_id}: followerCount {profile and profile.get('followerCount')}, expected {size}")
    check(bool(profile.get("celebrity", False)) == celebrity, f"GET /v1/users/{user_id}: celebrity flag wrong")
    listed: list[int] = []
    async for users in pages(mesh.gateway, f"/v1/users/{user_id}/followers", user=caller, key="users"):
        listed += [int(user["userId"]) for user in users]
        if len(listed) >= 300 and size > 1000:
            break
    check(listed == expected[:len(listed)] and (size > 1000 or len(listed) == size),
          f"GET /v1/users/{user_id}/followers: not the {size} followers, newest first")
    say(f"  {'celebrity' if celebrity else 'fan-out author'} {user_id} ({handle}): {size:,} followers by "
        f"ListFollowerIds and the API, {len(listed):,} paged in order, celebrity={celebrity}")


async def _verify_ordinary(mesh: Mesh, caller: int, graph: SyntheticGraph, sample: list[int]) -> None:
    """Follower and following counts through the API."""
    spec = graph.spec
    followers = Counter(graph.followee)
    following = Counter(graph.follower)
    for index in sample:
        profile = await get_profile(mesh.gateway, caller, spec.user_id(index))
        got = (profile or {}).get("followerCount", 0), (profile or {}).get("followingCount", 0)
        expected = followers[index], following[index]
        check(profile is not None and got == expected, f"synthetic user {index}: counts {got}, expected {expected}")


async def synthetic_still_there(mesh: Mesh, part: SyntheticPart) -> bool:
    if await restore_refresh_if_paused(mesh.es, USERS_ALIAS):
        say("synthetic: refreshes of the user index were still off (an interrupted load): restored")
    last = part.first_user_id + (part.users - 1) * part.user_id_stride
    author = part.fanout_authors["10000"]
    users = await cql_rows(mesh, f"SELECT handle FROM {mesh.keyspace}.users WHERE user_id = ?", (last,))
    followers = await cql_rows(mesh, f"SELECT COUNT(*) FROM {mesh.keyspace}.followers_by_user WHERE user_id = ?", (author,))
    indexed = await mesh.es.options(request_timeout=10, ignore_status=404).get(index=USERS_ALIAS, id=str(last))
    tweets = await tweet_count(mesh.gateway, author)
    there = bool(users) and followers[0][0] == 10_000 and indexed.get("found", False) \
        and tweets >= part.tweets_per_special_author
    if not there:
        say(f"synthetic: not all there (last user row {bool(users)}, 10k author's followers {followers[0][0]}, "
            f"user indexed {indexed.get('found', False)}, tweets {tweets}): loading it again")
    return there
