"""Reusable detached git worktrees, one per worker, moved from commit to commit.

They live under ``<cache-dir>/worktrees/<repository id>/run-<pid>-<random>/`` (never inside the
user's working tree), or under the system's temporary directory when the cache directory's path has
characters that a flake reference cannot hold (:func:`worktrees_root`). The pool removes them on
exit, also on error and Ctrl-C. A run holds a lock on its directory for as long as it lives; a run
killed with SIGKILL leaves its directory behind, unlocked, and the next run removes it and lets
``git worktree prune`` forget its worktrees. Whether a run is alive is told by its lock, not by its
process id: ids come round again (in a container every run may get the same one), and a restored
CI cache may hold another machine's directories.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import queue
import re
import secrets
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Iterator

from . import gateway
from .errors import CommandFailed, EnvironmentProblem


def _git(*args: str, cwd: Path, cleanup: bool = False, env: dict[str, str] | None = None) -> None:
    """Run git on the pool's worktrees with the repository's hooks off: moving a worktree from commit
    to commit must not run the user's post-checkout hooks (formatters, installers) every time.

    Worktrees are added with absolute paths whatever the user's ``worktree.useRelativePaths``: a
    relative worktree (git 2.48 and later) sets ``extensions.relativeWorktrees`` in the repository's
    config, which the libgit2 of released Nix versions refuses, in the user's own checkout too."""
    gateway.run(
        ["git", "-c", "core.hooksPath=/dev/null", "-c", "worktree.useRelativePaths=false", *args],
        cwd=cwd,
        cleanup=cleanup,
        env=env,
    )


def _config(repo_dir: Path, key: str, *, file: Path | None = None) -> dict[str, str]:
    """The entries of the repository's config (or of ``file``) whose name matches the regular expression
    ``key``, by name (read NUL-separated: a submodule's name may hold spaces)."""
    where = ["--file", str(file)] if file is not None else []
    try:
        out = gateway.run(["git", "config", *where, "--null", "--get-regexp", key], cwd=repo_dir)
    except CommandFailed as err:
        if err.returncode == 1:  # no such key
            return {}
        raise
    return dict(entry.partition("\n")[::2] for entry in out.split("\0") if entry)


def resolve_submodule_url(url: str, base: str) -> str:
    """A ``.gitmodules`` URL as ``git submodule init`` resolves it: ``./x`` and ``../x`` are relative to
    ``base`` (the superproject's remote URL, or its directory), each ``../`` taking a component off it
    (after a ``host:`` of an scp-like URL, the colon stays); anything else is already whole."""
    if not url.startswith(("./", "../")):
        return url
    base, sep = base.rstrip("/"), "/"
    while url.startswith(("./", "../")):
        if url.startswith("./"):
            url = url[2:]
            continue
        url = url[3:]
        cut = base.rfind("/")
        if cut < 0 or (":" in base and base.rfind(":") > cut and "://" not in base):
            cut, sep = base.rfind(":"), ":"
        base = base[:cut] if cut >= 0 else "."  # above the top: what git writes too
    return f"{base}{sep}{url}"


def repository_urls(repo_dir: Path) -> dict[str, str]:
    """The submodule URLs of the repository's config and its ``origin`` URL, by config name."""
    return _config(repo_dir, r"^(submodule\..*\.url|remote\.origin\.url)$")


def submodule_settings(worktree: Path, repo_dir: Path, known: dict[str, str]) -> list[str]:
    """``-c`` settings that make each submodule of the commit checked out at ``worktree`` active, with its
    URL, for one git call. ``git submodule init`` would write them into the repository's config, which
    linked worktrees share with the user's checkout; a URL the user's config has (``known``: their own
    ``init``, a mirror) is kept, and a relative one is resolved against ``origin`` as git would."""
    listed = worktree / ".gitmodules"
    if not listed.is_file():
        return []
    base = known.get("remote.origin.url", str(repo_dir))
    settings = []
    for key, url in _config(repo_dir, r"^submodule\..*\.url$", file=listed).items():
        name = key.removeprefix("submodule.").removesuffix(".url")
        whole = known.get(key) or resolve_submodule_url(url, base)
        settings += ["-c", f"submodule.{name}.active=true", "-c", f"submodule.{name}.url={whole}"]
    return settings


