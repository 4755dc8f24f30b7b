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

A second table estimates nixpkgs auto-layer's held-out bytes from the training weeks two ways: a
forecast of its split of the latest training closure under the planner's model, and what it cost
over the training weeks themselves (what ``gitmine analyze`` prints next to its own forecast).

A third table splits the held-out pull bytes above the lower bound (the unchanged paths of
re-pulled layers) by what made each layer change: the first update of a key that had none in the
training weeks (what the hedge is for), an update of a key seen to update, or only a dependency in
another layer (the layer's paths changed because something below them did).
"""

from __future__ import annotations

import time

from corpus import budgets, corpus_files
from gitmine.baselines import BASELINES
from gitmine.closure import Closure
from gitmine.keys import path_key
from gitmine.planner import forecast, forecast_layout, plan
from gitmine.recorded import load_history
from gitmine.replay import LayoutFn, folds, hinted, score_releases
from gitmine.stats import compute_statistics

NO_HEDGE = 1e-9
CAUSES = ("first update", "update seen before", "dependency in another layer", "membership only")


def excess_by_cause(closures: list[Closure], lay: LayoutFn, updated: set[str], out: dict[str, float]) -> None:
    """Add the bytes of unchanged paths in each re-pulled layer to ``out``, by cause (:data:`CAUSES`);
    ``updated``: the keys with an own update in the training weeks."""
    prev = {frozenset(layer) for layer in lay(closures[0])}
    for before, closure in zip(closures, closures[1:]):
        new = set(closure.paths) - set(before.paths)
        own = {p for p in new if not any(r in new for r in closure.paths[p].references if r != p)}
        cur = lay(closure)
        for layer in cur:
            if frozenset(layer) in prev:
                continue
            owners = {path_key(p) for p in layer if p in own}
            cause = (
                CAUSES[3] if not new.intersection(layer)
                else CAUSES[0] if owners - updated
                else CAUSES[1] if owners
                else CAUSES[2]
            )  # fmt: skip
            out[cause] += sum(closure.paths[p].size for p in layer if p not in new)
        prev = {frozenset(layer) for layer in cur}


def _ratio(pull: float, unpack: float, lower: float) -> str:
    return f"{pull / lower:.2f} / {unpack / lower:.2f}"


def main() -> None:
    files = corpus_files()
    print("| history | layers | held-out | forecast | in-sample | in-sample, no hedge |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    t0 = time.perf_counter()
    breakdown, autolayer = [], []
    for f in files:
        snaps = load_history(f)
        closures = [s.closure() for s in snaps]
        for n in budgets(f):
            sums = {k: [0.0, 0.0, 0.0] for k in ("held", "forecast", "in", "oracle", "auto", "auto forecast", "auto train")}
            excess = dict.fromkeys(CAUSES, 0.0)
            for fold in folds(snaps, 26, 26):
                train = compute_statistics(snaps[fold.train[0] : fold.train[1]])
                test = compute_statistics(snaps[fold.test[0] - 1 : fold.test[1]])
                held = plan(train, n)
                fc = forecast(train, held)
                weeks = fold.test[1] - fold.test[0]
                auto_fc = forecast_layout(train, BASELINES["autolayer"](closures[fold.train[1] - 1], n))
                for name, f_ in (("forecast", fc), ("auto forecast", auto_fc)):
                    for j, v in enumerate((f_.pull, f_.unpack, f_.lower_bound)):
                        sums[name][j] += v * weeks
                scored = closures[fold.test[0] - 1 : fold.test[1]]
                for name, span in (("auto", scored), ("auto train", closures[fold.train[0] : fold.train[1]])):
                    for pull, unpack, lower, _ in score_releases(span, lambda c: BASELINES["autolayer"](c, n)):
                        for j, v in enumerate((pull, unpack, lower)):
                            sums[name][j] += v
                updated = {k for k, ks in train.keys.items() if ks.own_changes}
                excess_by_cause(scored, hinted(held, n), updated, excess)
                for name, hints in (
                    ("held", held),
                    ("in", plan(test, n)),
                    ("oracle", plan(test, n, prior_strength=NO_HEDGE)),
                ):
                    for pull, unpack, lower, _ in score_releases(scored, hinted(hints, n)):
                        for j, v in enumerate((pull, unpack, lower)):
                            sums[name][j] += v
            cells = " | ".join(_ratio(*sums[k]) for k in ("held", "forecast", "in", "oracle"))
            history = f.name.removesuffix(".jsonl.gz")
            print(f"| {history} | {n} | {cells} |", flush=True)
            lower = sums["held"][2]
            shares = " | ".join(f"{v / lower:.3f}" for v in (sums["held"][0] - lower, *excess.values()))
            breakdown.append(f"| {history} | {n} | {shares} |")
            cells = " | ".join(_ratio(*sums[k]) for k in ("auto forecast", "auto train", "auto"))
            autolayer.append(f"| {history} | {n} | {cells} |")
    print("\nnixpkgs auto-layer, estimated from the training weeks, and held-out:\n")
    print("| history | layers | forecast | over the training weeks | held-out |\n| --- | ---: | ---: | ---: | ---: |")
    print("\n".join(autolayer))
    print("\nHeld-out pull above the lower bound, by cause (share of the lower bound):\n")
    print("| history | layers | above the lower bound | " + " | ".join(CAUSES) + " |")
    print("| --- | ---: |" + " ---: |" * (len(CAUSES) + 1))
    print("\n".join(breakdown))
    print(f"\n({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
