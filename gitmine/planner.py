"""The planner: group keys into layers so that the bytes pulled and unpacked per release are small.

Model. In Nix a store path changes whenever it or anything below it changes. Each key ``d`` has an
*own* update probability ``q_d`` per release that changes the image (releases that change nothing
cost nothing to any layering), estimated from the transitions in which it changed while none of its
dependencies did, and shrunk towards the pooled rate of all keys so that a key never seen to change
in the window keeps the risk typical of this history (see :func:`own_rates`).
A layer ``L`` changes when any key in the dependency closure of its members gets an own update;
treating own updates as independent,

    P(L) = 1 - prod_{d in closure(L)} (1 - q_d)

and the expected bytes pulled for the layer per release are ``size(L) * P(L)``. With one key per
layer this sum is the lower bound; every merge adds

    size(A) * (P(A u B) - P(A)) + size(B) * (P(A u B) - P(B)),

which is zero for keys exposed to exactly the same updates (a package and its private
dependencies) and large for a big stable key joined to a volatile one.

Steps: merge the cheapest pair until the budget is met (agglomerative, exact costs, ties broken by
key order); stack the layers to minimise expected *unpacked* bytes (a layer is unpacked whenever
anything at or below it changes: :func:`order_layers`); then move single keys between nearby layers
while expected pulled + unpacked bytes fall (:func:`refine`). Closures are bit masks over keys, so
every cost is exact set arithmetic, and the result is deterministic. With several images, a host holds
each image's keys of a layer as a blob of their own and unpacks each image's chain of blobs; the
merges are costed so, key moves are made only where its costs fall too, and the finished stack is
re-stacked for it (:class:`_Host`, :func:`_stack_for_host`).

Re-planning. Clients pull every layer whose content changed, so new hints cost a one-time re-pull
of the layers they move. Given the hints in use, :func:`plan` keeps them, or applies the key moves
that pay for themselves, or gives one volatile key a layer of its own by merging two neighbouring
layers, or switches to the fresh plan, whichever is cheapest over as many changing releases as the
window holds, switch included (:func:`_stay_or_switch`).
"""

from __future__ import annotations

import bisect
import heapq
import math
from dataclasses import dataclass, replace
from typing import Callable, Iterator, Mapping, Sequence

import networkx as nx

from .hints import Analysis, HintLayer, Hints
from .keys import path_key
from .layout import Slot, place, referrers_of
from .stats import Statistics

PRIOR_STRENGTH = 20.0  # weight of the pooled base rate in each key's estimate: releases (or weeks, if fewer)
FULL_PAIRS_LIMIT = 900  # above this many keys, candidate pairs are limited to neighbours
WINDOW = 48  # neighbours by rising risk considered per group when candidates are limited
PLANNER_NAME = "expected-bytes-v1"
UNPACK_WEIGHT = 1.0  # expected unpacked bytes count this much against expected pulled bytes
REFINE_ROUNDS = 4  # at most this many rounds of key moves and re-stacking
REFINE_REACH = 8  # a key may move this many positions up or down
CERTAIN = 1.0 - 1e-9  # the highest own-update probability the risk model takes
ISOLATE_TRIES = 4  # keys a re-plan tries to give a layer of their own (:func:`_isolated`)


@dataclass
class _Group:
    members: list[int]
    mask: int
    size: int
    risk: float
    version: int = 0
    images: int = 0  # bit j: the layer holds keys of image j


def _bits(mask: int) -> list[int]:
    return [j for j in range(mask.bit_length()) if mask >> j & 1]


def _image_counts(groups: list[_Group]) -> list[int]:
    """How many of ``groups`` hold keys of each image: the layers each image gets."""
    return _mask_counts([g.images for g in groups])


def _mask_counts(images: list[int]) -> list[int]:
    """How many of the layers whose images are ``images`` (as bits) each image gets."""
    counts = [0] * max((m.bit_length() for m in images), default=0)
    for m in images:
        for j in _bits(m):
            counts[j] += 1
    return counts


def _group(members: list[int], masks: list[int], size: int, model: _RiskModel, key_images: list[int] | None = None) -> _Group:
    """A layer of ``members``: the union of their closures and its risk (and the images it serves)."""
    mask = images = 0
    for i in members:
        mask |= masks[i]
        images |= key_images[i] if key_images else 0
    return _Group(members, mask, size, model.risk(mask), images=images)


class _RiskModel:
    """Fast ``sum of lambda over a key mask``: keys are bucketed by their (identical) lambda."""

    def __init__(self, lambdas: list[float]):
        buckets: dict[float, int] = {}
        for i, lam in enumerate(lambdas):
            buckets[lam] = buckets.get(lam, 0) | (1 << i)
        self.buckets = sorted(buckets.items())

    def risk(self, mask: int) -> float:
        total = 0.0
        for lam, bmask in self.buckets:
            total += lam * (mask & bmask).bit_count()
        return -math.expm1(-total)


