"""What re-running ``gitmine analyze`` before releases costs, switches included.

    python scripts/bench_replan.py            # all six corpus histories (several minutes)
    python scripts/bench_replan.py --small    # the four small ones
    python scripts/bench_replan.py --start 4  # a young repository: the first analysis after 4 weeks

The replay (``bench_replay.py``) refreshes the hints once per 26-week fold and does not charge the
switch. Here (``gitmine replay --replan-every N``) a release pipeline re-plans on the previous 26
weeks before every release (every 4th on the big histories, where a plan takes seconds), lays the
release out with the new hints and pays for whatever the new layout re-ships:

* ``every 26 weeks``: a plan from scratch every 26 releases (the replay's folds, switch charged);
* ``fresh``: a plan from scratch at each re-plan;
* ``stable``: what ``gitmine analyze`` does, starting from the hints in use;
* ``autolayer``: nixpkgs auto-layer, for reference.

Bytes are ratios to the lower bound over the 78 releases after the first 26 weeks.

With ``--start N`` the pipeline starts in a young repository: the first analysis learns from the
first N weeks, each later one from all the history there is until that spans 26 weeks, and every
release after the first N weeks is scored (``stable`` and ``autolayer`` only).
"""

from __future__ import annotations

import sys
import time

from corpus import budgets, corpus_files
from gitmine.recorded import load_history
from gitmine.replay import FRESH, replay_replanning


def young(start: int) -> None:
    print(f"The first analysis after {start} weeks, its window growing to 26 weeks:\n")
    print("| history | layers | re-plan every | stable pull / unpack | autolayer pull / unpack |")
    print("| --- | ---: | ---: | ---: | ---: |")
    t0 = time.perf_counter()
    for f in corpus_files():
        snaps = load_history(f)
        every = 4 if f.name.startswith("big-") else 1
        for n in budgets(f):
            results = replay_replanning(snaps, max_layers=n, every=every, strategies=("gitmine", "autolayer"), start_weeks=start)[0]
            cells = " | ".join(f"{r.pull / r.lower_bound:.2f} / {r.unpack / r.lower_bound:.2f}" for r in results)
            print(f"| {f.name.removesuffix('.jsonl.gz')} | {n} | {every} | {cells} |", flush=True)
    print(f"\n({time.perf_counter() - t0:.0f} s)")


def main() -> None:
    if "--start" in sys.argv:
        young(int(sys.argv[sys.argv.index("--start") + 1]))
        return
    files = corpus_files()
    names = ("every 26 weeks", "fresh", "stable", "autolayer")
    print("| history | layers | re-plan every | " + " | ".join(f"{n} pull / unpack" for n in names) + " |")
    print("| --- | ---: | ---: |" + " ---: |" * len(names))
    t0 = time.perf_counter()
    for f in files:
        snaps = load_history(f)
        every = 4 if f.name.startswith("big-") else 1
        for n in budgets(f):
            slow = replay_replanning(snaps, max_layers=n, every=26, strategies=(FRESH,))[0]
            rest = replay_replanning(snaps, max_layers=n, every=every, strategies=(FRESH, "gitmine", "autolayer"))[0]
            cells = " | ".join(f"{r.pull / r.lower_bound:.2f} / {r.unpack / r.lower_bound:.2f}" for r in (*slow, *rest))
            print(f"| {f.name.removesuffix('.jsonl.gz')} | {n} | {every} | {cells} |", flush=True)
    print(f"\n({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
