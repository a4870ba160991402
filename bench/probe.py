"""One workload at one rate, repeated: the loop to use while profiling a change.

    python -m bench.probe home_timeline --rate 25 --seconds 30 --repeat 3

Same open loop, same data and the same CPU-per-request accounting as `make bench`, without the
sweeps and without writing bench/results/. Needs the data of `make bench` (bench/load.py) and a mesh
started with the bench's settings (the Makefile's `bench` target exports them).
"""

from __future__ import annotations

import argparse
import sys

from bench import dataset as bench_dataset
from bench.__main__ import Bench, _say
from bench.report import KIND_COMPOSE, KIND_HOME_TIMELINE, KIND_SEARCH
from bench.workloads import KIND_PING, KIND_USER_TIMELINE, Requests
from mesh.config import Stack

KINDS = (KIND_HOME_TIMELINE, KIND_USER_TIMELINE, KIND_COMPOSE, KIND_PING, KIND_SEARCH, "mixed")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.probe", description=__doc__.split("\n")[0])
    parser.add_argument("kind", choices=KINDS)
    parser.add_argument("--rate", type=float, required=True, help="requests per second, open loop")
    parser.add_argument("--seconds", type=float, default=20.0, help="measured seconds of each run")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds sent before measuring")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--seed", type=int, default=98,
                        help="of the users and terms picked; the same seed sends the same requests, so caches "
                             "(relationships, Elasticsearch's) are warm for them: another seed measures cold")
    args = parser.parse_args(argv)
    stack = Stack()
    try:
        manifest = bench_dataset.load_manifest(stack)
    except FileNotFoundError as missing:
        _say(str(missing))
        return 2
    if args.kind == KIND_SEARCH and manifest.search is None:
        _say("no search corpus in the manifest: load it first (python -m bench.load --only search)")
        return 2
    requests = Requests(stack, manifest.reed98.user_ids, seed=args.seed)
    bench = Bench(stack, quick=True)
    bench.duration_s, bench.warmup_s = args.seconds, args.warmup

    def targets(count: int):
        if args.kind == KIND_SEARCH:
            # the terms `make bench` searches for (bench/__main__.py), every document-count class
            search = manifest.search
            terms = [t.term for group in (*search.terms.values(), *search.hashtags.values()) for t in group]
            return requests.searches(terms, count)
        return requests.mixed(count) if args.kind == "mixed" else requests.only(args.kind, count)

    for _ in range(args.repeat):
        bench.run(args.kind, targets, args.rate)
    return 0


if __name__ == "__main__":
    sys.exit(main())
