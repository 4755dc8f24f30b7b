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
    assert config.default_jobs() == jobs
    assert config.Settings(repo=Path(".")).jobs == jobs