RUN_LOCK = ".alive"  # in a run's directory: locked (flock) for as long as the run lives


def _shallow_list(repo_dir: Path) -> Path | None:
    """The list of a shallow clone's shallow commits (``shallow`` in the common git directory, also
    for a worktree of the clone), or None for a full clone."""
    common = gateway.run(["git", "rev-parse", "--git-common-dir"], cwd=repo_dir).strip()
    listed = repo_dir / common / "shallow"
    return listed if listed.exists() else None


def _share_shallow(worktree: Path, listed: Path) -> None:
    """Give a worktree of a shallow clone the clone's list of shallow commits.

    git keeps that list in the repository's common directory; libgit2, and with it Nix 2.20 and later,
    looks for it in the worktree's own git directory. Without it, Nix walks past the last fetched
    commit to count revisions and every commit fails (``getting parent of Git commit …: object not
    found``). git itself never reads the copy."""
    git_dir = gateway.run(["git", "rev-parse", "--git-dir"], cwd=worktree).strip()
    shutil.copyfile(listed, worktree / git_dir / "shallow")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _run_alive(run_dir: Path) -> bool:
    """Whether the run that made ``run_dir`` still lives: its lock is held. A directory without a lock
    file (left by gitmine 0.1.0, named ``run-<pid>``) is alive while a process with that id is."""
    lock = run_dir / RUN_LOCK
    try:
        fh = open(lock)  # read-only: never creates it
    except FileNotFoundError:
        pid = run_dir.name.split("-")[1] if run_dir.name.count("-") == 1 else ""
        return pid.isdigit() and int(pid) != os.getpid() and _pid_alive(int(pid))
    except OSError:
        return True  # cannot tell: leave it
    with fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(fh, fcntl.LOCK_UN)
        return False


