import json

import pytest

from gitmine.closure import parse_graph
from gitmine.errors import InputError
from tests.conftest import closure, sp, store

A, B, C = store("a-1.0", "a"), store("b-2.0", "b"), store("c-3.0", "c")
ENTRIES = [
    {"path": A, "narSize": 10, "references": [A, B, C]},
    {"path": B, "narSize": 20, "references": [C]},
    {"path": C, "narSize": 30, "references": []},
]


def _base(path: str) -> str:
    return path.rsplit("/", 1)[1]


def _format2(per_entry_store_dir: bool) -> str:
    """``nix path-info --json --json-format 2`` (Nix 2.33+): base names under "info"."""
    info = {}
    for e in ENTRIES:
        v = {"version": 2, "narHash": {"algorithm": "sha256", "format": "base64", "hash": "AAAA"},
             "narSize": e["narSize"], "references": [_base(r) for r in e["references"]], "ca": None}
        if per_entry_store_dir:
            v["storeDir"] = "/nix/store"
        info[_base(e["path"])] = v
    return json.dumps({"info": info})


def _text_format() -> str:
    lines = []
    for e in ENTRIES:
        lines += [e["path"], "", str(len(e["references"])), *e["references"]]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    "text",
    [
        json.dumps(ENTRIES),
        json.dumps({e["path"]: {k: v for k, v in e.items() if k != "path"} for e in ENTRIES}),
        json.dumps({"graph": ENTRIES}),
        json.dumps({"closure": ENTRIES}),
        _format2(per_entry_store_dir=True),
        _format2(per_entry_store_dir=False),
    ],
    ids=["list", "keyed-by-path", "graph-wrapper", "closure-wrapper", "json-format-2", "json-format-2-no-store-dir"],
)
def test_every_json_shape_reads_the_same_closure(text):
    c = parse_graph(text)
    assert list(c.paths) == sorted([A, B, C])
    assert c.paths[A].references == tuple(sorted([B, C]))  # self-reference dropped
    assert c.total_size() == 60
    assert c.sizes_known


def test_text_export_references_graph_has_no_sizes():
    c = parse_graph(_text_format())
    assert list(c.paths) == sorted([A, B, C])
    assert c.paths[A].references == tuple(sorted([B, C]))
    assert not c.sizes_known
    assert c.total_size() == 0


@pytest.mark.parametrize(
    "text, message",
    [
        ("[{", "malformed JSON"),
        ('digraph G {\n"a" -> "b";\n}\n', "not a closure graph; pass JSON"),  # `nix-store --query --graph`
        ("[]", "empty"),
        ("", "empty"),
        (json.dumps([{"path": A, "narSize": 1, "references": [B]}]), "not in the graph"),
        (
            json.dumps([{"path": A, "narSize": 1, "references": [B]}, {"path": B, "narSize": 1, "references": [A]}]),
            "cycle",
        ),
        (json.dumps([{"narSize": 1}]), "no valid \"path\""),
        (json.dumps([{"path": A, "narSize": -1}]), "invalid narSize"),
        (json.dumps({"something": 1}), "unrecognised JSON object"),
        (json.dumps(42), "expected a JSON list or object"),
        ("/nix/store/x\n\nnot-a-number\n", "reference count"),
        (A + "\n\n3\n" + B + "\n", "file ends first"),
    ],
)
def test_bad_graphs_are_one_clear_error(text, message):
    with pytest.raises(InputError, match=message):
        parse_graph(text, "g.json")


def test_json_format_2_completes_base_names_with_the_store_dir_and_rejects_invalid_paths():
    data = json.loads(_format2(per_entry_store_dir=False))
    data["storeDir"] = "/gnu/store"
    c = parse_graph(json.dumps(data))
    assert all(p.startswith("/gnu/store/") for p in c.paths)
    data["info"][_base(A)] = None
    with pytest.raises(InputError, match="is not valid in the store"):
        parse_graph(json.dumps(data))


def test_the_closure_of_some_paths_is_them_and_what_they_reference():
    c = closure(sp("app", refs=(store("lib", "1"),), h="2"), sp("lib", refs=(store("libc", "3"),), h="1"),
                sp("libc", h="3"), sp("tool", refs=(store("libc", "3"),), h="4"))
    part = c.closure_of([store("lib", "1")])
    assert list(part.paths) == sorted([store("lib", "1"), store("libc", "3")])
    assert part.paths[store("lib", "1")] is c.paths[store("lib", "1")]
    assert set(c.closure_of([store("app", "2"), store("tool", "4")]).paths) == set(c.paths)


def test_path_infos_tell_the_paths_a_store_lacks_in_every_json_shape():
    from gitmine.closure import path_infos

    missing = store("gone-1", "x")
    old = [*ENTRIES[1:], {"path": missing, "valid": False}]  # Nix before 2.19
    keyed = {**{e["path"]: e for e in ENTRIES[1:]}, missing: None}  # Nix 2.19-2.32, Lix
    versioned = json.loads(_format2(False))  # Nix 2.33
    del versioned["info"][_base(A)]
    versioned["info"][_base(missing)] = None
    for data in (old, keyed, versioned):
        infos = dict(path_infos(data))
        assert infos[missing] is None
        assert {p: (e.nar_size, e.references) for p, e in infos.items() if e} == {B: (20, (C,)), C: (30, ())}
    with pytest.raises(InputError, match="not valid in the store"):
        parse_graph(json.dumps(old))


def test_closures_read_with_a_memo_share_equal_entries_and_only_those():
    from gitmine.closure import StorePath, closure_from_json

    memo: dict = {}
    first = closure_from_json(ENTRIES, "a", memo)
    same = closure_from_json([dict(e) for e in ENTRIES], "b", memo)
    assert same.paths[B] is first.paths[B] and same == first
    bigger = [dict(e, narSize=e["narSize"] + 1) if e["path"] == C else e for e in ENTRIES]
    changed = closure_from_json(bigger, "c", memo)
    assert changed.paths[C].nar_size == 31 and changed.paths[B] is first.paths[B]
    selfref = closure_from_json([dict(ENTRIES[0])] + ENTRIES[1:], "d", memo)  # A lists itself: read, not matched
    assert selfref.paths[A] == first.paths[A]
    one = {C: StorePath(C, 1, ())}
    with pytest.raises(InputError, match="invalid narSize"):  # True == 1, but a bool is no size
        closure_from_json([dict(e, narSize=True) if e["path"] == C else e for e in ENTRIES], "e", one)
