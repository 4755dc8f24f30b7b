"""Where Nix users build images: the layersFile builder, the pre-release check, the CI example."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from gitmine import hints as hintfile
from gitmine.fixture import generate
from gitmine.keys import path_key
from tests.conftest import ROOT

pytestmark = [pytest.mark.nix, pytest.mark.usefixtures("needs_nix")]


def gitmine(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, "-m", "gitmine.cli", *args], capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}: {proc.stderr}")
    return proc


@pytest.fixture(scope="module")
def analysed(tmp_path_factory):
    base = tmp_path_factory.mktemp("integration")
    repo = generate(base / "repo", commits=20, days=40)
    gitmine("analyze", str(repo), "--cache-dir", str(base / "cache"))
    return repo, base / "cache"


def test_layers_file_builds_inside_nix(analysed, tmp_path):
    repo, _ = analysed
    exe = shutil.which("gitmine")
    assert exe, "gitmine must be installed (pip install .) for Nix to run it as a builder"
    prefix = Path(exe).resolve().parent.parent
    expr = tmp_path / "layers.nix"
    expr.write_text(
        f"""
let
  image = (import {repo}/default.nix {{ }}).image;
  layersFile = import {ROOT}/nix/layers-file.nix;
in layersFile {{ gitmine = "{prefix}"; hints = {repo}/layer-hints.toml; roots = [ image ]; maxLayers = 6; }}
"""
    )
    out = subprocess.run(["nix-build", str(expr), "--no-out-link"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    layers = json.loads(Path(out.stdout.strip()).read_text())
    image = subprocess.run(["nix-build", f"{repo}/default.nix", "-A", "image", "--no-out-link"], capture_output=True, text=True, check=True).stdout.strip()
    closure = subprocess.run(["nix-store", "-qR", image], capture_output=True, text=True, check=True).stdout.split()
    flat = [p for layer in layers for p in layer]
    assert sorted(flat) == sorted(closure) and len(flat) == len(set(flat))
    assert 1 <= len(layers) <= 6
    position = {path_key(p): i for i, layer in enumerate(layers) for p in layer}
    assert position["app"] == len(layers) - 1  # the app is in the top layer
    assert position["glibc"] < position["app"]


def test_n2c_layers_from_the_layers_file_for_released_nix2container(analysed, tmp_path):
    # the split read back through import-from-derivation, one buildLayer per layer; the buildLayer here
    # exports the closure of its deps as nix2container's does (exportReferencesGraph, in its plain-text
    # form: Nix 2.8 killed a structured-attrs bash builder here now and then, with signal 9, where Nix
    # 2.34 never did), as a real build: the paths must reach it as store paths with their context
    repo, _ = analysed
    prefix = Path(shutil.which("gitmine") or "gitmine").resolve().parent.parent
    expr = tmp_path / "n2c.nix"
    expr.write_text(
        f"""
let
  image = (import {repo}/default.nix {{ }}).image;
  layersFile = import {ROOT}/nix/layers-file.nix {{ gitmine = "{prefix}"; hints = {repo}/layer-hints.toml; roots = [ image ]; maxLayers = 6; }};
  buildLayer = {{ deps, layers }}: derivation {{
    name = "n2c-layer"; system = builtins.currentSystem;
    exportReferencesGraph = builtins.concatLists (builtins.genList (i: [ "g${{toString i}}" (builtins.elemAt deps i) ]) (builtins.length deps));
    builder = "/bin/sh"; args = [ "-c" "/bin/cat g* > $out" ];
  }};
