"""The split as dockerTools' layeringPipeline and released nix2container's layers (gitmine.pipeline)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings, strategies as st

from gitmine.closure import Closure, StorePath, build_closure
from gitmine.keys import path_key
from gitmine.pipeline import layering_pipeline, peel
from tests.conftest import closure, sp

# ---------------------------------------------------------------------------------------------
# What nixpkgs' flatten_references_graph does with the steps gitmine writes, from its published
# semantics: a graph keeps its vertex order; subcomponent_out(paths) gives {"main": the paths found
# with everything they reach, "rest": the other vertices}; over(key, f) applies f to that entry;
# pipe(steps) applies steps in turn; split_every(n) cuts the vertex list in chunks of n; the result,
# dicts (in insertion order) and lists nested, is flattened into layers.

Graph = tuple[list[str], dict[str, tuple[str, ...]]]


def _apply(step: list[Any], data: Any) -> Any:
    name, *args = step
    if name == "pipe":
        for inner in args[0]:
            data = _apply(inner, data)
        return data
    if name == "over":
        key, inner = args
        return {**data, key: _apply(inner, data[key])}
    vertices, edges = data
    if name == "split_every":
        return [(vertices[i : i + args[0]], edges) for i in range(0, len(vertices), args[0])]
    assert name == "subcomponent_out", name
    seen = {p for p in args[0] if p in vertices}
    todo = list(seen)
    while todo:
        for ref in edges[todo.pop()]:
            if ref in vertices and ref not in seen:
                seen.add(ref)
                todo.append(ref)
    return {"main": ([v for v in vertices if v in seen], edges), "rest": ([v for v in vertices if v not in seen], edges)}


def _flatten(data: Any) -> list[list[str]]:
    if isinstance(data, dict):
        return [layer for value in data.values() for layer in _flatten(value)]
    if isinstance(data, list):
        return [layer for value in data for layer in _flatten(value)]
    return [sorted(data[0])]


def run_pipeline(pipeline: list[Any], c: Closure) -> list[list[str]]:
    graph: Graph = (list(c.paths), {p: sp_.references for p, sp_ in c.paths.items()})
    return _flatten(_apply(["pipe", pipeline], graph))


# ---------------------------------------------------------------------------------------------


def _image() -> tuple[Closure, dict[str, str]]:
    g = sp("glibc-1")
    lib = sp("lib-1", refs=(g.path,))
    tool = sp("tool-1", refs=(g.path,))
    app = sp("app-1", refs=(lib.path, g.path))
    image = sp("image", refs=(app.path, tool.path))
    return closure(g, lib, tool, app, image), {path_key(s.path): s.path for s in (g, lib, tool, app, image)}


def test_a_dependency_the_split_puts_higher_moves_down_to_the_layer_that_needs_it():
    c, p = _image()
    split = [[p["glibc"], p["tool"]], [p["app"]], [p["lib"]], [p["image"]]]  # lib above the app that uses it
    assert peel(split, c) == [[p["glibc"], p["tool"]], sorted([p["app"], p["lib"]]), [p["image"]]]
    assert layering_pipeline(split, c) == [
        ["subcomponent_out", sorted([p["glibc"], p["tool"]])],
        ["over", "rest", ["pipe", [["subcomponent_out", [p["app"]]]]]],
    ]
    assert run_pipeline(layering_pipeline(split, c), c) == peel(split, c)


def test_a_split_that_follows_the_dependencies_is_kept_as_it_is():
    c, p = _image()
    split = [[p["glibc"]], [p["lib"], p["tool"]], [p["app"]], [p["image"]]]
    assert peel(split, c) == [[p["glibc"]], sorted([p["lib"], p["tool"]]), [p["app"]], [p["image"]]]
    assert run_pipeline(layering_pipeline(split, c), c) == split[:1] + [sorted(split[1])] + split[2:]


def test_one_layer_is_one_layer():
    c, p = _image()
    assert run_pipeline(layering_pipeline([sorted(p.values())], c), c) == [sorted(p.values())]
    # everything below the first layer's paths: the other layers come out empty and are left out
    assert run_pipeline(layering_pipeline([[p["image"]], [p["app"]], [p["glibc"]]], c), c) == [sorted(p.values())]


@st.composite
def split_graphs(draw: Any) -> tuple[Closure, list[list[str]]]:
    n = draw(st.integers(1, 12))
    paths = [f"/nix/store/{i:032d}-p{i}-1" for i in range(n)]
    entries = [StorePath(p, 1, tuple(sorted(draw(st.sets(st.sampled_from(paths[:i]))) if i else []))) for i, p in enumerate(paths)]
    k = draw(st.integers(1, 5))
    where = [draw(st.integers(0, k - 1)) for _ in paths]
    split = [[p for p, w in zip(paths, where) if w == j] for j in range(k)]
    return build_closure(entries), [layer for layer in split if layer]


@settings(max_examples=200, deadline=None, derandomize=True)
@given(split_graphs())
def test_the_pipeline_makes_the_peeled_layers_and_they_partition_the_closure(case):
    c, split = case
    layers = peel(split, c)
    assert run_pipeline(layering_pipeline(split, c), c) == layers
    flat = [p for layer in layers for p in layer]
    assert sorted(flat) == sorted(c.paths) and all(layers)
    below: set[str] = set()
    for layer in layers:  # each layer holds the dependencies of its paths that are not below it
        assert all(r in below or r in layer for p in layer for r in c.paths[p].references)
        below |= set(layer)


def test_a_hundred_layers_nest_a_hundred_steps_deep():
    paths = [f"/nix/store/{i:032d}-p{i}-1" for i in range(100)]
    c = build_closure(StorePath(p, 1, (paths[i - 1],) if i else ()) for i, p in enumerate(paths))  # a chain
    split = [[p] for p in paths]
    pipeline = layering_pipeline(split, c)
    assert run_pipeline(pipeline, c) == split
    depth, node = 0, pipeline
    while len(node) == 2:  # [step, ["over", "rest", ["pipe", inner]]]
        node, depth = node[1][2][1], depth + 1
    assert depth == 98  # 99 steps; the last layer is what they leave