def own_rates(stats: Statistics, keys: list[str], prior_strength: float = PRIOR_STRENGTH) -> list[float]:
    """Each key's probability of an own update per release.

    Rates are per release that changes the image (the releases that cost anything; see
    :mod:`gitmine.stats`). A key's own updates are counted over its exposure (such releases it was
    there for); the frequency is shrunk towards the pooled frequency of all keys, a beta prior worth
    ``prior_strength`` releases, so a key never updated in the window keeps the risk typical of this
    history: high on a rolling distribution, low on a stable one. The pooled frequency counts one more
    changing release with one own update among all keys: a window in which the image never changed
    gives every key ``1 / len(keys)``, small enough that a layer's risk still grows with its closure.
    Where the image changed less than once a week, the prior is worth ``prior_strength`` weeks of such
    releases instead, so that a quiet stable window does not hedge harder than a busy one.
    ``prior_strength`` near 0 trusts the window alone (no hedge for keys it never saw change).
    """
    owns = [stats.keys[k].own_changes for k in keys]
    exposures = [stats.keys[k].exposure for k in keys]
    # base rate of own updates, as if one more changing release had brought one own update among all keys
    pooled = (sum(owns) + 1.0) / (sum(exposures) + len(keys))
    weight = prior_strength * min(1.0, stats.changed_releases / stats.weeks) if stats.weeks else prior_strength
    # a window in which the image never changed has no evidence at all: every key gets the base rate
    return [(own + weight * pooled) / (n + weight) if n + weight else pooled for own, n in zip(owns, exposures)]


def _quantize(x: float) -> float:
    """Round to about 1% so keys with near-equal rates share a bucket of the risk model."""
    if x <= 0:
        return 0.0
    return round(math.exp(round(math.log(x) * 100) / 100), 12)


def _closure_masks(keys: list[str], deps: dict[str, frozenset[str]]) -> list[int]:
    index = {k: i for i, k in enumerate(keys)}
    g = nx.DiGraph()
    g.add_nodes_from(range(len(keys)))
    for k in keys:
        for d in sorted(deps.get(k, ())):
            if d in index and d != k:
                g.add_edge(index[k], index[d])
    cond = nx.condensation(g)
    scc_mask: dict[int, int] = {}
    for c in reversed(list(nx.topological_sort(cond))):
        m = 0
        for node in cond.nodes[c]["members"]:
            m |= 1 << node
        for succ in cond.successors(c):
            m |= scc_mask[succ]
        scc_mask[c] = m
    mapping = cond.graph["mapping"]
    return [scc_mask[mapping[i]] for i in range(len(keys))]


def expected_unpack(layers: list[_Group], model: _RiskModel) -> float:
    """Expected bytes unpacked per release for this stacking: every layer at or above the lowest
    changed one, i.e. layer ``j`` counts whenever any own update hits the closure of layers 1..j."""
    total, prefix = 0.0, 0
    for g in layers:
        prefix |= g.mask
        total += g.size * model.risk(prefix)
    return total


def order_layers(groups: list[_Group], model: _RiskModel) -> list[_Group]:
    """Stack layers to keep expected unpack small: greedily put next the layer that adds the least
    risk per byte to the stack below it (a layer whose dependencies are all below and which has no
    own risk is free), then improve by adjacent swaps until none helps."""
    remaining = sorted(groups, key=lambda g: (g.risk, -g.size, g.members[0]))
    order: list[_Group] = []
    prefix, base = 0, 0.0
    while remaining:
        best, best_key = 0, None
        for i, g in enumerate(remaining):
            inc = model.risk(prefix | g.mask) - base
            key = (inc / max(g.size, 1), g.risk, g.members[0])
            if best_key is None or key < best_key:
                best, best_key = i, key
        g = remaining.pop(best)
        order.append(g)
        prefix |= g.mask
        base = model.risk(prefix)
    # adjacent swaps: exchanging layers i and i+1 only changes the union below position i + 1
    improved = True
    while improved:
        improved = False
        below = 0
        for i in range(len(order) - 1):
            lo, hi = order[i], order[i + 1]
            both = below | lo.mask | hi.mask
            r_both = model.risk(both)
            now = lo.size * model.risk(below | lo.mask) + hi.size * r_both
            swapped = hi.size * model.risk(below | hi.mask) + lo.size * r_both
            if swapped < now - 1e-9:
                order[i], order[i + 1] = hi, lo
                improved = True
            below |= order[i].mask
    return order


