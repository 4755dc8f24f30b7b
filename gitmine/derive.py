"""Closures derived from derivations: an image's history without building it at every commit.

Evaluating a commit writes its derivations to the store, and those fix every output path that an
input-addressed build will have. What they do not tell is which of them the image references at run
time. A *template* (the closure of the image built, or read from a cache, at one commit) does: every
path of it is one of the outputs (or sources) in the derivation closure of the path that refers to it.
At another commit, each path of the template is looked up the same way, from the top down: the root is
the output the commit's derivation names, and a path is the output with the same key that is nearest
(fewest derivation inputs away) to the derivation of a path referring to it. Sizes and references are
the template's.

The rule is checked first on the template's own commit, where it must give the template back path for
path (a graph where it would pick, say, a bootstrap stage's ``glibc`` instead of the final one fails
there). A lookup that finds two outputs of the same key equally near, or a content-addressed output
whose path is not known before it is built, derives nothing: that commit's image is realised instead.
What a derived closure cannot know are dependencies the template lacks (one the image dropped
before the template's commit); a key absent from the derivation graph is absent from the closure.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from .closure import Closure, StorePath, build_closure
from .keys import name_key, path_key


class NotDerivable(Exception):
    """The closure cannot be derived (ambiguous lookup, unreadable or content-addressed derivation)."""


@dataclass(frozen=True)
class Drv:
    outputs: dict[str, str]  # output name -> store path ("" where only the build can tell)
    inputs: tuple[str, ...]  # input derivations (.drv paths)
    sources: tuple[str, ...]  # input sources (store paths)


_ESCAPES = {"n": "\n", "t": "\t", "r": "\r"}


def _string(text: str, i: int) -> tuple[str, int]:
    """The ATerm string starting at ``text[i]`` (a ``"``), unescaped, and the index after it."""
    out = []
    i += 1
    while True:
        end = text.index('"', i)
        escape = text.find("\\", i, end)
        if escape < 0:
            out.append(text[i:end])
            return "".join(out), end + 1
        out.append(text[i:escape])
        out.append(_ESCAPES.get(text[escape + 1], text[escape + 1]))
        i = escape + 2


def _value(text: str, i: int) -> tuple[object, int]:
    """One ATerm value at ``text[i]``: a string, a list ``[...]`` or a tuple ``(...)`` (as a list)."""
    ch = text[i]
    if ch == '"':
        return _string(text, i)
    if ch in "[(":
        close = "]" if ch == "[" else ")"
        items: list[object] = []
        i += 1
        while text[i] != close:
            item, i = _value(text, i)
            items.append(item)
            if text[i] == ",":
                i += 1
        return items, i + 1
    raise ValueError(f"unexpected {ch!r} at {i}")


def parse_drv(text: str) -> Drv:
    """The outputs, input derivations and input sources of a ``.drv`` file (ATerm ``Derive(…)``); the
    rest of the file (builder, arguments, environment) is not read."""
    if not text.startswith("Derive("):
        raise ValueError("not a Derive(...) term")
    i = len("Derive(")
    fields: list[object] = []
    for _ in range(3):
        value, i = _value(text, i)
        fields.append(value)
        i += 1  # the comma
    outputs, inputs, sources = fields
    if not (isinstance(outputs, list) and isinstance(inputs, list) and isinstance(sources, list)):
        raise ValueError("not a Derive([outputs],[inputs],[sources],...) term")
    return Drv(
        outputs={str(o[0]): str(o[1]) for o in outputs if isinstance(o, list)},
        inputs=tuple(sorted(str(d[0]) for d in inputs if isinstance(d, list))),
        sources=tuple(sorted(str(s) for s in sources)),
    )


Found = tuple[str, str | None]  # a path, and the derivation that outputs it (None: a source)


def _output_key(drv_path: str, output: str) -> str:
    """The key an output of a derivation will have, from the derivation's name (for an output whose
    path the derivation does not fix)."""
    name = Path(drv_path).name.removesuffix(".drv").partition("-")[2]
    return name_key(name if output == "out" else f"{name}-{output}")


class Derivations:
    """The derivations of a run, each file read once, and lookups memoised across commits (most
    derivations are the same from one commit to the next). Safe to share between threads."""

    def __init__(self) -> None:
        self._drvs: dict[str, Drv] = {}
        self._keyed: dict[str, tuple[tuple[str, str, str], ...]] = {}  # drv -> (key, output, path) of its outputs
        self._nearest: dict[tuple[str, str], dict[str, Found | None]] = {}  # (drv, excluded path) -> key -> found
        self._lock = threading.Lock()

    def drv(self, path: str) -> Drv:
        known = self._drvs.get(path)
        if known is None:
            try:
                known = parse_drv(Path(path).read_text(encoding="utf-8", errors="surrogateescape"))
            except (OSError, ValueError, IndexError) as err:
                raise NotDerivable(f"cannot read {path} ({err.__class__.__name__}); evaluate it again") from None
            with self._lock:
                known = self._drvs.setdefault(path, known)
        return known

    def output(self, drv: str) -> str:
        """The path of ``<drv>!<output>``, as the derivation fixes it."""
        drv_path, _, name = drv.partition("!")
        path = self.drv(drv_path).outputs.get(name or "out", "")
        if not path:
            raise NotDerivable(f"{drv_path} is content-addressed: the path of its output {name or 'out'} is known once built")
        return path

    def nearest(self, drv: str, keys: set[str], exclude: str) -> dict[str, Found | None]:
        """For each of ``keys``, the output or source of that key nearest to ``drv`` in its derivation
        closure (its own other outputs first, then its inputs' outputs and its sources, level by level),
        ``exclude`` aside; None where there is none. Raises :class:`NotDerivable` when two paths of a
        key are equally near, or an equally near output of a key is content-addressed (its path is
        known once built)."""
        with self._lock:
            memo = self._nearest.setdefault((drv, exclude), {})
            missing = keys - memo.keys()
        if missing:
            found = self._search(drv, missing, exclude)
            with self._lock:
                memo.update(found)
        return {k: memo[k] for k in keys}

    def _search(self, drv: str, keys: set[str], exclude: str) -> dict[str, Found | None]:
        want, out = set(keys), {}
        hits: dict[str, dict[str, str | None]] = {}
        self._collect(drv, want, hits)
        level, seen = [drv], {drv}
        while True:
            for key, paths in hits.items():
                paths.pop(exclude, None)
                if len(paths) > 1:
                    raise NotDerivable(f"{len(paths)} paths of key {key} are equally near to {drv}")
                if paths:
                    out[key] = next(iter(paths.items()))
                    want.discard(key)
            if not want or not level:
                return {**out, **{key: None for key in want}}
            hits = {}
            nxt = []
            for d in level:
                node = self.drv(d)
                for src in node.sources:
                    key = path_key(src)
                    if key in want:
                        hits.setdefault(key, {})[src] = None
                for child in node.inputs:
                    if child not in seen:
                        seen.add(child)
                        nxt.append(child)
                        self._collect(child, want, hits)
            level = nxt

    def _collect(self, drv_path: str, want: set[str], hits: dict[str, dict[str, str | None]]) -> None:
        """Add the outputs of ``drv_path`` whose key is wanted to ``hits``."""
        keyed = self._keyed.get(drv_path)
        if keyed is None:
            outputs = self.drv(drv_path).outputs
            keyed = tuple((path_key(p) if p else _output_key(drv_path, o), o, p) for o, p in outputs.items())
            self._keyed[drv_path] = keyed
        for key, output, path in keyed:
            if key not in want:
                continue
            if not path:
                raise NotDerivable(f"{drv_path} is content-addressed: the path of its output {output} is known once built")
            hits.setdefault(key, {})[path] = drv_path


def derive(template: Closure, template_root: str, root: str, root_drv: str, drvs: Derivations) -> Closure:
    """The closure at a commit whose image is output ``root`` of derivation ``root_drv``, by the rule
    above, from ``template`` (whose root is ``template_root``). Raises :class:`NotDerivable`."""
    if template_root not in template.paths:
        raise NotDerivable(f"{template_root} is not in the template")
    referrers = template.referrers
    mapped: dict[str, Found] = {template_root: (root, root_drv)}  # template path -> path at this commit
    pending = {p: len(referrers[p]) for p in template.paths}
    ready = [template_root]
    while ready:  # parents before children: a path is looked up from each referrer found at this commit
        p = ready.pop()
        here = mapped.get(p)
        children = template.paths[p].references
        if here is not None and here[1] is not None:
            near = drvs.nearest(here[1], {path_key(c) for c in children}, here[0])
            for child in children:
                found = near[path_key(child)]
                if found is not None and mapped.setdefault(child, found)[0] != found[0]:
                    raise NotDerivable(f"referrers of {child} find different paths of its key")
        for child in children:
            pending[child] -= 1
            if pending[child] == 0:
                ready.append(child)
    if len({new for new, _ in mapped.values()}) < len(mapped):
        raise NotDerivable("two paths of the template find the same path (they share a key)")
    entries = [
        StorePath(
            path=new,
            nar_size=template.paths[old].nar_size,
            references=tuple(sorted({mapped[r][0] for r in template.paths[old].references if r in mapped})),
        )
        for old, (new, _) in mapped.items()
    ]
    return build_closure(entries, sizes_known=template.sizes_known, source=f"closure derived for {root_drv}")
