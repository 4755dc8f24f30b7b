"""Co-change clustering: which keys change in the same transitions.

The graph has an edge between two keys for every transition in which both changed, weighted
``1 / (k - 1)`` where ``k`` keys changed in that transition, so a transition spreads one unit of
weight per key however many keys it touched. Mass rebuilds (a transition changing more than half of
the keys: a libc or compiler bump) are left out entirely: they say that everything depends on libc,
which the dependency graph already says, and they would otherwise tie every key to every other. So
are transitions that changed more than ``WIDE`` keys: an update deep in a big image, whose cascade
the dependency graph explains too, and whose pairs (quadratic in the keys changed) would cost minutes
and gigabytes on closures of thousands of paths while adding less than ``1 / WIDE`` to any edge.
Communities come from Louvain with a fixed seed over a graph built in sorted order, so the result is
deterministic.
"""

from __future__ import annotations

from collections import defaultdict
from itertools import combinations

import networkx as nx

from .stats import Statistics

SEED = 20241103
WIDE = 64  # transitions changing more keys than this are left out of the co-change graph


def cochange_graph(stats: Statistics) -> nx.Graph:
    mass = set(stats.mass_rebuilds)
    by_t: dict[int, list[str]] = defaultdict(list)
    for k, ks in stats.keys.items():
        v = ks.vector
        t = 0
        while v:
            if v & 1 and t not in mass:
                by_t[t].append(k)
            v >>= 1
            t += 1
    weights: dict[tuple[str, str], float] = defaultdict(float)
    for t in sorted(by_t):
        keys = sorted(by_t[t])
        if not 2 <= len(keys) <= WIDE:
            continue
        w = 1.0 / (len(keys) - 1)
        for a, b in combinations(keys, 2):
            weights[(a, b)] += w
    g = nx.Graph()
    g.add_nodes_from(sorted({k for ks in by_t.values() for k in ks}))
    for (a, b), w in sorted(weights.items()):
        g.add_edge(a, b, weight=round(w, 9))
    return g


def clusters(stats: Statistics) -> list[list[str]]:
    """Co-change communities, each sorted, largest first (ties by first key)."""
    g = cochange_graph(stats)
    if g.number_of_nodes() == 0:
        return []
    if g.number_of_edges() == 0:
        comms = [{n} for n in g.nodes]
    else:
        comms = nx.community.louvain_communities(g, weight="weight", seed=SEED)
    out = [sorted(c) for c in comms]
    out.sort(key=lambda c: (-len(c), c[0]))
    return out
