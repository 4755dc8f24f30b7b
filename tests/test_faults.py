"""Hard inputs and faults: one clear line, a documented exit code, nothing lost, nothing left behind."""

from __future__ import annotations

import errno
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from gitmine import hints as hintfile
from gitmine.atomic import write_text_atomic
from gitmine.cache import Cache
from gitmine.closure import StorePath, build_closure
from gitmine.errors import InputError
from gitmine.fixture import generate
from gitmine.hints import Analysis, HintLayer, Hints
from gitmine.layout import layout

GIT_ENV = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t", GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@t")


def gitmine(*args: str, env: dict | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gitmine.cli", *args], capture_output=True, text=True, env=env, cwd=cwd)


def one_error_line(proc: subprocess.CompletedProcess[str], code: int, message: str) -> None:
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == code, proc.stderr
    assert lines and lines[-1].startswith("gitmine: error: ") and message in lines[-1], proc.stderr
    assert "Traceback" not in proc.stderr


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True, env=GIT_ENV).stdout


# -- repositories --------------------------------------------------------------------------------


def test_bare_repository(tmp_path):
    subprocess.run(["git", "init", "-q", "--bare", str(tmp_path / "bare.git")], check=True)
    one_error_line(gitmine("analyze", str(tmp_path / "bare.git"), "--attr", "image"), 2, "bare repository")


@pytest.mark.usefixtures("needs_nix")
def test_shallow_clone_needs_unshallow(tmp_path):
    repo = generate(tmp_path / "repo", commits=6, days=12)
    clone = tmp_path / "shallow"
    subprocess.run(["git", "clone", "-q", "--depth", "2", f"file://{repo}", str(clone)], check=True)
    args = ("analyze", str(clone), "--attr", "image", "--since", "1y", "--cache-dir", str(tmp_path / "c"), "--output", str(tmp_path / "h.toml"))
    one_error_line(gitmine(*args), 2, "git fetch --unshallow")
    ok = gitmine(*args, "--allow-shallow", "--json")
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["commits"] == 2


@pytest.mark.usefixtures("needs_nix")
@pytest.mark.parametrize("parents", [(), ("--all-parents",)])
def test_a_worktree_of_a_shallow_clone_is_a_shallow_clone(tmp_path, parents):
    # libgit2 looks for the list of shallow commits in a worktree's own git directory, where git never
    # writes it: it took such a worktree for a full clone and failed at the first missing parent
    repo = generate(tmp_path / "repo", commits=6, days=12)
    clone = tmp_path / "shallow"
    subprocess.run(["git", "clone", "-q", "--depth", "2", f"file://{repo}", str(clone)], check=True)
    git(clone, "worktree", "add", "-q", "--detach", str(tmp_path / "wt"), "HEAD")
    args = ("analyze", str(tmp_path / "wt"), "--attr", "image", "--since", "1y", *parents,
            "--cache-dir", str(tmp_path / "c"), "--output", str(tmp_path / "h.toml"))  # fmt: skip
    one_error_line(gitmine(*args), 2, "git fetch --unshallow")
    ok = gitmine(*args, "--allow-shallow", "--json")
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["commits"] == 2


def test_the_worktrees_of_a_shallow_clone_know_where_its_history_ends(tmp_path):
    # what Nix 2.20 and later (libgit2) needs to read a commit of a shallow clone from a worktree;
    # without it every commit failed ("getting parent of Git commit …: object not found")
    import pygit2

    from gitmine.worktrees import WorktreePool

    repo = generate(tmp_path / "repo", commits=4, days=4)
    clone = tmp_path / "shallow"
    subprocess.run(["git", "clone", "-q", "--depth", "2", f"file://{repo}", str(clone)], check=True)
    with WorktreePool(clone, tmp_path / "c", 1) as pool, pool.checkout(git(clone, "rev-parse", "HEAD~1").strip()) as wt:
        assert pygit2.Repository(str(wt)).is_shallow
        assert git(wt, "log", "--format=%h").split() == git(clone, "log", "--skip=1", "--format=%h").split()
    with WorktreePool(repo, tmp_path / "c", 1) as pool, pool.checkout("HEAD") as wt:
        assert not pygit2.Repository(str(wt)).is_shallow


def test_no_commits_yet(tmp_path):
    subprocess.run(["git", "init", "-q", str(tmp_path / "empty")], check=True)
    one_error_line(gitmine("analyze", str(tmp_path / "empty"), "--attr", "image"), 2, "no commits yet")


def test_missing_repo_path(tmp_path):
    one_error_line(gitmine("analyze", str(tmp_path / "nope"), "--attr", "image"), 2, "does not exist")


# -- environment ---------------------------------------------------------------------------------


def test_nix_not_installed_is_an_environment_error(tmp_path):
    repo = generate(tmp_path / "repo", commits=2, days=2)
    bindir = tmp_path / "bin"
    bindir.mkdir()
    os.symlink(subprocess.run(["which", "git"], capture_output=True, text=True).stdout.strip(), bindir / "git")
    env = dict(os.environ, PATH=str(bindir))
    proc = gitmine("analyze", str(repo), "--attr", "image", "--cache-dir", str(tmp_path / "c"), env=env)
    one_error_line(proc, 3, "`nix` was not found")
    assert not (repo / "layer-hints.toml").exists()


