"""The closure model and the graph formats it is read from.

A :class:`Closure` is a validated, acyclic set of store paths with sizes and references. Readers
accept every format Nix tools produce for a closure graph:

* a JSON list of ``{path, narSize, references, ...}`` (``exportReferencesGraph`` with
  ``__structuredAttrs``, nix2container's closure-graph.json, ``nix path-info --json`` before 2.19);
* a JSON object keyed by store path (``nix path-info --json`` of Nix 2.19–2.32, and of Lix);
* ``{"info": {<hash>-<name>: {...}}}`` (``nix path-info --json --json-format 2`` or ``3``, Nix 2.33 and
  later), where store paths are base names and each entry may name its ``storeDir``;
* ``{"graph": [...]}`` / ``{"closure": [...]}`` wrappers (a structured-attrs ``.attrs.json``);
* the plain-text ``exportReferencesGraph`` format (path, deriver, count, references), which has no sizes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from typing import AbstractSet, Any, Iterable, Iterator, Mapping

from .errors import InputError
from .keys import path_key


@dataclass(frozen=True, slots=True)
class StorePath:
    path: str
    nar_size: int | None
    references: tuple[str, ...]  # without the path itself

    @property
    def size(self) -> int:
        return self.nar_size or 0


@dataclass(frozen=True)
class Closure:
    """An acyclic graph of store paths; ``paths`` is keyed and sorted by store path."""

    paths: Mapping[str, StorePath]
    sizes_known: bool = True

    def __len__(self) -> int:
        return len(self.paths)

    def __iter__(self) -> Iterator[StorePath]:
        return iter(self.paths.values())

    @cached_property
    def key_of(self) -> dict[str, str]:
        """store path → its key."""
        return {p: path_key(p) for p in self.paths}

    @cached_property
    def keys(self) -> dict[str, tuple[str, ...]]:
        """key → the store paths of this closure that share it (usually one)."""
        out: dict[str, list[str]] = {}
        for p, k in self.key_of.items():
            out.setdefault(k, []).append(p)
        return {k: tuple(v) for k, v in sorted(out.items())}

    @cached_property
    def key_deps(self) -> Mapping[str, AbstractSet[str]]:
        """key → the other keys its paths reference."""
        key_of = self.key_of
        out: dict[str, set[str]] = {}
        for sp in self.paths.values():
            out.setdefault(key_of[sp.path], set()).update([key_of[r] for r in sp.references])
        for k, deps in out.items():
            deps.discard(k)
        return out

    @cached_property
    def referrers(self) -> dict[str, tuple[str, ...]]:
        users: dict[str, list[str]] = {p: [] for p in self.paths}
        for sp in self.paths.values():
            for ref in sp.references:
                users[ref].append(sp.path)
        return {p: tuple(v) for p, v in users.items()}

    def total_size(self) -> int:
        return sum(sp.size for sp in self.paths.values())

    def closure_of(self, roots: Iterable[str]) -> Closure:
        """The closure of some of its paths: ``roots`` and everything they reference (an image
        made of part of this one)."""
        seen = set(roots)
        todo = list(seen)
        while todo:
            for ref in self.paths[todo.pop()].references:
                if ref not in seen:
                    seen.add(ref)
                    todo.append(ref)
        return Closure({p: self.paths[p] for p in sorted(seen)}, self.sizes_known)

    def to_json(self) -> list[dict[str, Any]]:
        return [
            {"path": sp.path, "narSize": sp.nar_size, "references": list(sp.references)}
            for sp in self.paths.values()
        ]


def build_closure(entries: Iterable[StorePath], *, sizes_known: bool = True, source: str = "graph") -> Closure:
    """Validate entries (unique paths, references inside the graph, no cycle) into a Closure."""
    paths: dict[str, StorePath] = {}
    for sp in entries:
        if sp.path in paths:
            prev = paths[sp.path]
            if prev != sp:
                raise InputError(f"{source}: {sp.path} is listed twice with different data; fix the graph file")
            continue
        paths[sp.path] = sp
    if not paths:
        raise InputError(f"{source}: the closure graph is empty; pass the graph of a built image")
    for sp in paths.values():
        for ref in sp.references:
            if ref not in paths:
                raise InputError(
                    f"{source}: {sp.path} references {ref}, which is not in the graph; "
                    "export the whole closure (exportReferencesGraph or nix path-info --recursive)"
                )
    _check_acyclic(paths, source)
    ordered = {p: paths[p] for p in sorted(paths)}
    return Closure(ordered, sizes_known=sizes_known)


def _check_acyclic(paths: Mapping[str, StorePath], source: str) -> None:
    state: dict[str, int] = {}
    for root in paths:
        if state.get(root):
            continue
        stack = [(root, iter(paths[root].references))]
        state[root] = 1
        while stack:
            node, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                state[node] = 2
                stack.pop()
                continue
            s = state.get(nxt, 0)
            if s == 1:
                raise InputError(
                    f"{source}: the references form a cycle through {nxt}; store graphs are acyclic, "
                    "check how the graph was produced"
                )
            if s == 0:
                state[nxt] = 1
                stack.append((nxt, iter(paths[nxt].references)))


def _entry(obj: Any, source: str, path: str | None = None) -> StorePath:
    if not isinstance(obj, dict):
        raise InputError(f"{source}: expected an object per store path, got {type(obj).__name__}")
    p = obj.get("path", path)
    if not isinstance(p, str) or not p.startswith("/"):
        raise InputError(f"{source}: an entry has no valid \"path\" (got {p!r})")
    size = obj.get("narSize")
    if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 0):
        raise InputError(f"{source}: {p} has an invalid narSize {size!r}")
    refs = obj.get("references", [])
    if not isinstance(refs, list) or not all(isinstance(r, str) for r in refs):
        raise InputError(f"{source}: {p} has invalid references (expected a list of store paths)")
    return StorePath(p, size, tuple(sorted({r for r in refs if r != p})))


def _known(obj: Any, memo: dict[str, StorePath]) -> StorePath | None:
    """The entry of ``memo`` that ``obj`` reads as (references as gitmine writes them: sorted, without
    the path), if there is one."""
    path = obj.get("path") if isinstance(obj, dict) else None
    known = memo.get(path) if isinstance(path, str) else None
    if known is None:
        return None
    size, refs = obj.get("narSize"), obj.get("references", [])
    same_size = type(size) is type(known.nar_size) and size == known.nar_size
    return known if same_size and isinstance(refs, list) and tuple(refs) == known.references else None


DEFAULT_STORE_DIR = "/nix/store"


def _versioned(data: dict[str, Any], source: str) -> list[tuple[str, StorePath | None]]:
    """``nix path-info --json-format 2|3``: ``{"info": {base name: entry | null}}``, where store paths
    are base names (``<hash>-<name>``) and an entry's ``storeDir`` (or the top level's) completes them."""
    info = data["info"]
    top_dir = data.get("storeDir", DEFAULT_STORE_DIR)

    def full(name: Any, store_dir: Any) -> Any:
        if isinstance(name, str) and name and not name.startswith("/") and isinstance(store_dir, str):
            return f"{store_dir.rstrip('/')}/{name}"
        return name

    out: list[tuple[str, StorePath | None]] = []
    for name, v in info.items():
        if v is None:
            out.append((full(name, top_dir), None))
            continue
        if not isinstance(v, dict):
            raise InputError(f"{source}: expected an object per store path, got {type(v).__name__}")
        store_dir = v.get("storeDir", top_dir)
        refs = v.get("references", [])
        entry = dict(v, references=[full(r, store_dir) for r in refs] if isinstance(refs, list) else refs)
        out.append((full(name, store_dir), _entry(entry, source, full(name, store_dir))))
    return out


def closure_from_json(data: Any, source: str = "graph", memo: dict[str, StorePath] | None = None) -> Closure:
    """A closure from any of the JSON shapes above (already parsed). With ``memo`` (store path → entry,
    shared by the closures of one history), an entry equal to one read before is that same object:
    consecutive closures share most paths, and reading them becomes a comparison."""
    if isinstance(data, dict):
        for wrapper in ("graph", "closure"):
            if wrapper in data and isinstance(data[wrapper], list):
                return closure_from_json(data[wrapper], source, memo)
    entries = []
    for p, entry in path_infos(data, source, memo):
        if entry is None:
            raise InputError(f"{source}: {p} is not valid in the store; build it first")
        entries.append(entry)
    return build_closure(entries, sizes_known=_sizes_known(entries), source=source)


def path_infos(
    data: Any, source: str = "graph", memo: dict[str, StorePath] | None = None
) -> list[tuple[str, StorePath | None]]:
    """Each path of ``nix path-info --json`` output (any Nix version) with its entry, or ``None`` where
    the store does not hold it (``"valid": false`` in a list, ``null`` in an object); ``memo`` as in
    :func:`closure_from_json`, for the list shape (what gitmine writes)."""
    if isinstance(data, dict):
        if isinstance(data.get("info"), dict):
            return _versioned(data, source)
        if data and all(isinstance(k, str) and k.startswith("/") for k in data):
            # `nix path-info --json` of Nix 2.19-2.32 and Lix: {path: {narSize, references, ...} | null}
            return [(p, None if v is None else _entry(v, source, p)) for p, v in data.items()]
        raise InputError(
            f"{source}: unrecognised JSON object; expected a list of store paths, an object keyed by "
            "store path, {\"info\": {...}} (nix path-info --json-format 2) or a {\"graph\": [...]} wrapper"
        )
    if isinstance(data, list):
        out: list[tuple[str, StorePath | None]] = []
        for obj in data:
            if isinstance(obj, dict) and obj.get("valid") is False and isinstance(obj.get("path"), str):
                out.append((obj["path"], None))  # `nix path-info --json` before Nix 2.19: a path the store lacks
                continue
            known = _known(obj, memo) if memo is not None else None
            if known is not None:
                out.append((known.path, known))
                continue
            entry = _entry(obj, source)
            if memo is not None:
                memo[entry.path] = entry
            out.append((entry.path, entry))
        return out
    raise InputError(f"{source}: expected a JSON list or object, got {type(data).__name__}")


def _sizes_known(entries: list[StorePath]) -> bool:
    return all(e.nar_size is not None for e in entries)


def closure_from_text(text: str, source: str = "graph") -> Closure:
    """The plain-text exportReferencesGraph format: path, deriver, count, then that many references."""
    lines = [line.strip() for line in text.splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    entries: list[StorePath] = []
    i = 0
    while i < len(lines):
        path = lines[i]
        if not path:
            i += 1
            continue
        if not path.startswith("/") or i + 2 >= len(lines):
            raise InputError(f"{source}: line {i + 1} is not a store path block (path, deriver, count, references)")
        try:
            count = int(lines[i + 2])
        except ValueError:
            raise InputError(f"{source}: expected a reference count after {path}, got {lines[i + 2]!r}") from None
        refs = lines[i + 3 : i + 3 + count]
        if len(refs) != count or count < 0:
            raise InputError(f"{source}: {path} announces {count} references but the file ends first")
        entries.append(StorePath(path, None, tuple(sorted({r for r in refs if r != path}))))
        i += 3 + count
    return build_closure(entries, sizes_known=False, source=source)


def parse_graph(text: str, source: str = "graph") -> Closure:
    """Detect the format of ``text`` and read it."""
    stripped = text.lstrip()
    if not stripped:
        raise InputError(f"{source}: the file is empty; pass a closure graph")
    if not stripped.startswith("/"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            if not stripped.startswith(("{", "[")):  # neither JSON nor store paths: a DOT graph, a log, ...
                raise InputError(
                    f"{source}: not a closure graph; pass JSON (`nix path-info --recursive --json`, "
                    "exportReferencesGraph with __structuredAttrs, nix2container's graph) or "
                    "exportReferencesGraph's text (store path blocks)"
                ) from None
            raise InputError(f"{source}: malformed JSON at line {err.lineno} column {err.colno}: {err.msg}") from None
        return closure_from_json(data, source)
    return closure_from_text(text, source)


@dataclass(frozen=True)
class Snapshot:
    """One evaluated point in history: a revision, its date, and the closure of each image."""

    rev: str
    date: str  # ISO date (YYYY-MM-DD) or datetime
    closures: Mapping[str, Closure] = field(default_factory=dict)

    def closure(self) -> Closure:
        """One closure of all images (what a host running them all pulls)."""
        if len(self.closures) == 1:
            return next(iter(self.closures.values()))
        entries = {sp.path: sp for c in self.closures.values() for sp in c}
        return build_closure(entries.values(), source=self.rev)

    def merged(self) -> dict[str, tuple[str, ...]]:
        """key → store paths, over every image of this snapshot."""
        out: dict[str, set[str]] = {}
        for c in self.closures.values():
            for k, ps in c.keys.items():
                out.setdefault(k, set()).update(ps)
        return {k: tuple(sorted(v)) for k, v in sorted(out.items())}