in {{ inherit layersFile; layers = import {ROOT}/nix/n2c-layers.nix {{ inherit buildLayer layersFile; }}; }}
"""
    )
    def build(attr: str) -> list[str]:
        out = subprocess.run(["nix-build", str(expr), "-A", attr, "--no-out-link"], capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        return out.stdout.split()

    split = json.loads(Path(build("layersFile")[0]).read_text())
    built = build("layers")
    assert len(built) == len(split)
    below: set[str] = set()
    contents = []
    for out in built:
        lines, closure, i = Path(out).read_text().splitlines(), set(), 0
        while i < len(lines):  # path, deriver, number of references, the references
            closure.add(lines[i])
            i += 3 + int(lines[i + 2])
        contents.append(closure - below)
        below |= closure
    assert below == {p for layer in split for p in layer}  # every path of the image, each once
    for i, content in enumerate(contents):
        assert content and content <= {p for layer in split[i:] for p in layer}  # a path can only move down
    assert {path_key(p) for p in contents[-1]} >= {"app"} and "glibc" in {path_key(p) for p in contents[0]}


def test_docker_pipeline_builds_inside_nix_and_makes_the_peeled_split(analysed, tmp_path):
    # dockerTools' layeringPipeline, written at build time like the layers file; run (as nixpkgs'
    # flatten_references_graph runs it) on the image's closure, it makes the layers file's split with
    # each dependency in the lowest layer that needs it
    from gitmine.closure import closure_from_json
    from gitmine.pipeline import peel
    from tests.test_pipeline import run_pipeline

    repo, _ = analysed
    prefix = Path(shutil.which("gitmine") or "gitmine").resolve().parent.parent
    expr = tmp_path / "pipeline.nix"
    args = f'gitmine = "{prefix}"; hints = {repo}/layer-hints.toml; roots = [ image ]; maxLayers = 6;'
    expr.write_text(
        f"""
let image = (import {repo}/default.nix {{ }}).image;
in {{ split = import {ROOT}/nix/layers-file.nix {{ {args} }}; pipeline = import {ROOT}/nix/docker-pipeline.nix {{ {args} }}; }}
"""
    )
    out = subprocess.run(["nix-build", str(expr), "--no-out-link"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    pipeline_file, split_file = out.stdout.split()  # nix-build lists the attributes by name
    assert pipeline_file.endswith("-layering-pipeline.json") and split_file.endswith("-layers.json")
    pipeline, split = json.loads(Path(pipeline_file).read_text()), json.loads(Path(split_file).read_text())
    image = subprocess.run(["nix-build", f"{repo}/default.nix", "-A", "image", "--no-out-link"], capture_output=True, text=True, check=True).stdout.strip()
    info = subprocess.run(["nix", "path-info", "--recursive", "--json", image], capture_output=True, text=True, check=True).stdout
    closure = closure_from_json(json.loads(info))
    layers = run_pipeline(pipeline, closure)
    assert layers == peel(split, closure) and sorted(p for layer in layers for p in layer) == sorted(closure.paths)
    assert "image-root" in {path_key(p) for p in layers[-1]} and "glibc" in {path_key(p) for p in layers[0]}
    assert len(layers) >= 3 and pipeline[0][0] == "subcomponent_out"


def test_layers_file_in_a_flake_needs_no_system(analysed, tmp_path):
    # flakes evaluate purely, where builtins.currentSystem does not exist: the function takes the
    # system of the gitmine package it is given, and writes the same layers as nix-build does
    repo, _ = analysed
    prefix = Path(shutil.which("gitmine") or "").resolve().parent.parent
    system = subprocess.run(["nix", "eval", "--impure", "--raw", "--expr", "builtins.currentSystem"],
                            capture_output=True, text=True, check=True).stdout  # fmt: skip
    flake = tmp_path / "flake"
    subprocess.run(["git", "clone", "-q", str(repo), str(flake)], check=True)
    shutil.copy(ROOT / "nix" / "layers-file.nix", flake / "layers-file.nix")
    (flake / "flake.nix").write_text(
        f"""{{
  outputs = {{ self }}: {{
    layers = import ./layers-file.nix {{
      gitmine = {{ outPath = "{prefix}"; system = "{system}"; }};  # what a package offers
      hints = ./layer-hints.toml;
      roots = [ (import ./default.nix {{ system = "{system}"; }}).image ];
      maxLayers = 6;
    }};
  }};
}}
"""
    )
    shutil.copy(repo / "layer-hints.toml", flake / "layer-hints.toml")
    subprocess.run(["git", "add", "-A"], cwd=flake, check=True)
    built = subprocess.run(["nix", "build", "--no-link", "--print-build-logs", f"{flake}#layers"], capture_output=True, text=True)
    assert built.returncode == 0, built.stderr
    drv = subprocess.run(["nix", "eval", "--raw", f"{flake}#layers.outPath"], capture_output=True, text=True, check=True).stdout
    layers = json.loads(Path(drv).read_text())
    expr = tmp_path / "layers.nix"
    expr.write_text(
        f"""
