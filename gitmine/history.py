"""Walk a repository's history: the commits of the window, sampled, oldest first (pygit2)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pygit2

from .errors import RepositoryError


@dataclass(frozen=True)
class CommitInfo:
    sha: str
    tree: str
    time: int  # committer time, seconds since the epoch

    @property
    def date(self) -> str:
        return datetime.fromtimestamp(self.time, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def open_repository(path: Path) -> pygit2.Repository:
    found = pygit2.discover_repository(str(path))
    if found is None:
        raise RepositoryError(f"{path} is not in a git repository; run gitmine inside one or pass its path")
    try:
        repo = pygit2.Repository(found)
    except pygit2.GitError as err:
        if "not owned by current user" in str(err):  # git's "dubious ownership" (a checkout in a CI container)
            top = Path(found).parent if Path(found).name == ".git" else Path(found)
            raise RepositoryError(
                f"{top} belongs to another user, and git refuses it; if you trust it, run "
                f"`git config --global --add safe.directory {top}` (as git itself suggests) and try again"
            ) from None
        raise RepositoryError(f"{path}: git cannot open the repository ({err})") from None
    if repo.is_bare:
        raise RepositoryError(f"{path} is a bare repository; clone it (git clone {path}) and analyse the clone")
    return repo


def workdir(repo: pygit2.Repository) -> Path:
    return Path(repo.workdir).resolve()


def _resolve(repo: pygit2.Repository, rev: str) -> pygit2.Commit:
    try:
        obj = repo.revparse_single(rev)
        commit = obj.peel(pygit2.Commit)
    except (KeyError, ValueError, pygit2.GitError, pygit2.InvalidSpecError):
        raise RepositoryError(f"--rev {rev!r} names no commit in this repository; check `git log {rev}`") from None
    return commit


def _common_dir(repo: pygit2.Repository) -> Path:
    """The repository's git directory; for a worktree, the common one its ``commondir`` file names."""
    git_dir = Path(repo.path)
    link = git_dir / "commondir"
    return (git_dir / link.read_text().strip()).resolve() if link.exists() else git_dir


def shallow_commits(repo: pygit2.Repository) -> set[str]:
    """The commits whose parents a shallow clone did not fetch (none in a full clone). git lists them
    in the common directory, also for a worktree, where libgit2 does not look: in a worktree of a
    shallow clone ``repo.is_shallow`` is False, and walking past them fails."""
    listed = _common_dir(repo) / "shallow"
    return set(listed.read_text().split()) if listed.exists() else set()


def select_commits(
    repo: pygit2.Repository,
    *,
    rev: str = "HEAD",
    since: datetime | None,
    until: datetime,
    all_parents: bool = False,
    every: str = "commit",
    allow_shallow: bool = False,
) -> list[CommitInfo]:
    """The sampled commits of the window, oldest first: in the order of the history (a parent before
    its children), not of the commit dates, which may tie (a rebase commits many in one second) or
    go backwards (a skewed clock)."""
    if repo.head_is_unborn and rev == "HEAD":
        raise RepositoryError("the repository has no commits yet; commit something first")
    head = _resolve(repo, rev)
    lo = since.timestamp() if since else float("-inf")
    hi = until.timestamp()
    shallow = shallow_commits(repo)
    picked: list[pygit2.Commit] = []
    hit_boundary = False
    if all_parents:
        # newest first, never a parent before its child; walked in the common repository, where
        # libgit2 knows where a shallow clone's history ends
        common = _common_dir(repo)
        walked = repo if common == Path(repo.path) else pygit2.Repository(str(common))
        for commit in walked.walk(head.id, pygit2.enums.SortMode.TOPOLOGICAL | pygit2.enums.SortMode.TIME):
            if commit.commit_time < lo:
                break
            if str(commit.id) in shallow:
                hit_boundary = True
            if commit.commit_time <= hi:
                picked.append(commit)
    else:
        current: pygit2.Commit | None = head
        while current is not None:
            if current.commit_time < lo:
                break
            if current.commit_time <= hi:
                picked.append(current)
            if str(current.id) in shallow:
                hit_boundary = True
                break
            current = current.parents[0] if current.parent_ids else None
    if hit_boundary and not allow_shallow:
        raise RepositoryError(
            "this is a shallow clone whose history ends inside the window; run `git fetch --unshallow` "
            "(or pass --allow-shallow to analyse what is there)"
        )
    commits = [CommitInfo(str(c.id), str(c.tree_id), c.commit_time) for c in reversed(picked)]
    span = f"since {since:%Y-%m-%d}" if since else "in the window"
    if not commits:
        raise RepositoryError(f"no commits {span} on {rev}; widen --since or check --rev")
    sampled = _sample(repo, commits, every)
    if not sampled:  # only --every tag can leave none
        untagged = "the only commit {} is not" if len(commits) == 1 else f"none of the {len(commits)} commits {{}} is"
        raise RepositoryError(
            f"{untagged.format(f'{span} on {rev}')} tagged; tag releases, widen --since, or sample with --every 1w"
        )
    return sampled


def file_at(repo: pygit2.Repository, sha: str, path: str) -> str | None:
    """The text of ``path`` (relative to the root) at commit ``sha``, or None if it has no such file."""
    try:
        blob = repo.revparse_single(f"{sha}:{path}")
    except (KeyError, ValueError, pygit2.GitError):
        return None
    if not isinstance(blob, pygit2.Blob):
        return None
    return blob.data.decode("utf-8", "replace")


def _sample(repo: pygit2.Repository, commits: list[CommitInfo], every: str) -> list[CommitInfo]:
    if every == "commit":
        return commits
    if every == "tag":
        tagged = set()
        for ref in repo.references:
            if ref.startswith("refs/tags/"):
                try:
                    tagged.add(str(repo.references[ref].peel(pygit2.Commit).id))
                except (ValueError, pygit2.GitError):
                    continue
        return [c for c in commits if c.sha in tagged]
    fmt = "%Y-%m-%d" if every == "1d" else "%G-W%V"
    last: dict[str, int] = {}  # day or week -> the latest of its commits in history order
    for i, c in enumerate(commits):
        last[datetime.fromtimestamp(c.time, timezone.utc).strftime(fmt)] = i
    return [commits[i] for i in sorted(last.values())]
