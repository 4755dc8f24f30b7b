"""The hint file: a TOML file, checked into the repository, that says which keys share a layer.

Layers are listed bottom first. Keys the file does not list are placed at layout time by the file's
``unseen.rule`` (see :mod:`gitmine.layout`). The file is byte-identical for identical inputs: no
timestamps, sorted keys, rounded floats.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .atomic import write_text_atomic
from .errors import InputError

SCHEMA = 1
UNSEEN_RULE = "referrers"  # what this version writes
UNSEEN_RULES = ("referrers", "top")  # what it reads: "top" is the rule of gitmine 0.1.0

_TOP_KEYS = {"schema", "analysis", "unseen", "layer"}
_ANALYSIS_KEYS = {"images", "rev-range", "snapshots", "transitions", "max-layers", "planner"}
_LAYER_KEYS = {"keys", "size", "change-rate", "observed-rate"}


@dataclass(frozen=True)
class HintLayer:
    keys: tuple[str, ...]
    size: int  # bytes, in the latest analysed snapshot
    change_rate: float  # predicted probability that the layer changes in a release
    observed_rate: float  # fraction of analysed transitions in which the layer changed


@dataclass(frozen=True)
class Analysis:
    images: tuple[str, ...]
    rev_range: str  # first..last analysed revision
    snapshots: int
    transitions: int
    max_layers: int
    planner: str


@dataclass(frozen=True)
class Hints:
    analysis: Analysis
    layers: tuple[HintLayer, ...]  # bottom first
    unseen_rule: str = UNSEEN_RULE
    layer_of: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "layer_of", {k: i for i, layer in enumerate(self.layers) for k in layer.keys})

    @property
    def max_layers(self) -> int:
        return self.analysis.max_layers


def _rate(x: float) -> float:
    return round(float(x), 4)


def render(hints: Hints) -> str:
    """The hint file's text."""
    import tomlkit  # writing only: reading uses the standard library's tomllib

    a = hints.analysis
    doc = tomlkit.document()
    doc.add(tomlkit.comment("gitmine layer hints: which store paths share an image layer."))
    doc.add(tomlkit.comment("Layers are listed bottom first: stable keys deep, volatile keys on top."))
    doc.add(tomlkit.comment("A key is a store path's name without hash and version (python3-3.12.4 -> python3)."))
    doc.add(tomlkit.comment("Regenerate with `gitmine analyze`; lay an image out with `gitmine layout --hints`."))
    doc.add("schema", SCHEMA)
    doc.add(tomlkit.nl())
    an = tomlkit.table()
    an.add(tomlkit.comment("what was analysed"))
    an.add("images", sorted(a.images))
    an.add("rev-range", a.rev_range)
    an.add("snapshots", a.snapshots)
    an.add("transitions", a.transitions)
    an.add("max-layers", a.max_layers)
    an.add("planner", a.planner)
    doc.add("analysis", an)
    un = tomlkit.table()
    un.add(tomlkit.comment("keys listed in no layer: a renamed key whose old name left the closure (python3.11-x ->"))
    if hints.unseen_rule == "referrers":
        un.add(tomlkit.comment("python3.12-x) takes that layer; a new dependency of listed keys joins the least volatile"))
        un.add(tomlkit.comment("of their layers (it changes whenever they do); other new keys share one layer on top"))
    else:
        un.add(tomlkit.comment("python3.12-x) takes that layer; other new keys share one layer on top"))
    un.add("rule", hints.unseen_rule)
    doc.add("unseen", un)
    aot = tomlkit.aot()
    n = len(hints.layers)
    for i, layer in enumerate(hints.layers):
        t = tomlkit.table()
        where = "bottom" if i == 0 else ("top" if i == n - 1 else f"{i + 1} of {n}")
        keys = f"{len(layer.keys)} key{'' if len(layer.keys) == 1 else 's'}"
        t.add(
            tomlkit.comment(
                f"layer {i + 1} ({where}): {keys}, {layer.size / 1e6:.1f} MB, "
                f"expected to change in {100 * layer.change_rate:.1f}% of releases"
            )
        )
        t.add("size", layer.size)
        t.add("change-rate", _rate(layer.change_rate))
        t.add("observed-rate", _rate(layer.observed_rate))
        arr = tomlkit.array()
        arr.extend(sorted(layer.keys))
        if len(layer.keys) > 3:
            arr.multiline(True)
        t.add("keys", arr)
        aot.append(t)
    doc.add("layer", aot)
    return tomlkit.dumps(doc)


def write(hints: Hints, path: Path) -> None:
    write_text_atomic(path, render(hints))


def problems(text: str) -> list[str]:
    """Everything wrong with a hint file's text, one sentence each (empty: valid)."""
    return _read(text)[1]


