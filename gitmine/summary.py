"""The summary of an analysis: what ``gitmine analyze`` prints, or emits with ``--json``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .analyze import AnalyzeResult, LearnResult, Previous
from .baselines import autolayer
from .closure import Snapshot
from .cluster import clusters
from .hints import Hints
from .keys import store_name
from .layout import referrers_of, too_many_layers
from .planner import forecast_images
from .replay import hinted, lay_images, path_sizes, score_image_releases, switch_cost
from .stats import Statistics
from .units import mb


def _volatile(stats: Statistics, n: int = 5) -> list[dict[str, Any]]:
    T = stats.transitions
    ks = sorted((k for k in stats.keys.values() if k.changes), key=lambda k: (-k.changes, k.key))[:n]
    return [{"key": k.key, "changes": k.changes, "rate": round(k.rate(T), 4)} for k in ks]


def _key_stats(stats: Statistics) -> list[dict[str, Any]]:
    T = stats.transitions
    return [
        {
            "key": k.key,
            "changes": k.changes,
            "own_changes": k.own_changes,
            "exposure": k.exposure,
            "rate": round(k.rate(T), 4),
            "size": k.size,
            "first_seen": k.first_seen,
            "last_seen": k.last_seen,
        }
        for k in stats.keys.values()
    ]


def _clusters(stats: Statistics, n: int = 5) -> list[list[str]]:
    return [c for c in clusters(stats) if len(c) > 1][:n]


def _forecast(stats: Statistics, laid: dict[str, list[list[str]]], snapshots: list[Snapshot], max_layers: int) -> dict[str, Any]:
    """Bytes per release expected with the new hints (the planner's model; ``laid``: the latest
    snapshot's images laid out with them), next to nixpkgs auto-layer's at the same budget, each
    with its ratio to its lower bound.

    Auto-layer learns nothing, so what it cost over the analysed releases is the better estimate of
    what it will cost: on the corpus its measured ratio lands within 0.06 of its held-out one, where
    a forecast of one split under the model is off by up to 0.18 (auto-layer re-splits every
    release). The model's bytes include its hedge for keys that did not change, so bytes are not
    comparable across the two; the ratios are, and ``estimate`` applies gitmine's ratios to
    auto-layer's lower bound (the bytes of new store paths per analysed release) to give bytes that
    compare. With a single snapshot there is nothing to measure, and the model's forecast stands in
    for auto-layer too."""
    latest = snapshots[-1]
    sizes = path_sizes(latest.closures)
    own = forecast_images(stats, laid, sizes)
    if len(snapshots) > 1:
        scores = list(score_image_releases([s.closures for s in snapshots], lambda c: autolayer(c, max_layers)))
        pull, unpack, lower = (sum(s[j] for s in scores) / len(scores) for j in (0, 1, 2))
        how = "measured over the analysed releases"
    else:
        auto = forecast_images(stats, lay_images(latest, lambda c: autolayer(c, max_layers)), sizes)
        pull, unpack, lower, how = auto.pull, auto.unpack, auto.lower_bound, "forecast"
    out: dict[str, Any] = {**own.as_dict(), **_ratios(own.pull, own.unpack, own.lower_bound)}
    out["autolayer"] = {
        "pull": round(pull),
        "unpack": round(unpack),
        "lower_bound": round(lower),
        **_ratios(pull, unpack, lower),
        "how": how,
    }
    # the forecast's ratios on auto-layer's lower bound: gitmine's bytes in the same terms as auto-layer's
    bound = out["autolayer"]["lower_bound"]
    if out["pull_ratio"] is not None and bound:
        out["estimate"] = {
            "pull": round(out["pull_ratio"] * bound),
            "unpack": round(out["unpack_ratio"] * bound),
            "lower_bound": bound,
        }
    return out


def _ratios(pull: float, unpack: float, lower: float) -> dict[str, float | None]:
    return {
        "pull_ratio": round(pull / lower, 4) if lower else None,
        "unpack_ratio": round(unpack / lower, 4) if lower else None,
    }


def _previous(
    previous: Previous | None, stats: Statistics, latest: Snapshot, after: dict[str, list[list[str]]]
) -> dict[str, Any]:
    """How the new hints relate to the hint file in use, on the latest snapshot (``after``: its
    images laid out with the new hints, each on its own): layers that stay as they were, what
    switching re-ships once, and what it is expected to save per release."""
    if previous is None or previous.hints is None:
        return {"path": str(previous.path) if previous else None, "used": False, "note": previous.note if previous else "none"}
    before = lay_images(latest, hinted(previous.hints))  # the layers in use: the file at its own budget
    known = {frozenset(layer) for layers in before.values() for layer in layers}
    blobs = {frozenset(layer) for layers in after.values() for layer in layers}
    pull, unpack = switch_cost(before, after, latest)
    sizes = path_sizes(latest.closures)
    old, new = forecast_images(stats, before, sizes), forecast_images(stats, after, sizes)
    return {
        "path": str(previous.path),
        "used": True,
        "layers_unchanged": len(blobs & known),
        "layers": len(blobs),
        "switch_pull": pull,
        "switch_unpack": unpack,
        "saving_per_release": {"pull": round(old.pull - new.pull), "unpack": round(old.unpack - new.unpack)},
    }


def summary_of(result: AnalyzeResult) -> dict[str, Any]:
    absent = sum(1 for e in result.evaluations if e.status == "absent")
    s = result.settings
    summary = {
        "window": {
            "since": s.since or "all",
            "until": s.until,
            "first": result.commits[0].date,
            "last": result.commits[-1].date,
        },
        "commits": len(result.commits),
        "snapshots": len(result.snapshots),
        "evaluations": result.nix_evaluations,
        "builds": result.nix_builds,
        **({"derived": sum(1 for e in result.evaluations if e.derived)} if s.derive else {}),
        "from_cache": result.cached,
        "failed": len(result.failures),
        "absent": absent,
        "failures": [
            {"commit": e.commit.sha, "image": e.image, "error": e.error} for e in result.failures
        ],
        "corrupt_cache_entries": len(result.corrupt_cache_entries),
        **_learned(result.snapshots, result.stats, result.hints, result.previous, result.settings.max_layers),
        "output": str(result.settings.output_path),
    }
    summary["warnings"] = [*result.warnings, *summary["warnings"]]
    return summary


def summary_recorded(res: LearnResult, out: Path, *, since: str | None = None, until: str | None = None) -> dict[str, Any]:
    dates = [s.date for s in res.snapshots]
    window = {"since": since or "all", "until": until, "first": dates[0], "last": dates[-1]} if all(dates) else None
    return {
        **({"window": window} if window else {}),
        "snapshots": len(res.snapshots),
        **_learned(res.snapshots, res.stats, res.hints, res.previous, res.hints.max_layers),
        "output": str(out),
    }


FEW_RELEASES = 5  # fewer releases that change the image than this, and the hints rest mostly on the prior
SHARED_KEY_BYTES = 1_000_000  # a path this large, pulled again with its key for nothing, is worth a warning
SHOWN_SHARED_KEYS = 3
EVERY_RELEASE = 0.8  # a key with own updates in this share of its releases changes with (nearly) every commit
CASCADE_SHARE = 0.25  # ... and is worth a warning when this share of the image's bytes depends on it


def _warnings(snapshots: list[Snapshot], stats: Statistics) -> list[str]:
    """What makes the analysis say little: few releases that changed the image, or an image whose
    closure is one store path; keys that change at every release under much of the image; and keys that
    name several store paths which do not change together."""
    latest = snapshots[-1]
    out = []
    if not stats.transitions:
        out.append(
            "only one snapshot was analysed, so nothing was seen to change: the hints rest on what is typical, "
            "not on this history; widen the window (--since) or fix the failing commits"
        )
    elif stats.changed_releases < FEW_RELEASES:
        of = "" if stats.changed_releases == stats.transitions else f" of the {stats.transitions}"
        out.append(
            f"only {stats.changed_releases}{of} analysed releases changed the image: the hints rest mostly on "
            "what is typical, not on this history; widen the window (--since), or, in a young repository, re-run "
            "`gitmine analyze` before releases as the history grows"
        )
    for image, closure in sorted(latest.closures.items()):
        if len(closure) == 1:
            name = store_name(next(iter(closure.paths)))
            out.append(
                f"the closure of `{image}` is one store path ({name}): there is nothing to split. A "
                "dockerTools.buildLayeredImage tarball hides its contents from Nix; analyse what goes into the "
                "image instead (--attr of its package, or of a buildEnv of its contents), or a nix2container image"
            )
    return out + _cascades(stats) + _shared_keys(snapshots)


def _cascades(stats: Statistics) -> list[str]:
    """Keys that change on their own at (nearly) every release while much of the image depends on them.

    In Nix every path that references a changed one changes too, so such a key gives all of them new
    hashes at every release, and no layering spares re-pulling them. A distribution package does not
    update that often; what does is what is made from the commit itself (its revision, a build date,
    ``src = ./.``), and it belongs on top of the image rather than under its packages."""
    if stats.changed_releases < FEW_RELEASES:
        return []
    referrers = referrers_of({k: stats.deps[k] for k in stats.present})
    total = sum(stats.keys[k].size for k in stats.present)
    out = []
    for k in sorted(stats.present):
        ks = stats.keys[k]
        if ks.exposure < FEW_RELEASES or ks.own_changes < EVERY_RELEASE * ks.exposure:
            continue
        above: set[str] = set()
        todo = [k]
        while todo:
            for r in referrers.get(todo.pop(), ()):
                if r not in above and r != k:
                    above.add(r)
                    todo.append(r)
        size = sum(stats.keys[r].size for r in above)
        if size >= SHARED_KEY_BYTES and size >= CASCADE_SHARE * total:
            out.append(
                f"`{k}` changed on its own at {ks.own_changes} of the {ks.exposure} releases that changed the image, "
                f"and {len(above)} keys with {mb(size)} ({size / total:.0%} of the image) depend on it: each of its "
                "changes gives them new store paths, pulled again whatever the layers. If it is made from the commit "
                "itself (a revision, a date, `src = ./.`), keep it out of what they reference (put it on top: the "
                "image's config or entrypoint)"
            )
    return out


def _shared_keys(snapshots: list[Snapshot]) -> list[str]:
    """Keys that name several store paths of one image's latest closure, one of which (1 MB or more)
    stayed as it was while its key changed. A key's paths share a layer, so that path was pulled again
    each time for nothing. Two ``source`` trees (a flake's own and a fetched one) or two versions of a
    library do this; a name of its own for one of them lets them part."""
    latest = snapshots[-1]
    out: dict[str, str] = {}  # key → the warning, once per key
    for image, closure in sorted(latest.closures.items()):
        for key, paths in closure.keys.items():
            if len(paths) < 2 or key in out:
                continue
            largest_first = sorted(paths, key=lambda p: (-closure.paths[p].size, p))
            for path in (p for p in largest_first if closure.paths[p].size >= SHARED_KEY_BYTES):
                missed = _changes_without(snapshots, image, key, path)
                if missed:
                    where = f" of `{image}`" if len(latest.closures) > 1 else ""
                    out[key] = (
                        f"`{key}` names {len(paths)} store paths{where}, which share a layer: {store_name(path)} "
                        f"({mb(closure.paths[path].size)}) was pulled again at {missed} of the key's changes without "
                        "changing; give one of them a name of its own (`name = \"…\"` on its fetcher or derivation) to "
                        "let them part"
                    )
                    break
    warnings = list(out.values())
    if len(warnings) > SHOWN_SHARED_KEYS:
        warnings[SHOWN_SHARED_KEYS:] = [f"… and {len(warnings) - SHOWN_SHARED_KEYS} more keys like these"]
    return warnings


def _changes_without(snapshots: list[Snapshot], image: str, key: str, path: str) -> int:
    """How often the paths of ``key`` in ``image`` changed while ``path``, one of them in the latest
    snapshot, stayed: over the snapshots since it last came into the image."""
    since = len(snapshots) - 1
    while since and path in _key_paths(snapshots[since - 1], image, key):
        since -= 1
    kept = [_key_paths(s, image, key) for s in snapshots[since:]]
    return sum(a != b for a, b in zip(kept, kept[1:]))


def _key_paths(snapshot: Snapshot, image: str, key: str) -> tuple[str, ...]:
    closure = snapshot.closures.get(image)
    return closure.keys.get(key, ()) if closure is not None else ()


def _learned(
    snapshots: list[Snapshot], stats: Statistics, hints: Hints, previous: Previous | None, max_layers: int
) -> dict[str, Any]:
    """What was learned, whatever the source of the snapshots."""
    latest = snapshots[-1]
    laid = lay_images(latest, hinted(hints, max_layers))
    deep = too_many_layers(max_layers, budget=True)
    return {
        "warnings": _warnings(snapshots, stats) + ([deep] if deep else []),
        "keys": len(stats.keys),
        "most_volatile": _volatile(stats),
        "cochange_clusters": _clusters(stats),
        "layers": len(hints.layers),
        **({"layers_per_image": {image: len(layers) for image, layers in laid.items()}} if len(laid) > 1 else {}),
        "expected_per_release": _forecast(stats, laid, snapshots, max_layers),
        "previous": _previous(previous, stats, latest, laid),
        "key_stats": _key_stats(stats),
    }
