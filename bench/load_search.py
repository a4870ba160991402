"""Part `search`: the search corpus (bench/corpus.py), written in bulk.

The index gets svc_search's own documents (svc_search.documents.tweet_write) through the alias
`tweets`, with external versions as the live indexer writes them, refreshes paused meanwhile.

Search answers from the index alone (results carry the indexed text; svc_search never reads
svc_tweet), so by default that is all: GET /v1/tweets/{id} of a corpus tweet answers 404, and
`make search-rebuild`, which reindexes from svc_tweet's tables, drops the corpus (the next load
finds it gone and indexes it again). `tweet_rows=True` (`--search-tweet-rows`) also writes each
tweet into svc_tweet's tables with its own statements (the tweet, its author's list, the month
index), about twice the time. Never done: the fan-out of the corpus into home timelines and its
mention notifications (no events).

The query terms of the manifest are ready-to-send queries: a word, or `#tag` for hashtags.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence

from elasticsearch import AsyncElasticsearch

from bench.bulk import CqlBulk, EsBulk, TweetStatements, batched, refresh_paused, restore_refresh_if_paused
from bench.corpus import Corpus, CorpusSpec, TextGenerator
from bench.dataset import SearchPart, SyntheticPart, Term
from bench.loading import Mesh, Progress, check, cql_rows, say
from bench.synthetic import GraphSpec, as_datetime
from svc_search.documents import TWEETS_ALIAS, tweet_write
from svc_search.domain import IndexedTweet
from svc_tweet.domain import Tweet

SEARCH_TWEETS = 1_000_000


async def load_search(mesh: Mesh, synthetic: SyntheticPart, tweets: int, timings: dict[str, float], *,
                      tweet_rows: bool = False) -> SearchPart:
    users = GraphSpec(**{**synthetic.spec, "fanout_sizes": tuple(synthetic.spec["fanout_sizes"]),
                         "celebrity_followers": tuple(synthetic.spec["celebrity_followers"])})
    check(users.first_user_id == synthetic.first_user_id, "the synthetic users of the manifest are not this generator's")
    # the fan-out authors and celebrities keep exactly the tweets they posted through the API
    special = set(range(len(users.fanout_sizes) + len(users.celebrity_followers)))
    spec = CorpusSpec(tweets=tweets)
    text = TextGenerator()
    corpus = Corpus(spec, text, [i for i in range(users.users) if i not in special], users.handle)
    say(f"search: {tweets:,} tweets by {users.users - len(special):,} synthetic users, one every ~{spec.step_ms / 1000:.0f}s "
        f"until {spec.end[:10]}, into the index '{TWEETS_ALIAS}'" + (" and svc_tweet's tables" if tweet_rows else ""))
    await restore_refresh_if_paused(mesh.es, TWEETS_ALIAS)
    first_id, last_id = await _write_corpus(mesh, corpus, users, timings, tweet_rows)

    started = time.monotonic()
    terms = await term_classes(mesh.es, text.words, "text", tweets)
    hashtags = await term_classes(mesh.es, text.tags, "hashtags", tweets, prefix="#")
    timings["terms"] = round(time.monotonic() - started, 2)
    part = SearchPart(tweets=tweets, first_tweet_id=first_id, last_tweet_id=last_id, terms=terms, hashtags=hashtags,
                      spec={**dataclasses.asdict(spec), "text": dataclasses.asdict(text.spec)}, in_tweet_store=tweet_rows)
    for name, classes in (("words", terms), ("hashtags", hashtags)):
        say(f"  {name}: " + "; ".join(f"{cls} {len(found)} ({', '.join(f'{t.term}={t.docs:,}' for t in found[:3])}...)"
                                      for cls, found in classes.items()))
    await verify_search(mesh, part, synthetic)
    return part


async def _write_corpus(mesh: Mesh, corpus: Corpus, users: GraphSpec, timings: dict[str, float],
                        tweet_rows: bool) -> tuple[int, int]:
    """Each tweet's search document, and with `tweet_rows` its rows (svc_tweet's create, without
    its events); the smallest and largest tweet id. The month index row, which every tweet of an
    author's month writes again, is written once, with the latest tweet's timestamp: the state the
    last write leaves."""
    statements_of = TweetStatements(mesh.keyspace)
    cql_bulk = CqlBulk(mesh.cql)
    es_bulk = EsBulk(mesh.es, TWEETS_ALIAS, per_request=2_000, in_flight=2)
    rewritten: dict[tuple, tuple[str, tuple]] = {}  # the month index rows, by their values but the timestamp
    first_id, last_id = 2**63, 0
    progress = Progress("tweets", corpus.spec.tweets, "tweets")
    async with refresh_paused(mesh.es, TWEETS_ALIAS):
        for chunk in corpus:
            rows: list[tuple[str, tuple]] = []
            for planned in chunk:
                author_id = users.user_id(planned.author)
                tweet = Tweet(tweet_id=planned.tweet_id, author_id=author_id, text=planned.text,
                              create_time=as_datetime(planned.create_ms),
                              mentioned_user_ids=tuple(users.user_id(user) for user in planned.mentions))
                for query, values in await statements_of.of(tweet) if tweet_rows else ():
                    if ".tweet_months_by_author " in query:
                        key = values[:-1]  # values[-1] is the write timestamp
                        if key not in rewritten or rewritten[key][1][-1] < values[-1]:
                            rewritten[key] = (query, values)
                    else:
                        rows.append((query, values))
                await es_bulk.add(tweet_write(
                    IndexedTweet(tweet_id=tweet.tweet_id, author_id=author_id, text=tweet.text,
                                 create_time=tweet.create_time), users.handle(planned.author)))
                first_id, last_id = min(first_id, tweet.tweet_id), max(last_id, tweet.tweet_id)
            await batched(cql_bulk, rows, 40)  # 20 tweets a batch
            progress.add(len(chunk), f", CQL rows {cql_bulk.rows:,}, documents {es_bulk.stored + es_bulk.existing:,}")
        await batched(cql_bulk, list(rewritten.values()), 40)
        await cql_bulk.drain()
        await es_bulk.drain()
        timings["tweets"] = progress.finish(
            f", {cql_bulk.rows:,} CQL rows ({cql_bulk.retries} batches resent), {es_bulk.stored:,} documents indexed "
            f"({es_bulk.existing:,} there already, {es_bulk.retries} bulks resent)")
        refresh_started = time.monotonic()
    timings["refresh"] = round(time.monotonic() - refresh_started, 2)
    say(f"  index refreshed in {timings['refresh']:.1f}s")
    return first_id, last_id


# Classes of query terms by the share of tweets that hold them
TERM_CLASSES = {"common": (0.01, 1.0), "medium": (0.0005, 0.005), "rare": (0.0, 0.0002)}
TERMS_PER_CLASS = 10


async def term_classes(es: AsyncElasticsearch, ranked: Sequence[str], field_name: str, tweets: int,
                       prefix: str = "") -> dict[str, list[Term]]:
    """Up to TERMS_PER_CLASS terms per class, spread over the class, with their document counts
    (candidates: ranks spread log-uniformly over the Zipfian vocabulary, counted in one _msearch);
    each term as a query types it (`prefix` + the word)."""
    candidates = sorted({min(len(ranked) - 1, int(len(ranked) ** (i / 120)) - 1) for i in range(121)}
                        | set(range(len(ranked) - 40, len(ranked))))
    searches: list[dict] = []
    for rank in candidates:
        query = {"match": {field_name: ranked[rank]}} if field_name == "text" else {"term": {field_name: ranked[rank]}}
        searches += [{"index": TWEETS_ALIAS}, {"size": 0, "track_total_hits": True, "query": query}]
    response = await es.options(request_timeout=60).msearch(searches=searches)
    counts = [(ranked[rank], answer["hits"]["total"]["value"]) for rank, answer in zip(candidates, response["responses"])]
    classes: dict[str, list[Term]] = {}
    for name, (low, high) in TERM_CLASSES.items():
        found = [Term(prefix + term, docs) for term, docs in counts if docs >= 1 and low * tweets <= docs <= high * tweets]
        step = max(1, len(found) / TERMS_PER_CLASS)
        classes[name] = [found[int(i * step)] for i in range(min(TERMS_PER_CLASS, len(found)))]
    return classes


async def verify_search(mesh: Mesh, part: SearchPart, synthetic: SyntheticPart) -> None:
    """Through the API: searches of each class find tweets (exactly the counted ones for a rare
    term, paging to the end); the index holds the corpus; with its rows, a found tweet reads back
    from svc_tweet."""
    started = time.monotonic()
    caller = synthetic.first_user_id + 10 * synthetic.user_id_stride
    counted = await _corpus_count(mesh, part)
    check(counted == part.tweets, f"the index holds {counted:,} corpus tweets, expected {part.tweets:,}")
    for cls in ("common", "medium"):
        for term in part.terms[cls][:2]:
            response = await mesh.gateway.call("GET", "/v1/search", user=caller,
                                               params={"tweetName": term.term, "limitValue": 20})
            results = response.json().get("results", []) if response is not None else []
            check(len(results) == min(20, term.docs),
                  f"search {term.term!r} ({cls}, {term.docs:,} tweets): {len(results)} results")
    rare = (part.terms["rare"] or part.terms["medium"])[0]
    found: list[dict] = []
    cursor = ""
    while True:
        params = {"tweetName": rare.term, "limitValue": 100, **({"cursorValue": cursor} if cursor else {})}
        response = await mesh.gateway.call("GET", "/v1/search", user=caller, params=params)
        check(response is not None, f"search {rare.term!r} failed")
        body = response.json()
        found += body.get("results", [])
        cursor = body.get("nextCursor", "")
        if not cursor:
            break
    check(len(found) == rare.docs, f"search {rare.term!r} (rare): {len(found)} results, expected {rare.docs}")
    tag = part.hashtags["common"][0] if part.hashtags["common"] else part.hashtags["medium"][0]
    response = await mesh.gateway.call("GET", "/v1/search", user=caller, params={"tweetName": tag.term, "limitValue": 5})
    check(response is not None and len(response.json().get("results", [])) == 5, f"search {tag.term}: no results")
    if part.in_tweet_store:
        tweet_id = found[0]["tweetId"]
        response = await mesh.gateway.call("GET", f"/v1/tweets/{tweet_id}", user=caller)
        check(response is not None and response.json()["tweet"].get("text") == found[0]["tweetName"],
              f"GET /v1/tweets/{tweet_id}: not the tweet search found")
    say(f"  verified in {time.monotonic() - started:.1f}s: {counted:,} corpus tweets indexed; searches of every class "
        f"answer through the API ({rare.term!r}: all {rare.docs} paged)"
        + ("; found tweets read back from svc_tweet" if part.in_tweet_store else ""))


async def _corpus_count(mesh: Mesh, part: SearchPart) -> int:
    response = await mesh.es.options(request_timeout=30).count(index=TWEETS_ALIAS, query={
        "range": {"tweet_id_num": {"gte": part.first_tweet_id, "lte": part.last_tweet_id}}})
    return int(response["count"])


async def search_still_there(mesh: Mesh, part: SearchPart) -> bool:
    if await restore_refresh_if_paused(mesh.es, TWEETS_ALIAS):
        say("search: refreshes were still off (an interrupted load): restored")
    counted = await _corpus_count(mesh, part)
    stored = not part.in_tweet_store or bool(
        await cql_rows(mesh, f"SELECT tweet_id FROM {mesh.keyspace}.tweets WHERE tweet_id = ?", (part.last_tweet_id,)))
    if counted != part.tweets or not stored:
        say(f"search: not all there ({counted:,} of {part.tweets:,} tweets indexed, last tweet stored {bool(stored)}): "
            "loading it again")
        return False
    return True
