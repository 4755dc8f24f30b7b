"""Lay one closure out into layers from a hint file (nix2container ``layersFile``).

Every path goes to the layer of its key. A key the hints never saw that is a *renamed* hinted key
(the same name up to its version numbers, ``python3.12-requests`` for ``python3.11-requests``,
``libicu74`` for ``libicu72``, while the old key is gone from the closure) takes the old key's layer:
a Python or soname bump renames whole package sets, and they keep their places until the next
``gitmine analyze``. Other unseen keys go to a reserved layer on top. Empty layers are dropped. When more layers remain than the budget allows, the adjacent pair whose
merge adds the least expected re-pulled bytes is merged, until the budget holds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from .closure import Closure
from .hints import Hints
from .keys import family, path_key

UNSEEN_RATE = 1.0  # a key never seen is assumed to change at the next release


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


def _merge(a: Layer, b: Layer) -> Layer:
    rate = 1 - (1 - a.change_rate) * (1 - b.change_rate)
    return Layer(
        tuple(sorted(a.paths + b.paths)),
        tuple(sorted(set(a.keys + b.keys))),
        a.size + b.size,
        rate,
        a.unseen or b.unseen,
    )


def _merge_cost(a: Layer, b: Layer) -> float:
    rate = 1 - (1 - a.change_rate) * (1 - b.change_rate)
    return a.size * (rate - a.change_rate) + b.size * (rate - b.change_rate)


def layout(closure: Closure, hints: Hints, max_layers: int | None = None) -> list[Layer]:
    """Layers bottom first; a partition of ``closure`` into at most ``max_layers`` non-empty layers."""
    budget = max_layers if max_layers is not None else hints.max_layers
    if budget < 1:
        raise ValueError("max_layers must be at least 1")
    n = len(hints.layers)
    buckets: list[list[str]] = [[] for _ in range(n + 1)]
    keys = {sp.path: path_key(sp.path) for sp in closure}
    present = set(keys.values())
    where = dict(hints.layer_of)
    where.update(renamed(present - where.keys(), present, hints))
    for path, key in keys.items():
        buckets[where.get(key, n)].append(path)
    layers: list[Layer] = []
    for i, paths in enumerate(buckets):
        if not paths:
            continue
        rate = hints.layers[i].change_rate if i < n else UNSEEN_RATE
        layers.append(
            Layer(
                tuple(sorted(paths)),
                tuple(sorted({path_key(p) for p in paths})),
                sum(closure.paths[p].size for p in paths),
                rate,
                unseen=i == n,
            )
        )
    if len(layers) > budget and layers[-1].unseen and len(layers) > 1:
        # no room for the reserved layer: unseen keys join the most volatile layer
        top = max(range(len(layers) - 1), key=lambda i: (layers[i].change_rate, i))
        layers[top] = _merge(layers[top], layers.pop())
    while len(layers) > budget:
        costs = [(_merge_cost(layers[i], layers[i + 1]), i) for i in range(len(layers) - 1)]
        _, i = min(costs)
        layers[i : i + 2] = [_merge(layers[i], layers[i + 1])]
    return layers


def layers_json(layers: list[Layer]) -> str:
    """The nix2container ``layersFile`` text: a JSON list of store path lists, bottom first."""
    return json.dumps([list(layer.paths) for layer in layers], indent=1) + "\n"
