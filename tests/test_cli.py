"""The CLI's contract: JSON on stdout, one-line errors with exit codes, nothing half-written."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest

from gitmine import hints as hintfile
from gitmine.baselines import BASELINES
from gitmine.cli import main
from gitmine.planner import plan
from gitmine.recorded import load_history
from gitmine.replay import score_releases
from gitmine.stats import compute_statistics
from tests.conftest import SMALL_HISTORIES, store


@pytest.fixture(scope="module")
def hint_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("h") / "hints.toml"
    snaps = load_history(SMALL_HISTORIES[0])
    hintfile.write(plan(compute_statistics(snaps[:26]), 8), path)
    return path


@pytest.fixture(scope="module")
def graph_path(tmp_path_factory):
    snaps = load_history(SMALL_HISTORIES[0])
    path = tmp_path_factory.mktemp("g") / "graph.json"
    path.write_text(json.dumps(next(iter(snaps[30].closures.values())).to_json()))
    return path


def run(*args: str, stdin: str | None = None, cwd: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gitmine.cli", *args], capture_output=True, text=True, input=stdin, cwd=cwd)


def test_layout_prints_layers_file(hint_path, graph_path):
    proc = run("layout", "--hints", str(hint_path), str(graph_path))
    assert proc.returncode == 0, proc.stderr
    layers = json.loads(proc.stdout)
    graph = json.loads(graph_path.read_text())
    assert sorted(p for layer in layers for p in layer) == sorted(e["path"] for e in graph)
    assert len(layers) <= 8
    assert "warning" not in proc.stderr
    dash = run("layout", "--hints", str(hint_path), str(graph_path), "-o", "-", cwd=str(graph_path.parent))
    assert dash.stdout == proc.stdout and not (graph_path.parent / "-").exists()  # -o -: standard output


def test_layout_writes_the_docker_pipeline_of_the_split(hint_path, graph_path):
    from gitmine.closure import parse_graph
    from gitmine.pipeline import peel
    from tests.test_pipeline import run_pipeline

    split = json.loads(run("layout", "--hints", str(hint_path), str(graph_path)).stdout)
    proc = run("layout", "--hints", str(hint_path), str(graph_path), "--pipeline", "--explain")
    assert proc.returncode == 0, proc.stderr
    closure = parse_graph(graph_path.read_text())
    layers = run_pipeline(json.loads(proc.stdout), closure)
    assert layers == peel(split, closure)
    assert f"the pipeline makes {len(layers)} layers of these" in " ".join(proc.stderr.split())


def test_layout_warns_when_the_hints_do_not_know_the_closure(hint_path, tmp_path):
    other = tmp_path / "other.json"
    foo = "/nix/store/" + "0" * 32 + "-foo-1.0"
    other.write_text(json.dumps([
        {"path": foo, "narSize": 1000, "references": []},
        {"path": "/nix/store/" + "1" * 32 + "-bar-2.0", "narSize": 10, "references": [foo]},
    ]))  # fmt: skip
    proc = run("layout", "--hints", str(hint_path), str(other))
    assert proc.returncode == 0, proc.stderr
    assert len(json.loads(proc.stdout)) == 1  # still a valid layers file: one layer of new keys
    assert "warning: 100% of the closure (2 of 2 paths) is in keys" in " ".join(proc.stderr.split())


def test_layout_from_stdin_with_explain_and_output(hint_path, graph_path, tmp_path):
    out = tmp_path / "layers.json"
    proc = run("layout", "--hints", str(hint_path), "--max-layers", "4", "--explain", "-o", str(out), "-", stdin=graph_path.read_text())
    assert proc.returncode == 0, proc.stderr
    assert len(json.loads(out.read_text())) <= 4
    assert "layers, bottom first" in proc.stderr and "change rate" in proc.stderr


@pytest.mark.parametrize(
    "graph, message",
    [
        ("[{", "malformed JSON"),
        ('[{"path": "/nix/store/a", "narSize": 1, "references": ["/nix/store/b"]}]', "not in the graph"),
        ("[]", "empty"),
    ],
)
def test_layout_bad_graph_exit_2_nothing_written(hint_path, tmp_path, graph, message):
    g = tmp_path / "g.json"
    g.write_text(graph)
    out = tmp_path / "out.json"
    proc = run("layout", "--hints", str(hint_path), "-o", str(out), str(g))
    assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr
    assert not out.exists() and proc.stdout == ""


def test_an_error_quoting_a_path_with_a_newline_in_it_stays_one_line(hint_path, tmp_path):
    g = tmp_path / "g.json"
    g.write_text(json.dumps([{"path": "/nix/store/a", "narSize": 1, "references": ["/nix/store/b\n\tc\x1b[31m"]}]))
    proc = run("layout", "--hints", str(hint_path), str(g))
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    assert proc.stderr.startswith("gitmine: error: ") and "references /nix/store/b\\n\\tc\\x1b[31m, which is not in the graph" in proc.stderr


def test_layout_bad_hint_file(tmp_path, graph_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("schema = 2\n")
    proc = run("layout", "--hints", str(bad), str(graph_path))
    assert proc.returncode == 2 and "schema 2 is not supported" in proc.stderr


def test_layout_and_check_read_the_hint_file_analyze_writes_here(hint_path, graph_path, tmp_path):
    missing_layout = run("layout", str(graph_path), cwd=str(tmp_path))
    missing_check = run("check", cwd=str(tmp_path))
    assert missing_layout.returncode == missing_check.returncode == 2
    assert "no layer-hints.toml in this directory; pass --hints FILE" in missing_layout.stderr
    assert "no layer-hints.toml in this directory; pass its path" in missing_check.stderr
    (tmp_path / "layer-hints.toml").write_text(hint_path.read_text())
    proc = run("layout", str(graph_path), cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == run("layout", "--hints", str(hint_path), str(graph_path)).stdout
    ok = run("check", cwd=str(tmp_path))
    assert ok.returncode == 0 and "layer-hints.toml: valid" in ok.stderr
    other = tmp_path / "other.json"
    other.write_text(json.dumps([{"path": "/nix/store/" + "0" * 32 + "-foo-1.0", "narSize": 1, "references": []}]))
    warned = run("layout", str(other), cwd=str(tmp_path))
    assert warned.returncode == 0 and "is in keys layer-hints.toml does not list" in " ".join(warned.stderr.split())


def test_layout_and_check_in_a_subdirectory_read_the_hint_file_analyze_writes_for_the_repository(
    hint_path, graph_path, tmp_path
):
    repo = tmp_path / "repo"
    (repo / "deploy").mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    missing = run("check", cwd=str(repo / "deploy"))
    assert missing.returncode == 2 and f"nor at {repo / 'layer-hints.toml'}" in missing.stderr
    (repo / "layer-hints.toml").write_text(hint_path.read_text())
    ok = run("check", cwd=str(repo / "deploy"))
    assert ok.returncode == 0 and f"{repo / 'layer-hints.toml'}: valid" in ok.stderr
    # where gitmine.toml tells analyze to write it
    (repo / "gitmine.toml").write_text('output = "deploy/hints.toml"\n')
    (repo / "layer-hints.toml").rename(repo / "deploy" / "hints.toml")
    laid = run("layout", str(graph_path), cwd=str(repo))
    assert laid.returncode == 0, laid.stderr
    assert laid.stdout == run("layout", "--hints", str(hint_path), str(graph_path)).stdout


def test_layout_as_a_nix_builder_outside_a_build_says_what_it_lacks(hint_path, tmp_path):
    env = dict(os.environ, NIX_ATTRS_JSON_FILE=str(tmp_path / "missing.json"))
    proc = subprocess.run([sys.executable, "-m", "gitmine.cli", "layout", "--nix-build", "--hints", str(hint_path)],
                          capture_output=True, text=True, env=env, cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 2 and "missing.json: cannot read the structured attributes" in proc.stderr
    env["NIX_ATTRS_JSON_FILE"] = str(tmp_path / "attrs.json")
    for attrs, said in [
        ("{}", "attrs.json: no outputs.out path in the structured attributes"),
        ('{"outputs": {"out": 5}, "graph": []}', "attrs.json: no outputs.out path in the structured attributes"),
        ('{"outputs": {"out": "/nix/store/x"}}', "no closure graph in the structured attributes; set `exportReferencesGraph"),
    ]:
        (tmp_path / "attrs.json").write_text(attrs)
        proc = subprocess.run([sys.executable, "-m", "gitmine.cli", "layout", "--nix-build", "--hints", str(hint_path)],
                              capture_output=True, text=True, env=env, cwd=tmp_path)  # fmt: skip
        assert proc.returncode == 2 and said in proc.stderr, proc.stderr


def test_an_error_nobody_foresaw_is_one_line_exit_70_and_debug_shows_it(hint_path, monkeypatch, capsys):
    import gitmine.hints

    def broken(text: str) -> list[str]:
        raise RuntimeError("boom")

    monkeypatch.setattr(gitmine.hints, "problems", broken)
    assert main(["check", str(hint_path)]) == 70
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "gitmine: internal error: RuntimeError: boom" in err and "--debug" in err
    with pytest.raises(RuntimeError, match="boom"):
        main(["--debug", "check", str(hint_path)])


def test_check_valid_and_invalid(hint_path, tmp_path):
    ok = run("check", str(hint_path))
    assert ok.returncode == 0 and "valid" in ok.stderr
    bad = tmp_path / "bad.toml"
    bad.write_text(hint_path.read_text().replace("[analysis]", "extra = 1\n[analysis]"))
    proc = run("check", str(bad))
    assert proc.returncode == 2 and "unknown top-level key `extra`" in proc.stderr


def test_analyze_from_closures_json_summary(tmp_path):
    out = tmp_path / "h.toml"
    proc = run("analyze", "--from-closures", str(SMALL_HISTORIES[0]), "--since", "2025-01-01", "--until", "2025-06-30",
               "--max-layers", "8", "--output", str(out), "--json")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["layers"] <= 8 and summary["snapshots"] == 26
    assert summary["window"] == {"since": "2025-01-01", "until": "2025-06-30", "first": "2025-01-05", "last": "2025-06-29"}
    by_key = {k["key"]: k for k in summary["key_stats"]}
    assert set(by_key) >= {"libc6", "app"} and by_key["app"]["changes"] == 25 and by_key["app"]["rate"] == 1.0
    assert by_key["libc6"]["first_seen"] == "bw-2025-01-05"
    assert hintfile.load(out).analysis.snapshots == 26
    expected = summary["expected_per_release"]
    assert 0 < expected["lower_bound"] <= expected["pull"] <= expected["unpack"]
    assert expected["pull_ratio"] == round(expected["pull"] / expected["lower_bound"], 4)
    # auto-layer's figure is what it cost over the analysed releases, and more than gitmine expects
    auto = expected["autolayer"]
    snaps = load_history(SMALL_HISTORIES[0], since="2025-01-01", until="2025-06-30")
    scores = list(score_releases([s.closure() for s in snaps], lambda c: BASELINES["autolayer"](c, 8)))
    assert auto["how"] == "measured over the analysed releases"
    assert auto["pull"] == round(sum(s[0] for s in scores) / len(scores))
    assert auto["lower_bound"] == round(sum(s[2] for s in scores) / len(scores))
    assert expected["pull_ratio"] < auto["pull_ratio"] and expected["unpack_ratio"] < auto["unpack_ratio"]
    # bytes that compare with auto-layer's: gitmine's ratios on the lower bound auto-layer was measured on
    estimate = expected["estimate"]
    assert estimate["lower_bound"] == auto["lower_bound"]
    assert estimate["pull"] == round(expected["pull_ratio"] * auto["lower_bound"]) < auto["pull"]
    assert estimate["unpack"] == round(expected["unpack_ratio"] * auto["lower_bound"]) < auto["unpack"]


@pytest.mark.parametrize(
    "extra, flag",
    [(["--check"], "--check"), (["--attr", "image"], "--attr"), (["--record", "r.jsonl"], "--record"),
     (["--no-build"], "--build/--no-build"), (["--every", "1d"], "--every"), (["somewhere"], "REPO")],
)  # fmt: skip
def test_from_closures_refuses_what_only_a_repository_takes(tmp_path, extra, flag):
    # `--check` used to be ignored here: the hint file was written, the opposite of what it promises
    out = tmp_path / "h.toml"
    proc = run("analyze", "--from-closures", str(SMALL_HISTORIES[0]), "--output", str(out), *extra, cwd=str(tmp_path))
    assert proc.returncode == 2 and f"{flag} works on a repository, not with --from-closures" in proc.stderr
    assert not out.exists()


def test_an_output_directory_that_does_not_exist_is_said_before_the_run(tmp_path):
    # not after evaluating six months of commits
    repo = tmp_path / "repo"
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    for flag in ("--output", "--record"):
        proc = run("analyze", str(repo), "--attr", "image", flag, str(tmp_path / "no" / "f"))
        assert proc.returncode == 2 and f"{flag} {tmp_path / 'no' / 'f'}: directory" in proc.stderr, proc.stderr
        assert "does not exist; create it first" in proc.stderr
        proc = run("analyze", str(repo), "--attr", "image", flag, str(tmp_path))
        assert proc.returncode == 2 and f"{flag} {tmp_path} is a directory; name the file to write" in proc.stderr
        proc = run("analyze", str(repo), "--attr", "image", flag, "-", cwd=str(tmp_path))  # not a file named "-"
        assert proc.returncode == 2 and f"{flag} -: name a file to write (--json prints" in proc.stderr
    proc = run("analyze", "--from-closures", str(SMALL_HISTORIES[0]), "--output", "-", cwd=str(tmp_path))
    assert proc.returncode == 2 and "--output -: name a file to write" in proc.stderr and not (tmp_path / "-").exists()


def test_the_summary_lists_ten_failures_and_counts_the_rest(tmp_path, capsys):
    from gitmine.cli import _show_summary
    from gitmine.units import mb

    proc = run("analyze", "--from-closures", str(SMALL_HISTORIES[0]), "--output", str(tmp_path / "h.toml"), "--json")
    summary = json.loads(proc.stdout)
    summary["failures"] = [{"commit": f"{i:040x}", "image": "image", "error": f"error {i}"} for i in range(12)]
    _show_summary(summary, as_json=False)
    err = capsys.readouterr().err
    assert "error 9" in err and "error 10" not in err and "and 2 more failures" in err
    estimate, auto = summary["expected_per_release"]["estimate"], summary["expected_per_release"]["autolayer"]
    assert f"{mb(estimate['pull'])} pulled" in err and f"{mb(auto['pull'])} pulled" in err
    assert f"{mb(auto['lower_bound'])} of new store paths per release" in err


def test_a_rerun_without_a_budget_keeps_the_hint_files(tmp_path):
    out = tmp_path / "h.toml"
    args = ("analyze", "--from-closures", str(SMALL_HISTORIES[0]), "--output", str(out))
    assert run(*args, "--max-layers", "12").returncode == 0 and hintfile.load(out).max_layers == 12
    assert run(*args).returncode == 0 and hintfile.load(out).max_layers == 12
    assert run(*args, "--fresh").returncode == 0 and hintfile.load(out).max_layers == 12
    out.unlink()
    assert run(*args).returncode == 0 and hintfile.load(out).max_layers == 100


def test_a_budget_docker_cannot_run_is_warned_of(tmp_path):
    out = tmp_path / "h.toml"
    deep = "max-layers 126: Docker refuses images of more than 125"
    proc = run("analyze", "--from-closures", str(SMALL_HISTORIES[0]), "--max-layers", "126", "--output", str(out), "--json")
    assert any(w.startswith(deep) for w in json.loads(proc.stdout)["warnings"])
    assert deep in run("check", str(out)).stderr
    proc = run("analyze", "--from-closures", str(SMALL_HISTORIES[0]), "--max-layers", "125", "--output", str(out), "--json")
    assert not any("Docker refuses" in w for w in json.loads(proc.stdout)["warnings"])
    # a layout of more layers than that, whatever the budget that allowed it
    paths = [store(f"k{i}-1.0") for i in range(130)]
    (tmp_path / "g.json").write_text(json.dumps([{"path": p, "narSize": 1000, "references": []} for p in paths]))
    layers = tuple(hintfile.HintLayer((f"k{i}",), 1000, 0.1, 0.1) for i in range(130))
    analysis = hintfile.Analysis(images=(), rev_range="", snapshots=2, transitions=1, max_layers=130, planner="test")
    (tmp_path / "wide.toml").write_text(hintfile.render(hintfile.Hints(analysis, layers)))
    wide = run("layout", "--hints", str(tmp_path / "wide.toml"), str(tmp_path / "g.json"))
    assert wide.returncode == 0 and len(json.loads(wide.stdout)) == 130
    assert "warning: 130 layers: Docker refuses images of more than 125" in wide.stderr
    narrow = run("layout", "--hints", str(tmp_path / "wide.toml"), "--max-layers", "100", str(tmp_path / "g.json"))
    assert len(json.loads(narrow.stdout)) == 100 and "Docker" not in narrow.stderr


def test_analyze_a_window_of_few_releases_says_the_hints_rest_on_the_prior(tmp_path):
    closure = load_history(SMALL_HISTORIES[0])[0].closure().to_json()
    referred = {r for e in closure for r in e["references"]}
    top = next(e for e in closure if e["path"] not in referred)  # nothing refers to it: a new hash changes only it
    lines = []
    for i in range(4):
        top["path"] = top["path"][:11] + f"{i:032d}" + top["path"][43:]
        lines.append(json.dumps({"rev": f"r{i}", "date": f"2025-01-{1 + 7 * i:02d}", "closure": closure}))
    history = tmp_path / "few.jsonl"
    history.write_text("\n".join(lines) + "\n")
    proc = run("analyze", "--from-closures", str(history), "--max-layers", "8", "--output", str(tmp_path / "h.toml"), "--json")
    assert proc.returncode == 0, proc.stderr
    (warning,) = json.loads(proc.stdout)["warnings"]
    assert warning.startswith("only 3 analysed releases changed the image: the hints rest mostly on what is typical")
    assert warning.endswith("in a young repository, re-run `gitmine analyze` before releases as the history grows")


def test_analyze_a_window_in_which_the_image_never_changed(tmp_path):
    closure = load_history(SMALL_HISTORIES[0])[0].closure().to_json()
    history = tmp_path / "same.jsonl"
    lines = [json.dumps({"rev": f"r{i}", "date": f"2025-01-{1 + 7 * i:02d}", "closure": closure}) for i in range(4)]
    history.write_text("\n".join(lines) + "\n")
    args = ("analyze", "--from-closures", str(history), "--max-layers", "8", "--output", str(tmp_path / "h.toml"))
    proc = run(*args, "--json")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["most_volatile"] == [] and summary["layers"] == 8
    assert summary["expected_per_release"]["pull"] == 0
    (warning,) = summary["warnings"]
    assert warning.startswith("only 0 of the 3 analysed releases changed the image") and "--since" in warning
    assert "none: the image did not change in the window" in run(*args).stderr
    one = tmp_path / "one.jsonl"  # a single snapshot (every other commit failed): no "0 of the 0 releases"
    one.write_text(lines[0] + "\n")
    proc = run("analyze", "--from-closures", str(one), "--max-layers", "8", "--output", str(tmp_path / "h1.toml"), "--json")
    (warning,) = json.loads(proc.stdout)["warnings"]
    assert warning.startswith("only one snapshot was analysed") and "--since" in warning


def _two_sources(path: Path, assets_size: int, assets_change: bool) -> dict:  # type: ignore[type-arg]
    """Analyse eight releases of an image with the flake's own `source` (new at every release) and a
    fetched `source` of ``assets_size`` bytes, new at every release too if ``assets_change``."""
    lines = []
    for i in range(8):
        assets = {"path": store("source", "bcdfghjk"[i] if assets_change else "a"), "narSize": assets_size, "references": []}
        own = {"path": store("source", "lmnpqrsv"[i]), "narSize": 20_000, "references": []}
        app = {"path": store(f"app-1.{i}", "lmnpqrsv"[i]), "narSize": 1_000, "references": [assets["path"], own["path"]]}
        lines.append(json.dumps({"rev": f"r{i}", "date": f"2025-01-{1 + 3 * i:02d}", "closure": [assets, own, app]}))
    history = path / "sources.jsonl"
    history.write_text("\n".join(lines) + "\n")
    proc = run("analyze", "--from-closures", str(history), "--max-layers", "4", "--output", str(path / "h.toml"), "--json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)  # type: ignore[no-any-return]


def test_analyze_warns_of_a_key_whose_paths_do_not_change_together(tmp_path):
    # one key, so one layer: the 5 MB that never change are pulled again at every release
    (warning,) = _two_sources(tmp_path, 5_000_000, assets_change=False)["warnings"]
    assert warning.startswith("`source` names 2 store paths, which share a layer: source (5.00 MB) was pulled again at 7 ")
    assert "a name of its own" in warning
    # paths that change together, or one that stays but is small: nothing to say
    assert _two_sources(tmp_path, 5_000_000, assets_change=True)["warnings"] == []
    assert _two_sources(tmp_path, 500_000, assets_change=False)["warnings"] == []


def _build_info(path: Path, under_the_library: bool) -> list[str]:
    """Warnings of eight releases of an image whose `build-info` (the commit's revision) is new at every
    release, referenced by a 30 MB library that the application uses, or by the small entrypoint only."""
    lines = []
    for i in range(8):
        info = {"path": store("build-info", "bcdfghjk"[i]), "narSize": 1_000, "references": []}
        base = {"path": store("base-1.0", "a"), "narSize": 50_000_000, "references": []}
        h = "bcdfghjk"[i] if under_the_library else "a"
        lib = {"path": store("libcommon-2.1", h), "narSize": 30_000_000, "references": [base["path"]] + ([info["path"]] if under_the_library else [])}
        app = {"path": store("app-1.0", h), "narSize": 2_000_000, "references": [lib["path"]]}
        entry = {"path": store("entrypoint", "bcdfghjk"[i]), "narSize": 1_000, "references": [app["path"], info["path"]]}
        lines.append(json.dumps({"rev": f"r{i}", "date": f"2025-01-{1 + 3 * i:02d}", "closure": [info, base, lib, app, entry]}))
    history = path / "build-info.jsonl"
    history.write_text("\n".join(lines) + "\n")
    proc = run("analyze", "--from-closures", str(history), "--max-layers", "4", "--output", str(path / "h.toml"), "--json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)["warnings"]  # type: ignore[no-any-return]


def test_analyze_warns_of_a_key_that_changes_at_every_release_under_much_of_the_image(tmp_path):
    # the revision under the library: 32 MB get new store paths at every release, whatever the layers
    (warning,) = _build_info(tmp_path, under_the_library=True)
    assert warning.startswith("`build-info` changed on its own at 7 of the 7 releases that changed the image, and 3 keys ")
    assert "32 MB (39% of the image)" in warning and "put it on top" in warning
    # the same revision read by the entrypoint only: nothing to say
    assert _build_info(tmp_path, under_the_library=False) == []


def test_paths_of_one_key_in_two_images_do_not_share_a_layer():
    # openssl 1.1 in one image, openssl 3 (updated every release) in the other: each image's layer of the key
    # holds its own path only, so the one that stays is never pulled for the other's changes
    from gitmine.closure import Snapshot, StorePath, build_closure
    from gitmine.summary import _shared_keys

    snaps = []
    for i in range(6):
        old = build_closure([StorePath(store("openssl-1.1.1w", "a"), 5_000_000, ())])
        new = build_closure([StorePath(store(f"openssl-3.0.{i}", "bcdfgh"[i]), 6_000_000, ())])
        snaps.append(Snapshot(f"r{i}", f"2025-01-{1 + i:02d}", {"legacy": old, "web": new}))
    assert _shared_keys(snaps) == []
    both = [Snapshot(s.rev, s.date, {"web": s.closure()}) for s in snaps]  # one image holding both: it does
    (warning,) = _shared_keys(both)
    assert warning.startswith("`openssl` names 2 store paths, which share a layer: openssl-1.1.1w (5.00 MB) was pulled again at 5 ")


def test_a_hint_file_of_two_images_with_more_layers_than_the_budget_is_read_back(tmp_path):
    # the budget is per image, so the file holds more layers than max-layers: check, layout and a
    # rerun of analyze read it (they refused it once, as a file of too many layers)
    from gitmine.recorded import write_history
    from tests.conftest import two_images

    snaps = two_images()
    history, out = tmp_path / "two.jsonl", tmp_path / "hints.toml"
    write_history(history, snaps)
    analyze = ("analyze", "--from-closures", str(history), "--since", "all", "--max-layers", "6", "--output", str(out))
    assert run(*analyze).returncode == 0
    written = hintfile.load(out)
    assert len(written.layers) > 6 and written.analysis.images == ("web", "worker")
    proc = run("check", str(out))
    assert proc.returncode == 0, proc.stderr
    assert f"valid: {len(written.layers)} layers, 12 keys, max-layers 6 for each of 2 images" in proc.stderr
    for image, closure in snaps[-1].closures.items():
        graph = tmp_path / f"{image}.json"
        graph.write_text(json.dumps(closure.to_json()))
        proc = run("layout", "--hints", str(out), str(graph))
        assert proc.returncode == 0, proc.stderr
        assert len(json.loads(proc.stdout)) == 6
    again = run(*analyze, "--json")
    assert again.returncode == 0, again.stderr
    assert hintfile.load(out) == written
    previous = json.loads(again.stdout)["previous"]
    assert previous["layers_unchanged"] == previous["layers"] >= len(written.layers)  # a blob per image and layer
    said = re.sub(r"\s*│\s*", " ", run(*analyze).stderr)  # the table's rows, unwrapped
    assert f"{previous['layers']} of the images' {previous['layers']} layers unchanged" in said
    # one image more than the file was made for is still too many
    text = out.read_text().replace('images = ["web", "worker"]', 'images = ["web"]')
    assert hintfile.problems(text) == [f"{len(written.layers)} layers exceed `analysis.max-layers` = 6"]
    assert hintfile.problems(out.read_text().replace("max-layers = 6", "max-layers = 2")) == [
        f"{len(written.layers)} layers exceed `analysis.max-layers` = 2 for each of 2 images (4)"
    ]


def test_replay_json_and_plot(tmp_path):
    plot = tmp_path / "pull.svg"
    proc = run("replay", str(SMALL_HISTORIES[2]), "--max-layers", "8", "--json", "--plot", str(plot))
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    strategies = data["runs"][0]["strategies"]
    assert set(strategies) == {"single", "n2c", "nixpkgs-popularity", "autolayer", "gitmine"}
    assert strategies["gitmine"]["pull"] <= strategies["single"]["pull"]
    assert plot.read_text().startswith("<?xml")
    drawn = plot.read_bytes()  # the same replay draws the same bytes (no date, fixed element ids)
    assert run("replay", str(SMALL_HISTORIES[2]), "--max-layers", "8", "--plot", str(plot)).returncode == 0
    assert plot.read_bytes() == drawn and b"<dc:date>" not in drawn
    assert f"replaying {SMALL_HISTORIES[2].name}, 8 layers" in proc.stderr and "3/3" in proc.stderr  # a step per fold


def test_replay_of_several_histories_adds_their_totals(tmp_path):
    plot = tmp_path / "pull.png"
    histories = [str(SMALL_HISTORIES[0]), str(SMALL_HISTORIES[2])]
    proc = run("replay", *histories, "--max-layers", "8", "--max-layers", "16", "--strategy", "autolayer",
               "--strategy", "gitmine", "--json", "--plot", str(plot))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert [h["history"] for h in data["histories"]] == histories
    assert [t["max_layers"] for t in data["totals"]] == [8, 16]
    for i, total in enumerate(data["totals"]):
        runs = [h["runs"][i] for h in data["histories"]]
        assert total["lower_bound"] == sum(r["lower_bound"] for r in runs)
        for name, s in total["strategies"].items():
            assert s["pull"] == sum(r["strategies"][name]["pull"] for r in runs)
            assert s["unpack"] == sum(r["strategies"][name]["unpack"] for r in runs)
            assert s["pull_ratio"] == round(s["pull"] / total["lower_bound"], 4)
            assert "releases" not in s
    assert plot.read_bytes().startswith(b"\x89PNG")
    table = run("replay", *histories, "--max-layers", "8", "--strategy", "gitmine")
    assert "all 2 histories: 8 layers, 6 folds, 156 releases scored" in table.stderr


def test_replay_reads_since_like_analyze():
    base = ("replay", str(SMALL_HISTORIES[0]), "--max-layers", "8", "--strategy", "gitmine", "--train", "13", "--test", "13")
    everything = json.loads(run(*base, "--json").stdout)["runs"][0]
    last_year = json.loads(run(*base, "--since", "2025-10-26", "--json").stdout)["runs"][0]
    assert len(last_year["folds"]) < len(everything["folds"])
    dates = [r["date"] for r in last_year["strategies"]["gitmine"]["releases"]]
    assert min(dates) >= "2025-10-26"
    bogus = run(*base, "--since", "bogus")
    assert bogus.returncode == 2 and "6months, 2w, 90days, 1y" in bogus.stderr


def test_replay_of_too_short_a_history_says_what_it_spans():
    # 104 weekly snapshots to 2026-10-25: since 2026-06-01 leaves 21 of them, short of one 26+26-week fold
    first = run("replay", str(SMALL_HISTORIES[0]), "--since", "2026-06-01")
    assert first.returncode == 2 and "Traceback" not in first.stderr
    message = " ".join(first.stderr.split())
    assert "snapshots over" in message and "weeks do not cover one fold of 26+26 weeks; lower --train/--test" in message
    suggested = re.search(r"\(e\.g\. (--train \d+ --test \d+)\)", message)
    assert suggested, message  # a split that fits the weeks there are
    assert run("replay", str(SMALL_HISTORIES[0]), "--since", "2026-06-01", *suggested.group(1).split()).returncode == 0


@pytest.mark.parametrize("extra, flag", [(["--attr", "image"], "--attr"), (["--no-build"], "--build/--no-build")])
def test_replay_of_a_recorded_history_refuses_what_only_a_repository_takes(extra, flag):
    proc = run("replay", str(SMALL_HISTORIES[0]), *extra)
    assert proc.returncode == 2 and f"{flag} works on a git repository;" in proc.stderr and "recorded history" in proc.stderr


def test_replay_with_replanning_before_releases():
    proc = run("replay", str(SMALL_HISTORIES[2]), "--max-layers", "8", "--replan-every", "13", "--json",
               "--strategy", "gitmine", "--strategy", "gitmine-fresh")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["replan_every"] == 13
    run0 = data["runs"][0]
    assert set(run0["strategies"]) == {"gitmine", "gitmine-fresh"} and len(run0["folds"]) == 6
    assert "78/78" in proc.stderr  # progress, one step per scored release
    assert run("replay", str(SMALL_HISTORIES[2]), "--replan-every", "0").returncode == 2


def test_replay_of_a_young_repository_starts_early_and_names_start_in_its_errors():
    proc = run("replay", str(SMALL_HISTORIES[2]), "--max-layers", "8", "--replan-every", "26", "--start", "4", "--json",
               "--strategy", "gitmine")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert (data["replan_every"], data["start_weeks"]) == (26, 4)
    folds = data["runs"][0]["folds"]
    assert [f["train"] for f in folds] == [[0, 4], [4, 30], [30, 56], [56, 82]] and folds[-1]["test"] == [82, 104]
    table = run("replay", str(SMALL_HISTORIES[2]), "--max-layers", "8", "--replan-every", "26", "--start", "1", "--strategy", "single")
    title = " ".join(table.stderr.split())  # the title wraps at the terminal's width
    assert table.returncode == 0 and "re-planned 4 times (every 26, the first after 1 week), switches charged" in title
    alone = run("replay", str(SMALL_HISTORIES[2]), "--start", "4")
    assert alone.returncode == 2 and alone.stderr.strip() == "gitmine: error: --start is for --replan-every: folds always learn from --train weeks"
    late = run("replay", str(SMALL_HISTORIES[2]), "--replan-every", "1", "--start", "200")
    assert late.returncode == 2 and "do not cover 200 weeks and a release after them; lower --start (e.g. --start 102)" in late.stderr


def test_unknown_strategy_and_usage_errors():
    assert main(["replay", str(SMALL_HISTORIES[0]), "--strategy", "magic"]) == 2
    assert main(["layout", "--hints", "/nonexistent.toml", "-"]) == 2
    assert main(["frobnicate"]) == 2


def test_cache_commands(tmp_path):
    c = tmp_path / "cache"
    info = run("cache", "info", "--cache-dir", str(c), "--json")
    assert info.returncode == 0 and json.loads(info.stdout)["eval_entries"] == 0
    assert run("cache", "prune", "--older-than", "1w", "--cache-dir", str(c)).returncode == 0
    assert run("cache", "prune", "--older-than", "soon", "--cache-dir", str(c)).returncode == 2
    assert run("cache", "clear", "--cache-dir", str(c)).returncode == 0


def test_history_directory_of_graphs(tmp_path):
    snaps = load_history(SMALL_HISTORIES[0])[:30]
    d = tmp_path / "history"
    d.mkdir()
    for s in snaps:  # file names order the snapshots; any graph format will do
        (d / f"{s.date}.json").write_text(json.dumps(next(iter(s.closures.values())).to_json()))
    from_dir, from_jsonl = tmp_path / "dir.toml", tmp_path / "jsonl.toml"
    assert run("analyze", "--from-closures", str(d), "--max-layers", "8", "--output", str(from_dir)).returncode == 0
    jsonl = tmp_path / "h.jsonl"
    jsonl.write_text("".join(json.dumps({"rev": s.date, "date": s.date, "closure": next(iter(s.closures.values())).to_json()}) + "\n" for s in snaps))
    assert run("analyze", "--from-closures", str(jsonl), "--max-layers", "8", "--output", str(from_jsonl)).returncode == 0
    assert from_dir.read_text() == from_jsonl.read_text()


def test_hint_file_does_not_depend_on_hash_seed(tmp_path):
    texts = set()
    for seed in ("1", "2"):
        out = tmp_path / f"h{seed}.toml"
        proc = subprocess.run(
            [sys.executable, "-m", "gitmine.cli", "analyze", "--from-closures", str(SMALL_HISTORIES[3]), "--max-layers", "8", "--output", str(out)],
            capture_output=True, text=True, env={**os.environ, "PYTHONHASHSEED": seed},
        )
        assert proc.returncode == 0, proc.stderr
        texts.add(out.read_text())
    assert len(texts) == 1


def test_reanalysis_keeps_the_hint_file_in_use_unless_told_to_start_fresh(tmp_path):
    out = tmp_path / "h.toml"
    args = ("analyze", "--from-closures", str(SMALL_HISTORIES[0]), "--max-layers", "8", "--output", str(out), "--json")
    first = json.loads(run(*args, "--since", "2025-04-01", "--until", "2025-10-01").stdout)
    assert first["previous"] == {"path": str(out), "used": False, "note": "none"}
    # half a year later the history suggests a somewhat different split, not worth re-shipping the image
    later = ("--since", "2026-04-01", "--until", "2026-10-01")
    kept = json.loads(run(*args, *later).stdout)
    assert kept["previous"]["used"] and kept["previous"]["layers_unchanged"] == 8
    assert kept["previous"]["switch_pull"] == kept["previous"]["switch_unpack"] == 0
    # a first hint file comes with what to do next; a file in use that was kept does not
    human = [a for a in args if a != "--json"]
    assert "next: commit" not in run(*human, *later).stderr
    other = tmp_path / "other.toml"
    first_run = " ".join(run(*human, *later, "--output", str(other)).stderr.split())
    assert f"next: commit {other} and lay images out" in first_run and f"--hints {other} --explain -" in first_run
    fresh = json.loads(run(*args, *later, "--fresh").stdout)
    assert fresh["previous"]["note"] == "ignored (--fresh)"
    assert fresh["expected_per_release"]["pull"] < kept["expected_per_release"]["pull"]
    # a hint file in use that puts everything in one layer: the new plan pays for its switch at once
    one = hintfile.load(out)
    everything = tuple(sorted(k for layer in one.layers for k in layer.keys))
    hintfile.write(hintfile.Hints(one.analysis, (hintfile.HintLayer(everything, 0, 1.0, 1.0),)), out)
    switched = json.loads(run(*args, *later).stdout)["previous"]
    assert switched["layers_unchanged"] == 0 and switched["switch_pull"] > 0
    assert switched["saving_per_release"]["pull"] > 0 and switched["saving_per_release"]["unpack"] > 0
    # a hint file that cannot be read is replaced by a fresh plan, and the summary says why
    out.write_text("not toml [")
    broken = run(*args, *later)
    assert broken.returncode == 0, broken.stderr
    assert json.loads(broken.stdout)["previous"]["note"].startswith("unreadable, planned from scratch")


def test_a_new_budget_counts_its_switch_from_the_layers_in_use(tmp_path, capsys):
    # the image was built with the file's 8 layers; at 4 layers they cannot all stay, whatever is kept
    from gitmine.cli import _show_summary
    from gitmine.replay import hinted

    out = tmp_path / "h.toml"
    args = ("analyze", "--from-closures", str(SMALL_HISTORIES[0]), "--output", str(out), "--json")
    run(*args, "--max-layers", "8")
    in_use = hintfile.load(out)
    summary = json.loads(run(*args, "--max-layers", "4").stdout)
    prev = summary["previous"]
    assert summary["layers"] == prev["layers"] == 4 and hintfile.load(out).max_layers == 4
    latest = load_history(SMALL_HISTORIES[0])[-1].closure()
    before = {frozenset(layer) for layer in hinted(in_use)(latest)}
    after = [frozenset(layer) for layer in hinted(hintfile.load(out))(latest)]
    assert len(before) == 8 and prev["layers_unchanged"] == sum(layer in before for layer in after) < 4
    assert prev["switch_pull"] > 0 and prev["switch_unpack"] > 0
    # four layers instead of eight cost bytes at every release: the summary says "more", not a negative saving
    assert prev["saving_per_release"]["pull"] < 0
    _show_summary(summary, as_json=False)
    assert "release by +" in capsys.readouterr().err


def test_an_image_whose_closure_is_one_path_gets_a_warning(tmp_path):
    # a buildLayeredImage tarball references nothing: its closure says nothing about its contents
    history = tmp_path / "tarball.jsonl"
    lines = []
    for week in range(8):
        path = f"/nix/store/{str(week) * 32}-docker-image-app.tar.gz"
        closure = [{"path": path, "narSize": 1000, "references": []}]
        when = (date(2025, 1, 1) + timedelta(weeks=week)).isoformat()
        lines.append(json.dumps({"rev": f"r{week}", "date": when, "closure": closure}))
    history.write_text("\n".join(lines) + "\n")
    out = tmp_path / "h.toml"
    proc = run("analyze", "--from-closures", str(history), "--output", str(out), "--json")
    assert proc.returncode == 0, proc.stderr
    (warning,) = json.loads(proc.stdout)["warnings"]
    assert "is one store path (docker-image-app.tar.gz)" in warning and "buildEnv" in warning
    proc = run("analyze", "--from-closures", str(history), "--output", str(out))
    assert "warning: the closure of `image`" in proc.stderr
    normal = run("analyze", "--from-closures", str(SMALL_HISTORIES[0]), "--output", str(tmp_path / "n.toml"), "--json")
    assert json.loads(normal.stdout)["warnings"] == []


def test_version_alone_prints_it():
    from gitmine import __version__

    proc = run("--version")
    assert proc.returncode == 0 and proc.stdout == f"gitmine {__version__}\n"


def test_example_creates_a_repository_and_refuses_what_it_cannot_use(tmp_path):
    target = tmp_path / "demo"
    proc = run("example", str(target), "--commits", "5", "--days", "5")
    assert proc.returncode == 0, proc.stderr
    log = subprocess.run(["git", "log", "--oneline"], cwd=target, capture_output=True, text=True, check=True).stdout
    assert len(log.splitlines()) == 5 and (target / "gitmine.toml").exists() and (target / "flake.nix").exists()
    assert f"now run: gitmine analyze {target}" in " ".join(proc.stderr.split())
    (tmp_path / "file").write_text("x")
    for where, args, message in [
        (target, (), "exists and is not an empty directory"),
        (tmp_path / "file", (), "exists and is not an empty directory"),
        (Path("/proc/no-such-dir/demo"), (), "cannot create /proc/no-such-dir/demo"),
        (tmp_path / "new", ("--commits", "0"), "--commits must be at least 1"),
    ]:
        bad = run("example", str(where), *args)
        assert bad.returncode == 2 and message in bad.stderr and "Traceback" not in bad.stderr, bad.stderr
