"""A split as builders that cannot take one exactly: nixpkgs dockerTools' ``layeringPipeline``, and
released nix2container's explicit layers (``nix/n2c-layers.nix``).

Both can only cut a closure by dependency: a layer is given paths and takes their whole closure less
what the layers below hold, so a dependency lands in the lowest layer whose paths need it even where
the split puts it higher (:func:`peel`). For dockerTools that is its ``subcomponent_out`` step
(``main``: the named paths with everything they reference in the graph left; ``rest``: the others),
applied bottom layer first, each to the ``rest`` of the one before (:func:`layering_pipeline`). On
the corpus this costs at most 0.03 of the lower bound in pull (``scripts/bench_peeled.py``).
"""

from __future__ import annotations

from typing import Any, Sequence

from .closure import Closure

SPLIT_NONE = 1 << 30  # split_every this many: the whole graph as one layer


def peel(layers: Sequence[Sequence[str]], closure: Closure) -> list[list[str]]:
    """The layers a builder makes of ``layers`` (bottom first) when each takes the closure of its
    paths less the layers below; empty ones are left out."""
    return [piece for _, piece in peeled(layers, closure)]


def peeled(layers: Sequence[Sequence[str]], closure: Closure) -> list[tuple[list[str], list[str]]]:
    """For each layer that :func:`peel` keeps: the layer's paths that are not below it, and the layer
    it makes of them (those paths and the dependencies they take down with them)."""
    out = []
    below: set[str] = set()
    for paths in layers:
        own = sorted(p for p in paths if p not in below)
        todo, taken = list(own), set(own)
        while todo:
            for ref in closure.paths[todo.pop()].references:
                if ref not in below and ref not in taken:
                    taken.add(ref)
                    todo.append(ref)
        if own:
            out.append((own, sorted(taken)))
            below |= taken
    return out


def layering_pipeline(layers: Sequence[Sequence[str]], closure: Closure) -> list[Any]:
    """The ``layeringPipeline`` (nixpkgs ``streamLayeredImage``) that makes :func:`peel`'s layers of
    ``closure``: ``subcomponent_out`` of each layer's own paths, bottom first, each on the ``rest`` of
    the step before; the last layer is what is left. Paths of the graph it runs on that ``closure``
    lacks end in the top layer."""
    pieces = peeled(layers, closure)
    if len(pieces) <= 1:
        return [["split_every", SPLIT_NONE]]  # one layer; a pipeline must give a list, not a graph
    pipeline: list[Any] = []
    for own, _ in reversed(pieces[:-1]):  # built from the inside: each step works on the rest of the one before
        step = ["subcomponent_out", own]
        pipeline = [step, ["over", "rest", ["pipe", pipeline]]] if pipeline else [step]
    return pipeline
