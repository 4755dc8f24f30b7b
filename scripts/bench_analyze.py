"""Benchmark of `gitmine analyze` on a generated repository: cold, warm, +1 commit, jobs 1 vs 2.

    python scripts/bench_analyze.py [--commits 100] [--work 2500000]

Each evaluation does about a second of CPU work (``--work``), as a real image's evaluation would.
Prints a Markdown table (wall time, peak memory of the gitmine process tree, evaluations, builds).
Needs Nix; runs offline.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from gitmine.fixture import generate

os.environ.setdefault(
    "NIX_CONFIG", "sandbox = false\nbuild-users-group =\nsubstituters =\nexperimental-features = nix-command flakes"
)


def run(repo: Path, cache: Path, jobs: int) -> tuple[float, dict, float]:
    t = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "gitmine.cli", "analyze", str(repo), "--attr", "image", "--since", "1y",
         "--jobs", str(jobs), "--cache-dir", str(cache), "--output", str(cache.parent / "hints.toml"), "--json"],
        capture_output=True, text=True, check=True,
    )
    wall = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return wall, json.loads(proc.stdout), peak


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--commits", type=int, default=100)
    ap.add_argument("--work", type=int, default=6_000_000)
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        salt = f"{time.time_ns()}"  # store paths no earlier run has built
        for jobs in (1, 2):
            repo = generate(base / f"repo-{jobs}", commits=args.commits, days=180, eval_work=args.work, salt=f"{salt}-{jobs}")
            cache = base / f"cache-{jobs}"
            wall, s, peak = run(repo, cache, jobs)
            rows.append((f"cold, --jobs {jobs}", wall, s, peak))
        cache = base / "cache-2"
        rows.append(("warm rerun", *run(repo, cache, 2)))
        versions = (repo / "versions.nix").read_text()
        (repo / "versions.nix").write_text(versions.replace('"app" = "1.', '"app" = "9.'))
        subprocess.run(["git", "commit", "-qam", "one more release"], cwd=repo, check=True,
                       env=dict(os.environ, GIT_AUTHOR_NAME="b", GIT_AUTHOR_EMAIL="b@b", GIT_COMMITTER_NAME="b", GIT_COMMITTER_EMAIL="b@b"))
        rows.append(("after one new commit", *run(repo, cache, 2)))
    print(f"{args.commits} commits, genList work {args.work:,} per evaluation\n")
    print("| run | wall s | evaluations | builds | from cache | peak RSS of one process, MB |\n| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, wall, s, peak in rows:
        print(f"| {name} | {wall:.1f} | {s['evaluations']} | {s['builds']} | {s['from_cache']} | {peak:.0f} |")
    cold1, cold2, warm = rows[0][1], rows[1][1], rows[2][1]
    print(f"\nspeed-up of 2 jobs over 1: {cold1 / cold2:.2f}x; gitmine's own work (the warm run, no Nix) "
          f"is {100 * warm / cold2:.1f}% of the cold 2-job run")


if __name__ == "__main__":
    main()