@contextmanager
def _registry_lock(base: Path) -> Iterator[None]:
    """Serialise worktree registration (add, remove, prune) between gitmine runs on one repository:
    one run's ``git worktree prune`` must not remove another's worktree while git is creating it."""
    base.mkdir(parents=True, exist_ok=True)
    with open(base / ".lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


_URL_SAFE = re.compile(r"[A-Za-z0-9/._+~-]+")


def worktrees_root(cache_dir: Path) -> Path:
    """Where the worktrees go. Nix reads a flake at ``git+file://<path>`` and refuses a path with a
    space, ``#``, ``?`` or ``%`` in it (``'file:///my cache/…' is not a valid URL``), so a cache
    directory with such a path gets its worktrees under the system's temporary directory instead."""
    candidates = [
        cache_dir.resolve() / "worktrees",
        Path(tempfile.gettempdir()).resolve() / f"gitmine-{os.getuid()}" / "worktrees",
        Path("/tmp") / f"gitmine-{os.getuid()}" / "worktrees",
    ]
    return next((c for c in candidates if _URL_SAFE.fullmatch(str(c))), candidates[0])


def repo_id(repo_dir: Path) -> str:
    return hashlib.sha256(str(repo_dir.resolve()).encode()).hexdigest()[:16]


def prune_stale(base: Path, repo_dir: Path) -> int:
    """Remove worktree directories left by dead runs; return how many were removed."""
    removed = 0
    if base.is_dir():
        for d in sorted(base.glob("run-*")):
            if d.is_dir() and not _run_alive(d):
                shutil.rmtree(d, ignore_errors=True)
                removed += 1
    _git("worktree", "prune", cwd=repo_dir)
    return removed


class WorktreePool:
    """``size`` detached worktrees of ``repo_dir``; :meth:`checkout` lends one, at a commit.

    With ``lfs_content=False`` Git LFS files stay pointers (``GIT_LFS_SKIP_SMUDGE``): a flake is read
    by Nix from the repository's objects, never from the worktree's files, so fetching every past
    version of them would be wasted, and would fail where they are not there (a CI checkout without
    LFS). A ``--file`` image reads the worktree itself, and gets the files' content.

    With ``submodules`` each checkout also checks out the commit's submodules (``git submodule update
    --init --recursive``: cloned from their URLs into the worktree's git directory the first time, as
    ``git clone --recursive`` would, then only fetched when a commit pins one they lack), leaving the
    repository's config as it was (:func:`submodule_settings`). Nix 2.20 and later read a flake's
    submodules from the worktree; older ones fetch them from their URLs."""

    def __init__(self, repo_dir: Path, cache_dir: Path, size: int, *, lfs_content: bool = True, submodules: bool = False):
        self.repo_dir = repo_dir
        self.submodules = submodules
        self._env = None if lfs_content else {"GIT_LFS_SKIP_SMUDGE": "1"}
        self.base = worktrees_root(cache_dir) / repo_id(repo_dir)
        self.run_id = f"{os.getpid()}-{secrets.token_hex(4)}"
        self.run_dir = self.base / f"run-{self.run_id}"
        self.size = size
        self._free: queue.Queue[Path] = queue.Queue()
        self._created: list[Path] = []
        self._alive: IO[str] | None = None  # the run's lock, held until close
        self._shallow: Path | None = None  # a shallow clone's list of shallow commits, shared with each worktree
        self._urls: dict[str, str] = {}  # with submodules: the repository's submodule and origin URLs

    def __enter__(self) -> "WorktreePool":
        try:
            self.base.mkdir(parents=True, exist_ok=True)
            if not os.access(self.base, os.W_OK):
                raise PermissionError(13, "not writable")
        except OSError as err:
            raise EnvironmentProblem(
                f"cannot make worktrees under {self.base} ({err.strerror}); pass a --cache-dir gitmine can write to"
            ) from None
        with _registry_lock(self.base):
            prune_stale(self.base, self.repo_dir)
            self.run_dir.mkdir(parents=True)
            self._alive = open(self.run_dir / RUN_LOCK, "w")
            fcntl.flock(self._alive, fcntl.LOCK_EX)
        self._shallow = _shallow_list(self.repo_dir)
        if self.submodules:
            self._urls = repository_urls(self.repo_dir)
        for i in range(self.size):
            self._free.put(self.run_dir / f"wt-{self.run_id}-{i}")  # unique: git names the worktree after it
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with _registry_lock(self.base):
            self._remove_all()

    def _remove_all(self) -> None:
        for wt in self._created:
            try:
                _git("worktree", "remove", "--force", str(wt), cwd=self.repo_dir, cleanup=True)
            except Exception:  # noqa: BLE001 - cleanup must go on; the directory goes below anyway
                pass
        if self._alive is not None:
            self._alive.close()  # releases the lock
            self._alive = None
        self._forget(self.run_dir)
        self._created.clear()

    def _forget(self, directory: Path) -> None:
        """Remove ``directory`` and let git forget the worktrees that were in it."""
        shutil.rmtree(directory, ignore_errors=True)
        try:
            _git("worktree", "prune", cwd=self.repo_dir, cleanup=True)
        except Exception:  # noqa: BLE001 - the path is free again whatever git says
            pass

    @contextmanager
    def checkout(self, sha: str) -> Iterator[Path]:
        wt = self._free.get()
        try:
            if wt in self._created:
                _git("checkout", "--quiet", "--force", "--detach", sha, cwd=wt, env=self._env)
                _git("clean", "-ffdxq", cwd=wt)
            else:
                with _registry_lock(self.base):
                    try:
                        _git("worktree", "add", "--force", "--detach", str(wt), sha, cwd=self.repo_dir, env=self._env)
                        if self._shallow is not None:
                            _share_shallow(wt, self._shallow)
                    except BaseException:
                        self._forget(wt)  # a half-made worktree would make the next add refuse the path
                        raise
                self._created.append(wt)
            if self.submodules:  # active, with their URLs, for this call only: nothing written to the shared config
                settings = submodule_settings(wt, self.repo_dir, self._urls)
                _git(*settings, "submodule", "--quiet", "update", "--init", "--recursive", "--force", cwd=wt, env=self._env)
            yield wt
        finally:
            self._free.put(wt)
