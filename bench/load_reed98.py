"""Part `reed98`: the socfb-Reed98 graph through the public REST API, as DeathStarBench loads it.

Each person signs up (POST /v1/users), each undirected edge becomes two follows (POST /v1/follow,
round robin over the users so that each one's writes spread over the phase; or, with
`follows_via="bulk"`, svc_graph's rows written directly), then every user posts ten tweets
(POST /v1/tweets), now and then mentioning a friend. Request ids make a reload return the first
answers (sign-ups, tweets); a user signed up by an earlier run is looked up by handle, and only
the tweets it lacks are posted.
"""

from __future__ import annotations

import random
import time
from datetime import datetime

from bench.corpus import TextGenerator
from bench.dataset import (
    BENCH_PASSWORD,
    REED98_TWEETS_PER_USER,
    SEED,
    Reed98Part,
    follows_of,
    node_count,
    read_reed98,
    reed98_edges_file,
    reed98_handle,
)
from bench.loading import (
    REQUEST_PREFIX,
    REST_WORKERS,
    LoadFailed,
    Mesh,
    Progress,
    check,
    invalidate_follow_caches,
    post_tweet,
    get_profile,
    rest_extra,
    say,
    tweet_count,
    wait_for_consumers,
    write_follows,
)
from bench.rest import Gateway, run_all

SIGN_UP_WORKERS = 4
REED98_BULK_FOLLOWS_UNTIL = "2026-11-01T00:00:00+00:00"
FOLLOWS_VIA = ("api", "bulk")


def _friends(follows: list[tuple[int, int]], n: int) -> list[list[int]]:
    """Whom each node follows, in the order of the edge file."""
    friends: list[list[int]] = [[] for _ in range(n)]
    for follower, followee in follows:
        friends[follower].append(followee)
    return friends


async def load_reed98(mesh: Mesh, timings: dict[str, float], follows_via: str = "api") -> Reed98Part:
    path = reed98_edges_file()
    edges = read_reed98(path)
    n = node_count(edges)
    follows = follows_of(edges)
    friends = _friends(follows, n)
    handles = [reed98_handle(node) for node in range(n)]
    say(f"reed98: {n} users, {len(edges):,} edges -> {len(follows):,} follows, {REED98_TWEETS_PER_USER} tweets each "
        f"({path}), follows through the {'API' if follows_via == 'api' else 'store, in bulk'}")

    user_ids, existed = await _sign_up(mesh.gateway, handles, timings)
    if follows_via == "bulk":
        # svc_graph's rows straight into the store, one a millisecond up to a fixed time (a reload
        # writes the very same rows)
        until_ms = int(datetime.fromisoformat(REED98_BULK_FOLLOWS_UNTIL).timestamp() * 1000)
        await write_follows(mesh, [a for a, _ in follows], [b for _, b in follows],
                            [until_ms - len(follows) + i for i in range(len(follows))], user_ids.__getitem__, timings)
        await invalidate_follow_caches(mesh, user_ids)
    else:
        await _follow(mesh.gateway, user_ids, friends, len(follows), timings)
    await _tweet(mesh.gateway, user_ids, handles, friends, existed, timings)
    timings["consumers"] = await wait_for_consumers(mesh, "reed98")

    part = Reed98Part(user_ids=user_ids, handles=handles, undirected_edges=len(edges), follows=len(follows),
                      tweets_per_user=REED98_TWEETS_PER_USER, source=str(path), follows_via=follows_via)
    await verify_reed98(mesh, part, friends, sample=8)
    return part


async def _sign_up(gateway: Gateway, handles: list[str], timings: dict[str, float]) -> tuple[list[int], set[int]]:
    """Every user's id, by node; and the nodes an earlier run had signed up already."""
    ids: list[int | None] = [None] * len(handles)
    existed: set[int] = set()
    progress = Progress("sign-ups", len(handles), "users")

    async def sign_up(node: int) -> None:
        handle = handles[node]
        response = await gateway.call("POST", "/v1/users", accept=(200, 409), body={
            "handle": handle, "password": BENCH_PASSWORD, "displayName": f"Reed {node}",
            "requestId": f"{REQUEST_PREFIX}-signup-{handle}",
        })
        if response is not None and response.status_code == 200:  # new, or the first answer again
            ids[node] = int(response.json()["userId"])
        elif response is not None:  # HANDLE_TAKEN: by an earlier run whose request id expired
            existed.add(node)
            found = await gateway.call("GET", "/v1/users:lookup", user=1, params={"handle": handle})
            if found is not None:
                ids[node] = int(found.json()["user"]["userId"])
        progress.add()

    # svc_graph hashes passwords (argon2id) two at a time: more sign-ups in flight only queue there
    await run_all((lambda node=node: sign_up(node) for node in range(len(handles))), workers=SIGN_UP_WORKERS)
    timings["sign_up"] = progress.finish(rest_extra(gateway))
    check(None not in ids, f"{ids.count(None)} Reed98 users could not be signed up")
    return [user_id for user_id in ids if user_id is not None], existed


