"""A persistent cache of evaluations, so a rerun evaluates nothing and a new commit evaluates once.

Two levels, both plain JSON files written atomically (temp file + rename, so concurrent runs and
kills never leave a half-written entry) and each carrying a SHA-256 of its payload:

* ``eval/<key>.json``: commit tree + image → derivation path (or the evaluation failure, or
  "absent"). The key hashes the commit's tree id (a flake's ``flake.lock`` is part of the tree),
  the attribute, the Nix version, the platform and the Nix configuration in effect (``NIX_CONFIG``
  and the ``nix.conf`` files Nix reads, less what cannot change the outcome: a CI runner's per-run
  access token, job counts, …). Only pure flake evaluation is cached at this level: a
  ``--file`` image may read ``NIX_PATH``, ``<nixpkgs>`` or the environment, which no key can cover,
  so it is always re-evaluated (cheap) and only its realisation is served from the cache.
* ``closure/<drv name>.json``: derivation path → runtime closure. Sound whatever the evaluation
  mode: a derivation path fixes its outputs.

A corrupt entry (bad JSON, wrong checksum, wrong schema) is reported once and recomputed.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .atomic import write_text_atomic
from .closure import Closure, StorePath, closure_from_json
from .errors import EnvironmentProblem, GitmineError

CACHE_SCHEMA = 1


def _home(sub: str) -> str:
    """``~/sub``, or "" where there is no home: no HOME, and a user id without a passwd entry (some containers)."""
    try:
        return str(Path.home() / sub)
    except (RuntimeError, KeyError):
        return ""


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or _home(".cache")
    if not base:
        raise EnvironmentProblem("no home directory to keep the evaluation cache in; set XDG_CACHE_HOME or pass --cache-dir")
    return Path(base) / "gitmine"


def nix_conf_files() -> list[Path]:
    """The ``nix.conf`` files Nix reads, found as Nix finds them: ``$NIX_CONF_DIR`` (else ``/etc/nix``),
    then ``$NIX_USER_CONF_FILES``, or else ``nix/nix.conf`` under the XDG configuration directories."""
    files = [Path(os.environ.get("NIX_CONF_DIR") or "/etc/nix") / "nix.conf"]
    user = os.environ.get("NIX_USER_CONF_FILES")
    if user:
        return files + [Path(p) for p in user.split(":") if p]
    dirs = [os.environ.get("XDG_CONFIG_HOME") or _home(".config")]
    dirs += (os.environ.get("XDG_CONFIG_DIRS") or "/etc/xdg").split(":")
    return files + [Path(d) / "nix" / "nix.conf" for d in dirs if d]


# Settings that cannot change what evaluating and building a commit gives, only how Nix authenticates, downloads,
# schedules, keeps or logs (a fetch they break fails for that run only, and is retried). They are left out of the
# fingerprint: install-nix-action writes `access-tokens = github.com=<GITHUB_TOKEN>`, a token new at every CI run,
# and a token or a job count is no reason to evaluate six months of commits again. Every other setting counts,
# an unknown one included, and so do those that can turn a failed build into a good one (sandbox, timeouts,
# builders, substituters and their keys): a failed build is cached against the commit until they change.
NOT_EVALUATION_SETTINGS = frozenset(
    {
        "access-tokens", "netrc-file", "ssl-cert-file", "connect-timeout", "stalled-download-timeout",
        "download-attempts", "download-speed", "download-buffer-size", "http-connections", "http2",
        "narinfo-cache-negative-ttl", "narinfo-cache-positive-ttl", "max-substitution-jobs",
        "max-jobs", "cores", "build-poll-interval", "keep-going", "trusted-users", "allowed-users",
        "keep-outputs", "keep-derivations", "keep-env-derivations", "keep-failed", "keep-build-log",
        "auto-optimise-store", "min-free", "max-free", "min-free-check-interval", "fsync-metadata",
        "use-sqlite-wal", "preallocate-contents", "sync-before-registering", "compress-build-log",
        "max-build-log-size", "log-lines", "show-trace", "warn-dirty", "eval-cache", "secret-key-files",
    }
)  # fmt: skip


def _settings_that_count(text: str, here: Path | None = None, depth: int = 0) -> str:
    """A ``nix.conf`` (or ``NIX_CONFIG``) without comments, blank lines, the settings in
    :data:`NOT_EVALUATION_SETTINGS` (also as ``extra-…``) and differences of spacing; the files it
    includes (``include``, ``!include``: relative to ``here``, the including file's directory) are
    read in place, as Nix reads them."""
    lines = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()  # Nix starts a comment at any '#'
        name, eq, value = line.partition("=")
        name = name.strip()
        if not line or (eq and name.removeprefix("extra-") in NOT_EVALUATION_SETTINGS):
            continue
        words = line.split()
        lines.append(f"{name} = {' '.join(value.split())}" if eq else " ".join(words))
        if not eq and len(words) == 2 and words[0] in ("include", "!include") and depth < 8:
            included = (here or Path.cwd()) / words[1]
            try:
                inner = included.read_bytes().decode("utf-8", "replace")
            except OSError:
                continue  # `!include` of a missing file is no error for Nix; the line above still counts
            lines.append(_settings_that_count(inner, included.parent, depth + 1))
    return "\n".join(lines)


def nix_settings_fingerprint(nix_version: str) -> str:
    """What besides the commit decides an evaluation: the Nix version, the platform (a flake's
    ``image`` is ``packages.<system>.image``) and the configuration in effect, less the settings
    that cannot change what an evaluation gives (:data:`NOT_EVALUATION_SETTINGS`)."""
    h = hashlib.sha256()
    h.update(nix_version.encode())
    h.update(f"\0{platform.machine()}-{sys.platform}\0".encode())
    h.update(_settings_that_count(os.environ.get("NIX_CONFIG", "")).encode())
    for conf in nix_conf_files():
        h.update(f"\0{conf}\0".encode())
        try:
            h.update(_settings_that_count(conf.read_bytes().decode("utf-8", "replace"), conf.parent).encode())
        except OSError:
            h.update(b"-")
    return h.hexdigest()


@dataclass(frozen=True)
class CacheInfo:
    path: Path
    eval_entries: int
    closure_entries: int
    bytes: int


class Cache:
    def __init__(self, root: Path):
        self.root = Path(root)
        self.dir = self.root / f"v{CACHE_SCHEMA}"
        self._lock = threading.Lock()
        self.corrupt: list[str] = []
        self._entries: dict[str, StorePath] = {}  # store paths read so far: closures of one image share most

    # -- entries -------------------------------------------------------------------------------
    def _read(self, path: Path) -> Any | None:
        try:
            raw = path.read_bytes()
        except OSError:
            return None
        try:
            obj = json.loads(raw.decode("utf-8"))
            payload = obj["payload"]
            ok = obj.get("schema") == CACHE_SCHEMA and obj.get("sha256") == _digest(payload)
        except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError):
            ok, payload = False, None
        if not ok:
            with self._lock:
                self.corrupt.append(path.name)
            try:
                path.unlink()
            except OSError:
                pass
            return None
        try:
            os.utime(path)  # `cache prune` removes what was neither written nor used lately
        except OSError:
            pass
        return payload

    def _write(self, path: Path, payload: Any) -> None:
        body = json.dumps({"schema": CACHE_SCHEMA, "sha256": _digest(payload), "payload": payload}, sort_keys=True)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_text_atomic(path, body)
        except (OSError, GitmineError):
            pass  # a cache that cannot be written (read-only, full) costs speed, not correctness

    @staticmethod
    def eval_key(tree: str, image_attr: str, image_file: str | None, settings: str) -> str:
        return hashlib.sha256(json.dumps([CACHE_SCHEMA, tree, image_attr, image_file, settings]).encode()).hexdigest()

    def get_eval(self, key: str) -> dict[str, Any] | None:
        return self._read(self.dir / "eval" / f"{key}.json")

    def put_eval(self, key: str, entry: dict[str, Any]) -> None:
        self._write(self.dir / "eval" / f"{key}.json", entry)

    def _closure_path(self, drv: str) -> Path:
        return self.dir / "closure" / f"{Path(drv).name}.json"

    def get_closure(self, drv: str) -> Closure | None:
        payload = self._read(self._closure_path(drv))
        if payload is None:
            return None
        try:
            return closure_from_json(payload, f"cache entry for {drv}", self._entries)
        except GitmineError:
            with self._lock:
                self.corrupt.append(self._closure_path(drv).name)
            return None

    def put_closure(self, drv: str, closure: Closure) -> None:
        self._write(self._closure_path(drv), closure.to_json())

    # -- maintenance ---------------------------------------------------------------------------
    def info(self) -> CacheInfo:
        counts = {}
        total = 0
        for level in ("eval", "closure"):
            files = list((self.dir / level).glob("*.json")) if (self.dir / level).is_dir() else []
            counts[level] = len(files)
            total += sum(f.stat().st_size for f in files)
        return CacheInfo(self.root, counts["eval"], counts["closure"], total)

    def prune(self, older_than_seconds: float) -> int:
        cutoff = time.time() - older_than_seconds
        removed = 0
        for level in ("eval", "closure"):
            d = self.dir / level
            if not d.is_dir():
                continue
            for f in d.glob("*.json"):
                if f.stat().st_mtime < cutoff:
                    f.unlink(missing_ok=True)
                    removed += 1
        return removed

    def clear(self) -> int:
        n = self.info()
        for level in ("eval", "closure"):
            shutil.rmtree(self.dir / level, ignore_errors=True)
        return n.eval_entries + n.closure_entries


def _digest(payload: Any) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
