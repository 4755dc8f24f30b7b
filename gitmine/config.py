"""Settings of an analysis: ``gitmine.toml`` in the analysed repository, overridden by flags."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

from . import hints as hintfile
from .errors import GitmineError, NoImage, UsageError
from .nixeval import ImageSpec
from .window import check_every

CONFIG_NAME = "gitmine.toml"
DEFAULT_OUTPUT = "layer-hints.toml"
DEFAULT_MAX_LAYERS = 100
DEFAULT_SINCE = "6months"  # the window the planner is made for; "all" for the whole history
# each key of gitmine.toml, what its value must be, and how to say so
_TYPES: dict[str, tuple[tuple[type, ...], str]] = {
    "since": ((str,), 'a string such as "6months"'),
    "until": ((str,), 'a string such as "2w" or "2026-01-01"'),
    "every": ((str,), 'one of "commit", "1d", "1w", "tag"'),
    "max-layers": ((int,), "a whole number of layers"),
    "output": ((str,), "a path string"),
    "image": ((list,), "an array of tables ([[image]] with attr = ...)"),
    "jobs": ((int,), "a whole number"),
    "eval-timeout": ((int, float), "a number of seconds"),
    "all-parents": ((bool,), "true or false"),
    "build": ((bool,), "true or false"),
    "derive": ((bool,), "true or false"),
    "submodules": ((bool,), "true or false"),
}
_KEYS = set(_TYPES)
_IMAGE_KEYS = {"name", "attr", "file"}


EVAL_MEMORY = 2 << 30  # what one evaluation of a nixpkgs-based image may take (bytes)


def default_jobs() -> int:
    """Commits evaluated at once: one per core, but no more than memory holds at :data:`EVAL_MEMORY`
    each (a nixpkgs evaluation takes one to a few GiB; 64 cores with 32 GiB must not run 64)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return max(1, cores)
    return max(1, min(cores, min(memory, _cgroup_memory_limit() or memory) // EVAL_MEMORY))


CGROUP_LIMITS = (Path("/sys/fs/cgroup/memory.max"), Path("/sys/fs/cgroup/memory/memory.limit_in_bytes"))


def _cgroup_memory_limit() -> int | None:
    """The memory limit of the container gitmine runs in (cgroup v2, then v1), if there is one."""
    for path in CGROUP_LIMITS:
        try:
            return int(path.read_text().strip())
        except (OSError, ValueError):  # absent, or "max": no limit here
            continue
    return None


@dataclass(frozen=True)
class Settings:
    repo: Path
    images: tuple[ImageSpec, ...] = ()
    since: str | None = DEFAULT_SINCE
    until: str | None = None
    rev: str = "HEAD"
    all_parents: bool = False
    every: str = "commit"
    jobs: int = field(default_factory=default_jobs)
    max_layers: int = DEFAULT_MAX_LAYERS
    output: Path | None = None  # default: <repo>/layer-hints.toml
    strict: bool = False
    allow_shallow: bool = False
    cache_dir: Path | None = None
    eval_timeout: float | None = None
    fresh: bool = False  # plan from scratch, ignoring the hint file in use
    build: bool = True  # False: read closures from the local store and the binary caches, never build
    derive: bool = False  # True: realise one commit's image per image, derive the other closures from derivations
    submodules: bool | None = None  # True: evaluate each commit with its git submodules (?submodules=1); None: not said

    @property
    def output_path(self) -> Path:
        return self.output if self.output is not None else self.repo / DEFAULT_OUTPUT


def load_config(repo: Path) -> dict[str, Any]:
    path = repo / CONFIG_NAME
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8-sig"))  # a byte-order mark some editors write
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise UsageError(f"{path}: not valid TOML ({err}); fix or remove it") from None
    except OSError as err:
        raise UsageError(f"{path}: cannot read it ({err.strerror})") from None
    unknown = sorted(set(data) - _KEYS)
    if unknown:
        raise UsageError(f"{path}: unknown key `{unknown[0]}`; known keys are {', '.join(sorted(_KEYS))}")
    for key, value in data.items():
        types, what = _TYPES[key]
        # a TOML boolean is a Python int: `max-layers = true` is not a number of layers
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            raise UsageError(f"{path}: `{key}` must be {what}, not {_shown(value)}")
    return data


def budget_in_use(path: Path) -> int:
    """The layer budget when neither ``--max-layers`` nor gitmine.toml gives one: the ``max-layers``
    the hint file in use was made for (rerunning an analysis keeps it), else :data:`DEFAULT_MAX_LAYERS`.
    A file that cannot be read gives the default; the analysis says why it could not use the file."""
    try:
        return hintfile.load(path).max_layers if path.is_file() else DEFAULT_MAX_LAYERS
    except (GitmineError, OSError):
        return DEFAULT_MAX_LAYERS


def output_of(repo: Path) -> Path:
    """Where ``gitmine analyze`` of the repository at ``repo`` (its root) writes the hint file unless
    told otherwise: ``output`` in its gitmine.toml, else layer-hints.toml at the root."""
    return repo / str(load_config(repo).get("output", DEFAULT_OUTPUT))


def _shown(value: Any) -> str:
    """A TOML value as the file would write it, on one line (tables inline)."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_shown(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_shown(v) for v in value) + "]"
    import tomlkit

    return str(tomlkit.item(value).as_string())


def images_from_config(data: dict[str, Any], source: str) -> tuple[ImageSpec, ...]:
    raw = data.get("image", [])
    if not isinstance(raw, list):
        raise UsageError(f"{source}: `image` must be an array of tables ([[image]] with attr = ...)")
    out = []
    for i, entry in enumerate(raw, 1):
        if not isinstance(entry, dict) or not isinstance(entry.get("attr"), str) or not entry["attr"]:
            raise UsageError(f"{source}: image {i} needs `attr = \"...\"`")
        unknown = sorted(set(entry) - _IMAGE_KEYS)
        if unknown:
            raise UsageError(f"{source}: image {i}: unknown key `{unknown[0]}`; an image has name, attr and file")
        if not isinstance(entry.get("name", ""), str):
            raise UsageError(f"{source}: image {i}: `name` must be a string")
        f = entry.get("file")
        if f is not None and not isinstance(f, str):
            raise UsageError(f"{source}: image {i}: `file` must be a path string")
        if f is not None and "#" in entry["attr"]:
            raise UsageError(
                f"{source}: image {i}: `attr = \"DIR#ATTR\"` names a flake in a subdirectory; with `file` give the attribute alone"
            )
        out.append(ImageSpec(str(entry.get("name", entry["attr"])), entry["attr"], f))
    return tuple(out)


def _in_repository(image: ImageSpec, repo: Path) -> ImageSpec:
    """The image with its ``--file`` relative to the repository root, as each commit's worktree has it.
    An absolute path would name today's file at every commit (the same image all along, silently)."""
    if image.file is None:
        return image
    root, given = repo.resolve(), Path(image.file)
    path = given.resolve() if given.is_absolute() else Path(os.path.normpath(root / given))
    if root not in path.parents:
        raise UsageError(f"--file {image.file} is outside the repository {repo}; name a file of it")
    return replace(image, file=str(path.relative_to(root)))


def resolve(
    base: Settings, flags: dict[str, Any], default_image: Callable[[Path], ImageSpec | None] | None = None
) -> Settings:
    """Config file values under CLI flags (``flags`` holds only what the user gave); where neither
    names an image, ``default_image(repo)``'s, if it finds one."""
    data = load_config(base.repo)
    src = str(base.repo / CONFIG_NAME)
    s = base
    if data:
        images = images_from_config(data, src)
        s = replace(
            s,
            images=images or s.images,
            since=data.get("since", s.since),
            until=data.get("until", s.until),
            every=data.get("every", s.every),
            max_layers=int(data.get("max-layers", s.max_layers)),
            output=(base.repo / data["output"]) if "output" in data else s.output,
            jobs=int(data.get("jobs", s.jobs)),
            eval_timeout=data.get("eval-timeout", s.eval_timeout),
            all_parents=bool(data.get("all-parents", s.all_parents)),
            build=bool(data.get("build", s.build)),
            derive=bool(data.get("derive", s.derive)),
            submodules=data.get("submodules", s.submodules),
        )
    s = replace(s, **{k: v for k, v in flags.items() if v is not None})
    if "max-layers" not in data and flags.get("max_layers") is None:
        s = replace(s, max_layers=budget_in_use(s.output_path))
    check_every(s.every)
    limits = (
        ("max-layers", s.max_layers, s.max_layers < 1, "at least 1"),
        ("jobs", s.jobs, s.jobs < 1, "at least 1"),
        ("eval-timeout", s.eval_timeout, s.eval_timeout is not None and s.eval_timeout <= 0, "a positive number of seconds"),
    )
    for key, value, bad, what in limits:
        if bad:
            raise UsageError(f"{key} {value:g} (--{key}, or {key} in {CONFIG_NAME}): must be {what}")
    found = default_image(s.repo) if not s.images and default_image is not None else None
    s = replace(s, images=(found,) if found else tuple(_in_repository(img, s.repo) for img in s.images))
    for img in s.images:
        where = img.attr.rpartition("#")[0] if img.is_flake else ""
        if ":" in where:  # path:., github:o/r, git+file://…: a flake reference, not a place in this repository
            raise UsageError(
                f"image {img.attr!r}: gitmine evaluates the repository's own history, so an image is ATTR or DIR#ATTR "
                f"(DIR a directory of the repository), not a flake reference like {where!r}"
            )
    names = [img.name for img in s.images]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:  # snapshots hold one closure per image name: the second would silently replace the first
        raise UsageError(
            f"image `{twice[0]}` is named twice; give each [[image]] in {CONFIG_NAME} its own `name` (or each --attr once)"
        )
    if not s.images:
        raise NoImage(
            f"no image to analyse: pass --attr ATTR (a flake attribute, or with --file an attribute of "
            f"that file), or list [[image]] tables in {CONFIG_NAME}"
        )
    return s