let image = (import {repo}/default.nix {{ }}).image;
in import {ROOT}/nix/layers-file.nix {{ gitmine = "{prefix}"; hints = {repo}/layer-hints.toml; roots = [ image ]; maxLayers = 6; }}
"""
    )
    impure = subprocess.run(["nix-build", str(expr), "--no-out-link"], capture_output=True, text=True, check=True).stdout.strip()
    assert layers == json.loads(Path(impure).read_text())


def test_check_is_clean_then_stale(analysed, tmp_path):
    repo, cache = analysed
    report = tmp_path / "report.md"
    ok = gitmine("analyze", str(repo), "--check", "--cache-dir", str(cache), "--report", str(report), "--json")
    data = json.loads(ok.stdout)
    assert data["check"]["stale"] is False and "up to date" in report.read_text()
    hints_path = repo / "layer-hints.toml"
    text = hints_path.read_text()
    h = hintfile.parse(text)
    moved_key = h.layers[-1].keys[0]
    edited = text.replace(f'"{moved_key}"', '"placeholder"', 1)
    hints_path.write_text(edited)
    try:
        stale = gitmine("analyze", str(repo), "--check", "--cache-dir", str(cache), "--report", str(report), "--json", check=False)
        assert stale.returncode == 1
        d = json.loads(stale.stdout)["check"]
        assert d["stale"] and moved_key in d["new_keys"] and "placeholder" in d["removed_keys"]
        assert "stale" in report.read_text() and f"`{moved_key}`" in report.read_text()
        # the key the file lost was laid out on top all along: listing it again moves no layer
        assert d["switch_pull"] == d["switch_unpack"] == 0
        assert "it costs nothing to pull" in report.read_text()
        assert hints_path.read_text() == edited  # --check writes nothing
        # what CI uploads after a failed check: `gitmine analyze` writes the file the check wanted, from the cache
        again = json.loads(gitmine("analyze", str(repo), "--cache-dir", str(cache), "--json").stdout)
        assert again["evaluations"] == 0
        fixed = gitmine("analyze", str(repo), "--check", "--cache-dir", str(cache), "--json", check=False)
        assert fixed.returncode == 0 and json.loads(fixed.stdout)["check"]["stale"] is False
    finally:
        hints_path.write_text(text)


def test_check_without_committed_hints_is_a_usage_error(tmp_path):
    repo = generate(tmp_path / "repo", commits=3, days=3)
    proc = gitmine("analyze", str(repo), "--check", "--cache-dir", str(tmp_path / "c"), check=False)
    assert proc.returncode == 2 and "no committed hint file" in proc.stderr


def test_github_actions_example_saves_the_cache_even_when_the_check_fails():
    wf = yaml.safe_load((ROOT / "examples" / "github-actions.yml").read_text())
    steps = wf["jobs"]["check-hints"]["steps"]
    assert any("gitmine analyze --check" in s.get("run", "") for s in steps)
    # "gitmine" on PyPI is another project (a GitHub issues client): installed from its repository
    (install,) = [s for s in steps if "pip install" in s.get("run", "")]
    assert '"gitmine @ $GITMINE"' in install["run"] and install["env"]["GITMINE"].startswith("git+https://")
    uses = [s.get("uses", "") for s in steps]
    restore = uses.index("actions/cache/restore@v5")
    check = next(i for i, s in enumerate(steps) if "gitmine analyze --check" in s.get("run", ""))
    save = steps[uses.index("actions/cache/save@v5")]
    # restored before the check, saved after it even when it fails (a stale file fails the job)
    assert restore < check < uses.index("actions/cache/save@v5") and save["if"].startswith("always()")
    assert any(s.get("run", "").startswith("gitmine cache prune") and s["if"] == "always()" for s in steps[check:])
    # after a failed check, the file it wanted is written (from the cache) and uploaded, to be committed
    update = next(i for i, s in enumerate(steps) if s.get("run", "").startswith("gitmine analyze --since"))
    assert check < update and "failure()" in steps[update]["if"]
    assert any(s.get("with", {}).get("path") == "layer-hints.toml" for s in steps[update:])
    assert save["with"]["key"] == steps[restore]["with"]["key"] and save["with"]["path"] == steps[restore]["with"]["path"]
    assert any("gitmine-report.md" in s.get("run", "") and "GITHUB_STEP_SUMMARY" in s["run"] for s in steps)


def test_gitlab_example_fails_on_a_stale_file_and_leaves_the_one_to_commit(tmp_path):
    job = yaml.safe_load((ROOT / "examples" / "gitlab-ci.yml").read_text())["gitmine-hints"]
    variables = job["variables"]
    # a full clone; the cache inside the project directory, the only place GitLab caches, kept when the job fails
    assert variables["GIT_DEPTH"] == "0" and variables["XDG_CACHE_HOME"] == "$CI_PROJECT_DIR/.cache"
    assert job["cache"]["paths"] == [".cache/gitmine/"] and job["cache"]["when"] == "always"
    assert "sandbox = false" in variables["NIX_CONFIG"] and "substituters" not in variables["NIX_CONFIG"]
    assert '"gitmine @ $GITMINE"' in " ".join(job["before_script"]) and variables["GITMINE"].startswith("git+https://")
    assert job["artifacts"]["when"] == "always" and "layer-hints.toml" in job["artifacts"]["paths"]
    # the job's script as GitLab runs it (one bash script, -eo pipefail) in a checkout of a repository
    repo = generate(tmp_path / "repo", commits=8, days=30)
    env = dict(os.environ, XDG_CACHE_HOME=str(repo / ".cache"))
    script = "\n".join(job["script"])

    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run(["bash", "-eo", "pipefail", "-c", script], cwd=repo, env=env, capture_output=True, text=True)

    first = run()  # nothing committed yet: not a stale file, an error that says what to do
    assert first.returncode == 2 and "create it with `gitmine analyze` first" in first.stderr
    assert run_ok(["gitmine", "analyze"], repo, env)
    hints = repo / "layer-hints.toml"
    committed = hints.read_text()
    clean = run()
    assert clean.returncode == 0 and "up to date" in (repo / "gitmine-report.md").read_text()
    top = hintfile.parse(committed).layers[-1].keys[0]
    hints.write_text(committed.replace(f'"{top}"', '"placeholder"', 1))
    stale = run()
    assert stale.returncode == 1 and "is stale" in (repo / "gitmine-report.md").read_text()
    assert hints.read_text() == committed  # the file the check wanted, ready to commit
    # what GitLab keeps for the next run: the evaluations (the worktrees are gone)
    kept = repo / ".cache" / "gitmine"
    assert list(kept.glob("v1/closure/*.json")) and not list(kept.glob("worktrees/*/run-*"))


def run_ok(args: list[str], cwd: Path, env: dict[str, str]) -> bool:
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return True


def test_the_nix_package_is_pyprojects_name_version_and_dependencies():
    # nixpkgs is not here: the package is evaluated with a python3Packages that holds exactly the
    # dependencies pyproject.toml lists, so that a dependency added to one and not the other fails
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    deps = sorted(re.split(r"[<>=!~;\[ ]", d)[0] for d in project["dependencies"])  # "pygit2>=1.14" → pygit2
    fake = " ".join(f'{d} = "{d}";' for d in [*deps, "setuptools"])
    expr = f"""