# -- evaluation faults -----------------------------------------------------------------------------


def _flake_repo(path: Path, versions: list[str | None], flake_dir: str = ".") -> Path:
    """A repository with a commit per version of ``flake_dir/flake.nix`` (None: a commit without it)."""
    path.mkdir()
    git(path, "init", "-q")
    for i, text in enumerate(versions):
        if text is None:
            (path / f"note-{i}").write_text("no flake yet")
        else:
            (path / flake_dir).mkdir(parents=True, exist_ok=True)
            (path / flake_dir / "flake.nix").write_text(text)
        git(path, "add", "-A")
        git(path, "commit", "-qm", f"c{i}")
    return path


def _counted(repo: Path, *args: str) -> tuple[int, int, int, list[str]]:
    """``gitmine analyze --json`` of ``repo`` (cache beside it), which must succeed: commits absent,
    commits failed, snapshots, and the failures' errors."""
    proc = gitmine("analyze", str(repo), *args, "--cache-dir", str(repo.parent / "c"), "--json")
    assert proc.returncode == 0, proc.stderr
    s = json.loads(proc.stdout)
    return s["absent"], s["failed"], s["snapshots"], [f["error"] for f in s["failures"]]


DRV = 'derivation {{ name = "{n}"; system = "x86_64-linux"; builder = "/bin/sh"; args = ["-c" "echo {n} > $out"]; }}'


@pytest.mark.usefixtures("needs_nix")
def test_image_added_mid_history_is_absent_not_failed(tmp_path):
    only_a = "{ outputs = { self }: { a = " + DRV.format(n="a-1") + "; }; }"
    both = "{ outputs = { self }: { a = " + DRV.format(n="a-1") + "; b = " + DRV.format(n="b-1") + "; }; }"
    both2 = "{ outputs = { self }: { a = " + DRV.format(n="a-1") + "; b = " + DRV.format(n="b-2") + "; }; }"
    repo = _flake_repo(tmp_path / "repo", [only_a, both, both2])
    assert _counted(repo, "--attr", "b")[:3] == (1, 0, 2)


@pytest.mark.usefixtures("needs_nix")
@pytest.mark.parametrize("flake_dir", [".", "deploy"])
def test_a_file_the_commit_forgot_to_add_is_a_failure_not_an_absence(tmp_path, flake_dir):
    # a flake importing a file that is not in the commit (the classic forgotten `git add`): Nix says the
    # file "does not exist", as it says of a missing flake.nix; only the latter means no image
    forgot = "{ outputs = { self }: { image = import ./image.nix; }; }"
    good = ["{ outputs = { self }: { image = " + DRV.format(n=f"img-{i}") + "; }; }" for i in (1, 2)]
    repo = _flake_repo(tmp_path / "repo", [None, forgot, *good], flake_dir=flake_dir)
    attr = "image" if flake_dir == "." else f"{flake_dir}#image"
    absent, failed, snapshots, errors = _counted(repo, "--attr", attr)
    assert (absent, failed, snapshots) == (1, 1, 2)
    assert "image.nix" in errors[0]
    # the failure and the absence are cached; written by another version of gitmine, they are tried again
    args = ("analyze", str(repo), "--attr", attr, "--cache-dir", str(tmp_path / "c"), "--json")
    assert json.loads(gitmine(*args).stdout)["evaluations"] == 0
    cache = Cache(tmp_path / "c")
    for f in sorted((cache.dir / "eval").glob("*.json")):
        entry = cache.get_eval(f.stem)
        if entry and entry["status"] != "ok":
            cache.put_eval(f.stem, {**entry, "by": "0.0.1"})
    assert json.loads(gitmine(*args).stdout)["evaluations"] == 2
    assert json.loads(gitmine(*args).stdout)["evaluations"] == 0


@pytest.mark.usefixtures("needs_nix")
def test_a_file_image_is_absent_without_its_file_and_failed_without_what_it_imports(tmp_path):
    repo = _flake_repo(tmp_path / "repo", [None])
    for text in ["import ./pkgs/image.nix", "{ image = " + DRV.format(n="img-1") + "; }"]:
        (repo / "nix").mkdir(exist_ok=True)
        (repo / "nix" / "images.nix").write_text(text)
        git(repo, "add", "-A")
        git(repo, "commit", "-qm", "x")
    absent, failed, snapshots, errors = _counted(repo, "--attr", "image", "--file", "nix/images.nix")
    assert (absent, failed, snapshots) == (1, 1, 1)
    assert "image.nix" in errors[0]


