"""What keys an evaluation in the cache besides the commit: Nix's version, platform and configuration."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitmine.cache import nix_conf_files, nix_settings_fingerprint

VERSION = "nix (Nix) 2.8.0"


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    for var in ("NIX_CONFIG", "NIX_CONF_DIR", "NIX_USER_CONF_FILES", "XDG_CONFIG_DIRS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("NIX_CONF_DIR", str(tmp_path / "etc"))
    return tmp_path


def test_the_nix_conf_files_that_nix_reads(clean_env, monkeypatch):
    tmp = clean_env
    expected = [tmp / "etc" / "nix.conf", tmp / "config" / "nix" / "nix.conf", Path("/etc/xdg/nix/nix.conf")]
    assert nix_conf_files() == expected
    monkeypatch.setenv("NIX_USER_CONF_FILES", f"{tmp}/a.conf:{tmp}/b.conf")
    assert nix_conf_files() == [tmp / "etc" / "nix.conf", tmp / "a.conf", tmp / "b.conf"]


@pytest.mark.parametrize("where", ["etc/nix.conf", "config/nix/nix.conf"])
def test_a_setting_in_any_nix_conf_changes_the_fingerprint(clean_env, where):
    before = nix_settings_fingerprint(VERSION)
    conf = clean_env / where
    conf.parent.mkdir(parents=True, exist_ok=True)
    conf.write_text("system = aarch64-linux\n")
    assert nix_settings_fingerprint(VERSION) != before


def test_nix_config_user_conf_files_and_version_change_the_fingerprint(clean_env, monkeypatch):
    base = nix_settings_fingerprint(VERSION)
    assert nix_settings_fingerprint(VERSION) == base  # nothing changed: same key, the cache is used
    assert nix_settings_fingerprint("nix (Nix) 2.18.1") != base
    monkeypatch.setenv("NIX_CONFIG", "pure-eval = false")
    with_config = nix_settings_fingerprint(VERSION)
    assert with_config != base
    user = clean_env / "user.conf"
    user.write_text("allow-import-from-derivation = false\n")
    monkeypatch.setenv("NIX_USER_CONF_FILES", str(user))
    assert nix_settings_fingerprint(VERSION) != with_config


def test_another_platform_does_not_share_evaluations(clean_env, monkeypatch):
    # a cache restored on another kind of runner: `image` is packages.<system>.image there
    here = nix_settings_fingerprint(VERSION)
    monkeypatch.setattr("gitmine.cache.platform.machine", lambda: "riscv64")
    assert nix_settings_fingerprint(VERSION) != here


def test_a_ci_runners_token_jobs_and_comments_do_not_change_the_fingerprint(clean_env, monkeypatch):
    # install-nix-action writes a GitHub token that is new at every run: a restored cache must still hit
    conf = clean_env / "etc" / "nix.conf"
    conf.parent.mkdir(parents=True)
    conf.write_text("experimental-features = nix-command flakes\naccess-tokens = github.com=ghs_run1\nmax-jobs = auto\n")
    first = nix_settings_fingerprint(VERSION)
    conf.write_text(
        "# written by the installer\nexperimental-features  =  nix-command   flakes\n"
        "access-tokens = github.com=ghs_run2\nmax-jobs = 4\nextra-access-tokens = gitlab.com=x  # a comment\n"
    )
    monkeypatch.setenv("NIX_CONFIG", "netrc-file = /tmp/run2/netrc\ncores = 2")
    assert nix_settings_fingerprint(VERSION) == first
    # what can change an evaluation or a build's outcome still counts, unknown settings included
    for extra in ("extra-experimental-features = ca-derivations", "sandbox = false", "substituters = https://c.example",
                  "some-future-setting = 1"):  # fmt: skip
        monkeypatch.setenv("NIX_CONFIG", extra)
        assert nix_settings_fingerprint(VERSION) != first, extra


def test_a_file_nix_conf_includes_counts_as_nix_reads_it(clean_env):
    # Determinate Nix's /etc/nix/nix.conf ends in `!include nix.custom.conf`, where users put their settings
    conf = clean_env / "etc" / "nix.conf"
    conf.parent.mkdir(parents=True)
    conf.write_text("experimental-features = nix-command flakes\n!include nix.custom.conf\n")
    custom = clean_env / "etc" / "nix.custom.conf"
    custom.write_text("access-tokens = github.com=ghs_1\n")
    base = nix_settings_fingerprint(VERSION)
    custom.write_text("access-tokens = github.com=ghs_2\n")
    assert nix_settings_fingerprint(VERSION) == base
    custom.write_text("access-tokens = github.com=ghs_2\nallow-import-from-derivation = false\n")
    assert nix_settings_fingerprint(VERSION) != base


def test_no_home_directory_is_an_environment_error_naming_the_way_out(monkeypatch):
    from gitmine.cache import default_cache_dir
    from gitmine.errors import EnvironmentProblem

    def no_home() -> Path:
        raise RuntimeError("Could not determine home directory.")

    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setattr(Path, "home", no_home)
    with pytest.raises(EnvironmentProblem, match="set XDG_CACHE_HOME or pass --cache-dir"):
        default_cache_dir()
    assert nix_settings_fingerprint(VERSION)  # the nix.conf files Nix reads: the system ones still count
    monkeypatch.setenv("XDG_CACHE_HOME", "/somewhere")
    assert default_cache_dir() == Path("/somewhere/gitmine")


def test_a_cache_that_cannot_be_written_costs_speed_not_the_run(tmp_path, monkeypatch):
    # a read-only cache directory (a restored CI cache mounted read-only): entries are not kept, nothing fails
    from gitmine.cache import Cache

    cache = Cache(tmp_path / "c")

    def read_only(self: Path, *args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "mkdir", read_only)
    cache.put_eval("k", {"status": "ok", "drv": "/nix/store/x.drv!out"})
    assert cache.get_eval("k") is None