def refine(
    order: list[_Group],
    masks: list[int],
    sizes: list[int],
    model: _RiskModel,
    horizon: float | None = None,
    *,
    key_images: list[int] | None = None,
    budget: int | None = None,
    host: _Host | None = None,
) -> list[_Group]:
    """Move single keys between layers while that lowers expected pulled + unpacked bytes.

    A move of a key from layer ``a`` to layer ``b`` changes the pull cost of those two layers and
    the unpack cost of positions ``min(a, b)`` to ``max(a, b)`` only (above both, the union of
    closures below is unchanged), so each candidate costs a few risk evaluations. Moves reach
    ``REFINE_REACH`` positions; rounds alternate moves and re-stacking until nothing improves.

    With ``horizon`` the layers are in use: a move must save more over ``horizon`` releases than
    it costs once (the layers it changes are pulled again, and everything from the lowest changed
    position is unpacked again), and the stacking is left as it is.

    With several images (``key_images``: each key's image bits, the groups' ``images`` set), a move
    that would give an image more than ``budget`` layers is not made; with ``host``, nor is one that
    the host running them expects to pay more for (the costs above weigh a layer as one closure).
    """
    touched: set[int] = set()  # ids of the groups a move has changed
    low = len(order)  # lowest changed position
    # with one image a move never brings an image to a layer without it: nothing to count
    counts = _image_counts(order) if key_images is not None and budget is not None else []
    if len(counts) < 2:
        counts = []

    def fits(key: int, rest_images: int, dst: _Group) -> bool:
        """Whether moving ``key`` (its layer keeping ``rest_images``) to ``dst`` keeps every image
        within the budget: only an image new to ``dst`` that stays in the source layer adds a layer."""
        if not counts or key_images is None or budget is None:
            return True
        grow = key_images[key] & ~dst.images & rest_images
        return all(counts[j] < budget for j in _bits(grow))

    def switch(a: int, b: int, a_size: int, b_size: int) -> float:
        cost = (0 if id(order[a]) in touched else a_size) + (0 if id(order[b]) in touched else b_size)
        lo = min(a, b)
        return cost + UNPACK_WEIGHT * sum(order[j].size for j in range(lo, low))

    def without_each(members: list[int], of: list[int] = masks) -> list[int]:
        """The union of the members' closures (or of other bit masks ``of``) leaving out each member
        in turn (prefix | suffix ORs)."""
        pre, suf = [0] * (len(members) + 1), [0] * (len(members) + 1)
        for i, m in enumerate(members):
            pre[i + 1] = pre[i] | of[m]
        for i in range(len(members) - 1, -1, -1):
            suf[i] = suf[i + 1] | of[members[i]]
        return [pre[i] | suf[i + 1] for i in range(len(members))]

    def prefixes() -> tuple[list[int], list[float]]:
        """prefix[j]: union of the closures of layers below position j; and its risk."""
        prefix = [0] * (len(order) + 1)
        for j, g in enumerate(order):
            prefix[j + 1] = prefix[j] | g.mask
        return prefix, [model.risk(m) for m in prefix]

    # float rounding in a bound is far below this: a move pruned by it could not have been chosen
    slack = 1e-9 * sum(g.size for g in order) + 1e-6

    def bound_gain(a: int, b: int, b_size: int, a_size: int, a_risk: float, prefix_risk: list[float]) -> float:
        """An upper bound of a move's gain that needs no risk evaluation: the merged layer's risk is at
        least the destination's, and each union below a position at least the one below the lower of
        the two layers (moving up) or at least the old one (moving down), where it is not exact."""
        src, dst = order[a], order[b]
        key_size = b_size - dst.size
        gain = src.size * src.risk + dst.size * dst.risk - a_size * a_risk - b_size * dst.risk
        if b > a:
            unpack = src.size * prefix_risk[a + 1] - a_size * prefix_risk[a] - key_size * prefix_risk[b + 1]
            unpack += sum(order[j].size * (prefix_risk[j + 1] - prefix_risk[a]) for j in range(a + 1, b))
        else:
            unpack = key_size * (prefix_risk[a + 1] - prefix_risk[b + 1])
        gain += UNPACK_WEIGHT * unpack
        return gain * horizon - switch(a, b, a_size, b_size) if horizon is not None else gain

    for _ in range(REFINE_ROUNDS):
        improved = False
        n = len(order)
        prefix, prefix_risk = prefixes()
        for a in range(n):
            src = order[a]
            rests: list[int] | None = None  # union of the layer's closures without each member
            rest_images: list[int] = []  # and of their images
            idx = 0
            while len(src.members) > 1 and idx < len(src.members):
                key = src.members[idx]
                if rests is None:
                    rests = without_each(src.members)
                    if counts and key_images is not None:
                        rest_images = without_each(src.members, key_images)
                a_mask, a_size = rests[idx], src.size - sizes[key]
                a_images = rest_images[idx] if rest_images else src.images
                a_risk = src.risk if a_mask == src.mask else model.risk(a_mask)
                best, best_gain = None, 1e-6
                for b in range(max(0, a - REFINE_REACH), min(n, a + REFINE_REACH + 1)):
                    if b == a or not fits(key, a_images, order[b]):
                        continue
                    dst = order[b]
                    b_size = dst.size + sizes[key]
                    bound = bound_gain(a, b, b_size, a_size, a_risk, prefix_risk)
                    if bound < best_gain - slack:  # cannot beat the best move so far: skip its risks
                        continue
                    b_mask = dst.mask | masks[key]
                    b_risk = dst.risk if b_mask == dst.mask else model.risk(b_mask)
                    gain = src.size * src.risk + dst.size * dst.risk - a_size * a_risk - b_size * b_risk
                    lo, hi = min(a, b), max(a, b)
                    union = prefix[lo]
                    for j in range(lo, hi + 1):
                        g = order[j]
                        mask, size = (a_mask, a_size) if j == a else ((b_mask, b_size) if j == b else (g.mask, g.size))
                        union |= mask
                        # most moves leave the union below a position as it was: no risk to recompute
                        risk = prefix_risk[j + 1] if union == prefix[j + 1] else model.risk(union)
                        gain += UNPACK_WEIGHT * (g.size * prefix_risk[j + 1] - size * risk)
                    if horizon is not None:
                        gain = gain * horizon - switch(a, b, a_size, b_size)
                    if gain > best_gain:
                        best, best_gain = b, gain
                if best is not None and host is not None:
                    trial = list(order)
                    trial[a] = _group([m for m in src.members if m != key], masks, a_size, model, key_images)
                    trial[best] = _group(sorted(order[best].members + [key]), masks, order[best].size + sizes[key], model, key_images)
                    if host.cost(trial) >= host.cost(order) - 1e-6:
                        best = None
                if best is None:
                    idx += 1
                    continue
                dst = order[best]
                if horizon is not None:
                    touched.update((id(src), id(dst)))
                    low = min(low, a, best)
                src.members = src.members[:idx] + src.members[idx + 1 :]  # the next member moves up to idx
                src.mask, src.size, src.risk = a_mask, a_size, a_risk
                if counts and key_images is not None:
                    for j in _bits(key_images[key] & ~dst.images):
                        counts[j] += 1
                    for j in _bits(key_images[key] & ~a_images):
                        counts[j] -= 1
                    src.images, dst.images = a_images, dst.images | key_images[key]
                rests = None
                dst.members = sorted(dst.members + [key])
                dst.mask |= masks[key]
                dst.size += sizes[key]
                dst.risk = model.risk(dst.mask)
                improved = True
                prefix, prefix_risk = prefixes()
        if horizon is None:
            before = expected_unpack(order, model)
            reordered = order_layers(order, model)
            if expected_unpack(reordered, model) < before - 1e-6:
                order, improved = reordered, True
        if not improved:
            break
    return order


