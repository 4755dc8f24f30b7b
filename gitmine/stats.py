"""Statistics over a sequence of snapshots: how often each key changes, and what changes together.

A key *changes* between two consecutive snapshots when its set of store paths differs (a hash
change, an appearance or a disappearance). A change is *own* when none of the key's dependencies
changed in the same transition: in Nix a path's hash changes whenever anything below it changes, so
only own changes say that the package itself was updated; the rest is propagation. Own changes are
counted over the transitions in which the key exists on both sides (its *exposure*): a package
added to the image mid-window is not an update. Transitions that change nothing at all (commits
that leave the image alone) are no exposure: whether a repository has one such commit a week or
twenty, the record of each key is the same.

A key renamed by a version bump (``python3.11-requests`` → ``python3.12-requests``: the one key of
its :func:`~gitmine.keys.family` that disappears in a transition where exactly one appears) is
followed under its latest name, so its history survives the bump.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import AbstractSet, Mapping, Sequence

from .closure import Snapshot
from .keys import family
from .window import iso_instant


@dataclass(frozen=True)
class KeyStats:
    key: str
    changes: int  # transitions in which the key's path set changed
    own_changes: int  # of those, transitions in which none of its dependencies changed
    size: int  # narSize of the key's paths in the latest snapshot that has it
    first_seen: str  # rev
    last_seen: str  # rev
    vector: int  # bit t set: changed in transition t (t = 0 is snapshot 0 → 1)
    own_vector: int
    exposure: int = 0  # transitions that changed the image, with the key on both sides: where own updates were counted

    def rate(self, transitions: int) -> float:
        return self.changes / transitions if transitions else 0.0


@dataclass(frozen=True)
class Statistics:
    revs: tuple[str, ...]
    dates: tuple[str, ...]
    keys: Mapping[str, KeyStats]  # sorted by key
    deps: Mapping[str, frozenset[str]]  # key → keys it references, in the latest snapshot having it
    present: frozenset[str]  # keys of the latest snapshot
    mass_rebuilds: tuple[int, ...]  # transitions that changed more than MASS_FRACTION of the keys
    changed_per_transition: tuple[int, ...]
    images: Mapping[str, frozenset[str]] = field(default_factory=dict)  # key of the latest snapshot → images holding it

    @property
    def transitions(self) -> int:
        return max(len(self.revs) - 1, 0)

    @property
    def changed_releases(self) -> int:
        """Transitions in which the image changed at all (the releases that cost anything)."""
        return sum(1 for c in self.changed_per_transition if c)

    @property
    def weeks(self) -> float:
        """Weeks from the first snapshot to the last; one per transition when the snapshots carry no
        usable dates (undated, or all at one instant)."""
        if self.dates:
            first, last = iso_instant(self.dates[0]), iso_instant(self.dates[-1])
            if first and last and last > first:
                return (last - first).total_seconds() / WEEK_SECONDS
        return float(self.transitions)


MASS_FRACTION = 0.5
WEEK_SECONDS = 7 * 24 * 3600


PathSets = dict[str, tuple[str, ...]]  # key -> its store paths in one snapshot
KeyGraph = tuple[dict[str, AbstractSet[str]], dict[str, int]]  # key -> keys it references; key -> size


def key_graph(snapshot: Snapshot) -> KeyGraph:
    """Key-level dependency graph (key → the other keys it references) and key sizes of one
    snapshot, all images merged."""
    deps: dict[str, AbstractSet[str]] = {}
    sizes: dict[str, int] = {}
    seen: set[str] = set()
    for closure in snapshot.closures.values():
        for k, ds in closure.key_deps.items():
            deps[k] = deps[k] | ds if k in deps else ds
        key_of = closure.key_of
        for sp in closure:
            if sp.path not in seen:
                seen.add(sp.path)
                k = key_of[sp.path]
                sizes[k] = sizes.get(k, 0) + sp.size
    return deps, sizes


def _renames(before: set[str], after: set[str]) -> dict[str, str]:
    """Old key → new key for the unambiguous renames of one transition."""
    gone: dict[str, list[str]] = {}
    new: dict[str, list[str]] = {}
    for k in before - after:
        gone.setdefault(family(k), []).append(k)
    for k in after - before:
        new.setdefault(family(k), []).append(k)
    return {g[0]: new[f][0] for f, g in gone.items() if len(g) == 1 and len(new.get(f, ())) == 1}


def _follow_renames(path_sets: list[PathSets], graphs: list[KeyGraph]) -> None:
    """Rewrite every snapshot's keys to the latest name of their rename chain, in place."""
    original = [set(ps) for ps in path_sets]
    ident = {k: k for k in original[-1]}  # key of snapshot t + 1 → its latest name
    for t in range(len(path_sets) - 2, -1, -1):
        renames = _renames(original[t], original[t + 1])
        names = {k: ident.get(renames.get(k, k), k) for k in original[t]}
        if len(set(names.values())) < len(names):  # a chain collides with a key of this snapshot: leave it
            names = {k: ident.get(k, k) for k in original[t]}
            taken = {ident[k] for k in original[t] if k in ident}
            names.update({k: f"{k}@{t}" for k in original[t] if k not in ident and k in taken})
        ident = names
        if all(k == v for k, v in names.items()):
            continue
        path_sets[t] = {names[k]: v for k, v in path_sets[t].items()}
        deps, sizes = graphs[t]
        graphs[t] = (
            {names.get(k, k): {names.get(d, d) for d in ds} for k, ds in deps.items()},
            {names.get(k, k): v for k, v in sizes.items()},
        )


