"""End to end with real Nix on generated git repositories."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gitmine import hints as hintfile
from gitmine.fixture import generate
from tests.conftest import SMALL_HISTORIES

pytestmark = [pytest.mark.nix, pytest.mark.usefixtures("needs_nix")]
BROKEN = 30


def gitmine(*args: str, cwd: Path | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, "-m", "gitmine.cli", *args], cwd=cwd, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}: {proc.stderr}")
    return proc


def analyze_json(*args: str, check: bool = True) -> dict:
    return json.loads(gitmine("analyze", "--json", *args, check=check).stdout)


def worktrees(repo: Path) -> list[str]:
    out = subprocess.run(["git", "worktree", "list", "--porcelain"], cwd=repo, capture_output=True, text=True, check=True).stdout
    return [line for line in out.splitlines() if line.startswith("worktree ")]


def head_commit(repo: Path) -> str:
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, check=True).stdout.strip()


def commit_all(repo: Path, message: str) -> None:
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t", GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@t")
    subprocess.run(["git", "commit", "-qm", message], cwd=repo, check=True, env=env)


@pytest.fixture(scope="session")
def mined(tmp_path_factory):
    """A 60-commit repository (one broken commit) analysed once with a fresh cache."""
    base = tmp_path_factory.mktemp("mined")
    repo = generate(base / "repo", commits=60, days=150, broken=(BROKEN,))
    cache = base / "cache"
    out = base / "hints.toml"
    summary = analyze_json(str(repo), "--since", "6months", "--attr", "image", "--max-layers", "8",
                           "--cache-dir", str(cache), "--output", str(out), "--record", str(base / "history.jsonl"))
    return repo, cache, out, summary


def test_hint_file_puts_the_app_above_the_base_libraries(mined):
    repo, cache, out, summary = mined
    h = hintfile.load(out)
    assert summary["commits"] == 60 and summary["layers"] == len(h.layers) <= 8
    assert h.layer_of["app"] > h.layer_of["glibc"]
    assert h.layer_of["app"] >= h.layer_of["openssl"]
    assert h.layers[h.layer_of["glibc"]].change_rate < h.layers[h.layer_of["app"]].change_rate
    assert summary["most_volatile"][0]["key"] in ("app", "image-root")


def test_broken_commit_is_reported_and_skipped(mined):
    repo, cache, out, summary = mined
    broken = subprocess.run(["git", "rev-list", "--reverse", "HEAD"], cwd=repo, capture_output=True, text=True).stdout.split()[BROKEN]
    assert [f["commit"] for f in summary["failures"]] == [broken]
    assert "syntax error" in summary["failures"][0]["error"]
    assert summary["failed"] == 1 and summary["snapshots"] == 59
    # one build per distinct derivation: the 8 docs-only commits share their predecessor's
    assert (summary["evaluations"], summary["builds"]) == (60, 60 - 8 - 1)
    assert hintfile.load(out).analysis.snapshots == 59


def test_rerun_is_byte_identical_and_evaluates_nothing(mined, tmp_path):
    repo, cache, out, summary = mined
    again = tmp_path / "again.toml"
    s2 = analyze_json(str(repo), "--since", "6months", "--attr", "image", "--max-layers", "8",
                      "--cache-dir", str(cache), "--output", str(again))
    assert again.read_bytes() == out.read_bytes()
    assert (s2["evaluations"], s2["builds"], s2["from_cache"]) == (0, 0, 60)
    assert not s2["previous"]["used"]
    # rerun onto the hint file in use: it is the starting point, and nothing is worth moving
    s3 = analyze_json(str(repo), "--since", "6months", "--attr", "image", "--max-layers", "8",
                      "--cache-dir", str(cache), "--output", str(again))
    assert s3["previous"]["used"] and s3["previous"]["layers_unchanged"] == s3["layers"]
    assert s3["previous"]["switch_pull"] == 0
    assert again.read_bytes() == out.read_bytes()


def test_a_ci_runners_new_access_token_does_not_cost_a_reevaluation(mined, tmp_path, monkeypatch):
    # install-nix-action puts `access-tokens = github.com=<GITHUB_TOKEN>` in nix.conf, a new token every run
    repo, cache, out, summary = mined
    config = os.environ.get("NIX_CONFIG", "")
    monkeypatch.setenv("NIX_CONFIG", config + "\naccess-tokens = github.com=ghs_thisrun\nmax-jobs = 3")
    s2 = analyze_json(str(repo), "--since", "6months", "--attr", "image", "--max-layers", "8",
                      "--cache-dir", str(cache), "--output", str(tmp_path / "h.toml"))
    assert (s2["evaluations"], s2["builds"], s2["from_cache"]) == (0, 0, 60)


def test_worktrees_are_gone_after_the_run(mined):
    repo, cache, out, summary = mined
    assert worktrees(repo) == [f"worktree {repo}"]
    assert not any((cache / "worktrees").glob("*/run-*"))


def test_recorded_history_gives_the_same_hint_file(mined, tmp_path):
    repo, cache, out, summary = mined
    from_rec = tmp_path / "rec.toml"
    gitmine("analyze", "--from-closures", str(out.parent / "history.jsonl"), "--max-layers", "8", "--output", str(from_rec))
    assert from_rec.read_text() == out.read_text()


def test_strict_fails_and_writes_nothing(mined, tmp_path):
    repo, cache, out, summary = mined
    strict_out = tmp_path / "strict.toml"
    proc = gitmine("analyze", str(repo), "--attr", "image", "--since", "6months", "--cache-dir", str(cache),
                   "--output", str(strict_out), "--strict", check=False)
    assert proc.returncode == 1 and "--strict" in proc.stderr
    assert not strict_out.exists()


def test_new_commit_evaluates_once_and_docs_commit_builds_nothing(mined, tmp_path):
    repo, cache, out, summary = mined
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(repo), str(clone)], check=True)
    local_cache = tmp_path / "cache"
    shutil.copytree(cache / "v1", local_cache / "v1")
    args = (str(clone), "--attr", "image", "--since", "6months", "--cache-dir", str(local_cache), "--output", str(tmp_path / "h.toml"))
    versions = (clone / "versions.nix").read_text()
    (clone / "versions.nix").write_text(versions.replace('"app" = "1.', '"app" = "2.'))
    commit_all(clone, "new app release")
    s = analyze_json(*args)
    assert (s["evaluations"], s["builds"]) == (1, 1)
    (clone / "README.md").write_text("docs only\n")
    commit_all(clone, "docs")
    s = analyze_json(*args)
    assert s["evaluations"] <= 1 and s["builds"] == 0


def test_corrupt_cache_entry_is_detected_and_recomputed(mined, tmp_path):
    repo, cache, out, summary = mined
    local_cache = tmp_path / "cache"
    shutil.copytree(cache / "v1", local_cache / "v1")
    victim = sorted((local_cache / "v1" / "closure").glob("*.json"))[0]
    victim.write_text(victim.read_text()[:40])
    s = analyze_json(str(repo), "--attr", "image", "--since", "6months", "--max-layers", "8",
                     "--cache-dir", str(local_cache), "--output", str(tmp_path / "h.toml"))
    assert s["corrupt_cache_entries"] == 1 and s["builds"] == 1
    assert (tmp_path / "h.toml").read_text() == out.read_text()


def test_file_mode_matches_flake_mode(tmp_path):
    repo = generate(tmp_path / "repo", commits=8, days=10)
    cache = tmp_path / "cache"
    a = analyze_json(str(repo), "--attr", "image", "--cache-dir", str(cache), "--output", str(tmp_path / "flake.toml"), "--since", "1month")
    b = analyze_json(str(repo), "--attr", "image", "--file", "default.nix", "--cache-dir", str(cache), "--output", str(tmp_path / "file.toml"), "--since", "1month")
    assert (tmp_path / "flake.toml").read_text() == (tmp_path / "file.toml").read_text()
    assert a["builds"] > 0 and b["builds"] == 0  # same derivations: realisations come from the cache
    assert b["evaluations"] == 8  # --file evaluation is never served from the cache (it may be impure)


def test_sampling_every_week(tmp_path):
    repo = generate(tmp_path / "repo", commits=15, days=28)
    s = analyze_json(str(repo), "--attr", "image", "--every", "1w", "--since", "2months", "--cache-dir", str(tmp_path / "c"), "--output", str(tmp_path / "h.toml"))
    assert 4 <= s["commits"] <= 6


@pytest.mark.parametrize(
    "args, message",
    [
        (["--since", "bogus"], "6months, 2w, 90days, 1y"),
        (["--since", "2024-01-01", "--until", "2023-01-01"], "before --since"),
        (["--every", "fortnight"], "commit, 1d, 1w, tag"),
        (["--rev", "no-such-branch"], "names no commit"),
        (["--since", "2000-01-01", "--until", "2001-01-01"], "no commits"),
        (["--attr", "nope"], "exists at no commit"),
        (["--attr", "nope"], "; the flake's packages now: app, app_deps, curl, glibc, image,"),
    ],
)
def test_bad_input_is_one_line_exit_2(tmp_path, args, message):
    repo = generate(tmp_path / "repo", commits=3, days=3)
    out = tmp_path / "h.toml"
    argv = [str(repo), "--cache-dir", str(tmp_path / "c"), "--output", str(out)]
    if "--attr" not in args:
        argv += ["--attr", "image"]
    proc = gitmine("analyze", *argv, *args, check=False)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert message in lines[-1] and lines[-1].startswith("gitmine: error: ")
    assert "Traceback" not in proc.stderr and sum(line.startswith("gitmine:") for line in lines) == 1
    assert not out.exists()
    assert worktrees(repo) == [f"worktree {repo}"]


def test_not_a_repository(tmp_path):
    proc = gitmine("analyze", str(tmp_path), "--attr", "image", check=False)
    assert proc.returncode == 2 and "not in a git repository" in proc.stderr


def test_config_file_alone_does_the_whole_job(tmp_path):
    repo = generate(tmp_path / "repo", commits=6, days=6)
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path / "xdg"))
    proc = subprocess.run([sys.executable, "-m", "gitmine.cli", "analyze"], cwd=repo, capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    h = hintfile.load(repo / "layer-hints.toml")
    assert h.max_layers == 8  # from gitmine.toml
    assert (tmp_path / "xdg" / "gitmine" / "v1").is_dir()


def test_with_no_image_named_the_error_lists_the_flake_packages(tmp_path):
    repo = generate(tmp_path / "repo", commits=2, days=2)
    (repo / "gitmine.toml").unlink()
    proc = gitmine("analyze", str(repo), "--cache-dir", str(tmp_path / "c"), check=False)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    assert "no image to analyse: pass --attr ATTR" in proc.stderr
    assert "this flake's packages: app, app_deps, curl, glibc, image, libxml2" in proc.stderr
    assert not (repo / "flake.lock").exists() and not (repo / "layer-hints.toml").exists()


def test_in_a_log_evaluation_progress_is_a_line_every_tenth_of_the_way(tmp_path):
    # CI captures stderr: a bar would be drawn once, when a first run of maybe an hour is over
    repo = generate(tmp_path / "repo", commits=20, days=20)
    proc = gitmine("analyze", str(repo), "--attr", "image", "--cache-dir", str(tmp_path / "c"), "--json")
    lines = [line for line in proc.stderr.splitlines() if line.startswith("evaluating")]
    assert lines == [f"evaluating {n}/20, 0 failed" for n in range(2, 21, 2)]
    assert "━" not in proc.stderr and "\nlearning from 20 snapshots and planning\n" in proc.stderr


def _mk(name: str, deps: str = "") -> str:
    return (f'derivation {{ name = "{name}"; system = "x86_64-linux"; builder = "/bin/sh"; '
            f'args = [ "-c" "echo {name} {deps} > $out" ]; }}')


def test_with_no_image_named_the_flakes_default_package_is_analysed(tmp_path):
    # as `nix build` with no attribute builds packages.<system>.default
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    for n in (1, 2, 3):
        libc = _mk(f"libc-{1 if n < 3 else 2}")
        (repo / "flake.nix").write_text(
            f"{{ outputs = {{ self }}: let libc = {libc}; in {{ packages.x86_64-linux = {{"
            f" default = {_mk(f'app-{n}', '${libc}')}; tool = {_mk('tool-1')}; }}; }}; }}"
        )
        commit_all(repo, f"release {n}")
    proc = gitmine("analyze", str(repo), "--cache-dir", str(tmp_path / "c"), "--json")
    assert "image: the flake's default package (.#default, what `nix build` builds)" in proc.stderr
    s = json.loads(proc.stdout)
    assert (s["snapshots"], s["failed"], s["absent"]) == (3, 0, 0)
    h = hintfile.load(repo / "layer-hints.toml")
    assert h.analysis.images == ("default",) and sorted(k for layer in h.layers for k in layer.keys) == ["app", "libc"]


def test_a_flake_input_bumped_in_flake_lock_is_history_the_base_packages_change_in(tmp_path):
    # the way most images change: nixpkgs' revision in flake.lock; each commit evaluates with the
    # revision it locked, fetched from the input's own repository
    pkgs = tmp_path / "pkgs"
    pkgs.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=pkgs, check=True)
    revs = []
    for libc, ssl in (("2.38", "3.0.1"), ("2.38", "3.0.2"), ("2.39", "3.0.2")):
        (pkgs / "flake.nix").write_text(
            "{ outputs = { self }: rec { mk = name: deps: derivation { inherit name; system = \"x86_64-linux\";"
            " builder = \"/bin/sh\"; args = [ \"-c\" \"echo ${name} ${toString deps} > $out\" ]; };"
            f" libc = mk \"libc-{libc}\" [ ]; openssl = mk \"openssl-{ssl}\" [ libc ]; }}; }}"
        )
        commit_all(pkgs, f"{libc} {ssl}")
        revs.append(head_commit(pkgs))
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    for n, rev in enumerate((revs[0], revs[0], revs[1], revs[1], revs[2], revs[2]), 1):
        (repo / "flake.nix").write_text(
            f'{{ inputs.pkgs.url = "git+file://{pkgs}"; outputs = {{ self, pkgs }}: '
            f'{{ image = pkgs.mk "app-{n}" [ pkgs.openssl ]; }}; }}'
        )
        subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
        if n in (1, 3, 5):  # the lock bumps, as `nix flake lock --update-input` would write them
            subprocess.run(["nix", "flake", "lock", "--override-input", "pkgs", f"git+file://{pkgs}?rev={rev}"],
                           cwd=repo, check=True, capture_output=True)
        commit_all(repo, f"release {n}")
    s = analyze_json(str(repo), "--attr", "image", "--since", "all", "--cache-dir", str(tmp_path / "c"))
    assert (s["snapshots"], s["failed"], s["warnings"]) == (6, 0, [])
    rates = {k: layer.observed_rate for layer in hintfile.load(repo / "layer-hints.toml").layers for k in layer.keys}
    assert rates == {"libc": 0.2, "openssl": 0.4, "app": 1.0}  # of 5 releases: one libc bump, two openssl ones


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_interrupted_run_resumes_from_the_cache(tmp_path, sig):
    repo = generate(tmp_path / "repo", commits=40, days=40, eval_work=1_500_000)  # ~0.2 s per evaluation
    cache = tmp_path / "cache"
    args = [sys.executable, "-m", "gitmine.cli", "analyze", str(repo), "--attr", "image", "--since", "3months",
            "--cache-dir", str(cache), "--output", str(tmp_path / "h.toml"), "--jobs", "2", "--json"]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while time.time() < deadline and len(list((cache / "v1" / "closure").glob("*.json")) if (cache / "v1" / "closure").is_dir() else []) < 5:
        time.sleep(0.05)
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == (130 if sig == signal.SIGTERM else -9), stderr
    if sig == signal.SIGTERM:
        assert "interrupted" in stderr and "Traceback" not in stderr
        assert worktrees(repo) == [f"worktree {repo}"]
    assert not (tmp_path / "h.toml").exists()
    done = len(list((cache / "v1" / "closure").glob("*.json")))
    assert done >= 5
    s = analyze_json(str(repo), "--attr", "image", "--since", "3months", "--cache-dir", str(cache), "--output", str(tmp_path / "h.toml"))
    assert s["from_cache"] >= 5 and s["evaluations"] <= 40 - 5 + 1
    assert worktrees(repo) == [f"worktree {repo}"]
    assert not any((cache / "worktrees").glob("*/run-*"))


def test_sampling_tags_and_days(tmp_path):
    repo = generate(tmp_path / "repo", commits=10, days=4)
    shas = subprocess.run(["git", "rev-list", "--reverse", "HEAD"], cwd=repo, capture_output=True, text=True).stdout.split()
    for i in (2, 5, 9):
        subprocess.run(["git", "tag", "-a", f"v{i}", "-m", f"v{i}", shas[i]], cwd=repo, check=True,
                       env=dict(os.environ, GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@t"))
    common = ("--attr", "image", "--since", "1month", "--cache-dir", str(tmp_path / "c"), "--output", str(tmp_path / "h.toml"))
    assert analyze_json(str(repo), "--every", "tag", *common)["commits"] == 3
    days = analyze_json(str(repo), "--every", "1d", *common)["commits"]
    assert 4 <= days <= 5
    assert analyze_json(str(repo), *common)["commits"] == 10


@pytest.mark.usefixtures("needs_nix")
def test_commits_of_one_derivation_share_its_closure(tmp_path):
    # a commit that leaves the image alone (docs only) reuses the closure object: memory, and statistics, once
    from gitmine.analyze import mine
    from gitmine.config import Settings
    from gitmine.nixeval import ImageSpec

    repo = generate(tmp_path / "repo", commits=12, days=12)
    settings = Settings(repo=repo, images=(ImageSpec("image", "image"),), cache_dir=tmp_path / "c", jobs=2)
    for run in ("cold", "from the cache"):
        groups: dict[frozenset[str], list[object]] = {}
        for ev in mine(settings).evaluations:
            assert ev.closure is not None, run
            groups.setdefault(frozenset(ev.closure.paths), []).append(ev.closure)
        shared = [g for g in groups.values() if len(g) > 1]
        assert shared and all(c is g[0] for g in shared for c in g), run


@pytest.mark.usefixtures("needs_nix")
def test_many_commits_to_evaluate_get_a_note_on_sampling(tmp_path, monkeypatch):
    from gitmine import analyze
    from gitmine.config import Settings
    from gitmine.nixeval import ImageSpec

    monkeypatch.setattr(analyze, "MANY_COMMITS", 3)
    repo = generate(tmp_path / "repo", commits=5, days=5)
    notes: list[str] = []
    progress = analyze.Progress(note=notes.append)
    settings = Settings(repo=repo, images=(ImageSpec("image", "image"),), cache_dir=tmp_path / "c")
    analyze.mine(settings, progress)
    assert len(notes) == 1 and notes[0].startswith("5 commits to evaluate") and "--every 1d" in notes[0]
    assert "--derive" in notes[0]
    analyze.mine(settings, progress)  # from the cache: nothing to evaluate, nothing to say
    from dataclasses import replace

    analyze.mine(replace(settings, every="1d", cache_dir=tmp_path / "c2"), progress)  # already sampled
    assert len(notes) == 1


def test_a_file_image_that_reads_nixpkgs_from_nix_path_is_warned_about(tmp_path, monkeypatch):
    # every past commit is evaluated against today's channel: nixpkgs' own history is invisible
    channel = tmp_path / "channel"
    channel.mkdir()
    (channel / "default.nix").write_text(
        '{ ... }: { mk = name: derivation { inherit name; system = builtins.currentSystem; builder = "/bin/sh";'
        ' args = [ "-c" "echo ${name} > $out" ]; }; }\n'
    )
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    for i in range(3):
        (repo / "default.nix").write_text(f'let pkgs = import <nixpkgs> {{ }}; in {{ image = pkgs.mk "app-1.{i}"; }}\n')
        commit_all(repo, f"release {i}")
    monkeypatch.setenv("NIX_PATH", f"nixpkgs={channel}")
    common = ("--file", "default.nix", "--attr", "image", "--cache-dir", str(tmp_path / "c"), "--output", str(tmp_path / "h.toml"))
    s = analyze_json(str(repo), *common)
    assert s["snapshots"] == 3
    assert any("reads <nixpkgs> (or another <…> path) from NIX_PATH" in w for w in s["warnings"])
    # pinned in the repository: nothing to say
    (repo / "pkgs.nix").write_text((channel / "default.nix").read_text())
    (repo / "default.nix").write_text('let pkgs = import ./pkgs.nix { }; in { image = pkgs.mk "app-1.3"; }\n')
    commit_all(repo, "pin")
    assert not any("NIX_PATH" in w for w in analyze_json(str(repo), *common)["warnings"])


def test_run_from_a_subdirectory_uses_the_repository_root(tmp_path):
    # gitmine.toml and the hint file live at the root, wherever in the checkout gitmine runs
    repo = generate(tmp_path / "repo", commits=4, days=4)
    (repo / "nix" / "images").mkdir(parents=True)
    proc = gitmine("analyze", "--json", "--cache-dir", str(tmp_path / "c"), cwd=repo / "nix" / "images")
    assert json.loads(proc.stdout)["output"] == str(repo / "layer-hints.toml")
    assert (repo / "layer-hints.toml").exists() and not (repo / "nix" / "images" / "layer-hints.toml").exists()


def test_the_default_window_is_six_months(tmp_path):
    repo = generate(tmp_path / "repo", commits=12, days=360)
    common = ("--attr", "image", "--cache-dir", str(tmp_path / "c"), "--output", str(tmp_path / "h.toml"))
    summary = analyze_json(str(repo), *common)
    recent = summary["commits"]
    assert 4 <= recent <= 8  # about half of a year of commits
    assert summary["window"]["since"] == "6months" and summary["window"]["first"] <= summary["window"]["last"]
    assert analyze_json(str(repo), *common, "--since", "6months")["commits"] == recent
    assert analyze_json(str(repo), *common, "--since", "all")["commits"] == 12


def test_replay_on_a_git_repository(tmp_path):
    repo = generate(tmp_path / "repo", commits=40, days=140)
    proc = gitmine("replay", str(repo), "--attr", "image", "--since", "1y", "--train", "8", "--test", "4",
                   "--max-layers", "4", "--cache-dir", str(tmp_path / "c"), "--json")
    data = json.loads(proc.stdout)
    run = data["runs"][0]
    assert len(run["folds"]) >= 3
    s = run["strategies"]
    assert s["gitmine"]["pull"] <= s["single"]["pull"] and s["gitmine"]["max_layers_used"] <= 4
    assert "evaluating" in proc.stderr and "40/40" in proc.stderr  # the commits' evaluation shows progress
    derived = gitmine("replay", str(repo), "--attr", "image", "--since", "1y", "--train", "8", "--test", "4",
                      "--max-layers", "4", "--cache-dir", str(tmp_path / "c2"), "--json", "--derive")  # fmt: skip
    assert json.loads(derived.stdout)["runs"] == data["runs"]
    # without --max-layers, the repository's own budget (gitmine.toml), as analyze takes it
    (repo / "gitmine.toml").write_text('max-layers = 3\n[[image]]\nname = "image"\nattr = "image"\n')
    own = gitmine("replay", ".", "--train", "8", "--test", "4", "--cache-dir", str(tmp_path / "c"), cwd=repo)
    assert "replaying repo, 3 layers" in own.stderr and "repo: 3 layers, " in own.stderr  # not ".: 3 layers"
    mixed = gitmine("replay", ".", str(SMALL_HISTORIES[0]), "--train", "8", "--test", "4", "--strategy", "autolayer",
                    "--cache-dir", str(tmp_path / "c"), cwd=repo)  # fmt: skip
    said = " ".join(mixed.stderr.split())  # the tables' titles wrap where the paths are long
    assert "3 layers, " in said and "100 layers, " in said and "no totals" in said


def test_all_parents_includes_merged_branches(tmp_path):
    repo = generate(tmp_path / "repo", commits=4, days=4)
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t", GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@t")
    run = lambda *a: subprocess.run(["git", *a], cwd=repo, check=True, env=env, capture_output=True)  # noqa: E731
    run("checkout", "-q", "-b", "feature")
    for i in range(2):
        text = (repo / "versions.nix").read_text()
        (repo / "versions.nix").write_text(re.sub(r'"curl" = "[^"]*"', f'"curl" = "{7 + i}.0"', text))
        run("commit", "-qam", f"feature {i}")
    run("checkout", "-q", "main")
    run("merge", "-q", "--no-ff", "-m", "merge feature", "feature")
    common = ("--attr", "image", "--since", "1month", "--cache-dir", str(tmp_path / "c"), "--output", str(tmp_path / "h.toml"))
    assert analyze_json(str(repo), *common)["commits"] == 5  # 4 + the merge commit
    assert analyze_json(str(repo), "--all-parents", *common)["commits"] == 7


@pytest.mark.parametrize(
    "version, args",
    [
        ("nix (Nix) 2.8.0", ()),
        ("nix (Nix) 2.32.4", ()),
        ("nix (Nix) 2.33.0", ("--json-format", "2")),
        ("nix (Determinate Nix 3.11.2) 2.31.2", ()),
        ("nix (Determinate Nix 3.15.1) 2.33.1", ("--json-format", "2")),
        ("nix (Lix, like Nix) 2.93.3", ()),
    ],
)
def test_path_info_asks_for_the_current_json_format_where_there_is_one(version, args):
    from gitmine.nixeval import json_format_args

    assert json_format_args(version) == args


@pytest.mark.parametrize(
    "returncode, stderr, transient",
    [
        (1, "error: unable to download 'https://api.github.com/repos/o/r/commits/HEAD': Couldn't resolve host name (6)", True),
        (1, "fatal: unable to access 'https://example.org/x.git/': Could not resolve host: example.org\n"
            "error: program 'git' failed with exit code 128", True),
        (1, "error: cannot connect to socket at '/nix/var/nix/daemon-socket/socket': Connection refused", True),
        (1, "error: writing to file: No space left on device", True),
        # no builder for the image's system here (Nix 2.8; later versions)
        (1, "error: a 'aarch64-linux' with features {} is required to build '/nix/store/x.drv', but I am a "
            "'x86_64-linux' with features {benchmark}", True),
        (1, "error: Cannot build '/nix/store/x.drv'.\n       Reason: required system or feature not available\n"
            "       Required system: 'aarch64-linux' with features {}", True),
        (1, "error: Cannot build '/nix/store/x.drv'.\n       Reason: platform mismatch\n"
            "       Required system: 'aarch64-linux'\n       Current system: 'x86_64-linux'", True),  # Nix 2.34
        (-9, "", True),  # killed (the OOM killer, a stop request)
        # Nix's libgit2 cannot read a repository that uses relative worktrees (git 2.48) or a split index
        (1, "error: opening Git repository \"/r\": unsupported extension name extensions.relativeworktrees "
            "(libgit2 error code = 6)", True),
        (1, "error: getting working directory status: unsupported mandatory extension: 'link'", True),
        # objects missing from a partial or shallow clone (fetched later), an LFS object not fetched
        (1, "error: getting Git object 'e08c8b49e08c8b49e08c8b49e08c8b49e08c8b49': object not found - no match for id "
            "(e08c8b49e08c8b49e08c8b49e08c8b49e08c8b49) (libgit2 error code = 9)", True),
        (1, "error:\n       … while fetching the input 'git+file:///r'\n\n       error: getting parent of Git commit "
            "'c7c87fafade0': object not found - no match for id (b1d8511cffa2)", True),  # Nix 2.20 and later
        (1, "fatal: bad object 1f2e3d4c\nerror: program 'git' failed with exit code 128", True),
        (1, "error: external filter 'git-lfs filter-process' failed", True),
        # Nix may not use its store (a user without rights to it); a builder's own "Permission denied" is the commit's
        (1, "error: opening lock file '/nix/var/nix/db/big-lock': Permission denied", True),
        (1, "error: getting status of /nix/var/nix/daemon-socket/socket: Permission denied", True),  # Nix 2.8, as nobody
        (1, "error: builder for '/nix/store/x-app.drv' failed with exit code 1;\n       last 10 log lines:\n"
            "       > install: cannot create regular file '/usr/bin/app': Permission denied", False),
        (1, "error: syntax error, unexpected '}'\n       at /tmp/x/flake.nix:3:1:", False),
        (1, "error: Cannot build '/nix/store/x.drv'.\n       Reason: builder failed with exit code 1.", False),
        (1, "error: broken at this commit", False),
        (1, "error: flake 'git+file:///r' does not provide attribute 'packages.x86_64-linux.image'", False),
    ],
)
def test_failures_of_the_machine_or_network_are_transient_and_errors_of_the_commit_are_not(returncode, stderr, transient):
    from gitmine.errors import CommandFailed
    from gitmine.nixeval import is_transient

    assert is_transient(CommandFailed(["nix", "eval"], returncode, stderr)) is transient


@pytest.mark.parametrize(
    "attr, shallow, ref",
    [
        ("image", False, "git+file:///w#image"),
        ("packages.x86_64-linux.image", True, "git+file:///w?shallow=1#packages.x86_64-linux.image"),
        ("deploy#image", False, "git+file:///w?dir=deploy#image"),
        ("./deploy/nix/#image", True, "git+file:///w?dir=deploy/nix&shallow=1#image"),
        (".#image", False, "git+file:///w#image"),
        ('packages.x86_64-linux."image v2"', False, "git+file:///w#packages.x86_64-linux.%22image%20v2%22"),
        ("{image", False, "git+file:///w#%7Bimage"),
    ],
)
def test_the_flake_reference_of_an_image(attr, shallow, ref):
    from gitmine.nixeval import ImageSpec

    assert ImageSpec(attr, attr).flake_ref(Path("/w"), shallow=shallow) == ref
    with_submodules = ImageSpec(attr, attr).flake_ref(Path("/w"), shallow=shallow, submodules=True)
    assert with_submodules == ref.replace("#", "&submodules=1#" if "?" in ref else "?submodules=1#")


@pytest.mark.parametrize(
    "attr, file, said",
    [
        ("image", None, ".#image"),
        (".#image", None, ".#image"),
        ("deploy#image", None, "./deploy#image"),  # `deploy#image` would name a flake of the registry
        ("./deploy/nix/#image", None, "./deploy/nix#image"),
        ("images.web", "default.nix", "default.nix:images.web"),
    ],
)
def test_an_image_is_named_in_messages_as_nix_build_takes_it(attr, file, said):
    from gitmine.nixeval import ImageSpec

    assert ImageSpec("x", attr, file).describe() == said


def test_two_images_share_one_hint_file_and_their_common_layers(tmp_path):
    # a repository with two images (the app's, and python3 alone): one analysis, one hint file; a
    # layer whose keys both images hold is the same list of store paths in both, so a registry
    # stores it once
    from gitmine.analyze import mine
    from gitmine.config import Settings
    from gitmine.layout import layout
    from gitmine.nixeval import ImageSpec

    repo = generate(tmp_path / "repo", commits=12, days=12)
    out = tmp_path / "h.toml"
    summary = analyze_json(str(repo), "--attr", "image", "--attr", "python3", "--max-layers", "8",
                           "--cache-dir", str(tmp_path / "c"), "--output", str(out), "--record", str(tmp_path / "h.jsonl"))
    assert summary["failed"] == 0 and summary["snapshots"] == 12
    # the budget is per image, and the recorded history keeps the two images apart
    assert set(summary["layers_per_image"]) == {"image", "python3"}
    assert all(n <= 8 for n in summary["layers_per_image"].values())
    first = json.loads(open(tmp_path / "h.jsonl").readline())
    assert "closure" not in first and sorted(first["closures"]) == ["image", "python3"]
    hints = hintfile.load(out)
    assert hints.analysis.images == ("image", "python3")
    settings = Settings(repo=repo, images=(ImageSpec("image", "image"), ImageSpec("python3", "python3")), cache_dir=tmp_path / "c")
    latest = {ev.image: ev.closure for ev in mine(settings).evaluations if ev.commit.sha == head_commit(repo)}
    app, py = latest["image"], latest["python3"]
    assert set(py.paths) < set(app.paths)
    app_layout, py_layout = layout(app, hints), layout(py, hints)
    assert [len(app_layout), len(py_layout)] == [summary["layers_per_image"][i] for i in ("image", "python3")]
    for closure, layers in ((app, app_layout), (py, py_layout)):  # each a partition of its closure
        assert sorted(p for layer in layers for p in layer.paths) == sorted(closure.paths)
    whole = [layer for layer in py_layout if set(hints.layers[hints.layer_of[layer.keys[0]]].keys) == set(layer.keys)]
    assert whole and all(layer.paths in {other.paths for other in app_layout} for layer in whole)
    # the pre-release check of the two images: the file just written is current
    check = gitmine("analyze", str(repo), "--attr", "image", "--attr", "python3", "--max-layers", "8", "--check",
                    "--cache-dir", str(tmp_path / "c"), "--output", str(out), "--json", check=False)  # fmt: skip
    assert check.returncode == 0 and json.loads(check.stdout)["check"]["stale"] is False, check.stderr


def _images_only_in_a_binary_cache(tmp_path: Path, commits: int) -> tuple[Path, Path, list[str]]:
    """A generated repository analysed with builds (hint file ``built.toml``), every store path of its
    images copied to the binary cache ``tmp_path/binary-cache`` and deleted from the store; returns the
    repository, the hint file and the paths."""
    repo = generate(tmp_path / "repo", commits=commits, days=5 * commits, salt=f"cached-{os.getpid()}-{time.time_ns()}")
    built = tmp_path / "built.toml"
    analyze_json(str(repo), "--attr", "image", "--max-layers", "4", "--cache-dir", str(tmp_path / "c1"),
                 "--output", str(built), "--record", str(tmp_path / "h.jsonl"))  # fmt: skip
    paths = sorted({e["path"] for line in open(tmp_path / "h.jsonl") for e in json.loads(line)["closure"]})
    subprocess.run(["nix", "copy", "--to", f"file://{tmp_path / 'binary-cache'}", *paths], check=True, capture_output=True)
    subprocess.run(["nix-store", "--delete", *paths], check=True, capture_output=True)  # salted: only ours
    return repo, built, paths


def test_no_build_reads_closures_from_a_binary_cache_and_builds_nothing(tmp_path, monkeypatch):
    # the images are built once, copied to a binary cache and deleted from the store: `--no-build`
    # must read the same closures from the cache's metadata alone (the hint file is byte-identical),
    # download nothing, and count a commit whose image is in no cache as a failure it retries later
    repo, built, paths = _images_only_in_a_binary_cache(tmp_path, commits=8)
    read = tmp_path / "read.toml"
    cache = f"file://{tmp_path / 'binary-cache'}"

    def invalid() -> set[str]:
        out = subprocess.run(["nix-store", "--check-validity", "--print-invalid", *paths], capture_output=True, text=True)
        return set(out.stdout.split())

    assert invalid() == set(paths)
    # a cache that cannot be reached comes first: it is given up on, and the paths found in the next one
    dead = "http://127.0.0.1:1"  # nothing listens there
    monkeypatch.setenv("NIX_CONFIG", os.environ.get("NIX_CONFIG", "") + f"\nsubstituters = {dead} {cache}\nrequire-sigs = false"
                       "\ndownload-attempts = 1\nconnect-timeout = 1\nstalled-download-timeout = 5")  # fmt: skip
    args = (str(repo), "--attr", "image", "--max-layers", "4", "--cache-dir", str(tmp_path / "c2"), "--output", str(read))
    s = analyze_json(*args, "--no-build")
    assert (s["failed"], s["builds"], s["snapshots"]) == (0, 0, 8)
    assert read.read_bytes() == built.read_bytes()
    assert invalid() == set(paths)  # nothing was downloaded

    versions = (repo / "versions.nix").read_text()
    (repo / "versions.nix").write_text(versions.replace('"app" = "1.', '"app" = "2.'))
    commit_all(repo, "an app release nobody built")
    s = analyze_json(*args, "--no-build")
    assert s["failed"] == 1 and f"{dead} could not be read" in s["failures"][0]["error"]
    monkeypatch.setenv("NIX_CONFIG", os.environ["NIX_CONFIG"].replace(f"{dead} ", ""))
    s = analyze_json(*args, "--no-build")
    assert s["failed"] == 1 and f"neither in the local store nor in a substituter ({cache})" in s["failures"][0]["error"]
    assert "--build" in s["failures"][0]["error"]
    # with builds: the failure was not cached against the commit; and with its derivation gone from the
    # store since (garbage-collected), the commit is evaluated again rather than failing to build
    drv = subprocess.run(["nix", "eval", "--raw", f"git+file://{repo}#image.drvPath"], capture_output=True, text=True, check=True).stdout
    subprocess.run(["nix-store", "--delete", drv], check=True, capture_output=True)
    s = analyze_json(*args)
    assert (s["failed"], s["evaluations"], s["builds"], s["snapshots"]) == (0, 1, 1, 9)


def test_no_build_reads_closures_from_a_binary_cache_served_over_http(tmp_path, monkeypatch):
    # what cachix, attic and cache.nixos.org are; Nix 2.34's `nix-store --check-validity` crashed
    # against such a cache (gitmine asked it first which paths the cache held)
    import functools
    import threading
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    repo, built, paths = _images_only_in_a_binary_cache(tmp_path, commits=4)
    read = tmp_path / "read.toml"

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(tmp_path / "binary-cache")))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        cache = f"http://127.0.0.1:{server.server_address[1]}"
        monkeypatch.setenv("NIX_CONFIG", os.environ.get("NIX_CONFIG", "") + f"\nsubstituters = {cache}\nrequire-sigs = false")
        s = analyze_json(str(repo), "--attr", "image", "--max-layers", "4", "--cache-dir", str(tmp_path / "c2"),
                         "--output", str(read), "--no-build")  # fmt: skip
    finally:
        server.shutdown()
    assert (s["failed"], s["builds"], s["snapshots"]) == (0, 0, 4), s["failures"]
    assert read.read_bytes() == built.read_bytes()
    out = subprocess.run(["nix-store", "--check-validity", "--print-invalid", *paths], capture_output=True, text=True)
    assert set(out.stdout.split()) == set(paths)  # nothing was downloaded


def test_the_output_path_is_read_from_the_derivation(tmp_path):
    from gitmine.errors import CommandFailed
    from gitmine.nixeval import output_path

    drv = tmp_path / "x.drv"
    drv.write_text('Derive([("dev","/nix/store/dddd-x-dev","",""),("out","/nix/store/oooo-x","","")],[("/nix/store/i.drv",["out"])],'
                   '[],"x86_64-linux","/bin/sh",["-c","echo (\\"x\\")"],[("name","x")])')  # fmt: skip
    assert output_path(f"{drv}!out") == "/nix/store/oooo-x"
    assert output_path(f"{drv}!dev") == "/nix/store/dddd-x-dev"
    drv.write_text('Derive([("out","","r:sha256","")],[],[],"x86_64-linux","/bin/sh",[],[])')  # content-addressed
    with pytest.raises(CommandFailed, match="not known before it is built") as err:
        output_path(f"{drv}!out")
    assert err.value.transient


def test_a_path_read_for_one_commit_is_not_asked_for_again(tmp_path, monkeypatch):
    # two applications on a shared base, the applications in one cache and the base in another only
    # (a project's cache, and cache.nixos.org): the second query asks the stores about its own new
    # path, not about the base it shares with the first (store path data never changes)
    from gitmine import gateway
    from gitmine.nixeval import query_closure

    salt = f"{os.getpid()}-{time.time_ns()}"
    expr = tmp_path / "two.nix"
    expr.write_text(
        'let mk = name: deps: derivation { inherit name; system = builtins.currentSystem; builder = "/bin/sh";'
        ' args = [ "-c" "echo ${name} ${toString deps} > $out" ]; };'
        f' base = mk "base-{salt}" [ ]; in {{ a = mk "a-{salt}" [ base ]; b = mk "b-{salt}" [ base ]; }}'
    )
    a, b = (subprocess.run(["nix-build", str(expr), "-A", n, "--no-out-link"], capture_output=True, text=True, check=True).stdout.strip()
            for n in ("a", "b"))  # fmt: skip
    base = subprocess.run(["nix-store", "-q", "--references", a], capture_output=True, text=True, check=True).stdout.strip()
    apps, nixpkgs = tmp_path / "apps-cache", tmp_path / "base-cache"
    subprocess.run(["nix", "copy", "--to", f"file://{apps}", a, b], check=True, capture_output=True)
    subprocess.run(["nix", "copy", "--to", f"file://{nixpkgs}", base], check=True, capture_output=True)
    (apps / f"{Path(base).name.split('-')[0]}.narinfo").unlink()  # the apps' cache lacks the base
    subprocess.run(["nix-store", "--delete", a, b, base], check=True, capture_output=True)
    asked: list[str] = []
    real_run = gateway.run

    def spy(argv: list[str], **kwargs):  # the real call, noting which paths the stores were asked about
        asked.extend(arg for arg in argv if arg.startswith("/nix/store/"))
        return real_run(argv, **kwargs)

    monkeypatch.setattr(gateway, "run", spy)
    stores, seen = (f"file://{apps}", f"file://{nixpkgs}"), {}
    first = query_closure(a, stores, timeout=60, seen=seen)
    assert set(first.paths) == {a, base} and base in asked
    asked.clear()
    second = query_closure(b, stores, timeout=60, seen=seen)
    assert set(second.paths) == {b, base} and second.paths[base] is first.paths[base]
    assert b in asked and base not in asked


def test_derive_builds_one_commit_and_gives_the_same_hint_file(mined, tmp_path):
    # the other commits' closures come from their derivations and the one built image: the same
    # closures, so the same hint file, for one build instead of one per derivation
    repo, _, built, summary = mined
    out = tmp_path / "derived.toml"
    args = (str(repo), "--since", "6months", "--attr", "image", "--max-layers", "8", "--cache-dir", str(tmp_path / "c"),
            "--output", str(out), "--derive")  # fmt: skip
    s = analyze_json(*args)
    assert (s["builds"], s["derived"], s["failed"], s["snapshots"]) == (1, summary["snapshots"] - 1, 1, summary["snapshots"])
    assert summary["builds"] > 40 and not any("--derive" in w for w in s["warnings"])
    assert out.read_bytes() == built.read_bytes()
    s = analyze_json(*args)  # a rerun: evaluations and the built closure from the cache, derivations read again
    assert (s["evaluations"], s["builds"], s["derived"], s["from_cache"]) == (0, 0, summary["snapshots"] - 1, 60)
    assert out.read_bytes() == built.read_bytes()


TWO_GLIBCS = r'''{
  outputs = { self }:
    let
      v = import ./v.nix;
      forAll = f: builtins.listToAttrs (map (system: { name = system; value = f system; }) [ "x86_64-linux" "aarch64-linux" ]);
      set = system: rec {
        mk = name: deps: derivation {
          inherit system name;
          builder = "/bin/sh";
          args = [ "-c" "echo ${toString deps} > $out" ];
        };
        # a bootstrap stage: the same name, another hash, used to build glibc but not referenced by it
        boot = mk "glibc-2.40" [ ];
        glibc = derivation { inherit system; name = "glibc-2.40"; builder = "/bin/sh"; stage = boot; args = [ "-c" "echo > $out" ]; };
        glibc2 = mk "glibc-2.41" [ ];
        lib = mk "lib-${v.lib}" [ glibc ];
        app = mk "app-${v.app}" ([ lib glibc ] ++ (if v.two then [ glibc2 ] else [ ]));
        image = mk "image-root" [ app ];
      };
    in { packages = forAll set; };
}
'''


def test_derive_realises_what_it_cannot_derive(tmp_path):
    # the newest commit's app links two glibcs, equally near in its derivations: the rule cannot tell
    # them apart, so that commit is built, and so is the next newest, whose closure the rule gives
    # back; the oldest is derived from it (its glibc the final one, not the bootstrap stage's deeper
    # in the graph), and the hint file is the one every build would give
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=repo, check=True)
    (repo / "flake.nix").write_text(TWO_GLIBCS)
    for lib, app, two in (("1.0", "1", "false"), ("1.1", "2", "false"), ("1.1", "3", "true")):
        (repo / "v.nix").write_text(f'{{ lib = "{lib}"; app = "{app}"; two = {two}; }}\n')
        commit_all(repo, f"app {app}")
    common = (str(repo), "--attr", "image", "--max-layers", "3")
    s = analyze_json(*common, "--derive", "--cache-dir", str(tmp_path / "c1"), "--output", str(tmp_path / "d.toml"))
    assert (s["builds"], s["derived"], s["snapshots"]) == (2, 1, 3)
    assert any("1 commit(s) of `image` were built" in w and "equally near" in w for w in s["warnings"]), s["warnings"]
    s = analyze_json(*common, "--cache-dir", str(tmp_path / "c2"), "--output", str(tmp_path / "b.toml"))
    assert s["builds"] == 3
    assert (tmp_path / "d.toml").read_bytes() == (tmp_path / "b.toml").read_bytes()


def test_derive_with_no_build_reads_one_closure_from_the_binary_cache(tmp_path, monkeypatch):
    repo, built, paths = _images_only_in_a_binary_cache(tmp_path, commits=8)
    monkeypatch.setenv("NIX_CONFIG", os.environ.get("NIX_CONFIG", "") + f"\nsubstituters = file://{tmp_path / 'binary-cache'}"
                       "\nrequire-sigs = false")  # fmt: skip
    read = tmp_path / "read.toml"
    s = analyze_json(str(repo), "--attr", "image", "--max-layers", "4", "--cache-dir", str(tmp_path / "c2"),
                     "--output", str(read), "--no-build", "--derive")  # fmt: skip
    assert (s["builds"], s["derived"], s["failed"], s["snapshots"]) == (0, 7, 0, 8)
    assert read.read_bytes() == built.read_bytes()
    out = subprocess.run(["nix-store", "--check-validity", "--print-invalid", *paths], capture_output=True, text=True)
    assert set(out.stdout.split()) == set(paths)  # nothing was downloaded


SUBMODULE_IMAGE = {
    "default.nix": """{ system ? builtins.currentSystem }: rec {
  vendored = derivation {
    name = "vendored"; inherit system; builder = "/bin/sh";
    args = [ "-c" "echo ${builtins.readFile ./vendor/data.txt} > $out" ];
  };
  image = derivation { name = "image"; inherit system; builder = "/bin/sh"; args = [ "-c" "echo ${vendored} > $out" ]; };
}
""",
    "flake.nix": """{
  outputs = { self }: {
    packages = builtins.listToAttrs (map (system: { name = system; value = import ./default.nix { inherit system; }; })
      [ "x86_64-linux" "aarch64-linux" ]);
  };
}
""",
}


def submodule_history(tmp_path: Path, monkeypatch, flake_nix: str = SUBMODULE_IMAGE["flake.nix"]):
    """A repository whose image embeds a file of its submodule `vendor`, pinned at v1, v2, v3, then a docs
    commit; with the submodule's repository and a `git` that commits on a given day of November 2026."""
    # git refuses file:// submodules unless told (CVE-2022-39253); a real submodule's URL is a remote
    gitconfig = tmp_path / "gitconfig"
    gitconfig.write_text('[protocol "file"]\n\tallow = always\n')
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(gitconfig))
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t", GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@t")

    def git(*args: str, cwd: Path, day: int = 1) -> None:
        date = f"2026-11-{day:02d}T12:00:00Z"
        subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                       env=dict(env, GIT_AUTHOR_DATE=date, GIT_COMMITTER_DATE=date))  # fmt: skip

    sub, repo = tmp_path / "sub", tmp_path / "repo"
    for d in (sub, repo):
        d.mkdir()
        git("init", "-q", "-b", "main", cwd=d)
    (sub / "data.txt").write_text("v1\n")
    git("add", ".", cwd=sub)
    git("commit", "-qm", "v1", cwd=sub)
    (repo / "default.nix").write_text(SUBMODULE_IMAGE["default.nix"])
    (repo / "flake.nix").write_text(flake_nix)
    git("submodule", "add", "-q", str(sub), "vendor", cwd=repo)  # absolute: Nix 2.8 resolves a relative one against the worktree
    git("add", ".", cwd=repo)
    git("commit", "-qm", "image", cwd=repo, day=1)
    for day, version in ((2, "v2"), (3, "v3")):
        (sub / "data.txt").write_text(f"{version}\n")
        git("commit", "-qam", version, cwd=sub)
        git("pull", "-q", "origin", "main", cwd=repo / "vendor")
        git("commit", "-qam", f"vendor {version}", cwd=repo, day=day)
    (repo / "README.md").write_text("docs\n")  # the submodule as it was: the image does not change
    git("add", ".", cwd=repo)
    git("commit", "-qm", "docs", cwd=repo, day=4)
    return repo, sub, git


