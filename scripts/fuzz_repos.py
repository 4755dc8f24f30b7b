"""Fuzz `gitmine analyze` with random git histories evaluated by real Nix (hypothesis).

    python scripts/fuzz_repos.py [--examples 300]

Each example builds a repository from a random list of operations: commits of a flake whose image
(an application over a library) changes version, commits that break the flake or delete it, empty
commits, branches merged back with `--no-ff`, tags, and author dates that go back and forth. It is
then analysed with a random choice of `--every 1d|tag`, `--all-parents`, `--since`, `--max-layers
1`, `--derive`, `--jobs 1` and a second image (`--attr worker`, on the same library). Every run must
end with exit 0 and a hint file that `gitmine check` accepts and a rerun starts from, or with exit 1
or 2 and one `gitmine: error:` line; never a traceback, and no worktree left behind. Prints how the
runs ended. Needs git and Nix (offline is fine).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

from hypothesis import HealthCheck, given, settings, strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fuzz_inputs import run_cli  # noqa: E402

OUTCOMES: Counter[str] = Counter()
LIB = 'derivation {{ name = "lib-{v}"; system = "x86_64-linux"; builder = "/bin/sh"; args = ["-c" "echo {v} > $out"]; }}'
APP = 'derivation {{ name = "app-{v}"; system = "x86_64-linux"; builder = "/bin/sh"; args = ["-c" "echo ${{lib}} > $out"]; }}'
WORKER = 'derivation {{ name = "worker-{v}"; system = "x86_64-linux"; builder = "/bin/sh"; args = ["-c" "echo ${{lib}} > $out"]; }}'
BROKEN = "{ outputs = "
FLAGS = [["--every", "1d"], ["--every", "tag"], ["--all-parents"], ["--since", "2w"], ["--max-layers", "1"], ["--derive"], ["--jobs", "1"],
         ["--attr", "worker"]]  # fmt: skip
HOURS = st.integers(-400, 400)  # the commit's date, in hours from a fixed instant: dates go back and forth
OPERATIONS = st.lists(
    st.one_of(
        st.tuples(st.just("commit"), st.integers(0, 3), st.integers(0, 5), HOURS),
        st.tuples(st.just("merge"), st.integers(0, 3), st.integers(0, 5), HOURS),
        st.tuples(st.sampled_from(["broken", "remove", "empty", "tag"]), st.just(0), st.just(0), HOURS),
    ),
    min_size=1,
    max_size=12,
)


def flake(lib: int, app: int) -> str:
    return "{ outputs = { self }: let lib = %s; in { image = %s; worker = %s; }; }" % (
        LIB.format(v=lib), APP.format(v=app), WORKER.format(v=app + lib)
    )


def git(repo: Path, *args: str, hours: int = 0) -> bool:
    stamp = f"@{1_790_000_000 + hours * 3600}"
    env = dict(os.environ, GIT_AUTHOR_NAME="f", GIT_AUTHOR_EMAIL="f@f", GIT_COMMITTER_NAME="f", GIT_COMMITTER_EMAIL="f@f",
               GIT_AUTHOR_DATE=stamp, GIT_COMMITTER_DATE=stamp)  # fmt: skip
    return subprocess.run(["git", *args], cwd=repo, env=env, capture_output=True).returncode == 0


def build(repo: Path, operations: list[tuple[str, int, int, int]]) -> None:
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    for n, (kind, lib, app, hours) in enumerate(operations):
        if kind in ("commit", "broken"):
            (repo / "flake.nix").write_text(flake(lib, app) if kind == "commit" else BROKEN)
            git(repo, "add", "-A")
        elif kind == "remove":
            git(repo, "rm", "-q", "--ignore-unmatch", "flake.nix")
        elif kind == "tag":
            git(repo, "tag", f"v{n}")
            continue
        elif kind == "merge":
            if not git(repo, "checkout", "-q", "-b", f"topic{n}"):
                continue  # no commit yet to branch from
            (repo / "flake.nix").write_text(flake(lib, app))
            git(repo, "add", "-A")
            git(repo, "commit", "-q", "--allow-empty", "-m", f"topic {n}", hours=hours)
            git(repo, "checkout", "-q", "main")
            if not git(repo, "merge", "-q", "--no-ff", "-X", "theirs", "-m", f"merge {n}", f"topic{n}", hours=hours + 1):
                git(repo, "merge", "--abort")
            continue
        git(repo, "commit", "-q", "--allow-empty", "-m", f"{kind} {n}", hours=hours)


def fuzz(operations: list[tuple[str, int, int, int]], flags: list[list[str]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        repo, out = Path(tmp) / "repo", Path(tmp) / "hints.toml"
        build(repo, operations)
        argv = ["analyze", str(repo), "--attr", "image", "--since", "all", "--cache-dir", str(Path(tmp) / "cache"),
                "--output", str(out), "--json", *[x for flag in flags for x in flag]]  # fmt: skip
        code, stderr = run_cli(argv)
        assert "Traceback" not in stderr and "internal error" not in stderr, (operations, flags, stderr)
        listed = subprocess.run(["git", "worktree", "list"], cwd=repo, capture_output=True, text=True).stdout
        assert listed.count("\n") <= 1, f"worktrees left behind: {listed}"
        if code == 0:  # what gitmine writes, gitmine reads: `check` accepts it and a rerun starts from it
            for again in (["check", str(out)], argv):
                checked, said = run_cli(again)
                assert checked == 0, (operations, flags, again[0], said)
            OUTCOMES["analysed, hint file valid"] += 1
            return
        assert code in (1, 2), (code, stderr)
        last = stderr.strip().splitlines()[-1]
        assert last.startswith("gitmine: error:") and not out.exists(), stderr
        OUTCOMES[f"exit {code}: {last.removeprefix('gitmine: error: ').split(';')[0].split('(')[0][:60].strip()}"] += 1


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--examples", type=int, default=300)
    n = ap.parse_args().examples
    run = settings(max_examples=n, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    run(given(OPERATIONS, st.lists(st.sampled_from(FLAGS), max_size=3))(fuzz))()
    print(f"{sum(OUTCOMES.values())} histories, no traceback, no worktree left:")
    for what, count in OUTCOMES.most_common():
        print(f"  {count:4}  {what}")


if __name__ == "__main__":
    main()
