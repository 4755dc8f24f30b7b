"""Synthetic closure histories of any size, for speed benchmarks (not for judging layouts).

A random DAG of ``paths`` store paths (each references a few paths created before it), log-normal
sizes, and weekly own updates with per-package rates; an update changes the hash of the package
and of everything that depends on it, as input addressing does.
"""

from __future__ import annotations

import hashlib
import random
from datetime import date, timedelta

from gitmine.closure import Snapshot, StorePath, build_closure

ALPHABET = "0123456789abcdfghijklmnpqrsvwxyz"


def synthetic_history(paths: int, snapshots: int, *, seed: int = 1) -> list[Snapshot]:
    rng = random.Random(seed)
    names = [f"pkg{i}" for i in range(paths)]
    deps = [sorted(rng.sample(range(i), min(i, rng.randint(0, 4)))) for i in range(paths)]
    sizes = [int(rng.lognormvariate(11, 2)) + 1 for _ in range(paths)]
    rates = [min(0.5, rng.expovariate(1 / 0.02)) for _ in range(paths)]
    versions = [0] * paths
    out = []
    start = date(2024, 1, 7)
    for week in range(snapshots):
        for i in range(paths):
            if week and rng.random() < rates[i]:
                versions[i] += 1
        hashes: list[str] = []
        entries = []
        for i in range(paths):
            seed_text = "|".join([names[i], str(versions[i]), *(hashes[d] for d in deps[i])])
            h = int.from_bytes(hashlib.sha256(seed_text.encode()).digest(), "big")
            digest = "".join(ALPHABET[(h >> (5 * k)) & 31] for k in range(32))
            hashes.append(digest)
            path = f"/nix/store/{digest}-{names[i]}-1.{versions[i]}"
            entries.append((path, i))
        paths_by_index = {i: p for p, i in entries}
        closure = build_closure(
            StorePath(p, sizes[i], tuple(sorted(paths_by_index[d] for d in deps[i]))) for p, i in entries
        )
        out.append(Snapshot(f"w{week}", (start + timedelta(weeks=week)).isoformat(), {"image": closure}))
    return out
