"""Store path → key: the hash-free name with the version removed, as ``builtins.parseDrvName`` does.

``/nix/store/<hash>-python3-3.12.4`` → ``python3``; ``openssl-3.0.13-dev`` → ``openssl-dev`` (the
output suffix is kept, so a package's ``-dev`` and ``-lib`` outputs stay apart).
"""

from __future__ import annotations

import re
from functools import lru_cache

# Output names nixpkgs uses; a trailing ``-<one of these>`` after the version is an output, not
# part of the version.
OUTPUT_NAMES = frozenset(
    {
        "bin", "dev", "devdoc", "doc", "info", "lib", "libexec", "man", "modules", "out",
        "py", "python", "static", "debug", "data", "terminfo", "bin2", "cli", "fixup",
        "installedTests", "lib32", "private", "sbin", "share", "utils", "test", "tests",
    }
)  # fmt: skip


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


def path_key(path: str) -> str:
    """The key of a store path: its package name without version, plus its output suffix."""
    return name_key(store_name(path))


@lru_cache(maxsize=1 << 16)
def name_key(name: str) -> str:
    """The key of a store path name (``<name>-<version>[-<output>]``, no hash). Names repeat across
    snapshots where hashes do not, so this is what is cached."""
    name, version = parse_drv_name(name)
    if version:
        suffix = version.rsplit("-", 1)
        if len(suffix) == 2 and suffix[1] in OUTPUT_NAMES:
            return f"{name}-{suffix[1]}"
    return name


_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]+)*")


def family(key: str) -> str:
    """A key with its embedded version numbers masked: ``python3.11-requests`` → ``python#-requests``.
    Keys of one family that replace each other are renames (a Python or soname bump)."""
    return _NUMBER.sub("#", key)
