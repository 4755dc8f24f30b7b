"""Shared test fixtures: small graphs, the recorded corpus, and real Nix on generated repositories."""

from __future__ import annotations

import os
import shutil
from datetime import date, timedelta
from pathlib import Path

import pytest

# Output to a pipe is plain text 80 columns wide unless the environment says otherwise (rich reads
# it); the tests read tables and messages as such, whatever terminal or CI runner they run from.
os.environ["COLUMNS"] = "80"
for _name in ("LINES", "FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "FORCE_TERMINAL"):
    os.environ.pop(_name, None)

from gitmine.closure import Snapshot, StorePath, build_closure  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "fixtures" / "corpus"
SMALL_HISTORIES = sorted(CORPUS.glob("deb-*.jsonl.gz"))

# Offline, single-user Nix: no sandbox, no build users, no binary cache to wait for.
OFFLINE_NIX_CONFIG = "sandbox = false\nbuild-users-group =\nsubstituters =\nexperimental-features = nix-command flakes"
os.environ.setdefault("NIX_CONFIG", OFFLINE_NIX_CONFIG)


def nix_available() -> bool:
    return shutil.which("nix") is not None and shutil.which("nix-store") is not None


@pytest.fixture
def needs_nix() -> None:
    if not nix_available():
        if os.environ.get("GITMINE_REQUIRE_NIX"):
            pytest.fail("nix is required here (GITMINE_REQUIRE_NIX is set) but not installed")
        pytest.skip("nix is not installed")


@pytest.fixture
def needs_git_lfs() -> None:
    if shutil.which("git-lfs") is None:
        if os.environ.get("GITMINE_REQUIRE_NIX"):
            pytest.fail("git-lfs is required here (GITMINE_REQUIRE_NIX is set) but not installed")
        pytest.skip("git-lfs is not installed")


def store(name: str, h: str = "0") -> str:
    """``/nix/store/<h * 32>-<name>``: a store path whose hash is ``h`` repeated."""
    return f"/nix/store/{(h * 32)[:32]}-{name}"


def sp(name: str, size: int = 100, refs: tuple[str, ...] = (), h: str = "0") -> StorePath:
    """A store path entry; ``refs`` are full store paths."""
    return StorePath(store(name, h), size, tuple(sorted(refs)))


def closure(*entries: StorePath):  # type: ignore[no-untyped-def]
    return build_closure(entries)


def snapshot(rev: str, date: str, *entries: StorePath) -> Snapshot:
    return Snapshot(rev, date, {"image": build_closure(entries)})


def two_images(n: int = 12) -> list[Snapshot]:
    """Two images on one base of four libraries, each with four keys of its own; keys update at
    rates from never to every release, so that every layer is worth its own."""
    snaps = []
    for i in range(n):
        base = [sp(f"lib{j}-1.{i // (j + 2)}", 1_000_000 * (j + 1), h="abcdefghijkl"[i // (j + 2)]) for j in range(4)]
        web = [sp(f"web{j}-1.{i // (j + 1)}", 200_000, (base[j].path,), h="abcdefghijkl"[i // (j + 1)]) for j in range(4)]
        worker = [sp(f"worker{j}-1.{i // (j + 1)}", 300_000, (base[j].path,), h="mnopqrstuvwx"[i // (j + 1)]) for j in range(4)]
        when = (date(2024, 1, 7) + timedelta(weeks=i)).isoformat()
        snaps.append(Snapshot(f"r{i}", when, {"web": build_closure([*base, *web]), "worker": build_closure([*base, *worker])}))
    return snaps
