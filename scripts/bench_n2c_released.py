"""What released nix2container (without ``layersFile``) makes of the hints: the replay of the corpus with
gitmine's layers as ``nix/n2c-layers.nix`` hands them to ``buildLayer``, one layer per hint layer, each
told about the layers below. nix2container gives such a layer the whole closure of its paths less the
layers below, so a dependency that the hints put above a path using it moves down into that path's
layer. Prints pull / unpack ratios to the lower bound: exact (``layersFile``) and released.

    python scripts/bench_n2c_released.py      # about half a minute
"""

from __future__ import annotations

from typing import Callable

from corpus import budgets, corpus_files
from gitmine.closure import Closure
from gitmine.planner import plan
from gitmine.recorded import load_history
from gitmine.replay import folds, hinted, score_releases
from gitmine.stats import compute_statistics

LayoutFn = Callable[[Closure], list[list[str]]]


def released(lay: LayoutFn) -> LayoutFn:
    """nix2container's explicit layers built from ``lay``'s split, bottom first."""

    def layers(c: Closure) -> list[list[str]]:
        out, below = [], set()
        for paths in lay(c):
            closure = set(c.closure_of(paths).paths)
            content = sorted(closure - below)
            below |= closure
            if content:
                out.append(content)
        return out

    return layers


def main() -> None:
    print("| history | layers | layersFile pull / unpack | released nix2container pull / unpack |")
    print("| --- | ---: | ---: | ---: |")
    for f in corpus_files():
        snaps = load_history(f)
        closures = [s.closure() for s in snaps]
        for n in budgets(f):
            totals = {"exact": [0, 0, 0], "released": [0, 0, 0]}
            for fold in folds(snaps, 26, 26):
                lay = hinted(plan(compute_statistics(snaps[fold.train[0] : fold.train[1]]), n), n)
                for name, fn in (("exact", lay), ("released", released(lay))):
                    for pull, unpack, lower, _ in score_releases(closures[fold.test[0] - 1 : fold.test[1]], fn):
                        t = totals[name]
                        t[0], t[1], t[2] = t[0] + pull, t[1] + unpack, t[2] + lower
            cells = " | ".join(f"{t[0] / t[2]:.2f} / {t[1] / t[2]:.2f}" for t in totals.values())
            print(f"| {f.name.removesuffix('.jsonl.gz')} | {n} | {cells} |", flush=True)


if __name__ == "__main__":
    main()
