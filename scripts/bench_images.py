"""Several images from one repository: gitmine against auto-layer for a host running them all.

    python scripts/bench_images.py            # about 20 seconds
    python scripts/bench_images.py --replan   # re-planned before every release instead (four minutes)

A repository often builds several images on one base (a monorepo's services). `gitmine analyze` with
several ``--attr`` learns one hint file over all of them, and each image is laid out with it on its
own. Here the images are server images cut from the big corpus histories (as in
``bench_subimages.py``: the closure of redis, apache2, php-fpm, ... snapshot by snapshot), four or
six of them per history, replayed with ``gitmine replay``'s folds and scored for a host that runs
them all (``gitmine.replay.score_images``: a layer, as a path set, is pulled once whichever images
hold it; a chain of layers is unpacked once). Pull / unpack as ratios to the lower bound (the bytes
of store paths new to the host), with the mean number of layers an image gets. *One budget*: the
planner as it was, which knew no images and held the whole file to the budget (measured by planning
the images as one); *per image*: the planner now, which holds each image to it.

With ``--replan``, the images are re-planned before every release on the previous 26 weeks from the
hints in use, as a pipeline running ``gitmine analyze`` before each release does, and every switch is
charged (``gitmine replay --replan-every 1``): pull / unpack of gitmine and of auto-layer.
"""

from __future__ import annotations

import argparse
import time

from bench_subimages import sub_history
from corpus import CORPUS
from gitmine.baselines import autolayer
from gitmine.closure import Snapshot
from gitmine.planner import plan
from gitmine.recorded import load_history
from gitmine.replay import LayoutFn, folds, hinted, replay_replanning, score_image_releases
from gitmine.stats import compute_statistics

IMAGE_SETS = (
    ("redis-server", "apache2", "php-fpm", "postgresql"),
    ("redis-server", "apache2", "php-fpm", "default-jre-headless", "postgresql", "mariadb-server"),
)


def several_images(snapshots: list[Snapshot], roots: tuple[str, ...]) -> list[Snapshot]:
    """Snapshots with one image per root (those where every root is present)."""
    subs = {r: {s.rev: s for s in sub_history(snapshots, r)} for r in roots}
    out = []
    for s in snapshots:
        if all(s.rev in subs[r] for r in roots):
            out.append(Snapshot(s.rev, s.date, {r: subs[r][s.rev].closure() for r in roots}))
    return out


def score(snaps: list[Snapshot], strategy: str, budget: int) -> tuple[float, float, float]:
    """(pull, unpack) as ratios to the lower bound, and the mean layers per image."""
    pull = unpack = lower = 0
    layers: list[int] = []
    releases = [s.closures for s in snaps]
    for fold in folds(snaps, 26, 26):
        training = snaps[fold.train[0] : fold.train[1]]
        if strategy == "one budget":  # the images' keys learned as those of one image
            training = [Snapshot(s.rev, s.date, {"image": s.closure()}) for s in training]
        if strategy == "autolayer":
            lay: LayoutFn = lambda c: autolayer(c, budget)  # noqa: E731
        else:
            lay = hinted(plan(compute_statistics(training), budget), budget)
        for p, u, lb, _ in score_image_releases(releases[fold.test[0] - 1 : fold.test[1]], lay):
            pull, unpack, lower = pull + p, unpack + u, lower + lb
        layers += [len(lay(c)) for c in releases[fold.test[1] - 1].values()]
    return pull / lower, unpack / lower, sum(layers) / len(layers)


STRATEGIES = ("autolayer", "one budget", "per image")


def replanned(snaps: list[Snapshot], n: int) -> list[str]:
    """Pull / unpack of auto-layer and gitmine, re-planned before every release, switches charged."""
    results, _ = replay_replanning(snaps, max_layers=n, strategies=("autolayer", "gitmine"))
    return [f"{r.pull / r.lower_bound:.2f} / {r.unpack / r.lower_bound:.2f}" for r in results]


def folded(snaps: list[Snapshot], n: int) -> list[str]:
    """Pull / unpack (layers per image) of each of :data:`STRATEGIES` over the folds."""
    return ["{:.2f} / {:.2f} ({:.1f})".format(*score(snaps, strategy, n)) for strategy in STRATEGIES]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--replan", action="store_true", help="re-plan before every release, switches charged")
    replan = ap.parse_args().replan
    columns = ("autolayer pull / unpack", "gitmine pull / unpack") if replan else [f"{s} pull / unpack (layers)" for s in STRATEGIES]
    print(f"| history | images | layers | {' | '.join(columns)} |")
    print("| --- | ---: | ---: |" + " ---: |" * len(columns))
    t0 = time.perf_counter()
    for f in sorted(CORPUS.glob("big-*.jsonl.gz")):
        history = load_history(f)
        for roots in IMAGE_SETS:
            snaps = several_images(history, roots)
            for n in (8, 16, 32):
                cells = (replanned if replan else folded)(snaps, n)
                print(f"| {f.name.removesuffix('.jsonl.gz')} | {len(roots)} | {n} | {' | '.join(cells)} |", flush=True)
    print(f"\n({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
