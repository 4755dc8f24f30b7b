import json

import pytest

from gitmine.closure import parse_graph
from gitmine.errors import InputError
from tests.conftest import store

A, B, C = store("a-1.0", "a"), store("b-2.0", "b"), store("c-3.0", "c")
ENTRIES = [
    {"path": A, "narSize": 10, "references": [A, B, C]},
    {"path": B, "narSize": 20, "references": [C]},
    {"path": C, "narSize": 30, "references": []},
]


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
    ],
    ids=["list", "keyed-by-path", "graph-wrapper", "closure-wrapper"],
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
