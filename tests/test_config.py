"""Settings defaults that depend on the machine."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gitmine import config


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
