"""Synthetic closure histories of any size and kind, for speed benchmarks and generalisation checks.

A random DAG of ``paths`` store paths (each references a few paths created before it), log-normal
sizes, and weekly own updates with per-package rates; an update changes the hash of the package
and of everything that depends on it, as input addressing does. The keyword options give the
regimes real images live in (see ``bench_general.py``): a libc-like root under most packages
rebuilt every few weeks (nixpkgs mass rebuilds), an application overlay, ``-dev`` outputs that
change with their package, rates that are all alike or split into a volatile few and a stable
rest, rates that drift over time, packages added to the image as weeks go by, new services with
packages of their own, an application whose lock file pins many language packages that update
together, a Python environment (``python3.withPackages``) under the application, an application
versioned by its source's commit (``version = src.shortRev``) or by release tags (``v1.4``), build
tools whose updates change the hash of everything they built, rates that are reshuffled all at once
(what was stable turns volatile), and sizes that move with each update.

With the defaults the output is what the speed benchmarks have always used.
"""

from __future__ import annotations

import hashlib
import math
import random
from datetime import date, timedelta

from gitmine.closure import Snapshot, StorePath, build_closure

ALPHABET = "0123456789abcdfghijklmnpqrsvwxyz"
HEX = str.maketrans(ALPHABET, "0123456789abcdef" * 2)  # a digest's characters as hex digits
APP_RATES = (0.9, 0.3, 0.1)  # weekly update rates of the application keys, in turn
LOCK_BUMP = 0.25  # weekly probability that the application's lock file is bumped
LOCK_SHARE = 0.4  # share of the locked packages a bump updates, on average
TOOL_RATE = 0.05  # weekly probability that a build tool is updated


def store_hash(text: str) -> str:
    """32 characters of Nix's base-32 alphabet, as a store path's hash: a digest of ``text``."""
    h = int.from_bytes(hashlib.sha256(text.encode()).digest(), "big")
    return "".join(ALPHABET[(h >> (5 * k)) & 31] for k in range(32))


def _rates(rng: random.Random, n: int, mean: float, shape: str) -> list[float]:
    if shape == "exponential":
        return [min(0.5, rng.expovariate(1 / mean)) for _ in range(n)]
    if shape == "bimodal":  # a tenth of the packages update often, the rest rarely
        return [0.3 if rng.random() < 0.1 else mean / 5 for _ in range(n)]
    if shape == "uniform":
        return [mean] * n
    raise ValueError(f"unknown rate shape {shape!r}")


