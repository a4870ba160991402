"""The social graph in CQL: follows, blocks and mutes as wide rows (migrations/cql/0003_graph.cql).

Each relation has a row per edge in the source's partition (`*_by_user`, by the other id: point
lookups and exact counts), for follows and blocks also in the target's partition (followers,
"who blocks me"), and the lists most recent first (`*_by_time`). `apply` writes all of them and
the outbox rows of the events in one LOGGED batch: a crash stores all or nothing.

The `*_by_user` rows are the truth; a `*_by_time` row is shown only if the `*_by_user` row of its
edge exists with the same create_time. Two racing follows of one pair (each writing its own
create_time) or a follow racing an unfollow can leave a `*_by_time` row behind; reads skip it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

from cassandra.cluster import Session

from mesh import cql
from mesh.outbox import CqlOutbox
from mesh.cql_rows import rows_in, rows_of, utc
from svc_graph.adapters.outbox_events import outbox_event
from svc_graph.domain import Direction, Edge, EdgePage, FollowCounts, GraphChange, ListPosition, Relation


@dataclass(frozen=True)
class _Tables:
    """Where the edges of one relation live; None where a question is never asked."""

    by_source: str  # (user_id = source, <target_column>, create_time)
    target_column: str
    by_target: str | None  # (user_id = target, <source_column>, create_time)
    source_column: str
    source_time: str | None  # (user_id = source, create_time, <target_column>), newest first
    target_time: str | None  # (user_id = target, create_time, <source_column>), newest first


_TABLES = {
    Relation.FOLLOW: _Tables(
        "following_by_user", "followee_id", "followers_by_user", "follower_id", "following_by_time", "followers_by_time"
    ),
    Relation.BLOCK: _Tables("blocks_by_user", "blocked_id", "blocked_by_user", "blocker_id", "blocks_by_time", None),
    # mutes are private: nobody asks who mutes them
    Relation.MUTE: _Tables("mutes_by_user", "muted_id", None, "muter_id", "mutes_by_time", None),
}


def _from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc)


def _to_ms(moment: datetime) -> int:
    return int(round(moment.timestamp() * 1000))


class CqlGraphStore:
    def __init__(self, session: Session, keyspace: str, outbox: CqlOutbox, on_commit: Callable[[str], None] = lambda key: None):
        self._session = session
        self._ks = keyspace
        self._outbox = outbox
        self._on_commit = on_commit  # wakes the outbox relay after an event was committed

    async def _prepared(self, query: str):
        return await cql.prepare(self._session, query)

    async def _rows(self, query: str, parameters: tuple) -> list:
        return rows_of(await cql.execute(self._session, await self._prepared(query), parameters))

    # --- writes -------------------------------------------------------------------------------

    async def apply(self, change: GraphChange) -> None:
        statements = []
        for edge in change.added:
            statements += [(await self._prepared(q), p) for q, p in self._insert_edge(edge)]
        for edge in change.removed:
            statements += [(await self._prepared(q), p) for q, p in self._delete_edge(edge)]
        statements += [
            self._outbox.insert_statement(outbox_event(event), key=str(change.actor_id)) for event in change.events
        ]
        if not statements:
            return
        await cql.execute_batch(self._session, statements)
        if change.events:
            self._on_commit(str(change.actor_id))

    def _insert_edge(self, edge: Edge) -> list[tuple[str, tuple]]:
        t = _TABLES[edge.relation]
        ks, source, target, at = self._ks, edge.source_id, edge.target_id, edge.create_time
        statements = [
            (f"INSERT INTO {ks}.{t.by_source} (user_id, {t.target_column}, create_time) VALUES (?, ?, ?)", (source, target, at))
        ]
        if t.by_target:
            statements.append(
                (f"INSERT INTO {ks}.{t.by_target} (user_id, {t.source_column}, create_time) VALUES (?, ?, ?)", (target, source, at))
            )
        if t.source_time:
            statements.append(
                (f"INSERT INTO {ks}.{t.source_time} (user_id, create_time, {t.target_column}) VALUES (?, ?, ?)", (source, at, target))
            )
        if t.target_time:
            statements.append(
                (f"INSERT INTO {ks}.{t.target_time} (user_id, create_time, {t.source_column}) VALUES (?, ?, ?)", (target, at, source))
            )
        return statements

    def _delete_edge(self, edge: Edge) -> list[tuple[str, tuple]]:
        t = _TABLES[edge.relation]
        ks, source, target, at = self._ks, edge.source_id, edge.target_id, edge.create_time
        statements = [(f"DELETE FROM {ks}.{t.by_source} WHERE user_id = ? AND {t.target_column} = ?", (source, target))]
        if t.by_target:
            statements.append((f"DELETE FROM {ks}.{t.by_target} WHERE user_id = ? AND {t.source_column} = ?", (target, source)))
        if t.source_time:
            statements.append(
                (f"DELETE FROM {ks}.{t.source_time} WHERE user_id = ? AND create_time = ? AND {t.target_column} = ?", (source, at, target))
            )
        if t.target_time:
            statements.append(
                (f"DELETE FROM {ks}.{t.target_time} WHERE user_id = ? AND create_time = ? AND {t.source_column} = ?", (target, at, source))
            )
        return statements

    # --- reads --------------------------------------------------------------------------------

    async def edges_from(self, relation: Relation, source_id: int, target_ids: Sequence[int]) -> dict[int, Edge]:
        t = _TABLES[relation]
        times = await self._create_times(t.by_source, t.target_column, source_id, target_ids)
        return {target: Edge(relation, source_id, target, at) for target, at in times.items()}

    async def edges_to(self, relation: Relation, target_id: int, source_ids: Sequence[int]) -> dict[int, Edge]:
        t = _TABLES[relation]
        if t.by_target is None:
            raise ValueError(f"{relation.value} edges are not indexed by their target")
        times = await self._create_times(t.by_target, t.source_column, target_id, source_ids)
        return {source: Edge(relation, source, target_id, at) for source, at in times.items()}

    async def sources_to(self, relation: Relation, target_id: int, limit: int) -> list[int]:
        t = _TABLES[relation]
        if t.by_target is None:
            raise ValueError(f"{relation.value} edges are not indexed by their target")
        rows = await self._rows(
            f"SELECT {t.source_column} FROM {self._ks}.{t.by_target} WHERE user_id = ? LIMIT ?", (target_id, limit)
        )
        return [row[0] for row in rows]

    async def targets_from(self, relation: Relation, source_id: int, limit: int) -> list[int]:
        t = _TABLES[relation]
        rows = await self._rows(
            f"SELECT {t.target_column} FROM {self._ks}.{t.by_source} WHERE user_id = ? LIMIT ?", (source_id, limit)
        )
        return [row[0] for row in rows]

    async def _create_times(self, table: str, column: str, user_id: int, other_ids: Sequence[int]) -> dict[int, datetime]:
        """create_time of each edge of the partition that exists among `other_ids`."""
        query = f"SELECT {column}, create_time FROM {self._ks}.{table} WHERE user_id = ? AND {column} IN ?"
        return {row[0]: utc(row.create_time) for row in await rows_in(self._rows, query, other_ids, user_id)}

    async def page(
        self, relation: Relation, direction: Direction, user_id: int, after: ListPosition | None, limit: int
    ) -> EdgePage:
        t = _TABLES[relation]
        if direction is Direction.OUTGOING:
            time_table, column, truth_table = t.source_time, t.target_column, t.by_source
        else:
            time_table, column, truth_table = t.target_time, t.source_column, t.by_target
        if time_table is None or truth_table is None:
            raise ValueError(f"{relation.value} edges have no {direction.value} list")
        select = f"SELECT create_time, {column} FROM {self._ks}.{time_table} WHERE user_id = ?"
        # one row more than asked: tells whether there is a next page without another query
        if after is None:
            rows = await self._rows(f"{select} LIMIT ?", (user_id, limit + 1))
        else:
            rows = await self._rows(
                f"{select} AND (create_time, {column}) < (?, ?) LIMIT ?",
                (user_id, _from_ms(after.create_time_ms), after.other_id, limit + 1),
            )
        more, rows = len(rows) > limit, rows[:limit]
        listed = [(row[1], utc(row.create_time)) for row in rows]
        current = await self._create_times(truth_table, column, user_id, [other for other, _ in listed])
        edges = [
            Edge(relation, user_id, other, at) if direction is Direction.OUTGOING else Edge(relation, other, user_id, at)
            for other, at in listed
            if current.get(other) == at  # else a row left behind by a race: not an edge
        ]
        last_other, last_at = listed[-1] if listed else (0, None)
        return EdgePage(edges, ListPosition(_to_ms(last_at), last_other) if more else None)

    async def count_follows(self, user_id: int) -> FollowCounts:
        followers, following = await asyncio.gather(
            self._rows(f"SELECT COUNT(*) FROM {self._ks}.followers_by_user WHERE user_id = ?", (user_id,)),
            self._rows(f"SELECT COUNT(*) FROM {self._ks}.following_by_user WHERE user_id = ?", (user_id,)),
        )
        return FollowCounts(followers=int(followers[0][0]), following=int(following[0][0]))
