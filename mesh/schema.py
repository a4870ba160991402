"""Schema management for the stores and the bus, applied at `make up` and safe to run again.

- CQL: versioned migrations `migrations/cql/NNNN_name.cql`, applied in order, each recorded in
  `schema_migrations` with a checksum; an applied migration that was edited afterwards is refused
  (write a new migration instead). Statements must be idempotent (IF NOT EXISTS) so a migration
  interrupted half way can simply run again.
- Elasticsearch: versioned index templates `migrations/elasticsearch/<name>.json`; the first index
  `<name>-v<version>` is created behind the alias `<name>`, which is what readers and writers use,
  so a new mapping is a new index and an alias swap, without downtime.
- JetStream: the streams and durable consumers of mesh/events.py.

Usage: python -m mesh.schema [cql] [elasticsearch] [jetstream]   (all when none is named)
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from elasticsearch import AsyncElasticsearch

from mesh import cql, events, logs
from mesh.config import REPO_ROOT, Stack, env_int

log = logging.getLogger("mesh.schema")

MIGRATIONS_DIR = REPO_ROOT / "migrations"
_MIGRATION_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.cql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    statements: tuple[str, ...]
    checksum: str


class MigrationError(RuntimeError):
    pass


def load_migrations(folder: Path, keyspace: str) -> list[Migration]:
    migrations = []
    for path in sorted(folder.glob("*.cql")):
        match = _MIGRATION_NAME.match(path.name)
        if not match:
            raise MigrationError(f"{path.name}: migration files are named NNNN_lower_snake.cql")
        text = path.read_text()
        migrations.append(
            Migration(
                version=int(match.group(1)),
                name=match.group(2),
                statements=split_statements(text.replace("{keyspace}", keyspace)),
                checksum=hashlib.sha256(text.encode()).hexdigest(),
            )
        )
    versions = [m.version for m in migrations]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"two migrations share a version in {folder}: {versions}")
    return migrations


def split_statements(text: str) -> tuple[str, ...]:
    """CQL statements of a file: `--` comments dropped, split on `;` at line ends."""
    lines = [line for line in text.splitlines() if not line.strip().startswith("--")]
    body = "\n".join(lines)
    return tuple(s.strip() for s in re.split(r";\s*(?:\n|$)", body) if s.strip())


async def migrate_cql(stack: Stack, folder: Path = MIGRATIONS_DIR / "cql") -> list[str]:
    """Apply pending migrations; returns the names applied now."""
    keyspace = stack.cql_keyspace
    replication = env_int("TM_CQL_REPLICATION_FACTOR", 1)
    session = await cql.connect(stack, wait_s=120)
    try:
        # Schema changes take longer than reads and writes; the driver waits for schema agreement.
        cap = 30.0
        await cql.execute(
            session,
            f"CREATE KEYSPACE IF NOT EXISTS {keyspace} WITH replication = "
            f"{{'class': 'NetworkTopologyStrategy', '{stack.cql_datacenter}': {replication}}}",
            cap_s=cap,
        )
        await cql.execute(
            session,
            f"CREATE TABLE IF NOT EXISTS {keyspace}.schema_migrations "
            "(version int PRIMARY KEY, name text, checksum text, applied_at timestamp)",
            cap_s=cap,
        )
        rows = await cql.execute(session, f"SELECT version, name, checksum FROM {keyspace}.schema_migrations")
        applied = {row.version: row for row in rows}
        done_now = []
        for migration in load_migrations(folder, keyspace):
            recorded = applied.get(migration.version)
            if recorded is not None:
                if recorded.checksum != migration.checksum:
                    raise MigrationError(
                        f"migration {migration.version:04d}_{migration.name} was changed after it was applied; "
                        "add a new migration instead of editing an applied one"
                    )
                continue
            for statement in migration.statements:
                await cql.execute(session, statement, cap_s=cap)
            await cql.execute(
                session,
                f"INSERT INTO {keyspace}.schema_migrations (version, name, checksum, applied_at) VALUES (%s, %s, %s, %s)",
                (migration.version, migration.name, migration.checksum, datetime.now(timezone.utc)),
            )
            done_now.append(f"{migration.version:04d}_{migration.name}")
            log.info("cql migration applied", extra={"migration": done_now[-1]})
        return done_now
    finally:
        await cql.close(session)


async def ensure_search_indices(stack: Stack, folder: Path = MIGRATIONS_DIR / "elasticsearch") -> list[str]:
    """Put every index template and create its first index behind its alias; returns indices created."""
    created = []
    async with AsyncElasticsearch(stack.es_url, request_timeout=30) as es:
        for path in sorted(folder.glob("*.json")):
            template = json.loads(path.read_text())
            alias = template["_meta"]["alias"]
            await es.indices.put_index_template(name=alias, body=template)
            if await es.indices.exists_alias(name=alias):
                continue
            index = f"{alias}-v{template['_meta']['version']}"
            await es.indices.create(index=index, aliases={alias: {"is_write_index": True}})
            created.append(index)
            log.info("search index created", extra={"index": index, "alias": alias})
    return created


async def declare_jetstream(stack: Stack) -> None:
    nc = await events.connect(stack, name="tweetmesh-schema")
    try:
        await events.declare(nc.jetstream(timeout=10))
    finally:
        await nc.close()


STEPS = {"cql": migrate_cql, "elasticsearch": ensure_search_indices, "jetstream": declare_jetstream}


async def apply(names: list[str], stack: Stack | None = None) -> None:
    stack = stack or Stack()
    await asyncio.gather(*(STEPS[name](stack) for name in names))


def main(argv: list[str]) -> int:
    logs.setup("schema")
    names = argv or list(STEPS)
    unknown = [n for n in names if n not in STEPS]
    if unknown:
        print(f"unknown schema step(s) {unknown}; choose from {list(STEPS)}", file=sys.stderr)
        return 2
    asyncio.run(apply(names))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
