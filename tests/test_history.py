"""The history walk: which commits of the window, in which order (plain git, no Nix)."""

from __future__ import annotations

import os
import subprocess
from datetime import datetime, timezone
from pathlib import Path

from gitmine.history import open_repository, select_commits

UNTIL = datetime(2030, 1, 1, tzinfo=timezone.utc)


def _commit(repo: Path, message: str, date: str) -> str:
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t", GIT_COMMITTER_NAME="t",
               GIT_COMMITTER_EMAIL="t@t", GIT_AUTHOR_DATE=date, GIT_COMMITTER_DATE=date)  # fmt: skip
    (repo / message).write_text(message)  # a file per commit: branches merge without conflicts
    subprocess.run(["git", "add", message], cwd=repo, check=True)
    subprocess.run(["git", "commit", "-qm", message], cwd=repo, check=True, env=env)
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, check=True, capture_output=True, text=True).stdout.strip()


def _repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=repo, check=True)
    return repo


def test_commits_of_one_second_keep_their_order(tmp_path):
    # a rebase or a script commits several times within one second: the chain, not the clock, orders them
    repo = _repo(tmp_path)
    shas = [_commit(repo, f"c{i}", "2026-01-01T00:00:00Z") for i in range(5)]
    picked = select_commits(open_repository(repo), since=None, until=UNTIL)
    assert [c.sha for c in picked] == shas


def test_a_commit_dated_before_its_parent_stays_after_it(tmp_path):
    repo = _repo(tmp_path)
    shas = [
        _commit(repo, "a", "2026-01-01T00:00:00Z"),
        _commit(repo, "b", "2026-01-03T00:00:00Z"),
        _commit(repo, "c", "2026-01-02T00:00:00Z"),  # a skewed clock
        _commit(repo, "d", "2026-01-04T00:00:00Z"),
    ]
    picked = select_commits(open_repository(repo), since=None, until=UNTIL)
    assert [c.sha for c in picked] == shas
    daily = select_commits(open_repository(repo), since=None, until=UNTIL, every="1d")
    assert [c.sha for c in daily] == shas


def test_merged_branches_come_after_their_parents(tmp_path):
    repo = _repo(tmp_path)
    base = _commit(repo, "base", "2026-01-01T00:00:00Z")
    subprocess.run(["git", "checkout", "-qb", "side"], cwd=repo, check=True)
    side = _commit(repo, "side", "2026-01-01T00:00:00Z")
    subprocess.run(["git", "checkout", "-q", "main"], cwd=repo, check=True)
    main = _commit(repo, "main", "2026-01-01T00:00:00Z")
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t", GIT_COMMITTER_NAME="t",
               GIT_COMMITTER_EMAIL="t@t", GIT_AUTHOR_DATE="2026-01-01T00:00:00Z", GIT_COMMITTER_DATE="2026-01-01T00:00:00Z")  # fmt: skip
    subprocess.run(["git", "merge", "-q", "--no-ff", "-m", "merge", "side"], cwd=repo, check=True, env=env, capture_output=True)
    picked = [c.sha for c in select_commits(open_repository(repo), since=None, until=UNTIL, all_parents=True)]
    assert len(picked) == 4 and picked[0] == base
    assert picked.index(side) < 3 and picked.index(main) < 3  # the merge last
    first_parent = [c.sha for c in select_commits(open_repository(repo), since=None, until=UNTIL)]
    assert first_parent[:2] == [base, main] and side not in first_parent


def test_every_tag_takes_the_tagged_commits_lightweight_or_annotated(tmp_path):
    import pytest

    from gitmine.errors import RepositoryError

    repo = _repo(tmp_path)
    shas = [_commit(repo, f"c{i}", f"2026-01-0{i + 1}T00:00:00Z") for i in range(5)]
    with pytest.raises(RepositoryError, match="none of the 5 commits in the window on HEAD is tagged"):
        select_commits(open_repository(repo), since=None, until=UNTIL, every="tag")
    with pytest.raises(RepositoryError, match=f"the only commit in the window on {shas[0]} is not tagged"):
        select_commits(open_repository(repo), since=None, until=UNTIL, every="tag", rev=shas[0])
    subprocess.run(["git", "tag", "v1", shas[1]], cwd=repo, check=True)
    env = dict(os.environ, GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@t")
    subprocess.run(["git", "tag", "-a", "-m", "release", "v2", shas[3]], cwd=repo, check=True, env=env)
    tagged = select_commits(open_repository(repo), since=None, until=UNTIL, every="tag")
    assert [c.sha for c in tagged] == [shas[1], shas[3]]