@dataclass(frozen=True)
class Forecast:
    """Bytes per release the planner's model expects for a hint file on the analysed history."""

    pull: float
    unpack: float
    lower_bound: float  # every key in a layer of its own, without a budget

    def as_dict(self) -> dict[str, float]:
        return {"pull": round(self.pull), "unpack": round(self.unpack), "lower_bound": round(self.lower_bound)}


def _key_images(stats: Statistics, keys: list[str]) -> list[int]:
    """Each key's images as bits (image ``j``: the ``j``-th image by name); with no images recorded,
    every key is in one image."""
    names = sorted({i for k in keys for i in stats.images.get(k, ())})
    bit = {name: 1 << j for j, name in enumerate(names)}
    return [sum(bit[i] for i in stats.images.get(k, ())) or 1 for k in keys]


def _slot_counts(slots: Sequence[Slot], keys: list[str], key_images: list[int]) -> list[int]:
    """How many of ``slots`` hold keys of each image (``key_images``: each of ``keys``' image bits)."""
    index = {k: i for i, k in enumerate(keys)}
    masks = [0] * len(slots)
    for n, slot in enumerate(slots):
        for k in slot.keys:
            masks[n] |= key_images[index[k]]
    return _mask_counts(masks)


def all_layers(hints: Hints) -> int:
    """A budget that lays one closure of all images out with every layer of ``hints``: the file's
    ``max-layers`` is per image, and with several images it can hold more layers than that."""
    return max(hints.max_layers, len(hints.layers))


def _model(stats: Statistics, keys: list[str], prior_strength: float) -> tuple[_RiskModel, list[int]]:
    # a rate of 1 (the only key of an image, updated at every release) is an infinite hazard: cap it
    lambdas = [_quantize(-math.log1p(-min(q, CERTAIN))) for q in own_rates(stats, keys, prior_strength)]
    return _RiskModel(lambdas), _closure_masks(keys, dict(stats.deps))


def forecast(stats: Statistics, hints: Hints, prior_strength: float = PRIOR_STRENGTH) -> Forecast:
    """Expected bytes pulled and unpacked per release with ``hints``, under the model of :func:`plan`.

    The latest snapshot's keys are laid out as ``gitmine layout`` would (:func:`gitmine.layout.place`),
    keys the hints never saw included.
    """
    keys = sorted(stats.present)
    referrers = referrers_of({k: stats.deps[k] for k in keys})
    slots = place({k: stats.keys[k].size for k in keys}, hints, all_layers(hints), referrers)
    layer_of = {k: i for i, slot in enumerate(slots) for k in slot.keys}
    return _forecast(stats, layer_of, len(slots), prior_strength)


def forecast_layout(stats: Statistics, layers: Sequence[Sequence[str]], prior_strength: float = PRIOR_STRENGTH) -> Forecast:
    """:func:`forecast` for any layering of a closure (store path lists, bottom first), such as a
    baseline's: each key is placed in the lowest layer holding one of its paths."""
    layer_of: dict[str, int] = {}
    for i, layer in enumerate(layers):
        for path in layer:
            layer_of.setdefault(path_key(path), i)
    return _forecast(stats, layer_of, len(layers), prior_strength)


def forecast_images(
    stats: Statistics,
    images: Mapping[str, Sequence[Sequence[str]]],
    sizes: Mapping[str, int],
    prior_strength: float = PRIOR_STRENGTH,
) -> Forecast:
    """:func:`forecast` for a host running several images, each laid out on its own (``images``:
    image → its layers as store path lists, bottom first; ``sizes``: each path's bytes), as
    ``gitmine replay`` scores them: a layer (its set of keys) is pulled once whichever images hold
    it, and each distinct chain of layers from the bottom up is unpacked once."""
    keys = sorted(stats.present)
    index = {k: i for i, k in enumerate(keys)}
    model, masks = _model(stats, keys, prior_strength)
    image_layers = []
    for layers in images.values():
        groups = []
        for layer in layers:
            members = sorted({index[k] for k in {path_key(p) for p in layer} if k in index})
            groups.append(_group(members, masks, sum(sizes[p] for p in layer), model))
        image_layers.append(groups)
    pull, unpack = _host_costs(image_layers, model.risk)
    share = _changing_share(stats)
    lower = sum(stats.keys[k].size * model.risk(masks[i]) for i, k in enumerate(keys))
    return Forecast(pull=share * pull, unpack=share * unpack, lower_bound=share * lower)