@pytest.mark.usefixtures("needs_nix")
def test_images_of_a_system_this_machine_cannot_build_point_to_no_build(tmp_path):
    other = [DRV.format(n=f"img-{i}").replace("x86_64-linux", "aarch64-linux") for i in range(2)]
    repo = _flake_repo(tmp_path / "repo", ["{ outputs = { self }: { image = " + v + "; }; }" for v in other])
    proc = gitmine("analyze", str(repo), "--attr", "image", "--cache-dir", str(tmp_path / "c"))
    one_error_line(proc, 1, "this machine cannot build for the image's system: pass --no-build")


@pytest.mark.usefixtures("needs_nix")
def test_an_image_at_no_commit_is_said_with_what_nix_suggests_about_the_repository(tmp_path):
    repo = _flake_repo(tmp_path / "repo", ["{ outputs = { self }: { image = " + DRV.format(n="img-1") + "; }; }"])
    proc = gitmine("analyze", str(repo), "--attr", "imag", "--cache-dir", str(tmp_path / "c"))
    one_error_line(proc, 2, "image .#imag exists at no commit of the window (Nix, at the latest commit: flake ")
    assert f"'git+file://{repo}' does not provide attribute" in proc.stderr  # not a worktree, gone by now
    assert "Did you mean image?" in proc.stderr


@pytest.mark.usefixtures("needs_nix")
def test_an_attribute_with_characters_a_url_cannot_hold_reaches_nix_whole(tmp_path):
    flake = '{ outputs = { self }: { images."web v2" = ' + DRV.format(n="web-1") + "; }; }"
    repo = _flake_repo(tmp_path / "repo", [flake])
    assert _counted(repo, "--attr", 'images."web v2"')[:3] == (0, 0, 1)
    proc = gitmine("analyze", str(repo), "--attr", "{images", "--cache-dir", str(tmp_path / "c"))
    one_error_line(proc, 2, "image .#{images exists at no commit of the window (Nix, at the latest commit: flake ")


@pytest.mark.usefixtures("needs_nix")
@pytest.mark.parametrize(("attr", "what"), [("images", "a set"), ("mkImage", "a lambda")])
def test_an_attribute_that_is_not_a_derivation_is_said_so(tmp_path, attr, what):
    flake = "{ outputs = { self }: { images.web = " + DRV.format(n="web-1") + "; mkImage = x: x; }; }"
    repo = _flake_repo(tmp_path / "repo", [flake])
    proc = gitmine("analyze", str(repo), "--attr", attr, "--cache-dir", str(tmp_path / "c"))
    one_error_line(proc, 1, f"the attribute is {what}, not a derivation: name an image or a package")


@pytest.mark.usefixtures("needs_nix")
def test_only_the_output_an_image_gets_is_analysed(tmp_path):
    # a package with a -dev output: `copyToRoot = [ pkg ]` ships its first output, not the -dev one
    multi = ('derivation {{ name = "{n}"; system = "x86_64-linux"; builder = "/bin/sh"; outputs = [ "{a}" "{b}" ]; '
             'args = ["-c" "echo {n} > ${a}; echo {n} {b} > ${b}"]; }}')  # fmt: skip
    image = [multi.format(n=f"img-{i}", a="out", b="dev") for i in range(3)]
    versions = ["{ outputs = { self }: { image = " + drv + "; }; }" for drv in image]
    repo = _flake_repo(tmp_path / "repo", versions)
    flake = gitmine("analyze", str(repo), "--attr", "image", "--cache-dir", str(tmp_path / "c"), "--json")
    assert flake.returncode == 0, flake.stderr
    assert [k["key"] for k in json.loads(flake.stdout)["key_stats"]] == ["img"]
    (repo / "default.nix").write_text("{ image = " + multi.format(n="img-9", a="bin", b="out") + "; }")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "file")
    file = gitmine("analyze", str(repo), "--attr", "image", "--file", "default.nix", "--since", "1h",
                   "--cache-dir", str(tmp_path / "c"), "--output", str(tmp_path / "f.toml"), "--json")  # fmt: skip
    assert file.returncode == 0, file.stderr
    assert [k["key"] for k in json.loads(file.stdout)["key_stats"]] == ["img-bin"]  # the first output is bin


@pytest.mark.usefixtures("needs_nix")
def test_a_build_that_fails_is_built_once_and_a_missing_builder_is_retried(tmp_path):
    broken = 'derivation { name = "img-2"; system = "x86_64-linux"; builder = "/bin/sh"; args = ["-c" "exit 3"]; }'
    other_system = DRV.format(n="img-3").replace("x86_64-linux", "aarch64-linux")  # no builder for it here
    versions = [DRV.format(n="img-1"), broken, other_system, DRV.format(n="img-4")]
    repo = _flake_repo(tmp_path / "repo", ["{ outputs = { self }: { image = " + v + "; }; }" for v in versions])
    args = ("analyze", str(repo), "--attr", "image", "--cache-dir", str(tmp_path / "c"), "--json")
    first = json.loads(gitmine(*args).stdout)
    assert (first["failed"], first["builds"]) == (2, 4)
    errors = {("img-2" if "img-2" in f["error"] else "img-3"): f["error"] for f in first["failures"]}
    assert "exit code 3" in errors["img-2"]
    # Nix 2.8: "is required to build"; later: "required system or feature not available", "platform mismatch"
    assert re.search(r"is required to build|required system|platform mismatch", errors["img-3"]), errors
    again = json.loads(gitmine(*args).stdout)
    assert (again["failed"], again["evaluations"], again["builds"]) == (2, 0, 1)  # only the other system's, again


