"""The replay benchmark: every strategy on every corpus history, at the issue's budgets.

    python scripts/bench_replay.py            # all six histories (about half a minute)
    python scripts/bench_replay.py --small    # the four small ones
    python scripts/bench_replay.py --daily    # the same histories with a commit a day (see corpus.daily)
    python scripts/bench_replay.py --train 4  # folds that learn from 4 weeks (a young repository)

Prints a Markdown table (pull and unpack bytes as ratios to the lower bound) for the README.
With ``--daily`` six commits a week leave the image unchanged: they cost nothing to any layering, so
only what gitmine learns from the window can differ.
"""

from __future__ import annotations

import sys
import time

from corpus import budgets, corpus_files, daily, train_weeks
from gitmine.recorded import load_history
from gitmine.replay import DEFAULT_STRATEGIES, replay


def main() -> None:
    files = corpus_files()
    head = " | ".join(f"{s} pull / unpack" for s in DEFAULT_STRATEGIES)
    print(f"| history | layers | {head} | pull bytes gitmine saves vs autolayer |")
    print("| --- | ---: |" + " ---: |" * len(DEFAULT_STRATEGIES) + " ---: |")
    t0 = time.perf_counter()
    for f in files:
        snaps = load_history(f)
        if "--daily" in sys.argv:
            snaps = daily(snaps)
        for n in budgets(f):
            results, _ = replay(snaps, max_layers=n, train_weeks=train_weeks())
            lb = results[0].lower_bound
            by = {r.name: r for r in results}
            cells = " | ".join(f"{r.pull / lb:.2f} / {r.unpack / lb:.2f}" for r in results)
            gain = 1 - by["gitmine"].pull / by["autolayer"].pull
            print(f"| {f.name.removesuffix('.jsonl.gz')} | {n} | {cells} | {gain:.0%} |", flush=True)
    print(f"\n({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
