"""The corpus histories the benchmarks run on, and the budgets of the planner issue."""

from __future__ import annotations

import sys
from datetime import date, timedelta
from pathlib import Path

from gitmine.closure import Snapshot

CORPUS = Path(__file__).resolve().parent.parent / "fixtures" / "corpus"
BUDGETS = {"deb-": (8, 16), "big-": (64, 100)}  # small histories: tight budgets; big ones: nixpkgs' 100


def corpus_files() -> list[Path]:
    """Every history, or only the four small ones when ``--small`` is on the command line."""
    files = sorted(CORPUS.glob("*.jsonl.gz"))
    if "--small" in sys.argv:
        files = [f for f in files if f.name.startswith("deb-")]
    return files


def train_weeks() -> int:
    """``--train N`` on the command line: weeks each fold learns from (26, replay's default, without it)."""
    if "--train" in sys.argv:
        return int(sys.argv[sys.argv.index("--train") + 1])
    return 26


def budgets(path: Path) -> tuple[int, ...]:
    return BUDGETS[path.name[:4]]


def daily(snapshots: list[Snapshot]) -> list[Snapshot]:
    """The same history in a repository with a commit a day: each weekly snapshot is followed by six
    daily ones that leave the image unchanged (commits to anything but the image)."""
    out = []
    for i, s in enumerate(snapshots):
        first = date.fromisoformat(s.date[:10])
        for d in range(7 if i < len(snapshots) - 1 else 1):
            out.append(Snapshot(f"{s.rev}+{d}", (first + timedelta(days=d)).isoformat(), s.closures))
    return out
