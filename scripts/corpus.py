"""The corpus histories the benchmarks run on, and the budgets of the planner issue."""

from __future__ import annotations

import sys
from pathlib import Path

CORPUS = Path(__file__).resolve().parent.parent / "fixtures" / "corpus"
BUDGETS = {"deb-": (8, 16), "big-": (64, 100)}  # small histories: tight budgets; big ones: nixpkgs' 100


def corpus_files() -> list[Path]:
    """Every history, or only the four small ones when ``--small`` is on the command line."""
    files = sorted(CORPUS.glob("*.jsonl.gz"))
    if "--small" in sys.argv:
        files = [f for f in files if f.name.startswith("deb-")]
    return files


def budgets(path: Path) -> tuple[int, ...]:
    return BUDGETS[path.name[:4]]
