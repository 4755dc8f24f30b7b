"""Where the planner's remaining gap to the lower bound comes from: its model, or what it can know.

    python scripts/bench_limits.py            # all six corpus histories (about a minute)
    python scripts/bench_limits.py --small    # the four small ones

For each history and budget, with the replay's default folds (26 weeks to learn, 26 to score):

* held-out: what ``gitmine replay`` measures (hints learned on the training weeks);
* forecast: what the planner's model expected for those hints, from the training weeks alone
  (:func:`gitmine.planner.forecast`); close to held-out means the model is calibrated;
* in-sample: hints learned on the test weeks themselves, scored on them: the model knows which
  keys update and how often, but still hedges for keys it saw no update of;
* in-sample, no hedge: the same with no prior (only the keys seen to update are at risk): what
  this optimiser reaches when it knows the future.

Pull and unpack are ratios to the lower bound (forecast: to the model's own lower bound).
"""

from __future__ import annotations

import time

from corpus import budgets, corpus_files
from gitmine.recorded import load_history
from gitmine.planner import forecast, plan
from gitmine.replay import folds, hinted, score_releases
from gitmine.stats import compute_statistics

NO_HEDGE = 1e-9


def _ratio(pull: float, unpack: float, lower: float) -> str:
    return f"{pull / lower:.2f} / {unpack / lower:.2f}"


def main() -> None:
    files = corpus_files()
    print("| history | layers | held-out | forecast | in-sample | in-sample, no hedge |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    t0 = time.perf_counter()
    for f in files:
        snaps = load_history(f)
        closures = [s.closure() for s in snaps]
        for n in budgets(f):
            sums = {k: [0.0, 0.0, 0.0] for k in ("held", "forecast", "in", "oracle")}
            for fold in folds(snaps, 26, 26):
                train = compute_statistics(snaps[fold.train[0] : fold.train[1]])
                test = compute_statistics(snaps[fold.test[0] - 1 : fold.test[1]])
                held = plan(train, n)
                fc = forecast(train, held)
                weeks = fold.test[1] - fold.test[0]
                for j, v in enumerate((fc.pull, fc.unpack, fc.lower_bound)):
                    sums["forecast"][j] += v * weeks
                scored = closures[fold.test[0] - 1 : fold.test[1]]
                for name, hints in (
                    ("held", held),
                    ("in", plan(test, n)),
                    ("oracle", plan(test, n, prior_strength=NO_HEDGE)),
                ):
                    for pull, unpack, lower, _ in score_releases(scored, hinted(hints, n)):
                        for j, v in enumerate((pull, unpack, lower)):
                            sums[name][j] += v
            cells = " | ".join(_ratio(*sums[k]) for k in ("held", "forecast", "in", "oracle"))
            print(f"| {f.name.removesuffix('.jsonl.gz')} | {n} | {cells} |", flush=True)
    print(f"\n({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
