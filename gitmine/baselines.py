"""Faithful re-implementations of the layerings gitmine is measured against.

Each function takes a :class:`~gitmine.closure.Closure` and a budget and returns layers bottom first
as lists of store paths. They are written from the published algorithms:

* ``single``: everything in one layer.
* ``n2c``: nix2container's ``maxLayers`` (``closure/popularity.go``, ``nix/layers.go``): popularity
  is 1 plus the sum of the referrers' popularity, computed in topological order; nodes are numbered
  in order of first appearance over the path-sorted graph and ties go to the higher number; the
  ``N - 1`` most popular paths get a layer each and the rest share the last one.
* ``nixpkgs-popularity``: nixpkgs ``references-by-popularity/closure-graph.py`` (the tree-expanded
  popularity contest, ties by name) with the classic ``streamLayeredImage`` packing: one layer per
  path for the first ``N - 1`` paths, the rest in one layer. (streamLayeredImage keeps one more layer
  for its customisation layer; the replay gives every strategy the same ``N`` store layers.)
* ``autolayer``: nixpkgs ``pkgs/build-support/docker/auto-layer.py``: the largest paths in turn
  become primaries; each path belongs to the layer named by the set of primaries that depend on it
  (cohorts); it stops before the first primary that would exceed the budget; layers are ordered by
  the size of their closure.
"""

from __future__ import annotations

from graphlib import TopologicalSorter
from typing import Callable

from .closure import Closure

Strategy = Callable[[Closure, int], list[list[str]]]


def single(closure: Closure, max_layers: int) -> list[list[str]]:
    return [sorted(closure.paths)]


def n2c_order(closure: Closure) -> list[str]:
    """Paths by nix2container popularity, most popular first."""
    ids: dict[str, int] = {}
    for sp in closure:  # path-sorted
        ids.setdefault(sp.path, len(ids))
        for ref in sp.references:
            ids.setdefault(ref, len(ids))
    # topological order: referrers before their references
    ts = TopologicalSorter({p: closure.referrers[p] for p in closure.paths})
    pop = dict.fromkeys(closure.paths, 1)
    for p in ts.static_order():
        for ref in closure.paths[p].references:
            pop[ref] += pop[p]
    return sorted(closure.paths, key=lambda p: (-pop[p], -ids[p]))


def _singletons_then_rest(order: list[str], max_layers: int) -> list[list[str]]:
    head = [[p] for p in order[: max_layers - 1]]
    rest = order[max_layers - 1 :]
    return head + ([sorted(rest)] if rest else [])


def n2c(closure: Closure, max_layers: int) -> list[list[str]]:
    return _singletons_then_rest(n2c_order(closure), max_layers)


def _package_name(path: str) -> str:
    parts = path.split("-")
    return "-".join(parts[1:] + parts[:1])


def popularity_contest(closure: Closure) -> dict[str, int]:
    """closure-graph.py's contest: each path's count over the tree-expanded graph from the roots."""
    memo: dict[str, dict[str, int]] = {}
    ts = TopologicalSorter({p: closure.paths[p].references for p in closure.paths})
    for p in ts.static_order():  # references before referrers
        pop: dict[str, int] = {}
        for child in closure.paths[p].references:
            pop[child] = pop.get(child, 0) + 1
            for sub, v in memo[child].items():
                pop[sub] = pop.get(sub, 0) + v + 1
        memo[p] = pop
    total: dict[str, int] = {}
    for root in closure.paths:
        if closure.referrers[root]:
            continue
        total[root] = total.get(root, 0) + 1
        for sub, v in memo[root].items():
            total[sub] = total.get(sub, 0) + v + 1
    return total


def nixpkgs_popularity_order(closure: Closure) -> list[str]:
    contest = popularity_contest(closure)
    ordered = sorted(contest, key=lambda p: (-contest[p], _package_name(p)))
    return ordered + sorted(set(closure.paths) - set(contest))


def nixpkgs_popularity(closure: Closure, max_layers: int) -> list[list[str]]:
    return _singletons_then_rest(nixpkgs_popularity_order(closure), max_layers)


def _transitive(start: str, edges: Callable[[str], tuple[str, ...]]) -> set[str]:
    todo = list(edges(start))
    done: set[str] = set()
    while todo:
        x = todo.pop()
        if x not in done:
            done.add(x)
            todo.extend(edges(x))
    return done


def autolayer(closure: Closure, max_layers: int) -> list[list[str]]:
    refs = {p: closure.paths[p].references for p in closure.paths}
    users = closure.referrers
    by_size = sorted(closure.paths, key=lambda p: closure.paths[p].size)  # stable over path order
    split: dict[str, frozenset[str]] = dict.fromkeys(closure.paths, frozenset())
    while by_size:
        primary = by_size.pop()
        new = dict(split)
        new[primary] = frozenset({primary})
        deps = _transitive(primary, refs.__getitem__)
        above = _transitive(primary, users.__getitem__)
        for d in deps:
            s = new[d] - above
            if not s & deps:
                s = s | {primary}
            new[d] = s
        if len(set(new.values())) > max_layers:
            break
        split = new
    groups: dict[frozenset[str], list[str]] = {}
    for p, layer_id in split.items():
        groups.setdefault(layer_id, []).append(p)

    layers = [sorted(ps) for ps in groups.values()]
    # by the bytes of each layer's paths and everything they reference
    return sorted(layers, key=lambda ps: (closure.closure_of(ps).total_size(), ps))


BASELINES: dict[str, Strategy] = {
    "single": single,
    "n2c": n2c,
    "nixpkgs-popularity": nixpkgs_popularity,
    "autolayer": autolayer,
}
