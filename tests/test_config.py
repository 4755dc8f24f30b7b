"""Settings: defaults that depend on the machine, and what gitmine.toml may hold."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from gitmine import config
from gitmine import hints as hintfile
from gitmine.planner import plan
from gitmine.stats import compute_statistics
from tests.conftest import snapshot, sp


@pytest.mark.parametrize("memory_gib, cores, jobs", [(64, 8, 8), (32, 64, 16), (3, 4, 1), (1, 4, 1)])
def test_default_jobs_are_the_cores_that_memory_can_feed(monkeypatch, memory_gib, cores, jobs):
    page = 4096
    sizes = {"SC_PAGE_SIZE": page, "SC_PHYS_PAGES": memory_gib * (1 << 30) // page}
    monkeypatch.setattr(os, "sysconf", lambda name: sizes[name])
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(cores)), raising=False)
    monkeypatch.setattr(config, "CGROUP_LIMITS", ())  # whatever container the tests run in
    assert config.default_jobs() == jobs
    assert config.Settings(repo=Path(".")).jobs == jobs


def test_a_container_memory_limit_bounds_the_default_jobs(monkeypatch, tmp_path):
    sizes = {"SC_PAGE_SIZE": 4096, "SC_PHYS_PAGES": (256 << 30) // 4096}  # the host's memory
    monkeypatch.setattr(os, "sysconf", lambda name: sizes[name])
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(32)), raising=False)
    v2, v1 = tmp_path / "memory.max", tmp_path / "limit_in_bytes"
    monkeypatch.setattr(config, "CGROUP_LIMITS", (v2, v1))
    assert config.default_jobs() == 32  # no limit files
    v2.write_text("max\n")
    v1.write_text(f"{6 << 30}\n")
    assert config.default_jobs() == 3  # cgroup v2 says no limit, v1 says 6 GiB
    v2.write_text(f"{8 << 30}\n")
    assert config.default_jobs() == 4


def test_build_false_in_the_config_file_is_no_build_and_the_flag_overrides_it(tmp_path):
    (tmp_path / "gitmine.toml").write_text('build = false\n[[image]]\nattr = "image"\n')
    assert config.resolve(config.Settings(repo=tmp_path), {}).build is False
    assert config.resolve(config.Settings(repo=tmp_path), {"build": True}).build is True
    (tmp_path / "gitmine.toml").write_text('[[image]]\nattr = "image"\n')
    assert config.resolve(config.Settings(repo=tmp_path), {}).build is True


@pytest.mark.parametrize("key, unsaid", [("derive", False), ("submodules", None)])
def test_an_option_off_by_default_is_on_in_the_config_file_and_the_flag_overrides_it(tmp_path, key, unsaid):
    (tmp_path / "gitmine.toml").write_text(f'{key} = true\n[[image]]\nattr = "image"\n')
    assert getattr(config.resolve(config.Settings(repo=tmp_path), {}), key) is True
    assert getattr(config.resolve(config.Settings(repo=tmp_path), {key: False}), key) is False  # --no-<key>
    (tmp_path / "gitmine.toml").write_text('[[image]]\nattr = "image"\n')
    assert getattr(config.resolve(config.Settings(repo=tmp_path), {}), key) is unsaid  # off, and for submodules unsaid


@pytest.mark.parametrize(
    "line, message",
    [
        ("since = 6", '`since` must be a string such as "6months", not 6'),
        ('max-layers = "8"', '`max-layers` must be a whole number of layers, not "8"'),
        ("max-layers = true", "`max-layers` must be a whole number of layers, not true"),
        ('build = "no"', '`build` must be true or false, not "no"'),
        ("derive = 1", "`derive` must be true or false, not 1"),
        ("jobs = 2.5", "`jobs` must be a whole number, not 2.5"),
        ("every = 7", '`every` must be one of "commit", "1d", "1w", "tag", not 7'),
        ("max-layers = 0", "max-layers 0 (--max-layers, or max-layers in gitmine.toml): must be at least 1"),
        ("eval-timeout = -5", "eval-timeout -5 (--eval-timeout, or eval-timeout in gitmine.toml): must be a positive"),
    ],
)
def test_a_config_value_of_the_wrong_kind_is_named_not_taken(tmp_path, line, message):
    # a string "no" is true in Python, and `since = 6` used to end in a traceback
    (tmp_path / "gitmine.toml").write_text(f'{line}\n[[image]]\nattr = "image"\n')
    with pytest.raises(config.UsageError) as err:
        config.resolve(config.Settings(repo=tmp_path), {})
    assert message in str(err.value)


@pytest.mark.parametrize(
    "image, message",
    [('attr = "image"\nfoo = 1', "image 1: unknown key `foo`; an image has name, attr and file"),
     ('name = 3\nattr = "image"', "image 1: `name` must be a string")],
)  # fmt: skip
def test_an_image_table_takes_name_attr_and_file_only(tmp_path, image, message):
    (tmp_path / "gitmine.toml").write_text(f"[[image]]\n{image}\n")
    with pytest.raises(config.UsageError) as err:
        config.resolve(config.Settings(repo=tmp_path), {})
    assert message in str(err.value)


def test_good_values_of_every_kind_are_taken(tmp_path):
    (tmp_path / "gitmine.toml").write_text(
        'since = "3months"\nevery = "1d"\nmax-layers = 64\njobs = 2\neval-timeout = 90.5\nall-parents = true\n'
        'build = false\noutput = "hints/layers.toml"\n[[image]]\nname = "web"\nattr = "web-image"\n'
    )
    s = config.resolve(config.Settings(repo=tmp_path), {})
    assert (s.since, s.every, s.max_layers, s.jobs, s.eval_timeout, s.all_parents, s.build) == (
        "3months", "1d", 64, 2, 90.5, True, False
    )
    assert s.output == tmp_path / "hints" / "layers.toml" and [i.name for i in s.images] == ["web"]


def test_a_file_saved_with_a_byte_order_mark_and_crlf_line_ends_is_read(tmp_path):
    (tmp_path / "gitmine.toml").write_bytes(b'\xef\xbb\xbfmax-layers = 8\r\n[[image]]\r\nattr = "web"\r\n')
    s = config.resolve(config.Settings(repo=tmp_path), {})
    assert s.max_layers == 8 and [i.attr for i in s.images] == ["web"]


def test_the_budget_is_the_flags_else_the_config_files_else_the_hint_files_in_use(tmp_path):
    # rerunning `gitmine analyze` after `--max-layers 40` keeps 40 layers, not the default
    (tmp_path / "gitmine.toml").write_text('[[image]]\nattr = "web"\n')
    resolved = lambda flags: config.resolve(config.Settings(repo=tmp_path), flags).max_layers  # noqa: E731
    assert resolved({}) == config.DEFAULT_MAX_LAYERS  # no hint file yet
    hints = plan(compute_statistics([snapshot("a", "2026-01-01", sp("app"))]), 40)
    hintfile.write(hints, tmp_path / "layer-hints.toml")
    assert resolved({}) == 40 and resolved({"max_layers": 12}) == 12
    (tmp_path / "gitmine.toml").write_text('max-layers = 64\n[[image]]\nattr = "web"\n')
    assert resolved({}) == 64 and resolved({"max_layers": 12}) == 12
    # the file that `output` names is the one in use; one gitmine cannot read leaves the default
    (tmp_path / "gitmine.toml").write_text('output = "other.toml"\n[[image]]\nattr = "web"\n')
    assert resolved({}) == config.DEFAULT_MAX_LAYERS
    (tmp_path / "other.toml").write_text("schema = 1\n[analysis\n")
    assert resolved({}) == config.DEFAULT_MAX_LAYERS


def test_with_no_image_named_the_default_image_is_asked_for(tmp_path):
    asked: list[Path] = []

    def default(root: Path) -> config.ImageSpec | None:
        asked.append(root)
        return config.ImageSpec("default", "default")

    s = config.resolve(config.Settings(repo=tmp_path), {}, default_image=default)
    assert [i.attr for i in s.images] == ["default"] and asked == [tmp_path]
    given = {"images": (config.ImageSpec("web", "web"),)}
    assert [i.attr for i in config.resolve(config.Settings(repo=tmp_path), given, default_image=default).images] == ["web"]
    assert asked == [tmp_path]  # not asked when an image is named
    with pytest.raises(config.NoImage):
        config.resolve(config.Settings(repo=tmp_path), {}, default_image=lambda root: None)


VALUES = [
    '"6months"', '"2w"', '"bogus"', '""', '"commit"', '"1d"', '"tag"', "0", "-3", "8", "2.5", "true", "false",
    "[]", "[1, 2]", '["a"]', "{}", '{ attr = "x" }', "1979-05-27", '"hints/h.toml"', "nan", "inf",
]  # fmt: skip


@given(
    entries=st.dictionaries(
        st.sampled_from(sorted(config._TYPES) + ["max-layer", "output ", "extra"]), st.sampled_from(VALUES), max_size=5
    ),
    image=st.one_of(st.none(), st.dictionaries(st.sampled_from(["name", "attr", "file", "foo"]), st.sampled_from(VALUES))),
)
@settings(max_examples=300, deadline=None, derandomize=True)
def test_any_config_file_gives_settings_or_one_usage_error(tmp_path_factory, entries, image):
    repo = tmp_path_factory.mktemp("cfg")
    lines = [f'"{k}" = {v}' for k, v in entries.items()]
    if image is not None:
        lines += ["[[image]]"] + [f"{k} = {v}" for k, v in image.items()]
    (repo / "gitmine.toml").write_text("\n".join(lines) + "\n")
    try:
        s = config.resolve(config.Settings(repo=repo, images=()), {})
    except config.UsageError as err:
        assert "\n" not in str(err) and str(err)
        return
    # what was taken has the kind it must have
    assert isinstance(s.max_layers, int) and s.max_layers >= 1 and isinstance(s.jobs, int) and s.jobs >= 1
    assert isinstance(s.build, bool) and isinstance(s.all_parents, bool) and s.images
    assert s.eval_timeout is None or (isinstance(s.eval_timeout, (int, float)) and s.eval_timeout > 0)


@pytest.mark.parametrize("attr", ["path:.#image", "github:owner/repo#image", "git+file:///r#image"])
def test_an_image_given_as_a_flake_reference_is_refused(tmp_path, attr):
    # `.#image` and `deploy#image` name places in the repository; a flake URL names something else
    with pytest.raises(config.UsageError, match="not a flake reference like"):
        config.resolve(config.Settings(repo=tmp_path, images=(config.ImageSpec(attr, attr),)), {})
    ok = config.resolve(config.Settings(repo=tmp_path, images=(config.ImageSpec(".#image", ".#image"),)), {})
    assert ok.images[0].attr == ".#image"


def test_a_file_image_is_read_from_each_commit_not_from_today(tmp_path):
    # an absolute --file named today's file at every commit: the same image all along, and no warning
    def files(*given: str) -> list[str | None]:
        images = tuple(config.ImageSpec(f"image{i}", "image", f) for i, f in enumerate(given))
        return [i.file for i in config.resolve(config.Settings(repo=tmp_path, images=images), {}).images]

    assert files(str(tmp_path / "nix" / "images.nix"), "./default.nix", "nix/../default.nix") == [
        "nix/images.nix", "default.nix", "default.nix"
    ]  # fmt: skip
    for outside in ("/etc/nixos/default.nix", "../other/default.nix"):
        with pytest.raises(config.UsageError, match="is outside the repository"):
            files(outside)


def test_two_images_of_one_name_are_refused(tmp_path):
    # a snapshot holds one closure per image name: the second image would silently replace the first
    (tmp_path / "gitmine.toml").write_text('[[image]]\nname = "web"\nattr = "a"\n[[image]]\nname = "web"\nattr = "b"\n')
    with pytest.raises(config.UsageError, match="image `web` is named twice"):
        config.resolve(config.Settings(repo=tmp_path), {})
    flags = {"images": (config.ImageSpec("a", "a"), config.ImageSpec("a", "a"))}
    with pytest.raises(config.UsageError, match="image `a` is named twice"):
        config.resolve(config.Settings(repo=tmp_path / "elsewhere"), flags)
    (tmp_path / "gitmine.toml").write_text('[[image]]\nname = "web"\nattr = "a"\n[[image]]\nattr = "web"\n')
    with pytest.raises(config.UsageError, match="image `web` is named twice"):  # the name defaults to the attr
        config.resolve(config.Settings(repo=tmp_path), {})
