"""Does the planner generalise? gitmine against nixpkgs auto-layer on synthetic histories of other kinds.

    python scripts/bench_general.py            # every regime, three seeds each (about seven minutes)
    python scripts/bench_general.py --small    # the 60-package regimes only
    python scripts/bench_general.py bumps big-bumps   # only the regimes named
    python scripts/bench_general.py --seeds 11,12,13  # other seeds than the three the planner was measured on
    python scripts/bench_general.py --train 4  # folds that learn from 4 weeks (a young repository)

The corpus holds six histories; users' images are not those. Each regime here is a kind of history
the corpus has little of (``synthetic.py`` documents the options), 104 weekly snapshots, scored by
``gitmine replay``'s default folds (26 weeks to learn, 26 to score) at the issue's budgets. Cells
are pull / unpack as ratios to the lower bound, averaged over the seeds; the last column is the
worst seed's gitmine pull bytes relative to auto-layer's (below 100% is better).
"""

from __future__ import annotations

import sys
import time
from typing import Any

from synthetic import synthetic_history
from gitmine.replay import replay

SEEDS = (1, 2, 3)
SMALL = 60
BIG = 600

REGIMES: dict[str, tuple[str, dict[str, Any]]] = {
    "random": ("random DAG, exponential rates", {}),
    "stable": ("a stable distribution: rare updates", {"mean_rate": 0.01, "hub": True}),
    "rolling": ("a rolling distribution: frequent updates", {"mean_rate": 0.08, "hub": True}),
    "mass-rebuilds": ("the libc every 4 weeks", {"mass_every": 4}),
    "app": ("stable base, three application keys on top", {"mean_rate": 0.01, "hub": True, "app": 3}),
    "bimodal": ("a volatile tenth, a stable rest", {"rate_shape": "bimodal", "hub": True}),
    "uniform": ("every package alike", {"mean_rate": 0.03, "rate_shape": "uniform", "hub": True}),
    "dev-outputs": ("-dev outputs beside their packages", {"hub": True, "dev_outputs": True}),
    "drift": ("rates redrawn 2% of weeks", {"mean_rate": 0.03, "hub": True, "drift": 0.02}),
    "growing": ("a package gains a new dependency every other week", {"hub": True, "added": 0.5}),
    "lockfile": ("an application pinning 30 language packages", {"mean_rate": 0.01, "hub": True, "app": 3, "locked": 30}),
    "daily": ("the random regime, a snapshot a day", {"per_week": 7}),
    "daily-app": ("the app regime, a commit a day changing the application", {"mean_rate": 0.01, "hub": True, "app": 3, "per_week": 7}),
    "services": ("a new service with its own packages every 26 weeks", {"hub": True, "app": 3, "services": 26}),
    "bumps": ("a nixpkgs bump rebuilds everything every 2 weeks, application on top", {"mean_rate": 0.01, "hub": True, "app": 3, "bump_every": 2}),
    "python-env": ("a python3.withPackages environment of 20 packages under the application", {"mean_rate": 0.01, "hub": True, "app": 3, "python_env": 20}),
    "short-rev": ("the app regime, the application versioned by a git revision", {"mean_rate": 0.01, "hub": True, "app": 3, "app_versions": "revisions"}),
    "tags": ("the app regime, the application versioned by release tags (v1.4)", {"mean_rate": 0.01, "hub": True, "app": 3, "app_versions": "tags"}),
    "build-tools": ("8 build tools, each updated 5% of weeks, rebuilding what they built", {"mean_rate": 0.01, "hub": True, "app": 3, "build_tools": 8}),
    "shift": ("rates shuffled at once in the middle of every scored half-year", {"hub": True, "app": 3, "shift_every": 26}),
    "resize": ("each update changes the package's size (sigma 0.7)", {"hub": True, "app": 3, "resize": 0.7}),
}
BIG_REGIMES: dict[str, tuple[str, dict[str, Any]]] = {
    "big-app": ("stable base, application on top", {"mean_rate": 0.01, "hub": True, "app": 3}),
    "big-mass-rebuilds": ("the libc every 8 weeks", {"mass_every": 8}),
    "big-growing": ("a package gains a new dependency every week", {"hub": True, "added": 1.0}),
    "big-lockfile": ("an application pinning 200 language packages", {"mean_rate": 0.01, "hub": True, "app": 3, "locked": 200}),
    "big-services": ("a new service with its own packages every 26 weeks", {"hub": True, "app": 3, "services": 26}),
    "big-bumps": ("a nixpkgs bump rebuilds everything every 2 weeks", {"mean_rate": 0.01, "hub": True, "app": 3, "bump_every": 2}),
    "big-python-env": ("a python3.withPackages environment of 100 packages", {"mean_rate": 0.01, "hub": True, "app": 3, "python_env": 100}),
    "big-build-tools": ("8 build tools, each updated 5% of weeks, rebuilding what they built", {"mean_rate": 0.01, "hub": True, "app": 3, "build_tools": 8}),
    "big-shift": ("rates shuffled at once in the middle of every scored half-year", {"hub": True, "app": 3, "shift_every": 26}),
    "big-resize": ("each update changes the package's size (sigma 0.7)", {"hub": True, "app": 3, "resize": 0.7}),
}


def main() -> None:
    args, seeds, train = sys.argv[1:], SEEDS, 26
    if "--seeds" in args:
        at = args.index("--seeds")
        seeds = tuple(int(s) for s in args[at + 1].split(","))
        del args[at : at + 2]
    if "--train" in args:
        at = args.index("--train")
        train = int(args[at + 1])
        del args[at : at + 2]
    rows = [(name, SMALL, (8, 16), *spec) for name, spec in REGIMES.items()]
    if "--small" not in args:
        rows += [(name, BIG, (64, 100), *spec) for name, spec in BIG_REGIMES.items()]
    named = [a for a in args if not a.startswith("-")]
    if named:
        rows = [row for row in rows if row[0] in named]
    print("| regime | packages | layers | autolayer pull / unpack | gitmine pull / unpack | worst gitmine ÷ autolayer pull |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    t0 = time.perf_counter()
    for name, paths, budgets, what, options in rows:
        histories = [synthetic_history(paths, 104, seed=s, **options) for s in seeds]
        for n in budgets:
            sums = [0.0, 0.0, 0.0, 0.0]
            worst = 0.0
            for snaps in histories:
                (al, gm), _ = replay(snaps, max_layers=n, train_weeks=train, strategies=("autolayer", "gitmine"))
                lb = al.lower_bound
                for j, v in enumerate((al.pull, al.unpack, gm.pull, gm.unpack)):
                    sums[j] += v / lb / len(seeds)
                worst = max(worst, gm.pull / al.pull)
            cells = f"{sums[0]:.2f} / {sums[1]:.2f} | {sums[2]:.2f} / {sums[3]:.2f} | {worst:.0%}"
            print(f"| {name} ({what}) | {paths} | {n} | {cells} |", flush=True)
    print(f"\n({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
