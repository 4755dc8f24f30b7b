"""Lay one closure out into layers from a hint file (nix2container ``layersFile``).

Every path goes to the layer of its key. A key the hints never saw that is a *renamed* hinted key
(the same name up to its version numbers, ``python3.12-requests`` for ``python3.11-requests``,
``libicu74`` for ``libicu72``, while the old key is gone from the closure) takes the old key's layer:
a Python or soname bump renames whole package sets, and they keep their places until the next
``gitmine analyze``. A new dependency of placed keys joins the least volatile of their layers
(rule ``referrers``): its hash is part of theirs, so whenever it changes those layers change
anyway and it adds no change to the layer it joins (the release that added it changed them too).
Other unseen keys (new roots) go to a reserved layer on top. Hint files of gitmine 0.1.0
(rule ``top``) send every unseen key but renamed ones there. Empty layers are dropped.
When more layers remain than the budget allows, the adjacent pair whose merge adds the least
expected re-pulled bytes is merged, until the budget holds.

The rules work on keys (:func:`place`), so the planner can tell which layers a closure gets from a
hint file without the closure itself; :func:`layout` applies them to store paths.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Collection, Mapping

from .closure import Closure
from .hints import Hints
from .keys import family

UNSEEN_RATE = 1.0  # a key never seen is assumed to change at the next release
# Docker's layer store refuses deeper images ("max depth exceeded"); nixpkgs caps its maxLayers there
RUNTIME_MAX_LAYERS = 125


def too_many_layers(n: int, *, budget: bool = False) -> str | None:
    """A warning when an image of ``n`` layers (or, with ``budget``, up to ``n``) is more than Docker
    runs; None when it is not."""
    if n <= RUNTIME_MAX_LAYERS:
        return None
    what = f"max-layers {n}" if budget else f"{n} layers"
    return (
        f"{what}: Docker refuses images of more than {RUNTIME_MAX_LAYERS} (\"max depth exceeded\"), and image builders "
        f"add layers of their own; keep --max-layers at {RUNTIME_MAX_LAYERS} or below (100 is nixpkgs' default) unless "
        "only runtimes without that limit run the image"
    )


@dataclass(frozen=True)
class Slot:
    """A layer as a set of keys."""

    keys: tuple[str, ...]
    size: int
    change_rate: float
    unseen: bool = False


@dataclass(frozen=True)
class Layer:
    paths: tuple[str, ...]
    keys: tuple[str, ...]
    size: int
    change_rate: float
    unseen: bool = False


def renamed(unseen: set[str], present: set[str], hints: Hints) -> dict[str, int]:
    """Layer of each unseen key that renames hinted keys absent from the closure (all in one layer)."""
    gone: dict[str, set[int]] = {}
    for key, i in hints.layer_of.items():
        if key not in present:
            gone.setdefault(family(key), set()).add(i)
    out = {}
    for key in unseen:
        layers = gone.get(family(key), set())
        if len(layers) == 1:
            out[key] = next(iter(layers))
    return out


def with_referrers(
    unseen: set[str], where: Mapping[str, int], referrers: Mapping[str, Collection[str]], hints: Hints
) -> dict[str, int]:
    """Layer of each unseen key that placed keys depend on, directly or through other unseen keys:
    the least volatile of those keys' layers (the lower one on a tie).

    One depth-first pass over the referrers (each key's best layer is the best of its referrers'),
    so stale hints on a deep graph cost linear time; a key on a cycle of unseen keys sees the part
    of the cycle already resolved.
    """

    def better(a: int | None, b: int | None) -> int | None:
        if a is None or b is None:
            return b if a is None else a
        return min(a, b, key=lambda i: (hints.layers[i].change_rate, i))

    best: dict[str, int | None] = {}
    for start in sorted(unseen):
        if start in best:
            continue
        best[start] = None
        stack = [(start, iter(sorted(referrers.get(start, ()))))]
        while stack:
            key, todo = stack[-1]
            for r in todo:
                if r in where:
                    best[key] = better(best[key], where[r])
                elif r in unseen:
                    if r not in best:  # resolve r first, then come back to key
                        best[r] = None
                        stack.append((r, iter(sorted(referrers.get(r, ())))))
                        break
                    best[key] = better(best[key], best[r])
            else:
                stack.pop()
                if stack:
                    parent = stack[-1][0]
                    best[parent] = better(best[parent], best[key])
    return {k: i for k, i in best.items() if i is not None}


def referrers_of(deps: Mapping[str, Collection[str]]) -> dict[str, set[str]]:
    """Invert a key-level dependency graph (key → the keys it references, such as
    :attr:`Closure.key_deps`): key → the keys that reference it."""
    out: dict[str, set[str]] = {}
    for k, ds in deps.items():
        for d in ds:
            out.setdefault(d, set()).add(k)
    return out


def unseen_keys(present: set[str], hints: Hints) -> set[str]:
    """Keys of a closure that the hints neither list nor recognise as renames."""
    new = present - hints.layer_of.keys()
    return new - renamed(new, present, hints).keys()


def _union_rate(a: Slot, b: Slot) -> float:
    return 1 - (1 - a.change_rate) * (1 - b.change_rate)


def _merge(a: Slot, b: Slot) -> Slot:
    return Slot(tuple(sorted(a.keys + b.keys)), a.size + b.size, _union_rate(a, b), a.unseen or b.unseen)


def _merge_cost(a: Slot, b: Slot) -> float:
    rate = _union_rate(a, b)
    return a.size * (rate - a.change_rate) + b.size * (rate - b.change_rate)


def place(
    key_sizes: Mapping[str, int],
    hints: Hints,
    max_layers: int | None = None,
    referrers: Mapping[str, Collection[str]] | None = None,
) -> list[Slot]:
    """The layers, as key sets bottom first, that the keys ``key_sizes`` (key → bytes) get from ``hints``;
    ``referrers`` (key → the keys referencing it, :func:`referrers_of`) places new dependencies."""
    budget = max_layers if max_layers is not None else hints.max_layers
    if budget < 1:
        raise ValueError("max_layers must be at least 1")
    n = len(hints.layers)
    present = set(key_sizes)
    where = dict(hints.layer_of)
    where.update(renamed(present - where.keys(), present, hints))
    if referrers and hints.unseen_rule == "referrers":
        where.update(with_referrers(present - where.keys(), where, referrers, hints))
    buckets: list[list[str]] = [[] for _ in range(n + 1)]
    for key in sorted(present):
        buckets[where.get(key, n)].append(key)
    slots = [
        Slot(tuple(keys), sum(key_sizes[k] for k in keys), hints.layers[i].change_rate if i < n else UNSEEN_RATE, i == n)
        for i, keys in enumerate(buckets)
        if keys
    ]
    if len(slots) > budget and slots[-1].unseen and len(slots) > 1:
        # no room for the reserved layer: unseen keys join the most volatile layer
        top = max(range(len(slots) - 1), key=lambda i: (slots[i].change_rate, i))
        slots[top] = _merge(slots[top], slots.pop())
    while len(slots) > budget:
        costs = [(_merge_cost(slots[i], slots[i + 1]), i) for i in range(len(slots) - 1)]
        _, i = min(costs)
        slots[i : i + 2] = [_merge(slots[i], slots[i + 1])]
    return slots


def layout(closure: Closure, hints: Hints, max_layers: int | None = None) -> list[Layer]:
    """Layers bottom first; a partition of ``closure`` into at most ``max_layers`` non-empty layers."""
    key_sizes = {k: sum(closure.paths[p].size for p in paths) for k, paths in closure.keys.items()}
    return [
        Layer(
            tuple(sorted(p for k in slot.keys for p in closure.keys[k])),
            slot.keys,
            slot.size,
            slot.change_rate,
            slot.unseen,
        )
        for slot in place(key_sizes, hints, max_layers, referrers_of(closure.key_deps))
    ]


def layers_json(layers: list[Layer]) -> str:
    """The nix2container ``layersFile`` text: a JSON list of store path lists, bottom first."""
    return json.dumps([list(layer.paths) for layer in layers], indent=1) + "\n"
