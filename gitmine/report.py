"""Presenting replay results: a rich table, JSON, and an optional plot (matplotlib extra)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any, Sequence

from rich.console import Group
from rich.table import Table
from rich.text import Text

from .atomic import write_bytes_atomic
from .errors import EnvironmentProblem
from .replay import Fold, Run, StrategyResult
from .window import iso_instant


def _ratio(x: int, lb: int) -> float:
    return round(x / lb, 4) if lb else 0.0


def replay_table(
    name: str,
    max_layers: int,
    results: Sequence[StrategyResult],
    folds: Sequence[Fold],
    replan_every: int | None = None,
    start_weeks: int | None = None,
) -> Group:
    """The title on its own line (a long path wraps at the terminal's width, not the table's), then the table."""
    n = len(results[0].transitions) if results else 0
    if replan_every is None:
        how = f"{len(folds)} fold{'s' * (len(folds) != 1)}"
    else:
        first = "" if start_weeks is None else f", the first after {start_weeks} week{'s' * (start_weeks != 1)}"
        how = f"re-planned {len(folds)} time{'s' * (len(folds) != 1)} (every {replan_every}{first}), switches charged"
    title = Text(f"{name}: {max_layers} layers, {how}, {n} release{'s' * (n != 1)} scored", style="italic")
    t = Table(
        caption="× bound: ratio to the lower bound (the bytes of new store paths)",
        caption_justify="left",
    )
    t.add_column("strategy", no_wrap=True)  # names and numbers stay whole in an 80-column terminal
    for col in ("pull MB", "× bound", "unpack MB", "× bound", "layers"):
        t.add_column(col, justify="right", no_wrap=True)
    lb = results[0].lower_bound if results else 0
    for r in results:
        t.add_row(r.name, f"{r.pull / 1e6:,.1f}", f"{_ratio(r.pull, lb):.2f}", f"{r.unpack / 1e6:,.1f}", f"{_ratio(r.unpack, lb):.2f}", str(r.max_layers_used))
    t.add_row("lower bound", f"{lb / 1e6:,.1f}", "1.00", "", "", "")
    return Group(title, t)


def _strategy_json(r: StrategyResult, lb: int, *, releases: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "pull": r.pull,
        "unpack": r.unpack,
        "pull_ratio": _ratio(r.pull, lb),
        "unpack_ratio": _ratio(r.unpack, lb),
        "max_layers_used": r.max_layers_used,
    }
    if releases:
        out["releases"] = [
            {"rev": t.rev, "date": t.date, "pull": t.pull, "unpack": t.unpack, "lower_bound": t.lower_bound, "layers": t.layers}
            for t in r.transitions
        ]
    return out


def replay_json(name: str, runs: list[Run], replan_every: int | None = None, start_weeks: int | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"history": name, "replan_every": replan_every, "start_weeks": start_weeks, "runs": []}
    for n, results, folds in runs:
        lb = results[0].lower_bound if results else 0
        out["runs"].append(
            {
                "max_layers": n,
                "folds": [{"train": list(f.train), "test": list(f.test)} for f in folds],
                "lower_bound": lb,
                "strategies": {r.name: _strategy_json(r, lb, releases=True) for r in results},
            }
        )
    return out


def totals_json(runs: list[Run]) -> list[dict[str, Any]]:
    """:func:`totals` as JSON: per budget, bytes and ratios over all histories (no per-release list)."""
    out = []
    for n, results, _ in runs:
        lb = results[0].lower_bound if results else 0
        strategies = {r.name: _strategy_json(r, lb, releases=False) for r in results}
        out.append({"max_layers": n, "lower_bound": lb, "strategies": strategies})
    return out


def cumulative_lines(results: Sequence[StrategyResult]) -> list[tuple[str, list[float], dict[str, str]]]:
    """The lines of a panel: each strategy's cumulative MB pulled (a colour per strategy, the same in
    every panel) and the lower bound dashed; strategies that pulled the same bytes at every release
    share one line, labelled ``n2c = nixpkgs-popularity``, so that none hides another."""
    series: list[tuple[str, list[int], dict[str, str]]] = [
        (r.name, [t.pull for t in r.transitions], {"color": f"C{i}"}) for i, r in enumerate(results)
    ]
    if results:
        series.append(("lower bound", [t.lower_bound for t in results[0].transitions], {"linestyle": "--", "color": "black"}))
    drawn: dict[tuple[float, ...], tuple[list[str], dict[str, str]]] = {}  # a line → its labels and style
    for label, values, style in series:
        total, ys = 0, []
        for v in values:
            total += v
            ys.append(total / 1e6)
        drawn.setdefault(tuple(ys), ([], style))[0].append(label)
    return [(" = ".join(labels), list(ys_), style) for ys_, (labels, style) in drawn.items()]


def plot_cumulative(panels: Sequence[tuple[str, Sequence[StrategyResult]]], path: Path) -> None:
    """Cumulative pull bytes over the scored releases, one line per strategy and the lower bound
    dashed; one panel per ``(title, results)``, stacked."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise EnvironmentProblem("--plot needs matplotlib: pip install 'gitmine[plot]'") from None
    fig, axes = plt.subplots(len(panels), 1, figsize=(8, 4.5 * len(panels)), squeeze=False)
    for ax, (title, results) in zip(axes[:, 0], panels):
        releases = results[0].transitions if results else []
        dates = [iso_instant(t.date) for t in releases]
        xs: list[Any] = dates if all(dates) else list(range(1, len(releases) + 1))  # over time, where dated
        for label, ys, style in cumulative_lines(results):
            ax.plot(xs, ys, label=label, **style)
        ax.set_xlabel("release date" if all(dates) else "release")
        if all(dates):  # each panel its own dates: histories need not cover the same weeks
            ax.tick_params(axis="x", labelrotation=30)
        ax.set_ylabel("cumulative MB pulled")
        ax.set_title(title)
        ax.legend()
    fig.tight_layout()
    # the same replay draws the same bytes: no date in the SVG metadata, element ids from a fixed salt
    fmt = path.suffix.lower().lstrip(".")
    buf = io.BytesIO()
    try:
        with matplotlib.rc_context({"svg.hashsalt": "gitmine"}):
            fig.savefig(buf, format=fmt, metadata={"Date": None} if fmt == "svg" else None)
    finally:
        plt.close(fig)
    write_bytes_atomic(path, buf.getvalue())