def _changing_share(stats: Statistics) -> float:
    """The share of releases that change the image: the model's rates are per such release."""
    return stats.changed_releases / stats.transitions if stats.transitions else 1.0


def _forecast(stats: Statistics, layer_of: Mapping[str, int], n: int, prior_strength: float) -> Forecast:
    keys = sorted(stats.present)
    model, masks = _model(stats, keys, prior_strength)
    share = _changing_share(stats)
    slots: list[list[int]] = [[] for _ in range(n + 1)]
    for i, k in enumerate(keys):
        slots[layer_of.get(k, n)].append(i)
    groups = []
    for members in slots:
        if not members:
            continue
        groups.append(_group(members, masks, sum(stats.keys[keys[i]].size for i in members), model))
    return Forecast(
        pull=share * sum(g.size * g.risk for g in groups),
        unpack=share * expected_unpack(groups, model),
        lower_bound=share * sum(stats.keys[k].size * model.risk(masks[i]) for i, k in enumerate(keys)),
    )


def plan(
    stats: Statistics,
    max_layers: int,
    analysis: Analysis | None = None,
    *,
    prior_strength: float = PRIOR_STRENGTH,
    previous: Hints | None = None,
) -> Hints:
    """Hints for at most ``max_layers`` layers per image, bottom first (with several images the file
    can hold more: each image gets the layers that hold its keys).

    With ``previous`` (the hint file in use), the layers it gives the latest snapshot are kept, or
    improved by key moves, unless a new plan saves more expected bytes over the analysed number of
    releases than switching costs once (:func:`_stay_or_switch`). The layers in use are those of the
    file at its own budget; with another ``max_layers`` they cannot stay as they are, and what is
    kept is the file laid out at the new budget, as ``gitmine layout --max-layers`` would.
    """
    if max_layers < 1:
        raise ValueError("max_layers must be at least 1")
    keys = sorted(stats.present)
    T = stats.transitions
    model, masks = _model(stats, keys, prior_strength)
    sizes = [stats.keys[k].size for k in keys]
    key_images = _key_images(stats, keys)
    final = _fresh(keys, sizes, masks, model, max_layers, key_images)
    if previous is not None:
        referrers = referrers_of({k: stats.deps[k] for k in keys})
        key_sizes = dict(zip(keys, sizes))
        in_use = place(key_sizes, previous, all_layers(previous), referrers)
        kept = in_use
        if previous.max_layers != max_layers or max(_slot_counts(in_use, keys, key_images), default=0) > max_layers:
            # another budget, or an image that now holds more of the file's layers than that (images
            # merged into one): the file as `gitmine layout --max-layers` lays one closure of all keys out
            kept = place(key_sizes, previous, max_layers, referrers)
        horizon = max(stats.changed_releases, 1)
        final = _stay_or_switch(final, in_use, kept, keys, sizes, masks, model, horizon, key_images, max_layers)
    share = _changing_share(stats)
    layers = []
    for g in final:
        vec = 0
        for m in g.members:
            vec |= stats.keys[keys[m]].vector
        layers.append(
            HintLayer(
                keys=tuple(keys[m] for m in g.members),
                size=g.size,
                change_rate=g.risk * share,
                observed_rate=vec.bit_count() / T if T else 0.0,
            )
        )
    if analysis is None:
        analysis = Analysis(
            images=tuple(sorted(set().union(*stats.images.values()))),
            rev_range=f"{stats.revs[0]}..{stats.revs[-1]}" if stats.revs else "",
            snapshots=len(stats.revs),
            transitions=T,
            max_layers=max_layers,
            planner=PLANNER_NAME,
        )
    return Hints(analysis, tuple(layers))


class _Host:
    """The costs of a host running every image (:func:`_host_costs`) for any stack of layers, each
    layer's blobs and the risks of the chains' unions computed once. ``key_images``: each key's image
    bits (``None``: one image)."""

    def __init__(self, masks: list[int], sizes: list[int], model: _RiskModel, key_images: list[int] | None):
        self.masks, self.sizes, self.model = masks, sizes, model
        self.key_images = key_images or [1] * len(masks)
        self.several = len(_mask_counts(self.key_images)) > 1
        self._parts: dict[frozenset[int], dict[int, _Group]] = {}
        self._risks: dict[int, float] = {}

    def risk(self, mask: int) -> float:
        r = self._risks.get(mask)
        if r is None:
            r = self._risks[mask] = self.model.risk(mask)
        return r

    def images(self, order: list[_Group]) -> list[list[_Group]]:
        """Each image's layers, bottom first: its keys of each layer of ``order`` (``gitmine layout`` of
        that image with these hints). With one image, ``order`` itself."""
        if not self.several:
            return [order]
        out: dict[int, list[_Group]] = {}
        for g in order:
            members = frozenset(g.members)
            parts = self._parts.get(members)
            if parts is None:
                parts = self._parts[members] = self._split(g)
            for j, part in parts.items():
                out.setdefault(j, []).append(part)
        return [out[j] for j in sorted(out)]

    def _split(self, g: _Group) -> dict[int, _Group]:
        """Each image's keys of layer ``g``: image index → its blob of the layer (new groups: the
        stack's own change as keys move)."""
        images = 0
        for m in g.members:
            images |= self.key_images[m]
        out = {}
        for j in _bits(images):
            part = [m for m in g.members if self.key_images[m] >> j & 1]
            out[j] = _group(part, self.masks, sum(self.sizes[m] for m in part), self.model)
        return out

    def cost(self, order: list[_Group]) -> float:
        """Expected bytes pulled + unpacked per release; with one image, the quantity :func:`refine`
        lowers."""
        pull, unpack = _host_costs(self.images(order), self.risk)
        return pull + UNPACK_WEIGHT * unpack


