"""The benchmark dataset: what `python -m bench.load` puts into the stack, and the manifest it leaves.

Three parts, each loaded and checked on its own (bench/load.py):

- `reed98`: the socfb-Reed98 friendship graph (962 people, 18,812 undirected edges), the default
  graph of DeathStarBench's socialNetwork. Loaded through the public REST API like its init
  script: each person signs up, each undirected edge becomes two follows, each user posts ten
  tweets. The source file is read where it lies (`TM_BENCH_DATASETS`, else ../shared/datasets
  next to the repository), never copied into the repository.
- `synthetic`: a seeded heavy-tailed follow graph of 100,000 users (bench/synthetic.py), with
  fan-out authors of exactly 10, 1,000 and 10,000 followers and a few celebrities; written straight
  into the stores with svc_graph's own statements (too big for the API).
- `search`: a seeded corpus of 1,000,000 tweets by synthetic users (bench/corpus.py), in svc_tweet's
  tables and the search index, plus query terms by how many tweets hold them.

The manifest (`<TM_VAR_DIR>/bench/dataset.json`) records what was loaded: ids, handles, the
special users, the query terms and the load timings. `load_manifest()` reads it back as a
`Dataset` for the benchmarks.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mesh.config import REPO_ROOT, Stack

DATASET_VERSION = 1
SEED = 8_2026  # issue 8

PARTS = ("reed98", "synthetic", "search")

REED98_NAME = "socfb-Reed98"
REED98_TWEETS_PER_USER = 10
REED98_HANDLE_PREFIX = "reed98_"  # + the node number, zero-padded: reed98_000 .. reed98_961

BENCH_PASSWORD = "bench-password-8"  # every dataset user's password (log-in benchmarks need one)


def datasets_dir() -> Path:
    """Where the shared datasets lie: TM_BENCH_DATASETS, else ../shared/datasets beside the repo."""
    configured = os.environ.get("TM_BENCH_DATASETS")
    return Path(configured) if configured else REPO_ROOT.parent / "shared" / "datasets"


def reed98_edges_file() -> Path:
    return datasets_dir() / REED98_NAME / f"{REED98_NAME}.edges"


def manifest_path(stack: Stack | None = None) -> Path:
    return (stack or Stack()).var_dir / "bench" / "dataset.json"


# ---------------------------------------------------------------------------------------------
# socfb-Reed98


def parse_edges(lines: Any) -> list[tuple[int, int]]:
    """The undirected edges of an edge list (`a b` a line, `%` or `#` comments), each once, as
    (smaller, larger). Self-loops and repeated edges are refused: the file is not what we think."""
    edges: list[tuple[int, int]] = []
    seen: set[tuple[int, int]] = set()
    for number, line in enumerate(lines, start=1):
        text = line.strip()
        if not text or text[0] in "%#":
            continue
        parts = text.split()
        if len(parts) < 2:
            raise ValueError(f"line {number}: expected two node numbers, got {text!r}")
        a, b = int(parts[0]), int(parts[1])
        if a < 0 or b < 0 or a == b:
            raise ValueError(f"line {number}: not an edge between two nodes: {text!r}")
        edge = (min(a, b), max(a, b))
        if edge in seen:
            raise ValueError(f"line {number}: edge {a}-{b} repeated")
        seen.add(edge)
        edges.append(edge)
    return edges


def node_count(edges: list[tuple[int, int]]) -> int:
    """Nodes are numbered 0..n-1 and each has an edge (true of the Network Repository's socfb files)."""
    nodes = {node for edge in edges for node in edge}
    n = max(nodes) + 1 if nodes else 0
    if len(nodes) != n:
        raise ValueError(f"nodes are not numbered 0..{n - 1}: {n - len(nodes)} numbers have no edge")
    return n


def follows_of(edges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Each undirected edge as two follows (follower, followee), as DeathStarBench loads it."""
    return [follow for a, b in edges for follow in ((a, b), (b, a))]


def read_reed98(path: Path | None = None) -> list[tuple[int, int]]:
    path = path or reed98_edges_file()
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: set TM_BENCH_DATASETS to the folder that holds {REED98_NAME}/")
    with path.open() as lines:
        return parse_edges(lines)


def reed98_handle(node: int) -> str:
    return f"{REED98_HANDLE_PREFIX}{node:03d}"


# ---------------------------------------------------------------------------------------------
# The manifest


@dataclass(frozen=True)
class Reed98Part:
    user_ids: list[int]  # by node number: user_ids[n] is node n of the edge file
    handles: list[str]
    undirected_edges: int
    follows: int
    tweets_per_user: int
    source: str
    follows_via: str = "api"  # "api": POST /v1/follow each; "bulk": svc_graph's rows written directly


@dataclass(frozen=True)
class Celebrity:
    id: int
    followers: int


@dataclass(frozen=True)
class SyntheticPart:
    users: int
    first_user_id: int  # user i has id first_user_id + i * user_id_stride and handle handle_format % i
    user_id_stride: int
    handle_format: str
    follows: int
    fanout_authors: dict[str, int]  # "10" / "1000" / "10000" -> user id with exactly that many followers
    celebrities: list[Celebrity]
    tweets_per_special_author: int
    spec: dict[str, Any]

    @property
    def user_ids(self) -> range:
        """Every synthetic user id, in creation order (a range: random.choice works on it)."""
        return range(self.first_user_id, self.first_user_id + self.users * self.user_id_stride, self.user_id_stride)

    def handle_of(self, user_id: int) -> str:
        index, rest = divmod(user_id - self.first_user_id, self.user_id_stride)
        if rest or not 0 <= index < self.users:
            raise ValueError(f"{user_id} is not a synthetic user id")
        return self.handle_format % index


@dataclass(frozen=True)
class Term:
    term: str  # as a query types it: `word`, or `#tag`
    docs: int  # tweets of the index that hold it (Elasticsearch _count, after the load)


@dataclass(frozen=True)
class SearchPart:
    tweets: int
    first_tweet_id: int
    last_tweet_id: int
    terms: dict[str, list[Term]]  # "rare" / "medium" / "common" -> words for free-text queries
    hashtags: dict[str, list[Term]]  # the same classes of `#tag` queries
    spec: dict[str, Any]
    in_tweet_store: bool = False  # also in svc_tweet's tables (GET /v1/tweets/{id} finds them)


@dataclass(frozen=True)
class Dataset:
    version: int
    seed: int
    reed98: Reed98Part | None = None
    synthetic: SyntheticPart | None = None
    search: SearchPart | None = None
    timings: dict[str, dict[str, float]] = field(default_factory=dict)  # part -> phase -> seconds

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> "Dataset":
        reed98, synthetic, search = raw.get("reed98"), raw.get("synthetic"), raw.get("search")
        return cls(
            version=raw["version"],
            seed=raw["seed"],
            reed98=Reed98Part(**reed98) if reed98 else None,
            synthetic=SyntheticPart(**{**synthetic, "celebrities": [Celebrity(**c) for c in synthetic["celebrities"]]})
            if synthetic else None,
            search=SearchPart(**{
                **search,
                "terms": _term_classes(search["terms"]),
                "hashtags": _term_classes(search["hashtags"]),
            }) if search else None,
            timings=raw.get("timings", {}),
        )


def _term_classes(raw: dict[str, list[dict[str, Any]]]) -> dict[str, list[Term]]:
    return {name: [Term(**term) for term in terms] for name, terms in raw.items()}


def load_manifest(stack: Stack | None = None) -> Dataset:
    """The dataset `python -m bench.load` recorded; FileNotFoundError if nothing was loaded yet."""
    path = manifest_path(stack)
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: load the dataset first (.venv/bin/python -m bench.load)")
    return Dataset.from_json(json.loads(path.read_text()))


def save_manifest(dataset: Dataset, stack: Stack | None = None) -> Path:
    path = manifest_path(stack)
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_suffix(".json.tmp")
    scratch.write_text(json.dumps(dataset.to_json(), indent=1) + "\n")
    scratch.replace(path)  # a reader never sees half a manifest
    return path
