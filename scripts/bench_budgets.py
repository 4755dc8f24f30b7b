"""gitmine against nixpkgs auto-layer at budgets other than the planner issue's (about a minute).

    python scripts/bench_budgets.py

The issue scores 8 and 16 layers on the small corpus histories and 64 and 100 on the big ones;
users pick other budgets. Same folds as ``bench_replay.py``; pull / unpack as ratios to the lower
bound; a row is marked where gitmine pulls more than 2% above auto-layer.
"""

from __future__ import annotations

import time

from corpus import corpus_files
from gitmine.recorded import load_history
from gitmine.replay import replay

OTHER_BUDGETS = {"deb-": (3, 4, 6, 12, 24, 32), "big-": (24, 32, 48, 150)}


def main() -> None:
    print("| history | layers | autolayer pull / unpack | gitmine pull / unpack | gitmine ÷ autolayer pull |")
    print("| --- | ---: | ---: | ---: | ---: |")
    t0 = time.perf_counter()
    for f in corpus_files():
        snaps = load_history(f)
        for n in OTHER_BUDGETS[f.name[:4]]:
            (al, gm), _ = replay(snaps, max_layers=n, strategies=("autolayer", "gitmine"))
            lb = al.lower_bound
            mark = " (above)" if gm.pull > 1.02 * al.pull else ""
            cells = f"{al.pull / lb:.2f} / {al.unpack / lb:.2f} | {gm.pull / lb:.2f} / {gm.unpack / lb:.2f}"
            print(f"| {f.name.removesuffix('.jsonl.gz')} | {n} | {cells} | {gm.pull / al.pull:.0%}{mark} |", flush=True)
    print(f"\n({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