def synthetic_history(
    paths: int,
    snapshots: int,
    *,
    seed: int = 1,
    mean_rate: float = 0.02,
    rate_shape: str = "exponential",
    hub: bool = False,
    mass_every: int = 0,
    app: int = 0,
    dev_outputs: bool = False,
    drift: float = 0.0,
    added: float = 0.0,
    locked: int = 0,
    per_week: int = 1,
    bump_every: int = 0,
    services: int = 0,
    python_env: int = 0,
    app_versions: str = "numbers",
    build_tools: int = 0,
    shift_every: int = 0,
    resize: float = 0.0,
) -> list[Snapshot]:
    """``snapshots`` weeks of a ``paths``-package closure, one snapshot a week.

    ``hub``: most packages without dependencies reference package 0 (a libc); ``mass_every``: package 0
    is updated every that many weeks (implies ``hub``); ``app``: that many application keys on top,
    each referencing six packages; ``dev_outputs``: every third package has a ``-dev`` output that
    references it; ``drift``: each week, each package's rate is redrawn with this probability;
    ``added``: each week, with this probability, a package gains a dependency on a new package;
    ``locked``: that many language packages pinned by the application's lock file (the first
    application key references them all), updated only by lock bumps, many at once; ``per_week``:
    that many snapshots (commits) a week: application keys change with commits (their chances apply
    to every snapshot), packages and lock bumps with time (each week's chances spread over its
    snapshots); ``bump_every``: every that many weeks a nixpkgs bump changes a build-time input of
    everything (the compiler, stdenv): every store path gets a new hash, no version changes;
    ``services``: every that many weeks, from week 4 on, a new service joins the image (a database, a
    cache): a root over ``paths // 10`` (at least 4) packages new to the image, which also use existing
    ones, each with its own size and rate; ``python_env``: that many Python packages (each using the
    interpreter and updating with five times ``mean_rate``) in a ``python3.withPackages`` environment
    that the first application key uses: a large interpreter updated with ``mean_rate``, and the
    environment, a small path of symlinks named as nixpkgs names it (``python3-<version>-env``) that
    changes whenever the interpreter or any package in it does; ``app_versions``: how the application
    keys' versions are written: ``"numbers"`` (``app0-1.4``), ``"revisions"`` (the seven hex digits of
    the commit that last changed them, ``app0-3f9c2e1``, ``app0-c41d7a0``, as ``version = src.shortRev``
    names them) or ``"tags"`` (``app0-v1.4``, a release tag as the version); ``build_tools``: each
    package is built with one of that many build tools (a compiler, cmake, meson), and each week a tool
    is updated with probability ``TOOL_RATE``, which changes the hash of every package built with it
    (and of what uses them) while no version and no runtime reference changes; ``shift_every``: every
    that many weeks, half-way between two multiples of it, the packages' rates are shuffled among
    them at once (a stable library turns volatile, a volatile one quiet: what the window learned no
    longer holds); ``resize``: each update multiplies the package's size by a log-normal factor with
    this sigma (a release that grows or shrinks it).
    """
    rng = random.Random(seed)
    names = [f"pkg{i}" for i in range(paths)]
    deps = [sorted(rng.sample(range(i), min(i, rng.randint(0, 4)))) for i in range(paths)]
    sizes = [int(rng.lognormvariate(11, 2)) + 1 for _ in range(paths)]
    rates = _rates(rng, paths, mean_rate, rate_shape)
    if hub or mass_every:
        for i in range(1, paths):
            if not deps[i] and rng.random() < 0.7:
                deps[i] = [0]
    pinned = []
    for j in range(locked):
        pinned.append(len(names))
        names.append(f"py-dep{j}")
        deps.append(sorted(rng.sample(range(paths), min(paths, rng.randint(1, 2)))))
        sizes.append(int(rng.lognormvariate(12, 1.5)) + 1)
        rates.append(0.0)
    env = []  # the python3.withPackages environment, if any: the interpreter's index is env[0]
    if python_env:
        env.append(len(names))
        names.append("python3")
        deps.append(sorted(rng.sample(range(paths), min(paths, 3))))
        sizes.append(int(rng.lognormvariate(17.5, 0.2)) + 1)  # some 40 MB
        rates.append(mean_rate)
        for j in range(python_env):
            env.append(len(names))
            names.append(f"python3.12-lib{j}")
            deps.append(sorted([env[0], *rng.sample(range(paths), min(paths, rng.randint(0, 2)))]))
            sizes.append(int(rng.lognormvariate(13, 1.5)) + 1)
            rates.append(5 * mean_rate)
        names.append("python3-env")  # its store path is named after the interpreter (name_version)
        deps.append(list(env))
        sizes.append(int(rng.lognormvariate(11, 0.5)) + 1)
        rates.append(0.0)
        env.append(len(names) - 1)
    for a in range(app):
        names.append(f"app{a}")
        wrapped = [env[-1]] if env and a == 0 else []
        deps.append(sorted(rng.sample(range(paths), min(paths, 6)) + (pinned if a == 0 else []) + wrapped))
        sizes.append(int(rng.lognormvariate(14, 1)) + 1)
        rates.append(APP_RATES[a % len(APP_RATES)])
    n = len(names)
    apps = set(range(n - app, n))
    tool = [rng.randrange(build_tools) for _ in range(paths)] if build_tools else []
    tool_versions = [0] * build_tools
    order = list(range(n))  # hashing order: every package after its dependencies
    versions = [0] * n
    generation = 0  # nixpkgs bumps so far
    out = []
    start = date(2024, 1, 7)

    def name_version(i: int) -> str:  # the store path name of package i as it is now
        if env and i in (env[0], env[-1]):  # as nixpkgs names them: python3-3.12.4, python3-3.12.4-env
            return f"python3-3.12.{versions[env[0]]}" + ("-env" if i == env[-1] else "")
        if app_versions == "revisions" and i in apps:
            return f"{names[i]}-{store_hash(f'{i}|{versions[i]}').translate(HEX)[:7]}"
        if app_versions == "tags" and i in apps:
            return f"{names[i]}-v1.{versions[i]}"
        return f"{names[i]}-1.{versions[i]}"

    def chance(weekly: float) -> float:  # the same chance per week, spread over its snapshots
        return weekly if per_week == 1 else 1.0 - (1.0 - weekly) ** (1.0 / per_week)

    for step in range(snapshots * per_week):
        if added and step and paths > 1 and rng.random() < chance(added):
            # a package gains a new dependency: the new package goes just below it in hashing order
            referrer = rng.randrange(1, paths)
            names.append(f"new{len(names)}")
            deps.append(sorted(rng.sample(range(referrer), min(referrer, rng.randint(1, 4)))))
            sizes.append(int(rng.lognormvariate(11, 2)) + 1)
            rates.append(_rates(rng, 1, mean_rate, rate_shape)[0])
            versions.append(0)
            deps[referrer] = sorted([*deps[referrer], n])
            order.insert(order.index(referrer), n)
            n += 1
        if services and step % (services * per_week) == 4 * per_week:
            # a new service: new packages over new and existing ones, the last one its root
            first = n
            for _ in range(max(4, paths // 10)):
                names.append(f"svc{n}")
                below = rng.sample(range(first, n), min(n - first, rng.randint(1, 3))) if n > first else []
                deps.append(sorted(below + rng.sample(range(paths), min(paths, rng.randint(0, 2)))))
                sizes.append(int(rng.lognormvariate(11, 2)) + 1)
                rates.append(_rates(rng, 1, mean_rate, rate_shape)[0])
                versions.append(0)
                order.append(n)
                n += 1
            deps[n - 1] = sorted(set(deps[n - 1]) | set(range(first, n - 1)))
        if drift:
            for i in range(paths):
                if rng.random() < chance(drift):
                    rates[i] = _rates(rng, 1, mean_rate, rate_shape)[0]
        if shift_every and step % (shift_every * per_week) == shift_every // 2 * per_week:
            base = rates[:paths]
            rng.shuffle(base)
            rates[:paths] = base
        for i in range(n):
            if step and rng.random() < (rates[i] if i in apps else chance(rates[i])):
                versions[i] += 1
                if resize:
                    sizes[i] = max(1, int(sizes[i] * math.exp(rng.gauss(0.0, resize))))
        for k in range(build_tools):
            if step and rng.random() < chance(TOOL_RATE):
                tool_versions[k] += 1
        if pinned and step and rng.random() < chance(LOCK_BUMP):
            for j in pinned:
                if rng.random() < LOCK_SHARE:
                    versions[j] += 1
        if mass_every and step and step % (mass_every * per_week) == 0:
            versions[0] += 1
        if bump_every and step and step % (bump_every * per_week) == 0:
            generation += 1
        hashes: dict[int, str] = {}
        store_paths: dict[int, str] = {}
        entries: list[StorePath] = []
        for i in order:
            seed_text = "|".join([names[i], str(versions[i]), *(hashes[d] for d in deps[i])])
            if generation:  # built by another stdenv: a hash input that is no runtime reference
                seed_text += f"|stdenv{generation}"
            if i < len(tool):  # so is the build tool
                seed_text += f"|tool{tool[i]}.{tool_versions[tool[i]]}"
            hashes[i] = store_hash(seed_text)
            path = store_paths[i] = f"/nix/store/{hashes[i]}-{name_version(i)}"
            refs = tuple(sorted(store_paths[d] for d in deps[i]))
            entries.append(StorePath(path, sizes[i], refs))
            if dev_outputs and i % 3 == 0:
                dev = f"/nix/store/{store_hash(seed_text + '|dev')}-{names[i]}-1.{versions[i]}-dev"
                entries.append(StorePath(dev, sizes[i] // 4 + 1, (path,)))
        when = start + timedelta(days=7 * step / per_week)
        rev = f"w{step}" if per_week == 1 else f"s{step}"
        out.append(Snapshot(rev, when.isoformat(), {"image": build_closure(entries)}))
    return out
