"""Evaluate and realise an image with real Nix, and read its runtime closure.

Two steps, so the cache can key them separately: *instantiate* (cheap evaluation: the image's
derivation path and the output it stands for, ``<drv>!<output>``) and *realise* (build or substitute
that output, then ``nix path-info --recursive --json``), or, without building, *query* (read the
output's closure from the local store or from the binary caches' metadata: :func:`query_closure`).
Works with Nix 2.8 (Debian 12) through current Nix and Lix: no ``--print-out-paths`` (outputs come
from ``nix-store --realise``), and every JSON shape of ``path-info`` (asked for ``--json-format 2``
from Nix 2.33, where the old shape is deprecated). Every call goes through
:func:`gitmine.gateway.run`, with the user's own Nix settings; gitmine only adds the
``nix-command`` and ``flakes`` experimental features, and a shorter ``build-poll-interval``
(:data:`BUILD_OPTIONS`), to its own calls.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path, PurePosixPath
from urllib.parse import quote

from . import gateway
from .closure import Closure, StorePath, build_closure, closure_from_json, path_infos
from .derive import parse_drv
from .errors import CommandFailed, EnvironmentProblem, InputError

NIX_FEATURES = ["--extra-experimental-features", "nix-command flakes"]
# gitmine realises several commits at once; two builds that need the same missing path wait for each
# other's lock, and Nix looks again only every build-poll-interval (5 s by default): look every second.
BUILD_OPTIONS = ["--option", "build-poll-interval", "1"]
MIN_NIX = (2, 4)


@dataclass(frozen=True)
class ImageSpec:
    """One image: ``attr`` of the flake at the repository root (``DIR#ATTR``: of the flake in that
    subdirectory, as ``nix build ./DIR#ATTR`` takes it), or of ``file`` if given."""

    name: str
    attr: str
    file: str | None = None

    @property
    def is_flake(self) -> bool:
        return self.file is None

    @property
    def flake_dir(self) -> PurePosixPath:
        """The flake's directory in the repository: ``.`` or, for ``DIR#ATTR``, DIR (``./deploy/`` -> deploy)."""
        return PurePosixPath(self.attr.rpartition("#")[0].strip("/") or ".")

    def flake_ref(self, worktree: Path, *, shallow: bool = False, submodules: bool = False) -> str:
        """The ``git+file`` reference of the image's attribute in ``worktree`` (with its submodules:
        ``?submodules=1``, as ``nix build '.?submodules=1#image'`` reads them)."""
        attr = quote(self.attr.rpartition("#")[2], safe="._-'~+")  # Nix decodes the fragment: `"a b"`, `{x` reach it whole
        where = self.flake_dir
        params = [f"dir={quote(str(where))}"] if str(where) != "." else []
        params += ["shallow=1"] if shallow else []
        params += ["submodules=1"] if submodules else []
        query = f"?{'&'.join(params)}" if params else ""
        return f"git+file://{worktree}{query}#{attr}"  # a path Nix can read: worktrees_root

    def entry_points(self) -> set[str]:
        """The paths, relative to the repository's root, whose absence means the image is not there: the
        ``--file``, or the flake's ``flake.nix`` (and the directories that hold it)."""
        if self.file:
            return {str(PurePosixPath(self.file))}
        flake = self.flake_dir / "flake.nix"
        return {str(flake), *(str(d) for d in flake.parents if str(d) != ".")}

    def describe(self) -> str:
        if self.file:
            return f"{self.file}:{self.attr}"
        # as `nix build` takes it: `.#image`, `./deploy#image` (a bare `deploy#image` names a registry flake)
        where = "." if self.flake_dir == PurePosixPath(".") else f"./{self.flake_dir}"
        return f"{where}#{self.attr.rpartition('#')[2]}"


@lru_cache(maxsize=1)
def nix_version() -> str:
    """``nix --version`` as printed, e.g. ``nix (Nix) 2.8.0``; checks that Nix is new enough."""
    text = gateway.run(["nix", "--version"]).strip()
    m = re.search(r"(\d+)\.(\d+)", text)
    if not m:
        raise EnvironmentProblem(f"cannot read the Nix version from {text!r}; is `nix` really Nix?")
    major, minor = int(m.group(1)), int(m.group(2))
    if "lix" not in text.lower() and (major, minor) < MIN_NIX:
        raise EnvironmentProblem(f"{text} is too old: gitmine needs Nix 2.4 or newer (flakes, nix-command)")
    return text


JSON_FORMAT_SINCE = (2, 33)  # `nix path-info --json` without --json-format is deprecated from here


def json_format_args(version_text: str) -> tuple[str, ...]:
    """``--json-format 2`` for Nix 2.33 and later (Determinate Nix prints its own version first, the
    Nix one last); nothing for older Nix and for Lix, whose flag set differs."""
    if "lix" in version_text.lower():
        return ()
    versions = re.findall(r"(\d+)\.(\d+)", version_text)
    if not versions:
        return ()
    major, minor = (int(x) for x in versions[-1])
    return ("--json-format", "2") if (major, minor) >= JSON_FORMAT_SINCE else ()


def json_format() -> tuple[str, ...]:
    """:func:`json_format_args` for the ``nix`` on ``PATH`` (its version is read once per process)."""
    return json_format_args(nix_version())


_NOT_PROVIDED = re.compile(
    r"does not provide attribute|attribute '[^']*' in selection path '[^']*' not found|does not contain a 'flake\.nix'"
)
# Nix 2.8: getting status of '<store>/x': No such file or directory; 2.26: path '<store>/x' does not exist;
# 2.34: Path 'x' does not exist in Git repository "<worktree>" (relative to the repository)
_PATH_MISSING = re.compile(r"(?:getting status of|[Pp]ath) '([^']*)'(?:: No such file or directory| does not exist)")


# `inputs.self.submodules = true;` (Nix 2.27 and later), also written `self = { submodules = true; }` in `inputs`
_SELF_SUBMODULES = re.compile(r"\bself\s*(?:\.\s*submodules|=\s*\{[^}]*\bsubmodules)\s*=\s*true\b")


def asks_for_submodules(flake_nix: str) -> bool:
    """Whether a flake.nix asks Nix to fetch the flake with its git submodules, as ``?submodules=1`` does."""
    text = re.sub(r"#[^\n]*|/\*.*?\*/", "", flake_nix, flags=re.S)  # comments say nothing
    return bool(_SELF_SUBMODULES.search(text))


def is_absent(err: CommandFailed, image: ImageSpec, worktree: Path) -> bool:
    """True when the error says the image is not there at all: its attribute, or the file that holds
    it (the flake.nix, the --file). A file the image reads that is missing (one the commit forgot to
    add) is a failure of the commit, not an absence."""
    if err.timed_out:
        return False
    if _NOT_PROVIDED.search(err.stderr):
        return True
    source = re.compile(rf"^(?:/nix/store/[0-9a-z]{{32}}-source|{re.escape(str(worktree))})/")
    entry = image.entry_points()
    return any(source.sub("", m.group(1)) in entry for m in _PATH_MISSING.finditer(err.stderr))


# No builder for the derivation's system here (Nix 2.8; 2.2x; 2.34): an x86_64-linux image on a Mac.
NO_BUILDER = re.compile(
    r"is required to build .*, but I am|required system or feature not available|Reason: platform mismatch"
)


# Failures of the machine or the network rather than of the commit: fetching a flake input or a
# tarball, reaching the Nix daemon, running out of disk or memory, a build for a system this machine
# has no builder for, a builder killed, Nix's libgit2 unable to read the repository (a git extension it
# does not know, such as relative worktrees or a split index), objects missing from a partial or
# shallow clone, git's LFS filter unable to get a file. The same tree may evaluate next time.
_NETWORK = (
    r"unable to download|could(?:n't| not) (?:resolve host|connect)|connection (?:refused|reset|timed out)|"
    r"network is unreachable"
)
_TRANSIENT = re.compile(
    rf"{_NETWORK}|program 'git' failed|unable to access '|cannot connect to socket|"
    r"no space left on device|out of memory|std::bad_alloc|too many open files|resource temporarily unavailable|"
    rf"{NO_BUILDER.pattern}|"
    r"failed due to signal|"  # killed (out of memory)
    r"opening Git repository|unsupported (?:mandatory )?extension|external filter '[^']*' failed|"
    r"object not found - no match for id|fatal: bad object|"  # objects a partial or shallow clone lacks (libgit2, git)
    rf"{gateway.SQLITE_RACE.pattern}",  # Nix's own SQLite files, busy past the gateway's attempts
    re.IGNORECASE,
)

# A binary cache that cannot be reached or is not one: it is not asked again in this run.
_CACHE_DOWN = re.compile(rf"{_NETWORK}|does not appear to be a binary cache", re.IGNORECASE)


# Nix itself refused access to its store, database or daemon (a user without rights to the store):
# the machine's setup, not the commit. Only Nix's own error lines count, not a builder's log.
_NIX_PERMISSION = re.compile(r"^error: [^\n]*permission denied", re.IGNORECASE | re.MULTILINE)


def is_transient(err: CommandFailed) -> bool:
    """True when the failure may not happen again on the same commit (a timeout, a killed process,
    a fetch or the machine failing): such failures are not cached, so the next run retries them."""
    return (
        err.transient
        or err.timed_out
        or err.returncode < 0
        or bool(_TRANSIENT.search(err.stderr) or _NIX_PERMISSION.search(err.stderr))
    )


# The derivation and the output that the attribute's value stands for (its first output: what an image
# gets from `copyToRoot = [ pkg ]`), not every output (a package's -dev or -doc is not in the image).
# Anything else (a set of packages, a function) is said so, not as "attribute 'drvPath' missing".
_DRV_AND_OUTPUT = (
    'd: if builtins.isAttrs d && (d.type or null) == "derivation" then [ d.drvPath (d.outputName or "out") ] '
    'else throw "the attribute is a ${if builtins.isAttrs d then "set" else builtins.typeOf d}, not a derivation: '
    'name an image or a package (what nix build .#ATTR builds)"'
)


_UNLOCKED = re.compile(r"requires lock file changes")


def is_unlocked(err: CommandFailed) -> bool:
    """True when a flake could not be evaluated with its own ``flake.lock`` (none, or one that does not
    lock every input) under ``--no-update-lock-file``."""
    return bool(_UNLOCKED.search(err.stderr))


def instantiate(
    worktree: Path,
    image: ImageSpec,
    *,
    timeout: float | None,
    shallow: bool = False,
    submodules: bool = False,
    locked: bool = True,
) -> str:
    """The image's derivation and output at ``worktree``, as ``<drv>!<output>`` (raises CommandFailed).

    Nix refuses a shallow clone's worktree as a flake unless told that shallow is fine. A flake is
    evaluated with the inputs its commit locked (``--no-update-lock-file``: where the commit's
    ``flake.lock`` does not lock them, :func:`is_unlocked` tells the failure apart); ``locked=False``
    lets Nix lock them as of today, which is all that can be done for such a commit.
    """
    if image.is_flake:
        ref = image.flake_ref(worktree, shallow=shallow, submodules=submodules)
        out = gateway.run(
            ["nix", *NIX_FEATURES, "eval", *(["--no-update-lock-file"] if locked else []), "--json", ref,
             "--apply", _DRV_AND_OUTPUT],
            cwd=worktree,
            timeout=timeout,
            count_as="eval" if locked else None,  # the second try at one commit is not another evaluation
        )  # fmt: skip
        try:
            drv, output = json.loads(out)
        except (ValueError, TypeError):
            raise CommandFailed(["nix", "eval", image.attr], 1, f"error: {image.attr} is not a derivation") from None
        return f"{drv}!{output}"
    assert image.file is not None
    out = gateway.run(
        ["nix-instantiate", str(worktree / image.file), "-A", image.attr],
        cwd=worktree,
        timeout=timeout,
        count_as="eval",
    )
    # nix-instantiate prints <drv> for the output "out" and <drv>!<output> for any other
    drvs = [line.strip() for line in out.splitlines() if ".drv" in line]
    if len(drvs) != 1:
        raise CommandFailed(
            ["nix-instantiate", image.attr], 1,
            f"error: {image.attr} is {len(drvs)} derivations, not one: name an image or a package of {image.file}",
        )  # fmt: skip
    return drvs[0] if "!" in drvs[0] else f"{drvs[0]}!out"


_SEARCH_PATH_MISSING = re.compile(r"was not found in the Nix search path")


def reads_search_path(root: Path, image: ImageSpec, *, timeout: float | None) -> bool:
    """Whether a ``--file`` image, as it is in ``root``, looks something up in the Nix search path
    (``<nixpkgs>``): evaluated with an empty one (``NIX_PATH`` and ``nix-path``), it fails saying so.
    Such an image is evaluated against today's channel at every past commit."""
    if image.file is None or not (root / image.file).is_file():
        return False
    try:
        gateway.run(
            ["nix-instantiate", str(root / image.file), "-A", image.attr, "--option", "nix-path", ""],
            cwd=root,
            timeout=timeout,
            env={"NIX_PATH": ""},
        )
    except CommandFailed as err:
        return bool(_SEARCH_PATH_MISSING.search(err.stderr))
    return False


DEFAULT_PACKAGE = "default"  # packages.<system>.default: what `nix build` builds given no attribute


def flake_packages(root: Path, *, timeout: float = 30) -> list[str]:
    """The names in ``packages.<this system>`` of the flake at ``root``, to suggest as images; none
    when there is no flake or it cannot be evaluated (nothing is built, no lock file written)."""
    if not (root / "flake.nix").is_file():
        return []
    try:
        system = gateway.run(["nix", *NIX_FEATURES, "eval", "--impure", "--raw", "--expr", "builtins.currentSystem"], timeout=timeout)
        out = gateway.run(
            ["nix", *NIX_FEATURES, "eval", "--json", "--no-write-lock-file", f".#packages.{system.strip()}",
             "--apply", "builtins.attrNames"],
            cwd=root, timeout=timeout,
        )  # fmt: skip
        names = json.loads(out)
    except (CommandFailed, EnvironmentProblem, ValueError):
        return []
    return sorted(n for n in names if isinstance(n, str)) if isinstance(names, list) else []


def said(names: list[str], most: int = 10) -> str:
    """Names for an error message: ``app, image, tool and 4 more``, or empty."""
    return ", ".join(names[:most]) + (f" and {len(names) - most} more" if len(names) > most else "")


def realise(drv: str, *, timeout: float | None) -> Closure:
    """Build (or substitute) ``drv`` (``<drv>!<output>``: that output only) and return the runtime
    closure of what it built."""
    out = gateway.run(["nix-store", "--realise", *BUILD_OPTIONS, drv], timeout=timeout, count_as="build")
    outputs = sorted({line.strip() for line in out.splitlines() if line.strip().startswith("/")})
    if not outputs:
        raise CommandFailed(["nix-store", "--realise", drv], 1, "error: the build produced no output path")
    info = gateway.run(
        ["nix", *NIX_FEATURES, "path-info", "--recursive", "--json", *json_format(), *outputs], timeout=timeout
    )
    try:
        data = json.loads(info)
    except json.JSONDecodeError:
        raise CommandFailed(["nix", "path-info"], 1, "error: nix path-info printed invalid JSON") from None
    return closure_from_json(data, f"closure of {drv}")


def output_path(drv: str) -> str:
    """The store path of ``<drv>!<output>``, read from the derivation file that evaluation wrote.

    Raises :class:`CommandFailed` when the derivation does not fix it before the build (a
    content-addressed derivation) or the file is gone (garbage-collected since it was evaluated).
    """
    drv_path, _, name = drv.partition("!")
    try:
        outputs = parse_drv(Path(drv_path).read_text(encoding="utf-8", errors="surrogateescape")).outputs
    except (OSError, ValueError, IndexError):
        why = f"error: cannot read {drv_path} (garbage-collected?); evaluate it again"
        raise CommandFailed(["nix-store", "--query", drv], 1, why, transient=True) from None
    path = outputs.get(name or "out", "")
    if not path:
        raise CommandFailed(
            ["nix-store", "--query", drv], 1,
            f"error: the path of output {name or 'out'} of {drv_path} is not known before it is built "
            "(a content-addressed derivation); analyse with --build",
            transient=True,
        )
    return path


@lru_cache(maxsize=1)
def substituters() -> tuple[str, ...]:
    """The binary caches Nix would substitute from (``substituters`` with ``extra-substituters``)."""
    for command in (["config", "show", "--json"], ["show-config", "--json"]):  # `nix show-config` before 2.20
        try:
            value = json.loads(gateway.run(["nix", *NIX_FEATURES, *command]))["substituters"]["value"]
        except (CommandFailed, ValueError, KeyError, TypeError):
            continue
        if isinstance(value, str):
            value = value.split()
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return tuple(value)
    raise EnvironmentProblem("cannot read Nix's substituters (`nix config show --json`); is Nix working?")


def query_closure(
    path: str,
    stores: tuple[str, ...],
    *,
    timeout: float | None,
    unreachable: set[str] | None = None,
    seen: dict[str, StorePath] | None = None,
) -> Closure:
    """The runtime closure of ``path`` without building or downloading anything: each path's size
    and references come from the local store if it holds the path, or else from the first of
    ``stores`` (binary cache URLs) that does (its ``.narinfo``).

    Paths are looked up level by level, each in the first store that holds it (a closure may span
    caches: an application in its own cache, the rest in cache.nixos.org); each store is asked for
    the whole closure of the paths it holds, and for the paths alone where it lacks part of that
    closure. Paths in ``seen`` (read for an earlier commit: a store path's data never changes) are
    not asked for again, and what is read is added to it: where a closure spans caches, a commit's
    lookups in the second cache are for its new paths only. A cache that cannot be reached (Nix retries
    each request for seconds) or is no binary cache is added to ``unreachable`` and not asked again. Raises
    :class:`CommandFailed`, transient (the image may be pushed later, the cache come back: nothing
    here is the commit's fault), when some path is in no store or the local store cannot be read.
    """
    unreachable = set() if unreachable is None else unreachable
    unread: set[str] = set(unreachable)  # stores that could not answer for this closure
    seen = {} if seen is None else seen
    closure: dict[str, StorePath] = {}
    todo = [path]
    while todo:
        fresh: dict[str, StorePath] = {p: seen[p] for p in todo if p in seen}
        ask = [p for p in todo if p not in fresh]
        for store in (None, *stores):
            if not ask or store in unreachable:
                continue
            try:
                _lookup(ask, store, fresh, timeout)
            except CommandFailed as err:
                if store is None:
                    raise CommandFailed(err.argv, err.returncode, err.stderr, transient=True) from None
                if err.timed_out or _CACHE_DOWN.search(err.stderr):
                    unreachable.add(store)
                unread.add(store)  # the paths may be in the next cache
            ask = [p for p in ask if p not in fresh]
        if ask:
            down = [s for s in stores if s in unread]
            if down:
                raise CommandFailed(
                    ["nix", "path-info", ask[0]], 1,
                    f"error: {ask[0]} is not in the local store, and {', '.join(down)} could not be read; "
                    "try again, or analyse with --build",
                    transient=True,
                )
            where = ", ".join(stores) if stores else "no substituters are configured"
            raise CommandFailed(
                ["nix", "path-info", ask[0]], 1,
                f"error: {ask[0]} is neither in the local store nor in a substituter ({where}); "
                "build the image at this commit, or analyse with --build",
                transient=True,
            )
        fresh = {p: seen.setdefault(p, entry) for p, entry in fresh.items()}  # one object per path
        closure.update(fresh)
        todo = sorted({r for entry in fresh.values() for r in entry.references} - closure.keys())
    return build_closure(closure.values(), source=f"closure of {path}")


def _lookup(paths: list[str], store: str | None, found: dict[str, StorePath], timeout: float | None) -> None:
    """Add to ``found`` what ``store`` (``None``: the local store) holds of ``paths``, with their
    closures where it holds those whole.

    Which of the paths the store holds is asked first, since ``--recursive`` fails on a path the store
    lacks: of the local store with ``nix-store --check-validity`` (``nix path-info`` would also ask the
    binary caches about the others), of a binary cache with ``nix path-info`` of the paths alone
    (``nix-store --check-validity`` crashes against an HTTP cache in Nix 2.34)."""
    at = ["--store", store] if store else []
    base = ["nix", *NIX_FEATURES, "path-info", "--json", *json_format(), *at]
    alone: list[tuple[str, StorePath | None]] = []
    if store is None:
        invalid = gateway.run(["nix-store", "--check-validity", "--print-invalid", *paths], timeout=timeout).split()
        held = sorted(set(paths) - set(invalid))
    else:
        alone = _infos(gateway.run([*base, *paths], timeout=timeout), store)
        held = sorted(p for p, e in alone if e is not None)
    if not held:
        return
    try:
        infos = _infos(gateway.run([*base, "--recursive", *held], timeout=timeout, count_as="query"), store)
    except CommandFailed:  # this cache lacks part of their closure (it is in another cache)
        infos = alone or _infos(gateway.run([*base, *held], timeout=timeout, count_as="query"), store)
    found.update((p, e) for p, e in infos if e is not None)


def _infos(out: str, store: str | None) -> list[tuple[str, StorePath | None]]:
    """The paths of ``nix path-info --json`` output, each with its entry or None (not in ``store``)."""
    try:
        return path_infos(json.loads(out), f"nix path-info of {store or 'the local store'}")
    except (ValueError, InputError) as err:
        why = "invalid JSON" if isinstance(err, ValueError) else f"JSON of an unknown shape ({err})"
        raise CommandFailed(["nix", "path-info"], 1, f"error: nix path-info printed {why}") from None
