import pytest

from gitmine import hints as hintfile
from gitmine.errors import InputError
from gitmine.planner import plan
from gitmine.recorded import load_history
from gitmine.stats import compute_statistics
from tests.conftest import SMALL_HISTORIES


@pytest.fixture(scope="module")
def hints():
    return plan(compute_statistics(load_history(SMALL_HISTORIES[0])[:26]), 8)


def test_render_parse_roundtrip(hints):
    text = hintfile.render(hints)
    back = hintfile.parse(text)
    assert [layer.keys for layer in back.layers] == [tuple(sorted(layer.keys)) for layer in hints.layers]
    assert back.analysis == hints.analysis
    assert hintfile.render(back) == text
    assert "schema = 1" in text and "# layer 1 (bottom)" in text


def test_a_hint_file_saved_with_a_byte_order_mark_and_crlf_line_ends_is_read(tmp_path, hints):
    text = hintfile.render(hints)
    (tmp_path / "h.toml").write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode())
    assert hintfile.load(tmp_path / "h.toml") == hintfile.parse(text)


def test_write_is_atomic_and_byte_identical(tmp_path, hints):
    out = tmp_path / "h.toml"
    hintfile.write(hints, out)
    first = out.read_bytes()
    hintfile.write(hints, out)
    assert out.read_bytes() == first
    assert [p.name for p in tmp_path.iterdir()] == ["h.toml"]


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda t: "this is [not toml", "not valid TOML"),
        (lambda t: t.replace("schema = 1", "schema = 99"), "schema 99 is not supported"),
        (lambda t: t.replace("schema = 1", ""), "no `schema` key"),
        (lambda t: t.replace("[analysis]", "colour = 'red'\n[analysis]"), "unknown top-level key `colour`"),
        (lambda t: t.replace("size = ", "sizes = 1\nsize = ", 1), "unknown key `sizes` in layer 1"),
        (lambda t: t[: t.index("[[layer]]")], "no [[layer]] tables"),
        (lambda t: t.replace("change-rate = ", "change-rate = 7.0 #", 1), "between 0 and 1"),
        (lambda t: t.replace("max-layers = 8", "max-layers = 2"), "exceed `analysis.max-layers`"),
        (lambda t: t.replace("images = [", "images = [3, "), "`analysis.images` must be a list of image names"),
        (lambda t: t.replace('rule = "referrers"', 'rule = "bottom"'), '`unseen.rule` must be "referrers" or "top"'),
    ],
)
def test_problems_are_explained(hints, edit, message):
    text = edit(hintfile.render(hints))
    problems = hintfile.problems(text)
    assert any(message in p for p in problems), problems
    with pytest.raises(InputError, match="hint"):
        hintfile.parse(text, "hint file")


def test_a_file_keeps_the_unseen_rule_it_was_written_with(hints):
    text = hintfile.render(hints)
    assert hints.unseen_rule == "referrers" and 'rule = "referrers"' in text
    old = hintfile.parse(text.replace('rule = "referrers"', 'rule = "top"'))
    assert old.unseen_rule == "top"
    assert 'rule = "top"' in hintfile.render(old) and "new dependency" not in hintfile.render(old)


def test_a_key_in_two_layers_is_a_problem(hints):
    text = hintfile.render(hints)
    first_key = hints.layers[0].keys[0]
    text = text.replace('keys = ["', f'keys = ["{first_key}", "', 1)
    text = text.replace(f'keys = ["{first_key}", "', 'keys = ["', 1)
    last = text.rindex("keys = [")
    text = text[:last] + f'keys = ["{first_key}", ' + text[last + len("keys = ["):]
    assert any("keep it in one" in p for p in hintfile.problems(text))


def test_load_missing_file(tmp_path):
    with pytest.raises(InputError, match="no such hint file"):
        hintfile.load(tmp_path / "nope.toml")
