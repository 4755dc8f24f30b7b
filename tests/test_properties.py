"""Properties of statistics, planning and layout on small generated histories, degenerate ones included:
one snapshot, windows in which nothing changes, commits sharing a closure, keys coming and going,
zero sizes, snapshots of one date."""

from __future__ import annotations

import hashlib

from hypothesis import given, settings, strategies as st

from gitmine.baselines import BASELINES
from gitmine import hints as hintfile
from gitmine.closure import Closure, Snapshot, StorePath, build_closure
from gitmine.layout import layout
from gitmine.planner import forecast, forecast_layout, plan
from gitmine.replay import replay
from gitmine.stats import compute_statistics

SIZES = st.sampled_from([0, 1, 10, 1000, 1_000_000])


@st.composite
def histories(draw: st.DrawFn) -> list[Snapshot]:
    n_keys = draw(st.integers(1, 6))
    deps = {k: [d for d in range(k) if draw(st.booleans())] for k in range(n_keys)}
    sizes = [draw(SIZES) for _ in range(n_keys)]
    versions = [0] * n_keys
    out: list[Snapshot] = []
    for t in range(draw(st.integers(1, 7))):
        if out and draw(st.booleans()):  # a commit that leaves the image alone
            out.append(Snapshot(f"r{t}", out[-1].date if draw(st.booleans()) else f"2024-02-{1 + t:02d}", out[-1].closures))
            continue
        for k in range(n_keys):
            versions[k] += draw(st.booleans()) and draw(st.booleans())
        present = [k for k in range(n_keys) if k == 0 or draw(st.integers(0, 5)) > 0]
        paths: dict[int, str] = {}
        entries = []
        for k in present:  # input-addressed: a path's hash covers its version and its dependencies' paths
            refs = tuple(sorted(paths[d] for d in deps[k] if d in paths))
            digest = hashlib.sha256(f"{k}-{versions[k]}-{refs}".encode()).hexdigest()[:32]
            paths[k] = f"/nix/store/{digest}-k{k}-{versions[k]}.0"
            entries.append(StorePath(paths[k], sizes[k], refs))
        out.append(Snapshot(f"r{t}", f"2024-02-{1 + t:02d}", {"image": build_closure(entries)}))
    return out


@settings(max_examples=150, deadline=None, derandomize=True)
@given(histories(), st.integers(1, 5))
def test_plans_are_partitions_within_budget_whatever_the_history(history, budget):
    stats = compute_statistics(history)
    hints = plan(stats, budget)
    keys = [k for layer in hints.layers for k in layer.keys]
    assert sorted(keys) == sorted(stats.present) and len(hints.layers) <= budget
    assert all(0 <= layer.change_rate <= 1 for layer in hints.layers)
    assert plan(stats, budget) == hints  # deterministic
    fc = forecast(stats, hints)
    assert 0 <= fc.lower_bound <= fc.pull + 1e-6 and fc.pull <= fc.unpack + 1e-6
    again = plan(stats, budget, previous=hints)
    assert sorted(k for layer in again.layers for k in layer.keys) == sorted(stats.present)
    closure = history[-1].closure()
    layers = layout(closure, hints, budget)
    assert sorted(p for layer in layers for p in layer.paths) == sorted(closure.paths) and len(layers) <= budget


@settings(max_examples=60, deadline=None, derandomize=True)
@given(histories(), st.integers(1, 4))
def test_baselines_and_replay_take_any_history(history, budget):
    closure = history[-1].closure()
    stats = compute_statistics(history)
    for name, split in BASELINES.items():
        layers = split(closure, budget)
        assert sorted(p for layer in layers for p in layer) == sorted(closure.paths), name
        forecast_layout(stats, layers)
    results, _ = replay(history, max_layers=budget, train_weeks=1, test_weeks=1)
    for r in results:  # every new path is in a layer pulled; every layer pulled is unpacked
        assert all(0 <= t.lower_bound <= t.pull <= t.unpack for t in r.transitions), r.name


def _second_image(closure: Closure) -> Closure:
    """An image on the same base key (k0) whose other keys are its own (k1 → w1, ...)."""

    def own(path: str) -> str:
        return path if "-k0-" in path else path.replace("-k", "-w", 1)

    return build_closure(StorePath(own(p.path), p.nar_size, tuple(map(own, p.references))) for p in closure.paths.values())


@settings(max_examples=100, deadline=None, derandomize=True)
@given(histories(), st.integers(1, 4))
def test_a_file_of_two_images_is_within_each_images_budget_and_reads_back(history, budget):
    two = [Snapshot(s.rev, s.date, {"a": s.closure(), "b": _second_image(s.closure())}) for s in history]
    stats = compute_statistics(two)
    hints = plan(stats, budget)
    assert sorted(k for layer in hints.layers for k in layer.keys) == sorted(stats.present)
    assert len(hints.layers) <= 2 * budget and hints.analysis.images == ("a", "b")
    for closure in two[-1].closures.values():
        layers = layout(closure, hints)
        assert sorted(p for layer in layers for p in layer.paths) == sorted(closure.paths) and len(layers) <= budget
    text = hintfile.render(hints)
    assert hintfile.problems(text) == []
    again = plan(stats, budget, previous=hintfile.parse(text))
    assert sorted(k for layer in again.layers for k in layer.keys) == sorted(stats.present)