@pytest.mark.usefixtures("needs_nix")
def test_a_flake_in_a_subdirectory(tmp_path):
    versions = [None] + ["{ outputs = { self }: { image = " + DRV.format(n=f"img-{i}") + "; }; }" for i in range(3)]
    repo = _flake_repo(tmp_path / "repo", versions, flake_dir="deploy/nix")
    assert _counted(repo, "--attr", "deploy/nix#image")[:3] == (1, 0, 3)  # the first commit has no flake there yet
    both = gitmine("analyze", str(repo), "--attr", "deploy/nix#image", "--file", "default.nix")
    one_error_line(both, 2, "with --file give the attribute alone")


@pytest.mark.usefixtures("needs_nix")
def test_unfetchable_flake_input_is_a_recorded_failure_retried_next_run(tmp_path):
    good = "{ outputs = { self }: { image = " + DRV.format(n="img-1") + "; }; }"
    bad = '{ inputs.dep.url = "github:example/does-not-exist"; outputs = { self, dep }: { image = ' + DRV.format(n="img-2") + "; }; }"
    broken = "{ outputs = { self }: { image = throw \"broken at this commit\"; }; }"
    good2 = "{ outputs = { self }: { image = " + DRV.format(n="img-3") + "; }; }"
    repo = _flake_repo(tmp_path / "repo", [good, bad, broken, good2])
    args = ("analyze", str(repo), "--attr", "image", "--cache-dir", str(tmp_path / "c"), "--json")
    proc = gitmine(*args)
    assert proc.returncode == 0, proc.stderr
    s = json.loads(proc.stdout)
    assert s["failed"] == 2 and s["snapshots"] == 2 and s["evaluations"] == 4
    errors = sorted(f["error"] for f in s["failures"])
    assert "broken at this commit" in errors[0] and "does-not-exist" in errors[1]
    # the network may be back next time: the fetch failure is evaluated again, the commit's own error is not
    again = json.loads(gitmine(*args).stdout)
    assert again["failed"] == 2 and again["evaluations"] == 1


@pytest.mark.usefixtures("needs_nix")
def test_commits_that_do_not_lock_their_flake_inputs_are_evaluated_and_said(tmp_path):
    # without a flake.lock, Nix locks a commit's inputs as of today: the history of those inputs is lost
    dep = tmp_path / "dep"
    dep.mkdir()
    (dep / "flake.nix").write_text(
        '{ outputs = { self }: { mk = n: derivation { name = n; system = "x86_64-linux"; builder = "/bin/sh";'
        ' args = [ "-c" "echo ${n} > $out" ]; }; }; }'
    )
    flake = '{{ inputs.dep.url = "path:' + str(dep) + '"; outputs = {{ self, dep }}: {{ image = dep.mk "app-{n}"; }}; }}'
    repo = _flake_repo(tmp_path / "repo", [flake.format(n=1), flake.format(n=2)])
    args = ("analyze", str(repo), "--attr", "image", "--cache-dir", str(tmp_path / "c"), "--json")
    s = json.loads(gitmine(*args).stdout)
    assert (s["snapshots"], s["failed"], s["evaluations"]) == (2, 0, 2)
    assert any("2 of the 2 evaluated commits have no flake.lock that locks every input" in w for w in s["warnings"])
    assert json.loads(gitmine(*args).stdout)["evaluations"] == 2  # nothing of them cached: today changes
    # a commit with its flake.lock is evaluated with what it locked, and cached
    (repo / "flake.nix").write_text(flake.format(n=3))
    subprocess.run(["nix", "flake", "lock", str(repo)], check=True, capture_output=True)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "lock")
    s = json.loads(gitmine(*args).stdout)
    assert s["snapshots"] == 3 and any("2 of the 3 evaluated commits" in w for w in s["warnings"])


@pytest.mark.usefixtures("needs_nix")
def test_the_repositorys_git_hooks_do_not_run_in_gitmines_worktrees(tmp_path):
    repo = generate(tmp_path / "repo", commits=3, days=3)
    marker = tmp_path / "hook-ran"
    hook = repo / ".git" / "hooks" / "post-checkout"
    hook.write_text(f"#!/bin/sh\necho ran >> {marker}\n")
    hook.chmod(0o755)
    proc = gitmine("analyze", str(repo), "--attr", "image", "--cache-dir", str(tmp_path / "c"), "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["evaluations"] == 3
    assert not marker.exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="giving the repository to another user needs root")