def test_submodules_are_evaluated_with_the_commit_when_asked(tmp_path, monkeypatch):
    repo, sub, git = submodule_history(tmp_path, monkeypatch)
    args = (str(repo), "--attr", "image", "--since", "2026-10-01", "--cache-dir", str(tmp_path / "c"))

    # without --submodules, as `nix build .#image`: the flake has no vendor/data.txt, and gitmine says why
    proc = gitmine("analyze", *args, "--output", str(tmp_path / "without.toml"), check=False)
    assert proc.returncode == 1 and "pass --submodules" in proc.stderr
    assert not (tmp_path / "without.toml").exists()
    said = gitmine("analyze", *args, "--no-submodules", "--output", str(tmp_path / "without.toml"), check=False)
    assert said.returncode == 1 and "pass --submodules" not in said.stderr  # told: no advice

    history = tmp_path / "history.jsonl"
    s = analyze_json(*args, "--submodules", "--output", str(tmp_path / "with.toml"), "--record", str(history))
    assert (s["snapshots"], s["failed"]) == (4, 0)
    vendored = [
        {e["path"] for e in json.loads(line)["closure"] if e["path"].endswith("-vendored")}
        for line in history.read_text().splitlines()
    ]
    assert [len(v) for v in vendored] == [1, 1, 1, 1]
    assert len(set().union(*vendored)) == 3 and vendored[2] == vendored[3]  # v1, v2, v3; docs changed nothing
    assert worktrees(repo) == [f"worktree {repo}"]
    assert "pass --submodules" not in gitmine("analyze", *args, "--submodules", "--output", str(tmp_path / "w2.toml")).stderr
    # a --file image reads the worktree itself, submodules and all
    s = analyze_json(*args, "--submodules", "--file", "default.nix", "--output", str(tmp_path / "file.toml"))
    assert (s["snapshots"], s["failed"], s["builds"]) == (4, 0, 0)  # the same derivations as the flake's
    assert (tmp_path / "file.toml").read_text() == (tmp_path / "with.toml").read_text()

    # a submodule that cannot be fetched fails that commit only, and the next run tries it again
    (repo / "README.md").write_text("more docs\n")
    git("commit", "-qam", "more docs", cwd=repo, day=5)
    sub.rename(tmp_path / "gone")
    s = analyze_json(*args, "--submodules", "--output", str(tmp_path / "with.toml"))
    assert (s["snapshots"], s["from_cache"], s["failed"]) == (4, 4, 1)
    assert s["failures"][0]["error"].startswith("checkout: ")  # git could not clone it
    (tmp_path / "gone").rename(sub)
    s = analyze_json(*args, "--submodules", "--output", str(tmp_path / "with.toml"))
    assert (s["snapshots"], s["failed"], s["evaluations"]) == (5, 0, 1)

    # a clone that never initialised its submodules (a CI checkout): its config stays as it was
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(repo), str(clone)], check=True)
    config = (clone / ".git" / "config").read_text()
    s = analyze_json(str(clone), "--attr", "image", "--since", "2026-10-01", "--cache-dir", str(tmp_path / "c2"),
                     "--submodules", "--output", str(tmp_path / "clone.toml"))  # fmt: skip
    assert (s["snapshots"], s["failed"]) == (5, 0)
    assert (clone / ".git" / "config").read_text() == config and not (clone / "vendor" / "data.txt").exists()