def _stack_for_host(order: list[_Group], host: _Host) -> list[_Group]:
    """Swap adjacent layers while the host running every image expects to unpack less.

    :func:`order_layers` stacks one closure, in which a layer's change unpacks everything above it; a
    host unpacks each image's own chain of blobs, and an image with no keys in a changed layer unpacks
    nothing of it."""

    def unpack(stack: list[_Group]) -> float:
        return _host_costs(host.images(stack), host.risk)[1]

    current = unpack(order)
    improved = True
    while improved:
        improved = False
        for i in range(len(order) - 1):
            swapped = [*order[:i], order[i + 1], order[i], *order[i + 2 :]]
            c = unpack(swapped)
            if c < current - 1e-6:
                order, current, improved = swapped, c, True
    return order


def _blobs(images: list[list[_Group]], chains: dict[tuple[int, frozenset[int]], int]) -> Iterator[tuple[_Group, frozenset[int], int, int]]:
    """Walk each image's layers bottom up: each layer, its blob (its keys), its chain (an id in
    ``chains``, shared by images whose layers up to it are the same blobs) and the union of the
    closures at and below it."""
    for layers in images:
        below, prefix = -1, 0
        for g in layers:
            blob = frozenset(g.members)
            prefix |= g.mask
            below = chains.setdefault((below, blob), len(chains))
            yield g, blob, below, prefix


def _host_costs(images: list[list[_Group]], risk: Callable[[int], float]) -> tuple[float, float]:
    """Expected bytes pulled and unpacked per release by a host running every image (each as
    :meth:`_Host.images` gives it), as ``gitmine replay`` scores them: a blob is pulled once whichever
    images hold it, a chain of blobs from the bottom up is unpacked once. ``risk``: the model's
    :meth:`_RiskModel.risk`, or a memo of it."""
    pulled: set[frozenset[int]] = set()
    chains: dict[tuple[int, frozenset[int]], int] = {}
    unpacked: set[int] = set()
    pull = unpack = 0.0
    for g, blob, chain, prefix in _blobs(images, chains):
        if blob not in pulled:
            pulled.add(blob)
            pull += g.size * g.risk
        if chain not in unpacked:
            unpacked.add(chain)
            unpack += g.size * risk(prefix)
    return pull, unpack


def _switch_cost(images: list[list[_Group]], deployed: list[list[_Group]]) -> float:
    """Bytes pulled and unpacked once when the layers in use (``deployed``) become ``images`` (each as
    :meth:`_Host.images` gives them): blobs not in use are pulled, and chains not in use unpacked,
    which for one image is everything from the lowest changed position up."""
    chains: dict[tuple[int, frozenset[int]], int] = {}
    known = {blob for _, blob, _, _ in _blobs(deployed, chains)}
    unpacked = set(chains.values())
    total = 0.0
    for g, blob, chain, _ in _blobs(images, chains):
        if blob not in known:
            known.add(blob)
            total += g.size
        if chain not in unpacked:
            unpacked.add(chain)
            total += UNPACK_WEIGHT * g.size
    return total


def _stay_or_switch(
    fresh: list[_Group],
    in_use: list[Slot],
    kept: list[Slot],
    keys: list[str],
    sizes: list[int],
    masks: list[int],
    model: _RiskModel,
    horizon: int,
    key_images: list[int],
    budget: int,
) -> list[_Group]:
    """The layers to use next: the hints in use (``kept``: as ``gitmine layout`` lays the latest
    snapshot out with them at the new budget), those improved by the key moves that pay for
    themselves, those with one key given a layer of its own (:func:`_isolated`), or the fresh plan.

    Each candidate costs ``horizon`` releases of expected bytes plus its one-time switch from the
    layers in use (``in_use``, the same as ``kept`` unless the budget changed: :func:`_switch_cost`),
    both as a host running every image pays them (:class:`_Host`); the cheapest wins, ties going
    to the earlier candidate. Without this a re-analysis reshuffles
    layers for small gains, and every reshuffle is a re-pull.
    """
    index = {k: i for i, k in enumerate(keys)}

    def groups(slots: list[Slot]) -> list[_Group]:
        return [_group(sorted(index[k] for k in slot.keys), masks, slot.size, model, key_images) for slot in slots]

    deployed = groups(in_use)
    start = groups(kept)
    candidates = [start]
    if len(start) > 1:
        candidates.append(refine(groups(kept), masks, sizes, model, horizon, key_images=key_images, budget=budget))
    host = _Host(masks, sizes, model, key_images)
    isolated = _isolated(start, deployed, sizes, masks, model, horizon, key_images, budget, host)
    if isolated is not None:
        candidates.append(isolated)
    candidates.append(fresh)
    in_use_images = host.images(deployed)
    costs = []
    for c in candidates:
        images = host.images(c)
        costs.append(horizon * host.cost(c) + _switch_cost(images, in_use_images))
    return candidates[costs.index(min(costs))]