def test_a_repository_of_another_user_is_one_line_naming_safe_directory(tmp_path):
    # a checkout mounted into a CI container belongs to another uid: git's "dubious ownership"
    repo = generate(tmp_path / "repo", commits=2, days=2)
    subprocess.run(["chown", "-R", "65534", str(repo)], check=True)
    home = tmp_path / "home"
    home.mkdir()
    env = dict(os.environ, HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"))
    proc = gitmine("analyze", str(repo), "--attr", "image", env=env)
    one_error_line(proc, 2, f"{repo} belongs to another user, and git refuses it; if you trust it, run "
                            f"`git config --global --add safe.directory {repo}`")  # fmt: skip
    subprocess.run(["git", "config", "--global", "--add", "safe.directory", str(repo)], check=True, env=env)
    window = ("--since", "2001-01-01", "--until", "2001-01-02")  # the repository opens; nothing in this window
    one_error_line(gitmine("analyze", str(repo), "--attr", "image", *window, env=env), 2, "no commit")


def test_a_killed_runs_worktrees_go_whatever_its_process_id_and_a_live_runs_stay(tmp_path):
    # In a container every run may get the same process id, and a restored CI cache holds another
    # machine's directories: whether a run lives is told by the lock it holds, not by its pid.
    import fcntl

    from gitmine.worktrees import RUN_LOCK, WorktreePool, repo_id, worktrees_root

    repo = generate(tmp_path / "repo", commits=2, days=2)
    cache = tmp_path / "cache"
    base = worktrees_root(cache) / repo_id(repo)
    killed = base / f"run-{os.getpid()}-0000dead"  # our own pid: the old check took it for alive
    (killed / f"wt-{os.getpid()}-0000dead-0").mkdir(parents=True)
    (killed / f"wt-{os.getpid()}-0000dead-0" / "leftover").write_text("x")
    (killed / RUN_LOCK).write_text("")
    legacy = base / f"run-{os.getpid()}"  # gitmine 0.1.0's name, with the pid of this (new) process
    (legacy / f"wt-{os.getpid()}-0").mkdir(parents=True)
    live = base / "run-1-0000beef"  # another run, alive: it holds its lock
    live.mkdir()
    holder = open(live / RUN_LOCK, "w")
    fcntl.flock(holder, fcntl.LOCK_EX)
    try:
        head = git(repo, "rev-parse", "HEAD").strip()
        with WorktreePool(repo, cache, 1) as pool:
            assert not killed.exists() and not legacy.exists() and live.is_dir()
            with pool.checkout(head) as wt:
                assert (wt / "default.nix").exists()
        assert sorted(p.name for p in base.glob("run-*")) == ["run-1-0000beef"]
    finally:
        holder.close()
    with WorktreePool(repo, cache, 1):
        assert not live.exists()  # its lock is free now: that run is gone
    assert not list(base.glob("run-*"))


@pytest.mark.usefixtures("needs_nix", "needs_git_lfs")
def test_git_lfs_files_whose_objects_are_missing(tmp_path):
    # a CI checkout without LFS: the objects of LFS files are not there
    origin = generate(tmp_path / "origin", commits=3, days=3)
    git(origin, "lfs", "install", "--local")
    git(origin, "lfs", "track", "*.bin")
    (origin / "assets.bin").write_bytes(os.urandom(4096))
    git(origin, "add", "-A")
    git(origin, "commit", "-qm", "an asset in LFS")
    repo = tmp_path / "repo"
    subprocess.run(["git", "clone", "-q", str(origin), str(repo)], check=True, env=dict(GIT_ENV, GIT_LFS_SKIP_SMUDGE="1"))
    git(repo, "remote", "remove", "origin")  # nowhere to download them from
    git(repo, "lfs", "install", "--local")  # the LFS filter, whatever the machine's git configuration says
    common = ("--attr", "image", "--cache-dir", str(tmp_path / "c"), "--json")
    # a flake is read from the repository's objects: its worktrees keep LFS pointers and check out. Nix
    # before 2.20 fetches the flake with git, whose LFS filter fails on the commit with the missing
    # object (as it would for `nix build` in this checkout); that failure is the machine's, not the
    # commit's: not cached, tried again next run. Later Nix reads the objects with libgit2: no failure.
    flake = gitmine("analyze", str(repo), *common)
    assert flake.returncode == 0, flake.stderr
    data = json.loads(flake.stdout)
    assert data["snapshots"] + data["failed"] == 4 and data["snapshots"] >= 3
    assert all(f["error"] == "external filter 'git-lfs filter-process' failed" for f in data["failures"])
    again = json.loads(gitmine("analyze", str(repo), *common).stdout)
    assert (again["evaluations"], again["from_cache"]) == (data["failed"], data["snapshots"])
    # a --file image reads the worktree: the commit whose files cannot be checked out is skipped, not the run
    files = gitmine("analyze", str(repo), "--file", "default.nix", *common)
    assert files.returncode == 0, files.stderr
    data = json.loads(files.stdout)
    assert data["snapshots"] == 3 and [f["error"] for f in data["failures"]] == [
        "checkout: external filter 'git-lfs filter-process' failed"
    ]
    assert git(repo, "worktree", "list", "--porcelain").count("worktree ") == 1


@pytest.mark.usefixtures("needs_nix")
def test_a_cache_directory_whose_path_nix_cannot_read_as_a_url(tmp_path):
    # Nix refuses `git+file:///… my cache#1/…`: the worktrees go where Nix can read them
    from gitmine.worktrees import worktrees_root

    repo = generate(tmp_path / "repo", commits=3, days=3)
    cache = tmp_path / "my cache#1"
    proc = gitmine("analyze", str(repo), "--attr", "image", "--cache-dir", str(cache), "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["snapshots"] == 3
    root = worktrees_root(cache)
    assert " " not in str(root) and "#" not in str(root)
    assert not list(root.glob("*/run-*"))  # removed at exit


@pytest.mark.usefixtures("needs_nix")
def test_run_from_a_git_hook_of_another_repository(tmp_path):
    # a hook exports GIT_DIR and GIT_INDEX_FILE of its own repository; gitmine's git and Nix calls ignore them
    repo = generate(tmp_path / "repo", commits=3, days=3)
    other = tmp_path / "other"
    git(tmp_path, "init", "-q", str(other))
    env = dict(os.environ, GIT_DIR=str(other / ".git"), GIT_INDEX_FILE=str(other / ".git" / "index"))
    proc = gitmine("analyze", str(repo), "--attr", "image", "--cache-dir", str(tmp_path / "c"), "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["snapshots"] == 3
    assert not (other / ".git" / "index").exists()


@pytest.mark.usefixtures("needs_nix")
def test_hanging_evaluation_times_out(tmp_path):
    repo = generate(tmp_path / "repo", commits=2, days=2, eval_work=20_000_000)
    out = tmp_path / "h.toml"
    proc = gitmine("analyze", str(repo), "--attr", "image", "--eval-timeout", "0.5", "--cache-dir", str(tmp_path / "c"),
                   "--output", str(out))
    one_error_line(proc, 1, "every commit of the window failed")
    assert "no answer within 0.5 s" in proc.stderr or "timed out" in proc.stderr
    assert not out.exists()
    # timeouts are not cached: nothing but closures of successful builds is kept
    assert not list((tmp_path / "c" / "v1").glob("eval/*.json"))


@pytest.mark.usefixtures("needs_nix")
def test_two_runs_at_once_on_one_cache(tmp_path):
    repo = generate(tmp_path / "repo", commits=12, days=12)
    cache = tmp_path / "c"
    procs = [
        subprocess.Popen([sys.executable, "-m", "gitmine.cli", "analyze", str(repo), "--attr", "image", "--since", "1month",
                          "--cache-dir", str(cache), "--output", str(tmp_path / f"h{i}.toml"), "--jobs", "2"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for i in range(2)
    ]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    assert (tmp_path / "h0.toml").read_text() == (tmp_path / "h1.toml").read_text()
    again = gitmine("analyze", str(repo), "--attr", "image", "--since", "1month", "--cache-dir", str(cache),
                    "--output", str(tmp_path / "h2.toml"), "--json")
    s = json.loads(again.stdout)
    assert s["evaluations"] == 0 and s["corrupt_cache_entries"] == 0
    assert git(repo, "worktree", "list").count("\n") == 1


# -- cache corruption ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "damage",
    [
        lambda p: p.write_bytes(os.urandom(64)),
        lambda p: p.write_text(p.read_text()[: len(p.read_text()) // 2]),
        lambda p: p.write_text(json.dumps({**json.loads(p.read_text()), "schema": 99})),
        lambda p: p.write_text(json.dumps({**json.loads(p.read_text()), "payload": [{"path": "/x"}]})),
    ],
    ids=["random-bytes", "truncated", "wrong-schema", "bad-checksum"],
)
def test_corrupt_cache_entries_are_detected(tmp_path, damage):
    cache = Cache(tmp_path)
    c = build_closure([StorePath("/nix/store/" + "a" * 32 + "-x-1", 5, ())])
    cache.put_closure("/nix/store/" + "b" * 32 + "-x-1.drv", c)
    assert cache.get_closure("/nix/store/" + "b" * 32 + "-x-1.drv") == c
    entry = next((tmp_path / "v1" / "closure").glob("*.json"))
    damage(entry)
    assert cache.get_closure("/nix/store/" + "b" * 32 + "-x-1.drv") is None
    assert cache.corrupt == [entry.name] and not entry.exists()


# -- outputs -----------------------------------------------------------------------------------------------


def _hints() -> Hints:
    an = Analysis(("image",), "a..b", 2, 1, 4, "test")
    return Hints(an, (HintLayer(("x",), 5, 0.1, 0.0),))


def test_output_in_missing_directory(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        write_text_atomic(tmp_path / "no" / "h.toml", "x")


def test_output_in_read_only_directory(tmp_path, monkeypatch):
    import tempfile

    def read_only(*args: object, **kwargs: object) -> None:
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    with pytest.raises(InputError, match="cannot write in .*Read-only file system"):
        write_text_atomic(tmp_path / "h.toml", "x")
    assert not (tmp_path / "h.toml").exists()


def test_disk_full_keeps_the_previous_file(tmp_path, monkeypatch):
    out = tmp_path / "h.toml"
    hintfile.write(_hints(), out)
    before = out.read_bytes()

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(InputError, match="No space left on device"):
        hintfile.write(_hints(), out)
    assert out.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["h.toml"]


def test_layout_output_to_missing_directory_is_exit_2(tmp_path):
    h = tmp_path / "h.toml"
    hintfile.write(_hints(), h)
    g = tmp_path / "g.json"
    g.write_text(json.dumps([{"path": "/nix/store/" + "a" * 32 + "-x-1", "narSize": 1, "references": []}]))
    one_error_line(gitmine("layout", "--hints", str(h), "-o", str(tmp_path / "no" / "l.json"), str(g)), 2, "does not exist")


# -- unusual closures ------------------------------------------------------------------------------------------


def test_huge_closure_with_odd_names():
    names = ["a+b", "c.d", "e_f", "g?h", "i=j", "plain"]
    entries = []
    for i in range(12_000):
        refs = tuple(sorted({entries[(i * 7) % len(entries)].path} if entries else ()))
        entries.append(StorePath(f"/nix/store/{i:032d}-{names[i % 6]}-{i % 3}.0", i % 1000, refs))
    c = build_closure(entries)
    h = Hints(Analysis(("image",), "a..b", 2, 1, 5, "test"),
              tuple(HintLayer((n,), 1, r, r) for n, r in zip(names, (0.01, 0.02, 0.1, 0.2, 0.5, 0.9))))
    layers = layout(c, h)
    assert len(layers) == 5 and sum(len(layer.paths) for layer in layers) == 12_000


def test_nix_too_old_is_an_environment_error(tmp_path):
    repo = generate(tmp_path / "repo", commits=2, days=2)
    bindir = tmp_path / "bin"
    bindir.mkdir()
    os.symlink(subprocess.run(["which", "git"], capture_output=True, text=True).stdout.strip(), bindir / "git")
    fake = bindir / "nix"
    fake.write_text("#!/bin/sh\necho 'nix (Nix) 2.3.16'\n")
    fake.chmod(0o755)
    env = dict(os.environ, PATH=str(bindir))
    one_error_line(gitmine("analyze", str(repo), "--attr", "image", "--cache-dir", str(tmp_path / "c"), env=env), 3, "too old")


def test_written_files_get_the_umask_mode_and_keep_a_replaced_files_mode(tmp_path):
    # the temp file is created 0600; a hint file or report must not come out private
    old = os.umask(0o022)
    try:
        new = tmp_path / "new.toml"
        write_text_atomic(new, "x")
        assert new.stat().st_mode & 0o777 == 0o644
        kept = tmp_path / "kept.toml"
        kept.write_text("old")
        kept.chmod(0o640)
        write_text_atomic(kept, "new")
        assert kept.read_text() == "new" and kept.stat().st_mode & 0o777 == 0o640
    finally:
        os.umask(old)


def test_a_cache_directory_gitmine_cannot_write_is_one_line(tmp_path, monkeypatch):
    from gitmine.errors import EnvironmentProblem
    from gitmine.worktrees import WorktreePool

    repo = generate(tmp_path / "repo", commits=2, days=2)
    real_mkdir = Path.mkdir

    def read_only(self: Path, *args: object, **kwargs: object) -> None:
        if "cache" in self.parts:
            raise PermissionError(13, "Permission denied", str(self))
        real_mkdir(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "mkdir", read_only)
    with pytest.raises(EnvironmentProblem, match="cannot make worktrees under .*Permission denied.*--cache-dir"):
        with WorktreePool(repo, tmp_path / "cache", 1):
            pass


@pytest.mark.parametrize(
    ("stderr", "line"),
    [
        # Nix 2.8
        ("error: syntax error, unexpected '}'\n       at /nix/store/x-source/b.nix:1:7:", "syntax error, unexpected '}'"),
        # Nix 2.13 and later: a trace between `error:` and the message
        ("warning: Git tree '/tmp/f' is dirty\nerror:\n       … while calling the 'import' builtin\n"
         "         at /nix/store/x-source/flake.nix:1:29:\n            1| { x = import ./b.nix; }\n"
         "             |       ^\n\n       error: syntax error, unexpected '}'\n"
         "       at /nix/store/x-source/b.nix:1:7:", "syntax error, unexpected '}'"),
        ("error:\n       … while fetching the input 'git+file:///r'\n\n       error: getting parent of Git commit "
         "'c7c8': object not found", "getting parent of Git commit 'c7c8': object not found"),
        # a bare `error:` followed by the message itself, and git's `fatal:`
        ("error:\n       Failed assertions:\n       - x", "Failed assertions:"),
        ("fatal: bad object 1f2e3d4c", "bad object 1f2e3d4c"),
        # Nix 2.2x and later: why a build failed is on the next line
        ("error: Cannot build '/nix/store/x-img-2.drv'.\n       Reason: builder failed with exit code 3.\n"
         "       Output paths:\n         /nix/store/y-img-2\n       Last 1 log lines:\n       > oops",
         "Cannot build '/nix/store/x-img-2.drv'. Reason: builder failed with exit code 3."),
        ("error: builder for '/nix/store/x-img-2.drv' failed with exit code 3;\n       last 1 log lines:\n       > oops",
         "builder for '/nix/store/x-img-2.drv' failed with exit code 3;"),
        ("error:", ""),  # nothing said: CommandFailed names the exit code
        ("warning: something\nsegmentation fault", "segmentation fault"),
    ],
)  # fmt: skip
def test_the_error_line_is_the_message_not_the_trace(stderr, line):
    from gitmine.errors import first_error_line

    assert first_error_line(stderr) == line


def test_a_nix_call_that_loses_a_race_on_nix_sqlite_files_is_run_again(tmp_path, monkeypatch):
    # two Nix processes writing the binary caches' metadata cache at once: one fails, with nothing
    # wrong with it (seen with --no-build, two jobs and an HTTP cache on Nix 2.8)
    from gitmine import gateway
    from gitmine.errors import CommandFailed

    script = tmp_path / "bin" / "nix-flaky"
    script.parent.mkdir()
    script.write_text(
        "#!/bin/sh\necho run >> \"$0.calls\"\n"
        "if [ \"$(wc -l < \"$0.calls\")\" -lt \"$1\" ]; then\n"
        "  echo \"error: executing SQLite statement 'insert or replace into NARs(...)': constraint failed "
        "(in '/root/.cache/nix/binary-cache-v6.sqlite')\" >&2; exit 1\nfi\necho done\n"
    )
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{script.parent}:{os.environ['PATH']}")
    calls = script.with_name("nix-flaky.calls")
    assert gateway.run(["nix-flaky", "2"]) == "done\n"
    assert len(calls.read_text().splitlines()) == 2
    calls.unlink()
    with pytest.raises(CommandFailed, match="constraint failed"):  # not for ever
        gateway.run(["nix-flaky", "9"])
    assert len(calls.read_text().splitlines()) == gateway.SQLITE_ATTEMPTS
    calls.unlink()
    script.write_text("#!/bin/sh\necho run >> \"$0.calls\"\necho 'error: syntax error' >&2\nexit 1\n")
    with pytest.raises(CommandFailed, match="syntax error"):  # any other failure: once
        gateway.run(["nix-flaky"])
    assert len(calls.read_text().splitlines()) == 1


def test_worktrees_check_out_submodules_without_touching_the_repositorys_config(tmp_path, monkeypatch):
    # a CI checkout that never ran `git submodule init`, with a relative URL as forges have them; linked
    # worktrees share the repository's config, which `git submodule init` would write to
    from gitmine.worktrees import WorktreePool

    gitconfig = tmp_path / "gitconfig"
    gitconfig.write_text('[protocol "file"]\n\tallow = always\n')  # a real submodule's URL is a remote
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(gitconfig))
    forge = tmp_path / "forge"
    for name in ("lib", "app"):
        (forge / name).mkdir(parents=True)
        git(forge / name, "init", "-q", "-b", "main")
    (forge / "lib" / "data.txt").write_text("v1\n")
    git(forge / "lib", "add", ".")
    git(forge / "lib", "commit", "-qm", "v1")
    env = dict(GIT_ENV, GIT_CONFIG_GLOBAL=str(gitconfig))
    subprocess.run(["git", "submodule", "add", "-q", "--name", "the lib", "../lib", "vendor"], cwd=forge / "app", check=True, env=env)
    git(forge / "app", "commit", "-qm", "app")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(forge / "app"), str(clone)], check=True, env=env)
    config = (clone / ".git" / "config").read_text()
    sha = git(clone, "rev-parse", "HEAD").strip()
    with WorktreePool(clone, tmp_path / "cache", 1, submodules=True) as pool, pool.checkout(sha) as wt:
        assert (wt / "vendor" / "data.txt").read_text() == "v1\n"  # ../lib of the origin, not of the worktree
    assert (clone / ".git" / "config").read_text() == config
    assert not (clone / "vendor" / "data.txt").exists()


def test_relative_submodule_urls_are_resolved_as_git_does():
    from gitmine.worktrees import resolve_submodule_url as resolve

    assert resolve("https://example.org/lib.git", "/anything") == "https://example.org/lib.git"
    assert resolve("../lib.git", "https://github.com/org/app.git") == "https://github.com/org/lib.git"
    assert resolve("./lib.git", "https://github.com/org/app/") == "https://github.com/org/app/lib.git"
    assert resolve("../../other/lib", "https://git.example.org/group/app") == "https://git.example.org/other/lib"
    assert resolve("../lib.git", "git@github.com:org/app.git") == "git@github.com:org/lib.git"
    assert resolve("../lib.git", "git@github.com:app.git") == "git@github.com:lib.git"
    assert resolve("../sub", "/home/me/src/app") == "/home/me/src/sub"
