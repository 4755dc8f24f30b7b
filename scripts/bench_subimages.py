"""Does the planner generalise to images it was never tuned on? gitmine against auto-layer on
sub-images of the big corpus histories (about 15 seconds).

    python scripts/bench_subimages.py

Each big history's application references some twenty server packages (postgresql, redis, apache2,
a Java runtime, npm, ...). The closure of one of them, snapshot by snapshot, is the history of an
image that ships that server alone: real Debian graphs and real update dates, and structures (sizes,
depths, what updates) that the six corpus files, on which the planner's one constant was set, do
not have as images of their own. Same folds and scoring as ``bench_replay.py``; pull / unpack as
ratios to the lower bound; a row is marked where gitmine pulls more than 2% above auto-layer.
"""

from __future__ import annotations

import time

from corpus import CORPUS
from gitmine.closure import Closure, Snapshot
from gitmine.recorded import load_history
from gitmine.replay import replay

ROOTS = ("redis-server", "apache2", "php-fpm", "default-jre-headless", "postgresql", "mariadb-server", "npm")


def sub_history(snapshots: list[Snapshot], root_key: str) -> list[Snapshot]:
    """The history of the image made of ``root_key``'s closure (snapshots without it left out)."""
    out: list[Snapshot] = []
    cache: dict[int, Closure | None] = {}  # snapshots that share a closure share its part
    for s in snapshots:
        c = s.closure()
        if id(c) not in cache:
            roots = c.keys.get(root_key)
            cache[id(c)] = c.closure_of(roots) if roots else None
        sub = cache[id(c)]
        if sub is not None:
            out.append(Snapshot(s.rev, s.date, {"image": sub}))
    return out


def main() -> None:
    print("| history | image | paths | layers | autolayer pull / unpack | gitmine pull / unpack | gitmine ÷ autolayer pull |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    t0 = time.perf_counter()
    for f in sorted(CORPUS.glob("big-*.jsonl.gz")):
        snaps = load_history(f)
        for root in ROOTS:
            hist = sub_history(snaps, root)
            paths = len(hist[-1].closure())
            for n in (8, 16) if paths < 150 else (32, 64):
                (al, gm), _ = replay(hist, max_layers=n, strategies=("autolayer", "gitmine"))
                lb = al.lower_bound
                mark = " (above)" if gm.pull > 1.02 * al.pull else ""
                cells = f"{al.pull / lb:.2f} / {al.unpack / lb:.2f} | {gm.pull / lb:.2f} / {gm.unpack / lb:.2f}"
                name = f.name.removesuffix(".jsonl.gz")
                print(f"| {name} | {root} | {paths} | {n} | {cells} | {gm.pull / al.pull:.0%}{mark} |", flush=True)
    print(f"\n({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