let
  lib = {{ importTOML = f: builtins.fromTOML (builtins.readFile f); cleanSource = p: p; licenses.mit = "MIT"; }};
  python3Packages = {{ {fake} buildPythonApplication = attrs: attrs; }};
  p = import {ROOT}/nix/package.nix {{ inherit lib python3Packages; }};
in {{ inherit (p) pname version dependencies build-system; main = p.meta.mainProgram; src = toString p.src; }}
"""
    out = subprocess.run(["nix-instantiate", "--eval", "--strict", "--json", "--expr", expr],
                         check=True, capture_output=True, text=True).stdout
    pkg = json.loads(out)
    assert (pkg["pname"], pkg["version"], pkg["main"]) == (project["name"], project["version"], "gitmine")
    assert sorted(pkg["dependencies"]) == deps and pkg["build-system"] == ["setuptools"]
    assert pkg["src"] == str(ROOT)


@pytest.mark.parametrize("path", ["flake.nix", "nix/layers-file.nix", "nix/n2c-layers.nix", "nix/docker-pipeline.nix", "nix/package.nix"])
def test_nix_files_parse(path):
    subprocess.run(["nix-instantiate", "--parse", str(ROOT / path)], check=True, capture_output=True)


def test_n2c_layers_fallback_follows_the_hint_file(tmp_path):
    hints = tmp_path / "hints.toml"
    hints.write_text(
        'schema = 1\n[analysis]\nmax-layers = 3\n[unseen]\nrule = "top"\n'
        '[[layer]]\nkeys = ["glibc", "zlib"]\n[[layer]]\nkeys = ["nothing-known"]\n[[layer]]\nkeys = ["app"]\n'
    )
    assert hintfile.problems(hints.read_text()) == []
    expr = f"""
