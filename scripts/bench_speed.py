"""Speed of the learning and layout stages on synthetic histories (results go in the README).

    python scripts/bench_speed.py
"""

from __future__ import annotations

import gc
import hashlib
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from synthetic import synthetic_history  # noqa: E402

from gitmine.analyze import learn_recorded  # noqa: E402
from gitmine.closure import Snapshot, StorePath, build_closure  # noqa: E402
from gitmine.cluster import clusters  # noqa: E402
from gitmine.derive import Derivations, derive  # noqa: E402
from gitmine.hints import HintLayer, Hints, write as write_hints  # noqa: E402
from gitmine.layout import layout  # noqa: E402
from gitmine.planner import plan  # noqa: E402
from gitmine.recorded import write_history  # noqa: E402
from gitmine.stats import compute_statistics  # noqa: E402
from gitmine.summary import summary_recorded  # noqa: E402


def timed(fn):  # type: ignore[no-untyped-def]
    gc.collect()  # a collection of the earlier steps' garbage is not this step's time
    t = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - t


def cli_layout(closure: object, hints: Hints) -> float:
    """Seconds of ``python -m gitmine.cli layout --hints H GRAPH -o OUT``, median of five runs."""
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        write_hints(hints, t / "h.toml")
        (t / "g.json").write_text(json.dumps(closure.to_json()))  # type: ignore[attr-defined]
        argv = [sys.executable, "-m", "gitmine.cli", "layout", "--hints", str(t / "h.toml"), str(t / "g.json"), "-o", str(t / "o.json")]
        times = [timed(lambda: subprocess.run(argv, check=True))[1] for _ in range(5)]
    return sorted(times)[2]