def _isolated(
    start: list[_Group],
    deployed: list[_Group],
    sizes: list[int],
    masks: list[int],
    model: _RiskModel,
    horizon: float,
    key_images: list[int] | None = None,
    budget: int | None = None,
    host: _Host | None = None,
) -> list[_Group] | None:
    """The layers in use with one key given a layer of its own (right above the rest of its layer) and the
    two adjacent layers whose merge costs least made one, so that the budget holds.

    Where a key updated at most releases shares a layer (the application, with packages the first window
    put beside it), every release re-ships its neighbours; moving them one by one pays only if some layer
    can take them, and a fresh plan re-ships most of the image. This is the switch in between. The keys
    tried are the ``ISOLATE_TRIES`` whose own updates re-ship the most bytes of others per release.
    """
    if len(start) < 3:
        return None
    shared = sorted(
        ((model.risk(1 << k) * (g.size - sizes[k]), k, at) for at, g in enumerate(start) if len(g.members) > 1 for k in g.members),
        reverse=True,
    )[:ISOLATE_TRIES]
    best: list[_Group] | None = None
    best_cost = math.inf
    host = host or _Host(masks, sizes, model, key_images)
    in_use = host.images(deployed)
    for _, k, at in shared:
        g = start[at]
        rest = [m for m in g.members if m != k]
        own = _group([k], masks, sizes[k], model, key_images)
        layers = [*start[:at], _group(rest, masks, g.size - sizes[k], model, key_images), own, *start[at + 1 :]]
        for i in range(len(layers) - 1):
            if at + 1 in (i, i + 1):  # the key's own layer stays its own
                continue
            a, b = layers[i], layers[i + 1]
            both = _group(sorted(a.members + b.members), masks, a.size + b.size, model, key_images)
            merged = [*layers[:i], both, *layers[i + 2 :]]
            if budget is not None and max(_image_counts(merged), default=0) > budget:
                continue  # with several images: one that would have more layers than the budget
            cost = horizon * host.cost(merged) + _switch_cost(host.images(merged), in_use)
            if cost < best_cost:
                best, best_cost = merged, cost
    return best