async def _follow(gateway: Gateway, user_ids: list[int], friends: list[list[int]], total: int,
                  timings: dict[str, float]) -> None:
    """POST /v1/follow for every follow, round robin over the followers, so that each user's
    writes spread over the whole phase (the gateway allows each user 10 writes a second)."""
    progress = Progress("follows", total, "follows")

    async def follow(follower: int, followee: int) -> None:
        # no request id: a follow is idempotent by nature (svc_graph finds the edge and writes
        # nothing), and an id would cost each follow a conditional write in the request log
        await gateway.call("POST", "/v1/follow", user=user_ids[follower], body={"followingUserId": str(user_ids[followee])})
        progress.add(extra=rest_extra(gateway))

    rounds = max(len(followees) for followees in friends)
    jobs = (lambda a=node, b=friends[node][k]: follow(a, b)
            for k in range(rounds) for node in range(len(friends)) if k < len(friends[node]))
    await run_all(jobs, workers=REST_WORKERS)
    timings["follow"] = progress.finish(rest_extra(gateway))


async def _tweet(gateway: Gateway, user_ids: list[int], handles: list[str], friends: list[list[int]],
                 existed: set[int], timings: dict[str, float]) -> None:
    """Ten tweets per user, round robin, now and then mentioning a friend. A user an earlier run
    signed up may have tweets whose request ids expired: it only posts the ones it lacks."""
    text = TextGenerator()
    posted = {node: await tweet_count(gateway, user_ids[node]) for node in sorted(existed)}
    progress = Progress("tweets", len(user_ids) * REED98_TWEETS_PER_USER, "tweets")

    async def tweet(node: int, k: int) -> None:
        if k >= posted.get(node, 0):
            rng = random.Random(f"{SEED}:reed98:{node}:{k}")
            content, _ = text.text(rng, [handles[friend] for friend in friends[node]])
            await post_tweet(gateway, user_ids[node], content, k)
        progress.add(extra=rest_extra(gateway))

    await run_all((lambda node=node, k=k: tweet(node, k)
                   for k in range(REED98_TWEETS_PER_USER) for node in range(len(user_ids))), workers=REST_WORKERS)
    timings["tweet"] = progress.finish(rest_extra(gateway))


async def verify_reed98(mesh: Mesh, part: Reed98Part, friends: list[list[int]], *, sample: int) -> None:
    """A sample of users, through the API: follower and following counts are their degrees, and
    they have their tweets. The highest-degree user is always in the sample."""
    started = time.monotonic()
    nodes = sorted({0, len(part.user_ids) - 1, max(range(len(friends)), key=lambda node: len(friends[node])),
                    *random.Random(SEED).sample(range(len(part.user_ids)), sample)})
    for node in nodes:
        user_id = part.user_ids[node]
        profile = await get_profile(mesh.gateway, user_id, user_id)
        check(profile is not None, f"Reed98 user {node} ({user_id}) not found")
        degree = len(friends[node])
        counts = (profile.get("followerCount", 0), profile.get("followingCount", 0))
        check(counts == (degree, degree), f"Reed98 user {node}: followers/following {counts}, expected {degree}")
        tweets = await tweet_count(mesh.gateway, user_id)
        check(tweets >= part.tweets_per_user, f"Reed98 user {node}: {tweets} tweets, expected {part.tweets_per_user}")
    say(f"  verified {len(nodes)} users through the API (follower, following and tweet counts) "
        f"in {time.monotonic() - started:.1f}s")


async def reed98_still_there(mesh: Mesh, part: Reed98Part) -> bool:
    friends = _friends(follows_of(read_reed98()), len(part.user_ids))
    try:
        await verify_reed98(mesh, part, friends, sample=2)
    except LoadFailed as exc:
        say(f"reed98: not all there ({exc}): loading it again")
        return False
    return True
