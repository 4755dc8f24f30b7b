"""What builders that cut a closure by dependency make of the hints: released nix2container's explicit
layers (``nix/n2c-layers.nix``) and nixpkgs dockerTools' ``layeringPipeline`` (``nix/docker-pipeline.nix``).
Each layer takes the whole closure of its paths less the layers below (:func:`gitmine.pipeline.peel`), so a
dependency that the hints put above a path using it moves down into that path's layer. The replay of the
corpus, pull / unpack as ratios to the lower bound: the exact split (nix2container's ``layersFile``) and
the peeled one.

    python scripts/bench_peeled.py      # about half a minute
"""

from __future__ import annotations

from corpus import budgets, corpus_files
from gitmine.closure import Closure
from gitmine.pipeline import peel
from gitmine.planner import plan
from gitmine.recorded import load_history
from gitmine.replay import LayoutFn, folds, hinted, score_releases
from gitmine.stats import compute_statistics


def peeled(lay: LayoutFn) -> LayoutFn:
    def layers(c: Closure) -> list[list[str]]:
        return peel(lay(c), c)

    return layers


def main() -> None:
    print("| history | layers | exact (layersFile) pull / unpack | peeled (n2c-layers.nix, dockerTools) pull / unpack |")
    print("| --- | ---: | ---: | ---: |")
    for f in corpus_files():
        snaps = load_history(f)
        closures = [s.closure() for s in snaps]
        for n in budgets(f):
            totals = {"exact": [0, 0, 0], "peeled": [0, 0, 0]}
            for fold in folds(snaps, 26, 26):
                lay = hinted(plan(compute_statistics(snaps[fold.train[0] : fold.train[1]]), n), n)
                for name, fn in (("exact", lay), ("peeled", peeled(lay))):
                    for pull, unpack, lower, _ in score_releases(closures[fold.test[0] - 1 : fold.test[1]], fn):
                        t = totals[name]
                        t[0], t[1], t[2] = t[0] + pull, t[1] + unpack, t[2] + lower
            cells = " | ".join(f"{t[0] / t[2]:.2f} / {t[1] / t[2]:.2f}" for t in totals.values())
            print(f"| {f.name.removesuffix('.jsonl.gz')} | {n} | {cells} |", flush=True)


if __name__ == "__main__":
    main()