def _fresh(
    keys: list[str], sizes: list[int], masks: list[int], model: _RiskModel, budget: int, key_images: list[int]
) -> list[_Group]:
    """Layers from scratch: agglomerative merging on expected re-pulled bytes (with several images,
    of each image's blob of a layer), stacking, key moves (with several images, only those the host
    running them pays less with, and the stack re-stacked for it: :func:`_stack_for_host`).

    The budget is per image (``key_images``: each key's image bits): merging stops when no image
    has more than ``budget`` layers holding its keys, and only merges of two layers that share an
    image still over the budget are made (:func:`_split_by_images` then gives back what such merges
    took from the other images). With one image that is the number of layers; with several, a layer
    of one image's own keys takes none of the others' budgets, so the plan can have more layers than
    the budget while each image gets up to all of it."""
    groups: list[_Group] = []
    for i in range(len(keys)):
        groups.append(_Group([i], masks[i], sizes[i], model.risk(masks[i]), images=key_images[i]))
    alive = set(range(len(groups)))
    counts = _image_counts(groups)

    def over() -> int:
        """The images with more layers than the budget, as bits."""
        return sum(1 << j for j, c in enumerate(counts) if c > budget)

    # (extra expected bytes of merging the pair, or a lower bound of it, the pair, their versions, exact)
    heap: list[tuple[float, int, int, int, int, bool]] = []

    # With several images a layer is a blob per image (the paths of its keys in that image), and images
    # holding the same keys of it share one: what a host running them all pulls when the layer changes
    # is each distinct blob. Merges are costed so, exactly (no bound to defer them by).
    several = len(counts) > 1
    parts: list[dict[int, tuple[int, int]]] = []  # per group: image → (size, closure mask) of its keys there
    fleet: list[float] = []  # per group: expected pulled bytes of its distinct blobs
    if several:
        for i in range(len(keys)):
            parts.append({j: (sizes[i], masks[i]) for j in _bits(key_images[i])})
            fleet.append(sizes[i] * groups[i].risk)

    def blobs_cost(p: dict[int, tuple[int, int]]) -> float:
        return sum(size * model.risk(mask) for size, mask in set(p.values()))

    def merged_parts(pa: dict[int, tuple[int, int]], pb: dict[int, tuple[int, int]]) -> dict[int, tuple[int, int]]:
        out = dict(pa)
        for j, (size, mask) in pb.items():
            out[j] = (out[j][0] + size, out[j][1] | mask) if j in out else (size, mask)
        return out

    def cost(a: _Group, b: _Group) -> float:
        union = a.mask | b.mask
        # one closure often contains the other (a library and a package that uses it)
        r = a.risk if union == a.mask else (b.risk if union == b.mask else model.risk(union))
        return a.size * (r - a.risk) + b.size * (r - b.risk)

    def push(ia: int, ib: int) -> None:
        """Queue a pair under a lower bound of its cost (the merged risk is at least the larger one):
        most pairs are never the cheapest, and their exact cost is computed only if they come up."""
        if ia > ib:
            ia, ib = ib, ia
        a, b = groups[ia], groups[ib]
        if several:
            d = blobs_cost(merged_parts(parts[ia], parts[ib])) - fleet[ia] - fleet[ib]
            heapq.heappush(heap, (d, ia, ib, a.version, b.version, True))
            return
        m = max(a.risk, b.risk)
        heapq.heappush(heap, (a.size * (m - a.risk) + b.size * (m - b.risk), ia, ib, a.version, b.version, False))

    by_risk = sorted((g.risk, i) for i, g in enumerate(groups))  # alive groups, by rising risk

    def candidates(i: int) -> list[int]:
        if len(alive) <= FULL_PAIRS_LIMIT:
            return [j for j in alive if j != i]
        pos = bisect.bisect_left(by_risk, (groups[i].risk, i))
        return [j for _, j in by_risk[max(0, pos - WINDOW) : pos + WINDOW + 1] if j != i]

    def seed_pairs(images: int) -> None:
        """Queue the pairs of layers of each image in ``images`` (all of them, or neighbours by risk)."""
        for j in _bits(images):
            served = [i for i in alive if groups[i].images >> j & 1]
            if len(served) <= FULL_PAIRS_LIMIT:
                order = sorted(served)
                for x, ia in enumerate(order):
                    for ib in order[x + 1 :]:
                        push(ia, ib)
            else:
                ranked = [i for _, i in by_risk if groups[i].images >> j & 1]
                for x, ia in enumerate(ranked):
                    for ib in ranked[x + 1 : x + 1 + WINDOW]:
                        push(ia, ib)

    over_budget = over()  # changes only when layers merge
    while over_budget:
        if not heap:
            seed_pairs(over_budget)
        d, ia, ib, va, vb, exact = heapq.heappop(heap)
        if ia not in alive or ib not in alive or groups[ia].version != va or groups[ib].version != vb:
            continue
        a, b = groups[ia], groups[ib]
        if not a.images & b.images & over_budget:  # brings no image closer to its budget
            continue
        if not exact:  # the cheapest bound: merge the pair if its exact cost still comes first
            d = cost(a, b)
            if heap and (d, ia, ib) > heap[0][:3]:
                heapq.heappush(heap, (d, ia, ib, va, vb, True))
                continue
        by_risk.remove((a.risk, ia))
        by_risk.remove((b.risk, ib))
        for j in _bits(a.images & b.images):
            counts[j] -= 1
        over_budget = over()
        if several:
            parts[ia] = merged_parts(parts[ia], parts[ib])
            fleet[ia] = blobs_cost(parts[ia])
        a.members = sorted(a.members + b.members)
        a.mask |= b.mask
        a.images |= b.images
        a.size += b.size
        a.risk = model.risk(a.mask)
        a.version += 1
        alive.discard(ib)
        bisect.insort(by_risk, (a.risk, ia))
        for j in candidates(ia):
            push(ia, j)

    layers = [groups[i] for i in sorted(alive)]
    if len(counts) > 1:
        layers = _split_by_images(layers, masks, sizes, model, key_images, budget)
    final = order_layers(layers, model)
    if len(final) > 1 and len(counts) > 1:
        # key moves weigh a layer as one closure, but each image's keys of it are a blob of their own:
        # moves only where the host pays less, then the stack with them and the stack without, each
        # re-stacked for the host, whichever it pays less for
        host = _Host(masks, sizes, model, key_images)
        kept = [replace(g, members=list(g.members)) for g in final]
        moved = refine(final, masks, sizes, model, key_images=key_images, budget=budget, host=host)
        options = [_stack_for_host(o, host) for o in (moved, kept)]
        costs = [host.cost(o) for o in options]
        return options[costs.index(min(costs))]
    if len(final) > 1:
        final = refine(final, masks, sizes, model, key_images=key_images, budget=budget)
    return final


def _split_by_images(
    layers: list[_Group], masks: list[int], sizes: list[int], model: _RiskModel, key_images: list[int], budget: int
) -> list[_Group]:
    """Give images the layers that merging left them: a merge that brings one image under its budget
    joins layers of the others too. Split a layer into the keys of one set of images and the rest
    where every image that then has one layer more has one to spare, the split that saves the most
    expected pulled bytes first (a split never adds any), until none is left. The parts are also
    blobs that images holding the same keys share."""
    counts = _image_counts(layers)

    def part(members: list[int]) -> _Group:
        return _group(members, masks, sum(sizes[m] for m in members), model, key_images)

    while True:
        best: tuple[float, int, int, _Group, _Group] | None = None  # gain, layer, image set, the two parts
        for li, g in enumerate(layers):
            for sig in sorted({key_images[m] for m in g.members}):
                rest = [m for m in g.members if key_images[m] != sig]
                if not rest:
                    break
                rest_images = 0
                for m in rest:
                    rest_images |= key_images[m]
                if any(counts[j] >= budget for j in _bits(sig & rest_images)):
                    continue
                own, others = part([m for m in g.members if key_images[m] == sig]), part(rest)
                gain = g.size * g.risk - own.size * own.risk - others.size * others.risk
                if gain > 1e-9 and (best is None or gain > best[0]):
                    best = (gain, li, sig, own, others)
        if best is None:
            return layers
        _, li, _, own, others = best
        for j in _bits(own.images & others.images):
            counts[j] += 1
        layers[li : li + 1] = [own, others]
