"""Rebuild the tweet search index from the tweet store: `python -m svc_search.rebuild` (`make search-rebuild`).

Reads every tweet of the CQL store, indexes it into a new index `tweets-v<N+1>` made from the
template migrations/elasticsearch/tweets.json (so this is also how a new mapping version is
rolled out), catches up with the events published meanwhile, swaps the alias `tweets` over in one
atomic alias update and deletes the old index. Searches keep being served from the old index until
the swap. Idempotent and safe to re-run; service.TweetIndexRebuild says how.

The composition root of the command: it connects to the stores itself (CQL, Elasticsearch, NATS)
and to svc_graph for the authors' handles, with the stack's settings (mesh/config.py). Settings:

  TM_SEARCH_REBUILD_PAGE   tweets read and indexed per request (500)

Exits 0 with a summary line when the alias points at the new index; 1 when it could not finish
(the alias still points at the old, complete index; run it again).
"""

from __future__ import annotations

import asyncio
import logging

from mesh import logs
from mesh.config import Stack, env_int, env_str
from mesh.deps import Dependencies
from mesh.errors import Unavailable
from mesh.schema import MIGRATIONS_DIR
from svc_search.adapters.cql_tweets import CqlTweetSource
from svc_search.adapters.elasticsearch_index import ElasticsearchDocuments, ElasticsearchIndexGenerations
from svc_search.adapters.graph_directory import GrpcUserDirectory
from svc_search.adapters.jetstream_replay import JetStreamEventLog
from svc_search.documents import TWEETS_ALIAS
from svc_search.service import RebuildReport, TweetIndexRebuild

log = logging.getLogger("svc_search.rebuild")

TWEETS_STREAM = "TWEETS"  # mesh/events.py: where tweet.created and tweet.deleted are published


async def rebuild(stack: Stack) -> RebuildReport:
    deps = await Dependencies.open(stack, name="search-rebuild", cql=True, es=True, nats=True, peers=("graph",))
    try:
        job = TweetIndexRebuild(
            ElasticsearchIndexGenerations(deps.es, MIGRATIONS_DIR / "elasticsearch" / f"{TWEETS_ALIAS}.json"),
            CqlTweetSource(deps.cql, stack.cql_keyspace),
            JetStreamEventLog(deps.nats.jetstream(timeout=10), TWEETS_STREAM),
            lambda index: ElasticsearchDocuments(deps.es, index, through_alias=False),
            GrpcUserDirectory(deps.peers["graph"]),
            page_size=env_int("TM_SEARCH_REBUILD_PAGE", 500),
        )
        return await job.run()
    finally:
        await deps.close()


def main() -> None:
    logs.setup("search-rebuild", env_str("TM_LOG_LEVEL", "INFO"))
    try:
        report = asyncio.run(rebuild(Stack()))
    except (Unavailable, RuntimeError) as exc:
        log.error("rebuild did not finish: %s", exc)
        raise SystemExit(1) from None
    print(
        f"{TWEETS_ALIAS} -> {report.new_index} (was {', '.join(report.old_indices) or 'nothing'}): "
        f"{report.tweets} tweets, {report.tombstones} deleted, {report.replayed} events replayed"
    )


if __name__ == "__main__":
    main()
