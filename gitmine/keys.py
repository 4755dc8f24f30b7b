"""Store path → key: the hash-free name with the version removed, as ``builtins.parseDrvName`` splits
them, with the additions below.

``/nix/store/<hash>-python3-3.12.4`` → ``python3``; ``openssl-3.0.13-dev`` → ``openssl-dev`` (the
output suffix is kept, so a package's ``-dev`` and ``-lib`` outputs stay apart). So is any other word
after the version: ``python3-3.12.4-env`` (``python3.withPackages``) → ``python3-env``,
``ghc-9.6.5-with-packages`` → ``ghc-with-packages``, so that an environment, which changes with every
package in it, does not share a key, and so a layer, with the interpreter it wraps. A git revision and a
release tag are versions too, though they start with a letter: ``app-c41d7a0`` and ``app-v1.2.3`` → ``app``,
and ``foo-unstable-2024-05-01`` is ``foo``, as ``foo-0-unstable-2024-05-01`` is. A number followed by
words before the version is part of the name, as in Debian's packages: ``openjdk-17-jre-headless-17.0.13`` →
``openjdk-17-jre-headless`` (parseDrvName's name is ``openjdk``, which would make one key, and so one layer,
of ``openjdk-17-jre`` and ``openjdk-17-jre-headless``), ``gcc-12-base-12.2.0`` → ``gcc-12-base``.
"""

from __future__ import annotations

import re
from functools import lru_cache

# A word after the version belongs to the key: an output (``dev``, ``lib``, ``man``) or another suffix
# (``env``, ``wrapped``). Letters only, so ``rc1``, ``14`` and ``4+deb12u1`` stay version, as do
# pre-release tags; output names with digits are listed.
SUFFIX_WORD = re.compile(r"[A-Za-z_]+")
PRERELEASE = frozenset({"alpha", "beta", "pre", "rc", "git", "unstable", "nightly", "snapshot", "stable", "final"})
DIGIT_OUTPUTS = frozenset({"lib32", "bin2", "libv8"})  # libv8: nodejs's static V8 output
# nixpkgs writes an unreleased package's version ``unstable-2024-05-01`` (older) or ``0-unstable-2024-05-01``
# (its convention since 2023): parseDrvName leaves the first in the name. Either is the package's key.
UNSTABLE = "-unstable"
NAME_NUMBER = re.compile(r"[0-9]+")  # a number inside a package's name: openjdk-17-jre, gcc-12-base
# Versions that ``parseDrvName`` misses, since they start with a letter: a git revision (``version =
# src.shortRev``: 7 to 40 hex digits, at least one a digit, ``app-c41d7a0``) and a release tag (``app-v1.2.3``).
# Kept in the name, they would make a new key of every release.
REVISION = re.compile(r"(?=[a-f]*[0-9])[0-9a-f]{7,40}")
TAG = re.compile(r"[vV][0-9][0-9A-Za-z.+~_]*")


def store_name(path: str) -> str:
    """The part of a store path after ``<hash>-`` (works for any store directory)."""
    base = path.rstrip("/").rsplit("/", 1)[-1]
    head, sep, rest = base.partition("-")
    return rest if sep and len(head) == 32 else base


def parse_drv_name(name: str) -> tuple[str, str]:
    """Nix's ``parseDrvName``: split at the first ``-`` followed by a non-letter."""
    for i, ch in enumerate(name):
        if ch == "-" and i + 1 < len(name) and not name[i + 1].isalpha():
            return name[:i], name[i + 1 :]
    return name, ""


def _name_words(parts: list[str]) -> int:
    """How many leading ``parts`` of parseDrvName's version belong to the name: runs of a plain number and
    one or more words (not pre-release tags) that a version follows (``17``, ``jre``, ``headless`` of
    ``17-jre-headless-17.0.13``)."""
    end = i = 0
    while i < len(parts) and NAME_NUMBER.fullmatch(parts[i]):
        j = i + 1
        while j < len(parts) and SUFFIX_WORD.fullmatch(parts[j]) and parts[j].lower() not in PRERELEASE:
            j += 1
        if j == i + 1 or j == len(parts) or not parts[j][:1].isdigit():
            break
        end = i = j
    return end


def path_key(path: str) -> str:
    """The key of a store path: its package name without version, plus the words after the version."""
    return name_key(store_name(path))


@lru_cache(maxsize=1 << 16)
def name_key(name: str) -> str:
    """The key of a store path name (``<name>-<version>[-<suffix>]``, no hash). Names repeat across
    snapshots where hashes do not, so this is what is cached."""
    name, version = parse_drv_name(name)
    if not version:  # a version that starts with a letter: what follows it is version or suffix as usual
        parts = name.split("-")
        at = next((i for i in range(1, len(parts)) if REVISION.fullmatch(parts[i]) or TAG.fullmatch(parts[i])), 0)
        if at:
            name, version = "-".join(parts[:at]), "-".join(parts[at:])
    if version and (inside := _name_words(pieces := version.split("-"))):
        name, version = "-".join([name, *pieces[:inside]]), "-".join(pieces[inside:])
    if version and name.lower().endswith(UNSTABLE) and len(name) > len(UNSTABLE):
        name = name[: -len(UNSTABLE)]
    words: list[str] = []  # the suffix after the version, last word first
    for part in reversed(version.split("-")[1:]):  # the first part starts the version itself
        if part not in DIGIT_OUTPUTS and not (SUFFIX_WORD.fullmatch(part) and part.lower() not in PRERELEASE):
            break
        words.append(part)
    return "-".join([name, *reversed(words)])


_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]+)*")


def family(key: str) -> str:
    """A key with its embedded version numbers masked: ``python3.11-requests`` → ``python#-requests``.
    Keys of one family that replace each other are renames (a Python or soname bump)."""
    return _NUMBER.sub("#", key)