def compute_statistics(snapshots: Sequence[Snapshot]) -> Statistics:
    """Statistics of ``snapshots`` (oldest first)."""
    if not snapshots:
        raise ValueError("no snapshots")
    # Consecutive commits mostly leave the image alone and share its closure objects (one per
    # derivation, see gitmine.analyze): derive each distinct set of closures once.
    derived: dict[tuple[tuple[str, int], ...], tuple[PathSets, KeyGraph]] = {}
    path_sets: list[PathSets] = []
    graphs: list[KeyGraph] = []
    for s in snapshots:
        ident = tuple(sorted((name, id(c)) for name, c in s.closures.items()))
        if ident not in derived:
            derived[ident] = (s.merged(), key_graph(s))
        path_sets.append(derived[ident][0])
        graphs.append(derived[ident][1])
    _follow_renames(path_sets, graphs)
    all_keys = sorted(set().union(*path_sets))
    vec = dict.fromkeys(all_keys, 0)
    own = dict.fromkeys(all_keys, 0)
    exposure = dict.fromkeys(all_keys, 0)
    mass: list[int] = []
    changed_counts: list[int] = []
    for t in range(len(snapshots) - 1):
        before, after = path_sets[t], path_sets[t + 1]
        if before is after:  # a commit that left the image alone
            changed: set[str] = set()
        else:
            changed = {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
        changed_counts.append(len(changed))
        present = len(before.keys() | after.keys())
        if present and len(changed) > MASS_FRACTION * present:
            mass.append(t)
        deps_after, deps_before = graphs[t + 1][0], graphs[t][0]
        if changed:  # a release that changes nothing costs nothing and is no evidence either way
            for k in before.keys() & after.keys():
                exposure[k] += 1
        bit = 1 << t
        for k in changed:
            vec[k] |= bit
            if k not in before or k not in after:
                continue  # added or removed, not updated
            kdeps = deps_after.get(k) or deps_before.get(k) or set()
            if not (kdeps & changed):
                own[k] |= bit
    first: dict[str, str] = {}
    last: dict[str, str] = {}
    size: dict[str, int] = {}
    deps: dict[str, AbstractSet[str]] = {}
    for snap, ps, (g, sz) in zip(snapshots, path_sets, graphs):
        for k in ps:
            first.setdefault(k, snap.rev)
            last[k] = snap.rev
            size[k] = sz.get(k, 0)
            deps[k] = g.get(k, set())
    keys = {
        k: KeyStats(k, vec[k].bit_count(), own[k].bit_count(), size[k], first[k], last[k], vec[k], own[k], exposure[k])
        for k in all_keys
    }
    return Statistics(
        revs=tuple(s.rev for s in snapshots),
        dates=tuple(s.date for s in snapshots),
        keys=keys,
        deps={k: frozenset(deps[k]) for k in all_keys},
        present=frozenset(path_sets[-1]),
        mass_rebuilds=tuple(mass),
        changed_per_transition=tuple(changed_counts),
        images=_images_of(snapshots[-1], path_sets[-1]),
    )


def _images_of(snapshot: Snapshot, keys: PathSets) -> dict[str, frozenset[str]]:
    """Key → the images of ``snapshot`` whose closures hold its paths (``keys``: the snapshot's keys
    after renames were followed, with their paths)."""
    image_of: dict[str, set[str]] = {}
    for image, closure in snapshot.closures.items():
        for p in closure.paths:
            image_of.setdefault(p, set()).add(image)
    return {k: frozenset(i for p in ps for i in image_of.get(p, ())) for k, ps in keys.items()}
