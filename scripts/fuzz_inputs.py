"""Fuzz `gitmine layout` (also as a Nix builder, `--nix-build`), `gitmine check`, recorded histories
of one image and of two (`gitmine analyze --from-closures`, `gitmine replay`) and, where Nix is
installed, a repository's `gitmine.toml` (`gitmine analyze` of the example repository) with malformed
graph, hint, structured attribute, history and settings files (hypothesis).

    python scripts/fuzz_inputs.py [--examples 2000]   # settings files: a tenth as many

Inputs are mutations of valid files (truncations, byte changes, dropped or duplicated entries, cycles,
wrong types, paths the store lacks, random text; graphs in each shape `nix path-info --json` has had;
for histories also lines dropped, repeated or swapped, dates removed or moved, and gzip streams cut or
damaged). Each run must end either with exit 0 and a valid partition (a mutation that happens to stay
valid) or with exit 2, one `gitmine: error:` line and no output file; never a traceback or any other
exit code. A hint file that `analyze` wrote must pass `gitmine check`
and a rerun of `analyze`, on the same history and on its images merged into one. `replay` runs with
folds or re-planning before releases (`--replan-every`, also `--start`). Prints how many cases ran and
how they ended.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import io
import json
import os
import shutil
import sys
import tempfile
from collections import Counter
from pathlib import Path

from hypothesis import HealthCheck, given, settings, strategies as st

from gitmine import hints as hintfile
from gitmine.cli import main
from gitmine.closure import Closure, Snapshot, StorePath, build_closure
from gitmine.keys import path_key
from gitmine.planner import plan
from gitmine.recorded import load_history, write_history
from gitmine.stats import compute_statistics

ROOT = Path(__file__).resolve().parent.parent
HISTORY = load_history(ROOT / "fixtures" / "corpus" / "deb-bw-web.jsonl.gz")
HINTS_TEXT = hintfile.render(plan(compute_statistics(HISTORY[:26]), 8))
GRAPH = next(iter(HISTORY[40].closures.values())).to_json()
GRAPH_TEXT = json.dumps(GRAPH)


def _recorded_lines(snapshots: list[Snapshot]) -> list[str]:
    """The lines of ``snapshots`` as `analyze --record` writes them."""
    with tempfile.TemporaryDirectory() as tmp:
        write_history(Path(tmp) / "h.jsonl", snapshots)
        return (Path(tmp) / "h.jsonl").read_text().splitlines()


HISTORY_LINES = _recorded_lines(HISTORY[30:40])  # ten weekly snapshots


def _own_keys(closure: Closure, prefix: str, shared: tuple[str, ...]) -> Closure:
    """``closure`` with every path but those of the ``shared`` keys renamed (``prefix`` before its name):
    an image with keys of its own on a shared base."""

    def name(path: str) -> str:
        store, base = path.rsplit("/", 1)
        digest, rest = base.split("-", 1)
        return path if path_key(path) in shared else f"{store}/{digest}-{prefix}{rest}"

    return build_closure(
        StorePath(name(p.path), p.nar_size, tuple(name(r) for r in p.references)) for p in closure.paths.values()
    )


# two images on one base, each with keys of its own: the budget is per image, so the file they share
# holds more layers than `max-layers`
TWO_IMAGE_LINES = _recorded_lines(
    [Snapshot(s.rev, s.date, {"web": s.closure(), "worker": _own_keys(s.closure(), "w", ("libc6", "libgcc-s1", "gcc-12-base"))}) for s in HISTORY[30:40]]
)
OUTCOMES: Counter[str] = Counter()


def mutate_text(text: str, data: st.DataObject) -> str:
    kind = data.draw(st.sampled_from(["truncate", "flip", "insert", "random"]))
    if kind == "truncate":
        return text[: data.draw(st.integers(0, len(text) - 1))]
    if kind == "flip":
        i = data.draw(st.integers(0, len(text) - 1))
        return text[:i] + data.draw(st.characters(codec="utf-8")) + text[i + 1 :]
    if kind == "insert":
        i = data.draw(st.integers(0, len(text)))
        return text[:i] + data.draw(st.text(max_size=20)) + text[i:]
    return data.draw(st.text(max_size=200))


def mutate_graph(data: st.DataObject, text: str = GRAPH_TEXT) -> str:
    g = json.loads(text)
    kind = data.draw(st.sampled_from(["drop", "cycle", "types", "dup", "text", "empty", "shape", "invalid"]))
    if kind == "drop":  # a referenced path goes missing
        referenced = sorted({r for e in g for r in e["references"]})
        victim = data.draw(st.sampled_from(referenced))
        g = [e for e in g if e["path"] != victim]
    elif kind == "cycle":
        a, b = data.draw(st.sampled_from([(e, r) for e in g for r in e["references"]]))
        next(e for e in g if e["path"] == b)["references"].append(a["path"])
    elif kind == "types":
        e = data.draw(st.sampled_from(g))
        field = data.draw(st.sampled_from(["narSize", "references", "path"]))
        e[field] = data.draw(st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.text(max_size=5), st.lists(st.integers(), max_size=2)))
    elif kind == "dup":
        e = dict(data.draw(st.sampled_from(g)))
        e["narSize"] = (e.get("narSize") or 0) + 1
        g.append(e)
    elif kind == "empty":
        g = []
    elif kind == "invalid":  # a path the store does not hold, as `nix path-info --json` reports one
        e = data.draw(st.sampled_from(g))
        g[g.index(e)] = {"path": e["path"], "valid": False}
    elif kind == "shape":
        return json.dumps(data.draw(st.one_of(st.integers(), st.text(), st.dictionaries(st.text(max_size=3), st.integers(), max_size=3))))
    else:
        return mutate_text(text, data)
    # the same graph as each Nix prints it: a list (before 2.19), an object keyed by path (2.19 to 2.32,
    # Lix), `--json-format 2` (2.33 and later); a path the store lacks is `"valid": false` or null
    shape = data.draw(st.sampled_from(["list", "by-path", "format-2"]))
    if shape == "by-path":
        return json.dumps({str(e.get("path")): None if e.get("valid") is False else _as_format2(e, base=False) for e in g})
    if shape == "format-2":
        return json.dumps({"info": {_base(e.get("path")): None if e.get("valid") is False else _as_format2(e) for e in g}})
    return json.dumps(g)


def _base(path: object) -> str:
    return path.rsplit("/", 1)[-1] if isinstance(path, str) else str(path)


def _as_format2(entry: dict[str, object], base: bool = True) -> dict[str, object]:
    """An entry as an object keyed by its path holds it: without ``path`` (and, in format 2, with
    references as base names)."""
    refs = entry.get("references")
    out = {k: v for k, v in entry.items() if k != "path"}
    out["references"] = [_base(r) for r in refs] if isinstance(refs, list) and base else refs
    return out


def run_cli(argv: list[str]) -> tuple[int, str]:
    err = io.StringIO()
    out = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        code = main(argv)
    return code, err.getvalue()


def check_outcome(code: int, stderr: str, out: Path, label: str) -> None:
    assert "Traceback" not in stderr, stderr
    if code == 0:
        OUTCOMES[f"{label}: valid"] += 1
        return
    assert code == 2, (code, stderr)
    assert stderr.strip().split("\n")[-1].startswith(("gitmine: error:", "Usage:", "Error:")) or label == "check", stderr
    assert not out.exists(), "an output was written for bad input"
    OUTCOMES[f"{label}: rejected"] += 1


def fuzz_layout(data: st.DataObject) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        bad_hints = data.draw(st.booleans())
        (t / "h.toml").write_text(mutate_text(HINTS_TEXT, data) if bad_hints else HINTS_TEXT)
        (t / "g.json").write_text(GRAPH_TEXT if bad_hints else mutate_graph(data))
        out = t / "layers.json"
        pipeline = data.draw(st.booleans())  # or nixpkgs dockerTools' layeringPipeline
        argv = ["layout", "--hints", str(t / "h.toml"), "-o", str(out), str(t / "g.json")]
        code, stderr = run_cli(argv + (["--pipeline"] if pipeline else []))
        if code == 0:
            written = json.loads(out.read_text())
            assert isinstance(written, list) and written
            if not pipeline:
                flat = [p for layer in written for p in layer]
                assert len(flat) == len(set(flat)) and all(written)
            out.unlink()
        check_outcome(code, stderr, out, "layout --pipeline" if pipeline else "layout")


def fuzz_nix_build(data: st.DataObject) -> None:
    """`layout --nix-build`, as a Nix builder runs it, with damaged structured attributes (`.attrs.json`)."""
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        out = t / "layers.json"
        (t / "h.toml").write_text(HINTS_TEXT)
        good = json.dumps({"outputs": {"out": str(out)}, "graph": GRAPH})
        (t / "attrs.json").write_text(mutate_text(good, data) if data.draw(st.booleans()) else good.replace(GRAPH_TEXT, mutate_graph(data)))
        os.environ["NIX_ATTRS_JSON_FILE"] = str(t / "attrs.json")
        try:
            code, stderr = run_cli(["layout", "--nix-build", "--hints", str(t / "h.toml")])
        finally:
            del os.environ["NIX_ATTRS_JSON_FILE"]
        if code == 0:  # written where the attributes said: a mutation may have moved it
            written = Path(json.loads((t / "attrs.json").read_text())["outputs"]["out"])
            assert json.loads(written.read_text()), "an empty layers file"
            written.unlink()
        check_outcome(code, stderr, out, "layout --nix-build")


def fuzz_check(data: st.DataObject) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        (t / "h.toml").write_text(mutate_text(HINTS_TEXT, data))
        code, stderr = run_cli(["check", str(t / "h.toml")])
        check_outcome(code, stderr, t / "never-written", "check")


def mutate_history(data: st.DataObject) -> bytes:
    lines = list(data.draw(st.sampled_from([HISTORY_LINES, TWO_IMAGE_LINES])))
    kind = data.draw(st.sampled_from(["line", "graph", "date", "drop", "repeat", "swap", "gzip-cut", "gzip-damage"]))
    i = data.draw(st.integers(0, len(lines) - 1))
    if kind == "line":
        lines[i] = mutate_text(lines[i], data)
    elif kind == "graph":
        obj = json.loads(lines[i])
        closure = obj["closure"] if "closure" in obj else obj["closures"][data.draw(st.sampled_from(sorted(obj["closures"])))]
        graph = mutate_graph(data, json.dumps(closure))
        lines[i] = lines[i].replace(json.dumps(closure), graph) if graph else lines[i]
    elif kind == "date":
        obj = json.loads(lines[i])
        obj["date"] = data.draw(st.one_of(st.none(), st.text(max_size=12), st.sampled_from(["2024-02-30", "2023-01-01", "2030-12-31T23:59:59Z"])))
        lines[i] = json.dumps(obj)
    elif kind == "drop":
        del lines[i]
    elif kind == "repeat":
        lines.insert(i, lines[i])
    elif kind == "swap":
        j = data.draw(st.integers(0, len(lines) - 1))
        lines[i], lines[j] = lines[j], lines[i]
    raw = "".join(f"{line}\n" for line in lines).encode()
    if kind.startswith("gzip"):
        packed = bytearray(gzip.compress(raw, mtime=0))
        at = data.draw(st.integers(10, len(packed) - 1))
        if kind == "gzip-cut":
            return bytes(packed[:at])
        packed[at] ^= data.draw(st.integers(1, 255))
        return bytes(packed)
    return raw


def fuzz_history(data: st.DataObject) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        history, out = t / "history.jsonl", t / "hints.toml"
        history.write_bytes(mutate_history(data))
        analyze = ["analyze", "--from-closures", str(history), "--since", "all", "--max-layers", "4", "--output", str(out), "--json"]
        code, stderr = run_cli(analyze)
        if code == 0:
            # what gitmine writes, gitmine reads: `check` accepts it and a rerun starts from it, also a
            # rerun on the images merged into one (a file of two images holds more layers than the budget)
            assert out.exists(), "analyze succeeded without writing its hint file"
            merged = t / "merged.jsonl"
            write_history(merged, [Snapshot(s.rev, s.date, {"image": s.closure()}) for s in load_history(history)])
            rerun_merged = [str(merged) if a == str(history) else a for a in analyze]
            for argv in (["check", str(out)], analyze, rerun_merged, ["check", str(out)]):
                again, said = run_cli(argv)
                assert again == 0, f"{argv[0]} of the hint file analyze wrote: exit {again}: {said}"
            out.unlink()
        check_outcome(code, stderr, out, "analyze --from-closures")
        # the folds, or a release pipeline re-planning before releases (from a young repository's first week)
        how = data.draw(st.sampled_from([["--test", "2"], ["--replan-every", "1"], ["--replan-every", "2", "--start", "1"]]))
        replay_argv = ["replay", str(history), "--train", "2", *how, "--max-layers", "4", "--json", "--strategy", "gitmine", "--strategy", "autolayer"]
        code, stderr = run_cli(replay_argv)
        check_outcome(code, stderr, t / "never-written", "replay")


SETTINGS_EXTRA = 'jobs = 2\nevery = "commit"\nuntil = "1w"\nderive = false\neval-timeout = 60\n'


def fuzz_settings(repo: Path, text: str, data: st.DataObject) -> None:
    """`gitmine analyze` of ``repo`` (evaluations cached) with a mutation of its `gitmine.toml`."""
    (repo / "gitmine.toml").write_text(mutate_text(text, data))
    out = repo.parent / "hints.toml"
    code, stderr = run_cli(["analyze", str(repo), "--cache-dir", str(repo.parent / "cache"), "--output", str(out), "--json"])
    if code == 0:
        assert out.exists(), "analyze succeeded without writing its hint file"
        out.unlink()
    check_outcome(code, stderr, out, "analyze (gitmine.toml)")


def main_() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--examples", type=int, default=2000)
    n = ap.parse_args().examples
    run = settings(max_examples=n, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    run(given(st.data())(fuzz_layout))()
    run(given(st.data())(fuzz_nix_build))()
    run(given(st.data())(fuzz_check))()
    run(given(st.data())(fuzz_history))()
    if shutil.which("nix"):
        with tempfile.TemporaryDirectory() as tmp:
            repo = Path(tmp) / "repo"
            code, stderr = run_cli(["example", str(repo)])
            assert code == 0, stderr
            text = SETTINGS_EXTRA + (repo / "gitmine.toml").read_text()
            settings(run, max_examples=max(1, n // 10))(given(st.data())(lambda data: fuzz_settings(repo, text, data)))()
    else:
        print("nix is not installed: gitmine.toml not fuzzed", file=sys.stderr)
    total = sum(OUTCOMES.values())
    print(f"{total} cases, no traceback, every rejection exit 2 with nothing written:")
    for k, v in sorted(OUTCOMES.items()):
        print(f"  {k}: {v}")


if __name__ == "__main__":
    sys.exit(main_())
