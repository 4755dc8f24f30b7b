"""Replay: what each layering strategy would have cost, release by release, on held-out history.

Rolling folds: learn on ``train`` weeks, score the following ``test`` weeks, slide by ``test``.
For each test snapshot, every strategy lays out its closure and its predecessor's with the same
budget, and the transition is charged:

* pull bytes: sizes of the layers whose exact path set was not a layer of the previous release
  (registries dedupe blobs by digest, wherever the layer sits);
* unpack bytes: sizes of all layers from the lowest position that differs upward (local stores key
  unpacked layers by ChainID);
* the lower bound: sizes of the store paths new in this release.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from itertools import accumulate
from typing import AbstractSet, Callable, Collection, Iterator, Mapping, Sequence

from .baselines import BASELINES
from .closure import Closure, Snapshot
from .errors import InputError
from .hints import Hints
from .layout import layout
from .planner import plan
from .stats import compute_statistics

DEFAULT_STRATEGIES = ("single", "n2c", "nixpkgs-popularity", "autolayer", "gitmine")
FRESH = "gitmine-fresh"  # with re-planning: a plan from scratch each time, ignoring the hints in use


@dataclass(frozen=True)
class Transition:
    rev: str
    date: str
    pull: int
    unpack: int
    lower_bound: int
    layers: int


@dataclass
class StrategyResult:
    name: str
    transitions: list[Transition] = field(default_factory=list)

    @property
    def pull(self) -> int:
        return sum(t.pull for t in self.transitions)

    @property
    def unpack(self) -> int:
        return sum(t.unpack for t in self.transitions)

    @property
    def lower_bound(self) -> int:
        return sum(t.lower_bound for t in self.transitions)

    @property
    def max_layers_used(self) -> int:
        return max((t.layers for t in self.transitions), default=0)


@dataclass(frozen=True)
class Fold:
    train: tuple[int, int]  # snapshot index range [start, end)
    test: tuple[int, int]


def _day(s: str) -> date:
    return date.fromisoformat(s[:10])


def folds(snapshots: Sequence[Snapshot], train_weeks: int, test_weeks: int) -> list[Fold]:
    """Rolling folds over snapshot dates; a fold needs at least one training and one test snapshot."""
    if not snapshots:
        return []
    if any(not s.date for s in snapshots):
        raise InputError("replay needs dated snapshots: name history files YYYY-MM-DD… or give each line a date")
    # snapshots are releases in file (history) order; one dated before the snapshot above it (a
    # skewed clock, a rebased commit) counts as of that date, so folds stay contiguous and apart
    days = list(accumulate((_day(s.date) for s in snapshots), max))
    out: list[Fold] = []
    start = days[0]
    train, test = timedelta(weeks=train_weeks), timedelta(weeks=test_weeks)
    while True:
        tr = [i for i, d in enumerate(days) if start <= d < start + train]
        te = [i for i, d in enumerate(days) if start + train <= d < start + train + test]
        if not te:
            if start + train > days[-1]:
                break
            start += test
            continue
        if tr:
            out.append(Fold((tr[0], tr[-1] + 1), (te[0], te[-1] + 1)))
        start += test
    return out


Run = tuple[int, list[StrategyResult], list[Fold]]  # budget, each strategy's releases, the folds


def totals(histories: Sequence[Sequence[Run]]) -> list[Run]:
    """Per budget, each strategy's releases over all ``histories`` (each a list of runs, one per
    budget, in the same order), so that sums and ratios cover them all."""
    out: list[Run] = []
    for runs in zip(*histories):
        n = runs[0][0]
        merged = [StrategyResult(r.name) for r in runs[0][1]]
        folds: list[Fold] = []
        for _, results, run_folds in runs:
            for into, r in zip(merged, results):
                into.transitions.extend(r.transitions)
            folds.extend(run_folds)
        out.append((n, merged, folds))
    return out


Images = Mapping[str, list[list[str]]]  # image → its layers, bottom first


def score_images(prev: Images, cur: Images, sizes: Mapping[str, int], prev_paths: AbstractSet[str]) -> tuple[int, int, int]:
    """(pull, unpack, lower bound) bytes for a host running every image of a release, going from
    layerings ``prev`` to ``cur``: each distinct layer (path set) of ``cur`` that no image of
    ``prev`` had is pulled once, each distinct chain (the layers from the bottom up to one, what a
    local store keys an unpacked layer by: ChainID) that ``prev`` did not have is unpacked once, and
    the lower bound is the bytes of the store paths new in ``cur``. With one image: the layers whose
    path set was not a layer before, and every layer from the lowest that differs upward."""
    ids: dict[tuple[int, frozenset[str]], int] = {}  # (chain below, layer) → chain, shared by both releases

    def chains(images: Images) -> dict[int, tuple[frozenset[str], list[str]]]:
        """Every layer of ``images`` by its chain; images with the same bottom layers share those."""
        out: dict[int, tuple[frozenset[str], list[str]]] = {}
        for layers in images.values():
            below = -1
            for layer in layers:
                blob = frozenset(layer)
                below = ids.setdefault((below, blob), len(ids))
                out[below] = (blob, layer)
        return out

    def size(layer: Collection[str]) -> int:
        return sum(sizes[p] for p in layer)

    before = chains(prev)
    known = {blob for blob, _ in before.values()}
    after = chains(cur)
    pull = sum(size(blob) for blob in {blob for blob, _ in after.values()} - known)
    unpack = sum(size(layer) for chain, (_, layer) in after.items() if chain not in before)
    new_paths = {p for layers in cur.values() for layer in layers for p in layer if p not in prev_paths}
    return pull, unpack, size(new_paths)


def score_transition(prev: list[list[str]], cur: list[list[str]], sizes: Mapping[str, int], prev_paths: AbstractSet[str]) -> tuple[int, int, int]:
    """(pull, unpack, lower bound) bytes for going from layering ``prev`` to ``cur`` of one image."""
    return score_images({"": prev}, {"": cur}, sizes, prev_paths)


def path_sizes(images: Mapping[str, Closure]) -> dict[str, int]:
    """Bytes of each store path of ``images`` (image → closure)."""
    return {p: sp.size for c in images.values() for p, sp in c.paths.items()}


def switch_cost(before: Images, after: Images, snapshot: Snapshot) -> tuple[int, int]:
    """(pull, unpack) bytes paid once when the images of ``snapshot``, laid out as ``before``
    (image → layers), are laid out as ``after``."""
    sizes = path_sizes(snapshot.closures)
    pull, unpack, _ = score_images(before, after, sizes, sizes.keys())
    return pull, unpack


LayoutFn = Callable[[Closure], list[list[str]]]


def lay_images(snapshot: Snapshot, lay: LayoutFn) -> dict[str, list[list[str]]]:
    """Each image of ``snapshot`` laid out by ``lay`` on its own, as its builder does."""
    return {image: lay(closure) for image, closure in snapshot.closures.items()}


def hinted(hints: Hints, max_layers: int | None = None) -> LayoutFn:
    """Lay closures out with ``hints``, as lists of store paths."""

    def lay(c: Closure) -> list[list[str]]:
        return [list(layer.paths) for layer in layout(c, hints, max_layers)]

    return lay


def score_releases(closures: Sequence[Closure], lay: LayoutFn) -> Iterator[tuple[int, int, int, int]]:
    """(pull, unpack, lower bound, layers) of each release after the first, laid out by ``lay``.
    A release with its predecessor's closure (the same object: a commit that left the image alone)
    costs nothing and is not laid out again."""
    return score_image_releases([{"": c} for c in closures], lay)


def score_image_releases(releases: Sequence[Mapping[str, Closure]], lay: LayoutFn) -> Iterator[tuple[int, int, int, int]]:
    """:func:`score_releases` for releases of several images (image → closure), each image laid out
    by ``lay`` on its own, as its builder does, and scored for a host running them all
    (:func:`score_images`); ``layers`` is the most any image has. A release whose every image has
    its predecessor's closure costs nothing."""
    prev = {image: lay(c) for image, c in releases[0].items()}
    for before, release in zip(releases, releases[1:]):
        if release.keys() == before.keys() and all(release[i] is before[i] for i in release):
            yield 0, 0, 0, max(map(len, prev.values()), default=0)
            continue
        cur = {image: prev[image] if image in before and c is before[image] else lay(c) for image, c in release.items()}
        sizes = path_sizes(release)
        prev_paths = {p for c in before.values() for p in c.paths}
        yield (*score_images(prev, cur, sizes, prev_paths), max(map(len, cur.values()), default=0))
        prev = cur


