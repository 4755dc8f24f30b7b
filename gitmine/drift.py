"""``gitmine analyze --check``: is the committed hint file still what the history says?

Compares the committed hints with freshly computed ones: a layer budget that changed, keys that
moved layers, keys new to the hints, keys gone, a rule for unseen keys that changed, layers whose
expected pull bytes per release changed, and an estimate of the bytes per release that updating
would save, by replaying the analysed snapshots under both hint files.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from .closure import Snapshot
from .hints import Hints
from .replay import hinted, lay_images, score_image_releases, switch_cost
from .units import mb

CHANGED_LAYER = 0.05  # a layer's expected pull "changed" when it moved by more than 5%


@dataclass(frozen=True)
class Drift:
    moved: tuple[tuple[str, int, int], ...]  # key, old layer, new layer (1-based, bottom first)
    new_keys: tuple[str, ...]
    removed_keys: tuple[str, ...]
    layers: tuple[tuple[int, float, float], ...]  # layer, old and new expected pull bytes per release
    pull_committed: float  # mean bytes pulled per release over the analysed history, committed hints
    pull_updated: float  # the same with the recomputed hints
    switch_pull: int = 0  # bytes pulled once when the latest snapshot goes from committed to updated layers
    switch_unpack: int = 0  # and unpacked once
    unseen_rule: tuple[str, str] | None = None  # committed and updated ``unseen.rule``, when they differ
    budget: tuple[int, int] | None = None  # committed and updated ``max-layers``, when they differ

    @property
    def stale(self) -> bool:
        return bool(self.moved or self.new_keys or self.removed_keys or self.unseen_rule or self.budget)

    @property
    def saving(self) -> float:
        return self.pull_committed - self.pull_updated

    def as_dict(self) -> dict[str, Any]:
        return {
            "stale": self.stale,
            "moved": [{"key": k, "from": a, "to": b} for k, a, b in self.moved],
            "new_keys": list(self.new_keys),
            "removed_keys": list(self.removed_keys),
            "layers": [{"layer": i, "expected_pull_before": round(a), "expected_pull_after": round(b)} for i, a, b in self.layers],
            "pull_per_release_committed": round(self.pull_committed),
            "pull_per_release_updated": round(self.pull_updated),
            "saving_per_release": round(self.saving),
            "switch_pull": self.switch_pull,
            "switch_unpack": self.switch_unpack,
            "unseen_rule": {"from": self.unseen_rule[0], "to": self.unseen_rule[1]} if self.unseen_rule else None,
            "max_layers": {"from": self.budget[0], "to": self.budget[1]} if self.budget else None,
        }


def _mean_pull(snapshots: Sequence[Snapshot], hints: Hints) -> float:
    if len(snapshots) < 2:
        return 0.0
    pulls = [pull for pull, *_ in score_image_releases([s.closures for s in snapshots], hinted(hints))]
    return sum(pulls) / len(pulls)


def drift(committed: Hints, updated: Hints, snapshots: Sequence[Snapshot]) -> Drift:
    old, new = committed.layer_of, updated.layer_of
    moved = tuple(sorted((k, old[k] + 1, new[k] + 1) for k in old.keys() & new.keys() if old[k] != new[k]))
    layers = []
    for i in range(max(len(committed.layers), len(updated.layers))):
        a = committed.layers[i].size * committed.layers[i].change_rate if i < len(committed.layers) else 0.0
        b = updated.layers[i].size * updated.layers[i].change_rate if i < len(updated.layers) else 0.0
        if abs(a - b) > CHANGED_LAYER * max(a, b, 1.0):
            layers.append((i + 1, a, b))
    switch_pull = switch_unpack = 0
    if snapshots:
        latest = snapshots[-1]
        switch_pull, switch_unpack = switch_cost(lay_images(latest, hinted(committed)), lay_images(latest, hinted(updated)), latest)
    return Drift(
        moved=moved,
        new_keys=tuple(sorted(new.keys() - old.keys())),
        removed_keys=tuple(sorted(old.keys() - new.keys())),
        layers=tuple(layers),
        pull_committed=_mean_pull(snapshots, committed),
        pull_updated=_mean_pull(snapshots, updated),
        switch_pull=switch_pull,
        switch_unpack=switch_unpack,
        unseen_rule=None if committed.unseen_rule == updated.unseen_rule else (committed.unseen_rule, updated.unseen_rule),
        budget=None if committed.max_layers == updated.max_layers else (committed.max_layers, updated.max_layers),
    )


def markdown(d: Drift, path: str) -> str:
    lines = [f"## gitmine: `{path}` is {'stale' if d.stale else 'up to date'}", ""]
    if d.budget:
        lines += [
            f"The committed file was made for {d.budget[0]} layers; this analysis asks for {d.budget[1]} "
            "(`--max-layers`, or `max-layers` in gitmine.toml).",
            "",
        ]
    change = f"saving {mb(d.saving)}" if d.saving >= 0 else f"{mb(-d.saving)} more"
    lines.append(
        f"Mean bytes pulled per release over the analysed history: {mb(d.pull_committed)} with the "
        f"committed hints, {mb(d.pull_updated)} with updated ones ({change} per release)."
    )
    if d.switch_pull or d.switch_unpack:
        lines.append(
            f"Updating changes the layers of the latest release: clients pull {mb(d.switch_pull)} and "
            f"unpack {mb(d.switch_unpack)} once."
        )
    elif d.stale:
        lines.append("Updating changes no layer of the latest release: it costs nothing to pull.")
    if d.moved:
        lines += ["", "| key | layer before | layer after |", "| --- | ---: | ---: |"]
        lines += [f"| `{k}` | {a} | {b} |" for k, a, b in d.moved]
    if d.unseen_rule:
        lines += [
            "",
            f'Keys the file does not list follow `unseen.rule = "{d.unseen_rule[0]}"`; gitmine now writes '
            f'`"{d.unseen_rule[1]}"` (see the hint file\'s comment on it).',
        ]
    if d.new_keys:
        lines += ["", "New keys: " + ", ".join(f"`{k}`" for k in d.new_keys)]
    if d.removed_keys:
        lines += ["", "Keys gone: " + ", ".join(f"`{k}`" for k in d.removed_keys)]
    if d.layers:
        lines += [
            "",
            "What each file expects a layer to pull per release (its size times its `change-rate`), where the two differ "
            "by more than 5%:",
            "",
            "| layer | committed, MB | updated, MB |",
            "| ---: | ---: | ---: |",
        ]
        lines += [f"| {i} | {a / 1e6:.2f} | {b / 1e6:.2f} |" for i, a, b in d.layers]
    if d.stale:
        lines += ["", "Update it with `gitmine analyze` and commit the result."]
    return "\n".join(lines) + "\n"