let
  buildLayer = {{ deps, layers }}: {{ inherit deps; below = builtins.length layers; }};
  result = import {ROOT}/nix/n2c-layers.nix {{
    inherit buildLayer;
    hints = {hints};
    packages = {{ glibc = "glibc-pkg"; zlib = "zlib-pkg"; app = "app-pkg"; }};
  }};
in result
"""
    out = subprocess.run(["nix-instantiate", "--eval", "--strict", "--json", "--expr", expr], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == [
        {"deps": ["glibc-pkg", "zlib-pkg"], "below": 0, "nestedLayers": []},
        {"deps": ["app-pkg"], "below": 1, "nestedLayers": []},
    ]


def test_n2c_layers_says_what_it_needs():
    expr = f"import {ROOT}/nix/n2c-layers.nix {{ buildLayer = x: x; packages = {{ }}; }}"  # no hints, no layersFile
    out = subprocess.run(["nix-instantiate", "--eval", "--strict", "--expr", expr], capture_output=True, text=True)
    assert out.returncode != 0 and "give layersFile (from layers-file.nix), or hints and packages" in out.stderr


def test_n2c_layers_fallback_of_a_hundred_layers_gives_the_image_a_hundred(tmp_path):
    # nix2container's buildLayer sets nestedLayers = (the nestedLayers of its `layers`) ++ layers, and
    # buildImage passes every nested layer's layers.json to its builder: with each layer told about all
    # the layers below it, layer k would carry 2^(k-1) - 1 entries
    keys = [f"k{i}" for i in range(100)]
    hints = tmp_path / "hints.toml"
    hints.write_text('schema = 1\n[analysis]\nmax-layers = 100\n' + "".join(f'[[layer]]\nkeys = ["{k}"]\n' for k in keys))
    assert hintfile.problems(hints.read_text()) == []
    expr = f"""
let
  flatten = builtins.concatLists;
  buildLayer = {{ deps, layers }}: {{ inherit deps; below = builtins.length layers;
    nestedLayers = flatten (map (l: l.nestedLayers) layers) ++ layers; }};
  layers = import {ROOT}/nix/n2c-layers.nix {{
    inherit buildLayer;
    hints = {hints};
    packages = builtins.listToAttrs (map (k: {{ name = k; value = k; }}) [ {" ".join(f'"{k}"' for k in keys)} ]);
  }};
  imageLayers = flatten (map (l: l.nestedLayers) layers) ++ layers;  # what buildImage hands its builder
in {{ layers = builtins.length layers; image = builtins.length imageLayers;
      below = map (l: l.below) layers; }}
"""
    out = subprocess.run(["nix-instantiate", "--eval", "--strict", "--json", "--expr", expr],
                         capture_output=True, text=True, timeout=60)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {"layers": 100, "image": 100, "below": list(range(100))}