def derivation_history(root: Path, drvs: int, commits: int, seed: int = 7) -> tuple[list[tuple[str, str]], object]:
    """``commits`` commits of a graph of ``drvs`` derivations written as ``.drv`` files under ``root``
    (each with 2 to 8 inputs among the ones before it, every other one also used at run time). At each
    commit 1% of the top tenth is updated (the application and its near dependencies), every 30th
    commit one derivation of the bottom too (a nixpkgs bump), and every derivation above an update is
    rewritten with new hashes, as Nix does. Returns each commit's (image output, image .drv) and the
    first commit's runtime closure."""
    rng = random.Random(seed)
    inputs = [rng.sample(range(i), min(i, rng.randint(2, 8))) for i in range(drvs)]
    runtime = [i % 2 == 0 for i in range(drvs)]
    version = [0] * drvs

    def write(stamp: int) -> tuple[list[str], list[str]]:
        outs: list[str] = []
        paths: list[str] = []
        for i in range(drvs):
            h = hashlib.sha256(f"{i}-{version[i]}-{[paths[j] for j in inputs[i]]}".encode()).hexdigest()[:32]
            name = f"p{i}-1.{version[i]}"
            drv = root / f"{h}-{name}.drv"
            outs.append(f"/nix/store/{h}-{name}")
            if not drv.exists():
                ins = ",".join(f'("{paths[j]}",["out"])' for j in sorted(inputs[i]))
                drv.write_text(f'Derive([("out","{outs[i]}","","")],[{ins}],[],"x86_64-linux","/bin/sh",[],[])')
            paths.append(str(drv))
        return outs, paths

    history = []
    for c in range(commits):
        bump = [rng.randrange(drvs // 10)] if c % 30 == 29 else []
        for i in rng.sample(range(drvs - drvs // 10, drvs), drvs // 100) + bump:
            version[i] += 1
        outs, paths = write(c)
        history.append((outs[-1], paths[-1]))
        if c == 0:
            seen, todo = {drvs - 1}, [drvs - 1]
            while todo:
                for j in inputs[todo.pop()]:
                    if runtime[j] and j not in seen:
                        seen.add(j)
                        todo.append(j)
            first = build_closure(
                StorePath(outs[i], 1000, tuple(sorted(outs[j] for j in inputs[i] if j in seen))) for i in sorted(seen)
            )
    return history, first


def main() -> None:
    rows = []
    hist, _ = timed(lambda: synthetic_history(2000, 100))
    stats, t_stats = timed(lambda: compute_statistics(hist))
    hints, t_plan = timed(lambda: plan(stats, 100))
    later = compute_statistics(hist[5:] + synthetic_history(2000, 105, seed=1)[100:])
    _, t_replan = timed(lambda: plan(later, 100, previous=hints))
    rows.append(("statistics, 100 snapshots x 2,000 paths", t_stats))
    rows.append(("plan, 100 snapshots x 2,000 paths, 100 layers", t_plan))
    rows.append(("plan again five releases later, from the hints in use", t_replan))
    # what `gitmine analyze --from-closures` does: read the file, learn, plan, write, and summarise
    # (the summary measures auto-layer over every release)
    with tempfile.TemporaryDirectory() as tmp:
        recorded, out = Path(tmp) / "history.jsonl.gz", Path(tmp) / "hints.toml"
        write_history(recorded, hist)
        _, t_cli = timed(
            lambda: summary_recorded(learn_recorded(recorded, since=None, until=None, max_layers=100, output=out), out)
        )
    rows.append(("analyze --from-closures end to end, 100 snapshots x 2,000 paths (file, plan, summary)", t_cli))
    # a busy repository analysed at every commit: 1,000 commits, the image changed by 20 of them;
    # commits of one derivation share its closure object, as `gitmine analyze` gives them
    images = synthetic_history(2000, 20, seed=4)
    busy = [Snapshot(f"c{i}", f"2026-01-01T{i // 60 % 24:02d}:{i % 60:02d}:00Z", images[i // 50].closures) for i in range(1000)]
    _, t_busy = timed(lambda: compute_statistics(busy))
    rows.append(("statistics, 1,000 commits x 2,000 paths, 20 distinct closures", t_busy))
    wide = synthetic_history(5000, 30, seed=3)
    wide_stats, t_wide_stats = timed(lambda: compute_statistics(wide))
    _, t_wide_plan = timed(lambda: plan(wide_stats, 100))
    _, t_wide_clusters = timed(lambda: clusters(wide_stats))
    rows.append(("statistics, 30 snapshots x 5,000 paths", t_wide_stats))
    rows.append(("plan, 30 snapshots x 5,000 paths, 100 layers", t_wide_plan))
    rows.append(("co-change clusters, 30 snapshots x 5,000 paths", t_wide_clusters))
    # six months of daily releases of a large image that changes every day
    long = synthetic_history(5000, 180, seed=3, mean_rate=0.05)
    long_stats, t_long_stats = timed(lambda: compute_statistics(long))
    _, t_long_plan = timed(lambda: plan(long_stats, 100))
    rows.append(("statistics, 180 snapshots x 5,000 paths, all different", t_long_stats))
    rows.append(("plan, 180 snapshots x 5,000 paths, 100 layers", t_long_plan))
    for n in (1000, 5000):
        h = synthetic_history(n, 30, seed=n)
        hints = plan(compute_statistics(h[:26]), 100)
        closure = next(iter(h[-1].closures.values()))
        _, t = timed(lambda c=closure, hs=hints: layout(c, hs, 100))
        rows.append((f"layout of a {n:,}-path graph, 100 layers", t))
        if n == 1000:  # the command a build runs: a new Python, the hint file and the graph read, the layers written
            rows.append((f"`gitmine layout` of a {n:,}-path graph, end to end (median of 5 runs)", cli_layout(closure, hints)))
    # hints that know only the top of a 5,000-path chain: every other key is placed by the keys above it
    chain = [f"/nix/store/{i:032d}-k{i}-1.0" for i in range(5000)]
    deep = build_closure(StorePath(p, 100, (chain[i - 1],) if i else ()) for i, p in enumerate(chain))
    top = Hints(hints.analysis, (HintLayer(("k4999",), 100, 0.5, 0.5),))
    _, t = timed(lambda: layout(deep, top, 100))
    rows.append(("layout of a 5,000-path chain, hints knowing only its top key", t))
    # --derive: 180 commits of a 5,000-derivation graph, each closure derived from the first commit's
    with tempfile.TemporaryDirectory() as tmp:
        history, template = derivation_history(Path(tmp), 5000, 180)
        drvs = Derivations()

        def derive_all() -> int:
            return sum(len(derive(template, history[0][0], out, drv, drvs).paths) for out, drv in history)  # type: ignore[arg-type]

        paths, t = timed(derive_all)
        rows.append((f"derive 180 closures ({paths // 180:,} paths) from a 5,000-derivation graph's files", t))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("| step | seconds |\n| --- | ---: |")
    for name, t in rows:
        print(f"| {name} | {t:.2f} |")
    print(f"\npeak memory: {peak:.0f} MB")


if __name__ == "__main__":
    main()