def test_a_flake_that_asks_for_its_submodules_gets_them(tmp_path, monkeypatch):
    from gitmine.nixeval import nix_version

    version = tuple(int(x) for x in re.findall(r"\d+", nix_version())[:2])
    if version < (2, 27) or "lix" in nix_version().lower():
        pytest.skip("`inputs.self.submodules` is Nix 2.27 and later")
    flake = SUBMODULE_IMAGE["flake.nix"].replace("{\n  outputs", "{\n  inputs.self.submodules = true;\n  outputs", 1)
    repo, _, _ = submodule_history(tmp_path, monkeypatch, flake)
    proc = gitmine("analyze", "--json", str(repo), "--attr", "image", "--since", "2026-10-01",
                   "--cache-dir", str(tmp_path / "c"), "--record", str(tmp_path / "history.jsonl"))  # fmt: skip
    assert "the flake asks for its git submodules" in proc.stderr
    assert (json.loads(proc.stdout)["snapshots"], json.loads(proc.stdout)["failed"]) == (4, 0)
    lines = (tmp_path / "history.jsonl").read_text().splitlines()
    assert len({e["path"] for line in lines for e in json.loads(line)["closure"] if e["path"].endswith("-vendored")}) == 3


@pytest.mark.parametrize(
    "flake, asks",
    [
        ("{ inputs.self.submodules = true; outputs = { self }: { }; }", True),
        ("{ inputs = { self.submodules = true; nixpkgs.url = \"github:NixOS/nixpkgs\"; }; outputs = _: { }; }", True),
        ("{ inputs.self = { submodules = true; lfs = true; }; outputs = _: { }; }", True),
        ("{ inputs.self.submodules = false; outputs = _: { }; }", False),
        ("{ # inputs.self.submodules = true;\n outputs = { self }: { }; }", False),
        ("{ inputs.vendor = { url = \"git+https://example.org/v\"; submodules = true; }; outputs = _: { }; }", False),
        ("{ outputs = { self, nixpkgs }: { }; }", False),
    ],
)
def test_which_flakes_ask_for_their_submodules(flake, asks):
    from gitmine.nixeval import asks_for_submodules

    assert asks_for_submodules(flake) is asks
