"""The one door through which every ``git`` and ``nix`` subprocess goes.

Keeping it in one function gives one place for timeouts, environment, error shape and
counting (the ``--json`` report counts evaluations and builds through :data:`COUNTERS`).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import threading
import time
from collections import Counter
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Mapping

from .errors import CommandFailed, EnvironmentProblem, Interrupted

COUNTERS: Counter[str] = Counter()
STOP = threading.Event()  # set on Ctrl-C / SIGTERM: no new subprocess starts, running ones are killed
_COUNTER_LOCK = threading.Lock()
_LIVE: set[subprocess.Popen[str]] = set()
_LIVE_LOCK = threading.Lock()


# What `git rev-parse --local-env-vars` lists: set by a git hook or a wrapper that runs gitmine, they would
# point every git call (and Nix's own, when it reads a flake from a worktree) at another repository or index.
GIT_LOCAL_ENV = frozenset(
    {
        "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_CONFIG", "GIT_CONFIG_PARAMETERS", "GIT_CONFIG_COUNT",
        "GIT_OBJECT_DIRECTORY", "GIT_DIR", "GIT_WORK_TREE", "GIT_IMPLICIT_WORK_TREE", "GIT_GRAFT_FILE",
        "GIT_INDEX_FILE", "GIT_NO_REPLACE_OBJECTS", "GIT_REPLACE_REF_BASE", "GIT_PREFIX",
        "GIT_INTERNAL_SUPER_PREFIX", "GIT_SHALLOW_FILE", "GIT_COMMON_DIR",
    }
)  # fmt: skip


def subprocess_env() -> dict[str, str]:
    """The environment of every subprocess: gitmine's own, without :data:`GIT_LOCAL_ENV`."""
    return {k: v for k, v in os.environ.items() if k not in GIT_LOCAL_ENV}


# Two Nix processes writing Nix's own SQLite files at once (the binary caches' metadata cache, the store
# database) can fail one of them: "constraint failed (in '…/binary-cache-v6.sqlite')", "database is
# busy". Nothing is wrong with the call: it is run again, up to SQLITE_ATTEMPTS times in all.
SQLITE_RACE = re.compile(r"\(in '[^']*\.sqlite'\)|SQLite database '[^']*' is busy|database is locked")
SQLITE_ATTEMPTS = 3


def run(
    argv: list[str],
    *,
    cwd: Path | str | None = None,
    timeout: float | None = None,
    count_as: str | None = None,
    cleanup: bool = False,
    env: Mapping[str, str] | None = None,
) -> str:
    """Run ``argv``, return its stdout; raise :class:`CommandFailed` on a non-zero exit.

    ``count_as`` names a counter bumped once per call ("eval", "build", ...). ``cleanup`` calls
    (removing worktrees) still run after a stop was requested. ``env`` is added to the environment.
    A Nix call that lost a race on Nix's own SQLite files is run again (:data:`SQLITE_RACE`).
    """
    if STOP.is_set() and not cleanup:
        raise Interrupted()
    tool = argv[0]
    if shutil.which(tool) is None:
        hint = {
            "nix": "install Nix (Debian: apt-get install nix-bin) or put it on PATH",
            "nix-store": "install Nix (Debian: apt-get install nix-bin) or put it on PATH",
            "nix-instantiate": "install Nix (Debian: apt-get install nix-bin) or put it on PATH",
            "git": "install git and put it on PATH",
        }.get(tool, "install it or put it on PATH")
        raise EnvironmentProblem(f"`{tool}` was not found: {hint}")
    if count_as:
        with _COUNTER_LOCK:
            COUNTERS[count_as] += 1
    attempt = 1
    while True:
        try:
            return _run_once(argv, cwd=cwd, timeout=timeout, cleanup=cleanup, env=env)
        except CommandFailed as err:
            if attempt == SQLITE_ATTEMPTS or not (tool.startswith("nix") and SQLITE_RACE.search(err.stderr)):
                raise
        time.sleep(0.2 * attempt)
        attempt += 1


def _run_once(
    argv: list[str], *, cwd: Path | str | None, timeout: float | None, cleanup: bool, env: Mapping[str, str] | None
) -> str:
    proc = subprocess.Popen(
        argv,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**subprocess_env(), **(env or {})},
        start_new_session=True,
    )
    with _LIVE_LOCK:
        _LIVE.add(proc)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill(proc)
        out, err = proc.communicate()
        raise CommandFailed(argv, -1, err or f"no answer within {timeout:g} s", timed_out=True) from None
    finally:
        with _LIVE_LOCK:
            _LIVE.discard(proc)
    if STOP.is_set() and not cleanup:
        raise Interrupted()
    if proc.returncode != 0:
        raise CommandFailed(argv, proc.returncode, err)
    return out


def _kill(proc: subprocess.Popen[str]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


_WORKERS_RUNNING = threading.Event()


@contextmanager
def workers_running() -> Iterator[None]:
    """While worker threads run, a stop request only sets :data:`STOP` (the workers wind down and the
    caller raises :class:`Interrupted`); elsewhere it interrupts the main thread at once."""
    _WORKERS_RUNNING.set()
    try:
        yield
    finally:
        _WORKERS_RUNNING.clear()


def request_stop(*_: object) -> None:
    """Signal handler for SIGINT/SIGTERM: refuse new subprocesses and kill the running ones."""
    STOP.set()
    kill_all()
    if not _WORKERS_RUNNING.is_set() and threading.current_thread() is threading.main_thread():
        raise Interrupted()


def kill_all() -> None:
    """Stop every subprocess still running."""
    with _LIVE_LOCK:
        procs = list(_LIVE)
    for proc in procs:
        _kill(proc)

