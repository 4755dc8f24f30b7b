import json

import pytest

from gitmine.closure import parse_graph
from gitmine.hints import Analysis, HintLayer, Hints
from gitmine.keys import family
from gitmine.layout import layers_json, layout
from gitmine.planner import plan
from gitmine.recorded import load_history
from gitmine.stats import compute_statistics
from tests.conftest import SMALL_HISTORIES, closure, sp, store


def _hints(*layers: tuple[tuple[str, ...], float], max_layers: int = 10) -> Hints:
    an = Analysis(images=("image",), rev_range="a..b", snapshots=2, transitions=1, max_layers=max_layers, planner="test")
    return Hints(an, tuple(HintLayer(keys, 0, rate, rate) for keys, rate in layers))


BASE = sp("base-1.0", 1000)
LIB = sp("lib-2.0", 100, (BASE.path,))
APP = sp("app-3.0", 10, (LIB.path,))
NEW = sp("newthing-0.1", 5, (BASE.path,))
H = _hints((("base",), 0.01), (("lib",), 0.2), (("app",), 0.9))


def paths(layers):
    return [[p.split("-", 1)[1] for p in layer.paths] for layer in layers]


def names(layers):
    """Each layer's store names, sorted (layers list paths by hash)."""
    return [sorted(layer) for layer in paths(layers)]


def test_keys_go_to_their_layers_bottom_first():
    assert paths(layout(closure(BASE, LIB, APP), H)) == [["base-1.0"], ["lib-2.0"], ["app-3.0"]]


def test_unseen_keys_go_to_a_reserved_top_layer():
    layers = layout(closure(BASE, LIB, APP, NEW), H)
    assert paths(layers) == [["base-1.0"], ["lib-2.0"], ["app-3.0"], ["newthing-0.1"]]
    assert layers[-1].unseen


def test_unseen_keys_join_the_most_volatile_layer_when_no_budget_is_left():
    assert paths(layout(closure(BASE, LIB, APP, NEW), H, 3)) == [["base-1.0"], ["lib-2.0"], ["app-3.0", "newthing-0.1"]]


def test_a_new_dependency_joins_the_least_volatile_layer_of_the_keys_using_it():
    # lib and app gained a dependency on zlib: whenever zlib changes, lib and app change with it,
    # so it joins lib's layer (0.2), the less volatile of the two, and adds no change to it
    zlib = sp("zlib-1.3", 50, (BASE.path,))
    lib = sp("lib-2.0", 100, (BASE.path, zlib.path), h="1")
    app = sp("app-3.0", 10, (lib.path, zlib.path), h="1")
    layers = layout(closure(BASE, zlib, lib, app), H)
    assert names(layers) == [["base-1.0"], ["lib-2.0", "zlib-1.3"], ["app-3.0"]]
    assert not any(layer.unseen for layer in layers)


def test_a_chain_of_new_dependencies_joins_the_layer_of_the_placed_key_above_it():
    # app → newlib → newdep, both new: both join app's layer; a new root still goes on top
    dep = sp("newdep-1.0", 5, (BASE.path,))
    newlib = sp("newlib-1.0", 7, (dep.path,))
    app = sp("app-3.0", 10, (LIB.path, newlib.path), h="1")
    layers = layout(closure(BASE, LIB, dep, newlib, app, NEW), H)
    assert names(layers) == [["base-1.0"], ["lib-2.0"], ["app-3.0", "newdep-1.0", "newlib-1.0"], ["newthing-0.1"]]
    assert layers[-1].unseen


def test_new_keys_on_a_key_level_cycle_still_find_the_layer_above_them():
    # two versions of "bar" make a cycle of keys: foo-1.0 → bar-1.0, bar-2.0 → foo-1.0
    bar1 = sp("bar-1.0", 5, (BASE.path,))
    foo = sp("foo-1.0", 6, (bar1.path,))
    bar2 = sp("bar-2.0", 7, (foo.path,))
    app = sp("app-3.0", 10, (LIB.path, bar2.path), h="1")
    layers = layout(closure(BASE, LIB, bar1, foo, bar2, app), H)
    assert names(layers) == [["base-1.0"], ["lib-2.0"], ["app-3.0", "bar-1.0", "bar-2.0", "foo-1.0"]]


def test_hint_files_of_the_top_rule_send_new_dependencies_to_the_top():
    zlib = sp("zlib-1.3", 50, (BASE.path,))
    lib = sp("lib-2.0", 100, (BASE.path, zlib.path), h="1")
    old = Hints(H.analysis, H.layers, unseen_rule="top")
    assert names(layout(closure(BASE, zlib, lib), old)) == [["base-1.0"], ["lib-2.0"], ["zlib-1.3"]]
    assert names(layout(closure(BASE, zlib, lib), H)) == [["base-1.0"], ["lib-2.0", "zlib-1.3"]]


