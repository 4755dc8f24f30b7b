"""Benchmark of `gitmine analyze` on a generated repository: cold, warm, +1 commit, jobs 1 vs 2, and
cold with ``--derive`` (one build, the other closures derived from the derivations).

    python scripts/bench_analyze.py [--commits 100] [--work 6000000] [--build-seconds 0]

Each evaluation does about a second of CPU work (``--work``), as a real image's evaluation would;
``--build-seconds`` makes each build of the application take that long, as a real build would.
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


def run(repo: Path, cache: Path, jobs: int, *extra: str) -> tuple[float, dict, float]:
    t = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "gitmine.cli", "analyze", str(repo), "--attr", "image", "--since", "1y",
         "--jobs", str(jobs), "--cache-dir", str(cache), "--output", str(cache.parent / "hints.toml"), "--json", *extra],
        capture_output=True, text=True, check=True,
    )
    wall = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return wall, json.loads(proc.stdout), peak


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--commits", type=int, default=100)
    ap.add_argument("--work", type=int, default=6_000_000)
    ap.add_argument("--build-seconds", type=float, default=0)
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        salt = f"{time.time_ns()}"  # store paths no earlier run has built
        for jobs, extra in ((1, ()), (2, ()), (2, ("--derive",))):
            name = f"{jobs}{''.join(extra)}"
            repo = generate(base / f"repo-{name}", commits=args.commits, days=180, eval_work=args.work,
                            salt=f"{salt}-{name}", build_seconds=args.build_seconds)  # fmt: skip
            wall, s, peak = run(repo, base / f"cache-{name}", jobs, *extra)
            rows.append((f"cold, --jobs {jobs}{''.join(' ' + e for e in extra)}", wall, s, peak))
        repo, cache = base / "repo-2", base / "cache-2"
        rows.append(("warm rerun", *run(repo, cache, 2)))
        versions = (repo / "versions.nix").read_text()
        (repo / "versions.nix").write_text(versions.replace('"app" = "1.', '"app" = "9.'))
        subprocess.run(["git", "commit", "-qam", "one more release"], cwd=repo, check=True,
                       env=dict(os.environ, GIT_AUTHOR_NAME="b", GIT_AUTHOR_EMAIL="b@b", GIT_COMMITTER_NAME="b", GIT_COMMITTER_EMAIL="b@b"))
        rows.append(("after one new commit", *run(repo, cache, 2)))
    print(f"{args.commits} commits, genList work {args.work:,} per evaluation, {args.build_seconds:g} s per build of the app\n")
    print("| run | wall s | evaluations | builds | from cache | peak RSS of one process, MB |\n| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, wall, s, peak in rows:
        print(f"| {name} | {wall:.1f} | {s['evaluations']} | {s['builds']} | {s['from_cache']} | {peak:.0f} |")
    cold1, cold2, warm = rows[0][1], rows[1][1], rows[3][1]
    print(f"\nspeed-up of 2 jobs over 1: {cold1 / cold2:.2f}x; gitmine's own work (the warm run, no Nix) "
          f"is {100 * warm / cold2:.1f}% of the cold 2-job run")


if __name__ == "__main__":
    main()