def _strategy(name: str, training: Sequence[Snapshot], max_layers: int) -> LayoutFn:
    """How strategy ``name`` lays out a closure during a fold (gitmine learns on ``training``)."""
    if name == "gitmine":
        return hinted(plan(compute_statistics(training), max_layers), max_layers)
    return _baseline(name, max_layers)


def replay(
    snapshots: Sequence[Snapshot],
    *,
    max_layers: int,
    train_weeks: int = 26,
    test_weeks: int = 26,
    strategies: Sequence[str] = DEFAULT_STRATEGIES,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[list[StrategyResult], list[Fold]]:
    """Score ``strategies`` fold by fold; ``progress(done, total)`` after each fold. Each image of a
    release is laid out on its own and the release is scored for a host running them all."""
    releases = [s.closures for s in snapshots]
    results = {name: StrategyResult(name) for name in strategies}
    fold_list = folds(snapshots, train_weeks, test_weeks)
    for n, fold in enumerate(fold_list):
        for name in strategies:
            fn = _strategy(name, snapshots[fold.train[0] : fold.train[1]], max_layers)
            scores = score_image_releases(releases[fold.test[0] - 1 : fold.test[1]], fn)
            for i, (pull, unpack, lower, layers) in zip(range(*fold.test), scores):
                results[name].transitions.append(Transition(snapshots[i].rev, snapshots[i].date, pull, unpack, lower, layers))
        if progress:
            progress(n + 1, len(fold_list))
    return [results[name] for name in strategies], fold_list


def replay_replanning(
    snapshots: Sequence[Snapshot],
    *,
    max_layers: int,
    train_weeks: int = 26,
    every: int = 1,
    strategies: Sequence[str] = (*DEFAULT_STRATEGIES, FRESH),
    progress: Callable[[int, int], None] | None = None,
    start_weeks: int | None = None,
) -> tuple[list[StrategyResult], list[Fold]]:
    """A release pipeline that re-runs ``gitmine analyze`` on the previous ``train_weeks`` before
    every ``every``-th release, starting from the hints in use (``gitmine``) or from scratch
    (``gitmine-fresh``), and pays for whatever each new layout re-ships: a switch is scored like any
    other release. Scoring starts at the first release with ``start_weeks`` (by default
    ``train_weeks``) of history before it; a window shorter than ``train_weeks`` (a young
    repository's) takes all the history there is. The folds returned are the plans (the window each
    learned from, the releases it laid out); ``progress(done, total)`` after each scored release."""
    if every < 1:
        raise ValueError("every must be at least 1")
    if start_weeks is not None and start_weeks < 1:
        raise ValueError("start_weeks must be at least 1")
    if any(not s.date for s in snapshots):
        raise InputError("replay needs dated snapshots: name history files YYYY-MM-DD… or give each line a date")
    days = [_day(s.date) for s in snapshots]
    window = timedelta(weeks=train_weeks)
    start = timedelta(weeks=train_weeks if start_weeks is None else start_weeks)
    results = {name: StrategyResult(name) for name in strategies}
    first = next((i for i, d in enumerate(days) if i > 0 and d >= days[0] + start), len(snapshots))
    plans: list[Fold] = []
    hints: dict[str, Hints] = {}
    prev: dict[str, dict[str, list[list[str]]]] = {}  # strategy → image → layers
    for i in range(first, len(snapshots)):
        if (i - first) % every == 0:
            lo = min(next(j for j, d in enumerate(days) if d >= days[i] - window), i - 1)
            stats = compute_statistics(snapshots[lo:i])
            if "gitmine" in strategies:
                hints["gitmine"] = plan(stats, max_layers, previous=hints.get("gitmine"))
            if FRESH in strategies:
                hints[FRESH] = plan(stats, max_layers)
            plans.append(Fold((lo, i), (i, min(i + every, len(snapshots)))))
        lay = {name: hinted(hints[name], max_layers) if name in hints else _baseline(name, max_layers) for name in strategies}
        if not prev:
            prev = {name: {image: lay[name](c) for image, c in snapshots[i - 1].closures.items()} for name in strategies}
        release = snapshots[i].closures
        sizes = path_sizes(release)
        before = {p for c in snapshots[i - 1].closures.values() for p in c.paths}
        for name in strategies:
            cur = {image: lay[name](c) for image, c in release.items()}
            pull, unpack, lower = score_images(prev[name], cur, sizes, before)
            layers = max(map(len, cur.values()), default=0)
            results[name].transitions.append(Transition(snapshots[i].rev, snapshots[i].date, pull, unpack, lower, layers))
            prev[name] = cur
        if progress:
            progress(i - first + 1, len(snapshots) - first)
    return [results[name] for name in strategies], plans


def _baseline(name: str, max_layers: int) -> LayoutFn:
    baseline = BASELINES[name]

    def fixed(c: Closure) -> list[list[str]]:
        return baseline(c, max_layers)

    return fixed