PY_HINTS = _hints(
    (("base",), 0.01),
    (("python3.11", "python3.11-requests"), 0.2),
    (("libfoo1",), 0.3),
    (("libfoo2",), 0.4),
    (("app",), 0.9),
)


def test_family_masks_version_numbers_in_keys():
    assert family("python3.11-requests") == family("python3.12-requests") == "python#-requests"
    assert family("libicu72") == family("libicu74") == "libicu#"
    assert family("perl5.38.2-JSON") == "perl#-JSON"
    assert family("nginx") == "nginx"


def test_renamed_keys_keep_the_layer_of_the_key_they_replace():
    # a Python bump renames the interpreter and its package set: they stay in their layer
    py = sp("python3.12-3.12.4", 50, (BASE.path,))
    req = sp("python3.12-requests-2.32.0", 20, (py.path,))
    app = sp("app-3.0", 10, (req.path,))
    layers = layout(closure(BASE, py, req, app, NEW), PY_HINTS)
    assert paths(layers) == [
        ["base-1.0"],
        ["python3.12-3.12.4", "python3.12-requests-2.32.0"],
        ["app-3.0"],
        ["newthing-0.1"],
    ]
    assert layers[-1].unseen and not layers[1].unseen


def test_a_rename_needs_the_old_key_gone_and_one_candidate_layer():
    # both interpreters in the closure: the new one is not a rename, it is new
    old = sp("python3.11-3.11.9", 50, (BASE.path,))
    new = sp("python3.12-3.12.4", 50, (BASE.path,))
    assert paths(layout(closure(BASE, old, new), PY_HINTS)) == [["base-1.0"], ["python3.11-3.11.9"], ["python3.12-3.12.4"]]
    # libfoo3 could replace libfoo1 (layer 3) or libfoo2 (layer 4): ambiguous, so it goes on top
    foo = sp("libfoo3-1.0", 5, (BASE.path,))
    assert paths(layout(closure(BASE, foo), PY_HINTS)) == [["base-1.0"], ["libfoo3-1.0"]]
    assert layout(closure(BASE, foo), PY_HINTS)[-1].unseen


def test_over_budget_merges_the_cheapest_adjacent_pair():
    # merging lib (100 B, 0.2) with app (10 B, 0.9) costs ~100*0.72 + 10*0.02; base with lib costs 1000*0.19...
    assert paths(layout(closure(BASE, LIB, APP), H, 2)) == [["base-1.0"], ["app-3.0", "lib-2.0"]]
    assert paths(layout(closure(BASE, LIB, APP), H, 1)) == [["app-3.0", "base-1.0", "lib-2.0"]]


def test_empty_layers_are_dropped_and_two_paths_with_one_key_stay_together():
    lib2 = sp("lib-2.1", 100, (BASE.path,), h="1")
    layers = layout(closure(BASE, LIB, lib2), H)
    assert paths(layers) == [["base-1.0"], ["lib-2.0", "lib-2.1"]]


def test_layers_json_is_the_layers_file_format():
    data = json.loads(layers_json(layout(closure(BASE, LIB, APP), H)))
    assert data == [[BASE.path], [LIB.path], [APP.path]]


def test_same_graph_in_every_format_gives_the_same_layout():
    c = closure(BASE, LIB, APP, NEW)
    entries = [{"path": s.path, "narSize": s.nar_size, "references": [s.path, *s.references]} for s in c]
    texts = [
        json.dumps(entries),
        json.dumps({e["path"]: {k: v for k, v in e.items() if k != "path"} for e in entries}),
        json.dumps({"graph": entries}),
        "\n".join(line for e in entries for line in [e["path"], "", str(len(e["references"])), *e["references"]]),
    ]
    outs = {layers_json(layout(parse_graph(t), H, 3)) for t in texts}
    assert len(outs) == 1


@pytest.mark.parametrize("path", SMALL_HISTORIES, ids=lambda p: p.name)
def test_partition_invariants_on_every_snapshot(path):
    snaps = load_history(path)
    stats = compute_statistics(snaps[:26])
    for budget in (2, 8, 16, 100):
        hints = plan(stats, budget)
        for small_budget in {budget, max(1, budget // 2)}:
            for s in snaps:
                c = next(iter(s.closures.values()))
                layers = layout(c, hints, small_budget)
                flat = [p for layer in layers for p in layer.paths]
                assert len(flat) == len(set(flat)) == len(c)
                assert set(flat) == set(c.paths)
                assert 1 <= len(layers) <= small_budget and all(layer.paths for layer in layers)


def test_layout_is_deterministic():
    snaps = load_history(SMALL_HISTORIES[0])
    hints = plan(compute_statistics(snaps[:26]), 8)
    c = next(iter(snaps[40].closures.values()))
    assert layers_json(layout(c, hints)) == layers_json(layout(c, hints))


def test_store_helper_is_a_real_store_path():
    assert store("x-1").startswith("/nix/store/") and len(store("x-1").split("/")[-1].split("-")[0]) == 32