def _read(text: str) -> tuple[dict[str, Any], list[str]]:
    """A hint file's data and everything wrong with it (read with the standard library's tomllib, many
    times faster than tomlkit, which :func:`render` uses for the comments)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        return {}, [f"not valid TOML ({err}); regenerate it with `gitmine analyze`"]
    return data, _problems(data)


def _problems(data: dict[str, Any]) -> list[str]:
    out: list[str] = []
    schema = data.get("schema")
    if schema is None:
        return ["no `schema` key: this is not a gitmine hint file"]
    if schema != SCHEMA:
        return [f"schema {schema!r} is not supported (this gitmine reads schema {SCHEMA}); regenerate with `gitmine analyze`"]
    for k in sorted(set(data) - _TOP_KEYS):
        out.append(f"unknown top-level key `{k}`; remove it")
    an = data.get("analysis")
    budget, images = 0, 1  # what the layers are held to: max-layers for each image
    if not isinstance(an, dict):
        out.append("missing [analysis] table")
    else:
        for k in sorted(set(an) - _ANALYSIS_KEYS):
            out.append(f"unknown key `analysis.{k}`; remove it")
        ml = an.get("max-layers")
        if not isinstance(ml, int) or isinstance(ml, bool) or ml < 1:
            out.append("`analysis.max-layers` must be a positive integer")
        else:
            budget = ml
        names = an.get("images", [])
        if not isinstance(names, list) or not all(isinstance(i, str) and i for i in names):
            out.append("`analysis.images` must be a list of image names")
        else:
            images = max(1, len(names))
    un = data.get("unseen", {"rule": UNSEEN_RULE})
    if not isinstance(un, dict) or un.get("rule") not in UNSEEN_RULES:
        out.append("`unseen.rule` must be " + " or ".join(f'"{r}"' for r in UNSEEN_RULES))
    layers = data.get("layer")
    if not isinstance(layers, list) or not layers:
        out.append("no [[layer]] tables: the file lists no layers; regenerate it with `gitmine analyze`")
        return out
    seen: dict[str, int] = {}
    for i, layer in enumerate(layers, 1):
        if not isinstance(layer, dict):
            out.append(f"layer {i} is not a table")
            continue
        for k in sorted(set(layer) - _LAYER_KEYS):
            out.append(f"unknown key `{k}` in layer {i}; remove it")
        keys = layer.get("keys")
        if not isinstance(keys, list) or not keys or not all(isinstance(k, str) and k for k in keys):
            out.append(f"layer {i} has no `keys` list of names")
            continue
        for k in keys:
            if k in seen:
                out.append(f"key `{k}` is in layer {seen[k]} and layer {i}; keep it in one")
            else:
                seen[k] = i
        for f in ("change-rate", "observed-rate"):
            v = layer.get(f, 0.0)
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not 0 <= v <= 1:
                out.append(f"layer {i}: `{f}` must be a number between 0 and 1")
        size = layer.get("size", 0)
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            out.append(f"layer {i}: `size` must be a non-negative integer")
    # the budget is per image: a layer of one image's keys takes nothing from another's budget
    if budget and len(layers) > budget * images:
        out.append(
            f"{len(layers)} layers exceed `analysis.max-layers` = {budget}"
            + (f" for each of {images} images ({budget * images})" if images > 1 else "")
        )
    return out


def parse(text: str, source: str = "hint file") -> Hints:
    data, errs = _read(text)
    if errs:
        more = f" (and {len(errs) - 1} more; run `gitmine check`)" if len(errs) > 1 else ""
        raise InputError(f"{source}: {errs[0]}{more}")
    an = data["analysis"]
    analysis = Analysis(
        images=tuple(an.get("images", ())),
        rev_range=str(an.get("rev-range", "")),
        snapshots=int(an.get("snapshots", 0)),
        transitions=int(an.get("transitions", 0)),
        max_layers=int(an["max-layers"]),
        planner=str(an.get("planner", "")),
    )
    layers = tuple(
        HintLayer(
            keys=tuple(layer["keys"]),
            size=int(layer.get("size", 0)),
            change_rate=float(layer.get("change-rate", 0.0)),
            observed_rate=float(layer.get("observed-rate", 0.0)),
        )
        for layer in data["layer"]
    )
    return Hints(analysis, layers, str(data.get("unseen", {}).get("rule", UNSEEN_RULE)))


def load(path: Path) -> Hints:
    try:
        text = Path(path).read_text(encoding="utf-8-sig")  # a byte-order mark some editors write
    except FileNotFoundError:
        raise InputError(f"{path}: no such hint file; create one with `gitmine analyze`") from None
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"{path}: cannot read the hint file ({err})") from None
    return parse(text, str(path))
