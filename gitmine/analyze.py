"""``gitmine analyze``: history walk → worktrees → Nix evaluation → statistics → plan → hint file.

Each stage is a function of its own module; this one only chains them, and reports progress
through a callback so the CLI can draw it (and tests can ignore it).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterable

import pygit2
from joblib import Parallel, delayed

from . import __version__, gateway, hints as hintfile
from .cache import Cache, default_cache_dir, nix_settings_fingerprint
from .closure import Closure, Snapshot, StorePath
from .errors import AnalysisFailed, CommandFailed, GitmineError, Interrupted, RepositoryError
from .config import Settings
from .derive import Derivations, NotDerivable, derive
from .hints import Analysis, Hints
from .history import CommitInfo, file_at, open_repository, select_commits, shallow_commits, workdir
from .nixeval import (
    NO_BUILDER,
    ImageSpec,
    asks_for_submodules,
    flake_packages,
    instantiate,
    is_absent,
    is_transient,
    is_unlocked,
    nix_version,
    output_path,
    query_closure,
    reads_search_path,
    realise,
    said,
    substituters,
)
from .planner import PLANNER_NAME, plan
from .stats import Statistics, compute_statistics
from .window import parse_window
from .worktrees import WorktreePool

OK, FAILED, ABSENT = "ok", "failed", "absent"
RESUME = "interrupted; finished evaluations are cached, rerun to resume"


@dataclass(frozen=True)
class Evaluation:
    commit: CommitInfo
    image: str
    status: str
    closure: Closure | None = None
    error: str | None = None
    cached: bool = False
    unlocked: bool = False  # a flake whose commit did not lock its inputs: evaluated with today's
    drv: str | None = None  # ``<drv>!<output>``, where it was evaluated
    derived: bool = False  # the closure was derived from the derivations (--derive), not built or read


@dataclass
class Progress:
    """Callbacks: ``start(total)`` once, then ``advance(evaluation)`` per evaluated commit×image,
    then ``stage(what)`` when the work after evaluation begins (learning and planning); ``note(text)``
    for advice worth reading while it runs."""

    start: Callable[[int], None] = lambda total: None
    advance: Callable[[Evaluation], None] = lambda ev: None
    stage: Callable[[str], None] = lambda what: None
    note: Callable[[str], None] = lambda text: None


MANY_COMMITS = 150  # more commits than this to evaluate at every commit: say how to sample


@dataclass
class AnalyzeResult:
    settings: Settings
    commits: list[CommitInfo]
    evaluations: list[Evaluation]
    snapshots: list[Snapshot]
    stats: Statistics
    hints: Hints
    nix_evaluations: int
    nix_builds: int
    corrupt_cache_entries: list[str] = field(default_factory=list)
    previous: Previous | None = None
    warnings: tuple[str, ...] = ()  # what the evaluation found that makes the analysis say less

    @property
    def failures(self) -> list[Evaluation]:
        return [e for e in self.evaluations if e.status == FAILED]

    @property
    def cached(self) -> int:
        return sum(1 for e in self.evaluations if e.cached)


class _Evaluator:
    """Evaluates commit × image through the cache; safe to call from several threads."""

    def __init__(self, cache: Cache, settings_fp: str, settings: Settings, repo_dir: Path, shallow: bool = False):
        self.cache = cache
        self.repo_dir = repo_dir  # named in errors instead of the worktree a commit was evaluated in
        self.fp = settings_fp
        self.timeout = settings.eval_timeout
        self.shallow = shallow
        self.submodules = bool(settings.submodules)
        self.build = settings.build
        self.derive = settings.derive
        self.derivations = Derivations()  # --derive: the derivation files read in this run
        self._building: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()
        self._closures: dict[str, Closure] = {}  # drv -> its closure, one object for every commit that has it
        self._failed: dict[str, CommandFailed] = {}  # drv -> why its build failed in this run (built once)
        self._unreachable: set[str] = set()  # binary caches that could not be reached (--no-build)
        self._seen: dict[str, StorePath] = {}  # store paths read from the stores so far (--no-build)
        self._by_drv: dict[str, Closure] = {}  # drv -> its derived closure (--derive)
        self.notes: list[str] = []  # what the reader of the summary should know (--derive)

    def _key(self, commit: CommitInfo, image: ImageSpec) -> str | None:
        return Cache.eval_key(commit.tree, image.attr, image.file, self.fp) if image.is_flake else None

    def from_cache(self, commit: CommitInfo, image: ImageSpec) -> tuple[Evaluation | None, str | None]:
        """(cached evaluation, or None; the derivation path if it alone is known)."""
        key = self._key(commit, image)
        entry = self.cache.get_eval(key) if key else None
        if entry is None:
            return None, None
        status = entry.get("status")
        if status in (FAILED, ABSENT):
            if entry.get("by") != __version__:  # another gitmine may call Nix otherwise: a failure is tried again
                return None, None  # (a success stays a fact)
            return Evaluation(commit, image.name, status, error=entry.get("error"), cached=True), None
        drv = entry.get("drv")
        if status != OK or not isinstance(drv, str):
            return None, None
        closure = self._closure(drv)
        if closure is None:  # evaluated, not built: build it, or evaluate again if the store lost the .drv
            if not Path(drv.partition("!")[0]).exists():
                return None, None
            if self.derive:  # its closure is derived (or realised) once the others are known
                return Evaluation(commit, image.name, OK, cached=True, drv=drv), drv
            return None, drv
        return Evaluation(commit, image.name, OK, closure, cached=True, drv=drv), drv

    def evaluate(self, worktree: Path | None, commit: CommitInfo, image: ImageSpec, drv: str | None) -> Evaluation:
        key = self._key(commit, image)
        unlocked = False
        if drv is None:
            assert worktree is not None
            try:
                drv, unlocked = self._instantiate(worktree, image)
            except CommandFailed as err:
                status = ABSENT if is_absent(err, image, worktree) else FAILED
                return self._failure(commit, image, key, status, err, worktree)
            if unlocked:  # Nix locked the inputs as of today, which the next run may find different
                key = None
            if key:
                self.cache.put_eval(key, {"status": OK, "drv": drv})
        if self.derive and self._closure(drv) is None:
            return Evaluation(commit, image.name, OK, unlocked=unlocked, drv=drv)
        return self.realised(commit, image, drv, unlocked)

    def realised(self, commit: CommitInfo, image: ImageSpec, drv: str, unlocked: bool = False) -> Evaluation:
        """The evaluation of ``commit`` with the closure of ``drv``: from this run or the cache, else
        built (or, with --no-build, read from the stores) and cached."""
        key = None if unlocked else self._key(commit, image)
        with self._lock:
            lock = self._building.setdefault(drv, threading.Lock())
        with lock:  # two commits with the same derivation (a docs-only commit) build it once
            closure = self._closure(drv)
            if closure is not None:
                return Evaluation(commit, image.name, OK, closure, unlocked=unlocked, drv=drv)
            if drv in self._failed:  # a build that failed in this run fails again: build it once
                return self._failure(commit, image, key, FAILED, self._failed[drv])
            try:
                if self.build:
                    built = realise(drv, timeout=self.timeout)
                else:
                    built = query_closure(
                        output_path(drv),
                        substituters(),
                        timeout=self.timeout,
                        unreachable=self._unreachable,
                        seen=self._seen,
                    )
            except CommandFailed as err:
                self._failed[drv] = err
                return self._failure(commit, image, key, FAILED, err)
            self.cache.put_closure(drv, built)
            with self._lock:
                self._closures[drv] = built
            return Evaluation(commit, image.name, OK, built, unlocked=unlocked, drv=drv)

    def complete(self, evaluations: list[Evaluation], image: ImageSpec, progress: Progress) -> list[Evaluation]:
        """``--derive``: give the image's evaluated commits their closures. The commits whose closure is
        known (built before, or in the cache) are templates; if there is none, the newest commit's image
        is realised (the next newest, if that fails). Each other commit's closure is derived from its
        derivations and the nearest template (in history) that the rule reproduces; where it cannot be,
        the commit's image is realised as without --derive, and a warning says why."""
        out = list(evaluations)
        mine = [i for i, e in enumerate(out) if e.image == image.name and e.status == OK]
        why: list[str] = []  # why closures could not be derived, first reason first
        templates = [i for i in mine if out[i].closure is not None and self._reproduces(out[i], why)]
        realised = 0  # images realised beyond the one template a history needs
        for i in reversed(mine):
            if templates:
                break
            if out[i].closure is None:
                how = "building" if self.build else "reading from the stores"
                progress.stage(f"{how} `{image.name}` at {out[i].commit.sha[:12]}, the template for --derive")
                out[i] = self._realise_pending(out[i], image)
                if out[i].status == OK and self._reproduces(out[i], why):
                    templates.append(i)
                else:
                    realised += 1
        progress.stage(f"deriving the closures of `{image.name}` from their derivations")
        for i in mine:
            ev = out[i]
            if ev.closure is not None or ev.status != OK or ev.drv is None:
                continue
            derived = None
            if templates:
                t = out[min(templates, key=lambda j: (abs(j - i), -j))]
                assert t.closure is not None and t.drv is not None
                try:
                    derived = self._derived(t.closure, t.drv, ev.drv)
                except NotDerivable as err:
                    why.append(str(err))
            if derived is None:
                realised += 1
            out[i] = replace(ev, closure=derived, derived=True) if derived else self._realise_pending(ev, image)
        if why and realised:
            self.notes.append(
                f"--derive: {realised} commit(s) of `{image.name}` were built or read as without --derive: their "
                f"closures could not be derived from their derivations ({why[0]})"
            )
        return out

    def _realise_pending(self, ev: Evaluation, image: ImageSpec) -> Evaluation:
        assert ev.drv is not None
        done = self.realised(ev.commit, image, ev.drv, ev.unlocked)
        return replace(done, cached=ev.cached and done.status == OK)

    def _derived(self, template: Closure, template_drv: str, drv: str) -> Closure:
        """The closure of ``drv`` derived from ``template``: one object per derivation, so that commits
        that left the image alone share it as they share a built one."""
        with self._lock:
            known = self._by_drv.get(drv)
        if known is None:
            drvs = self.derivations
            known = derive(template, drvs.output(template_drv), drvs.output(drv), drv.partition("!")[0], drvs)
            with self._lock:
                known = self._by_drv.setdefault(drv, known)
        return known

    def _reproduces(self, ev: Evaluation, why: list[str]) -> bool:
        """Whether the derivation rule gives a known closure back from its own derivation (if not, the
        reason is added to ``why``)."""
        assert ev.closure is not None
        if ev.drv is None or not Path(ev.drv.partition("!")[0]).exists():  # its .drv collected since: no template
            return False
        try:
            again = self._derived(ev.closure, ev.drv, ev.drv)
        except NotDerivable as err:
            why.append(str(err))
            return False
        if set(again.paths) != set(ev.closure.paths):
            why.append(f"the rule does not give the closure of {ev.commit.sha[:12]} back from its derivations")
            return False
        return True

    def _instantiate(self, worktree: Path, image: ImageSpec) -> tuple[str, bool]:
        """``<drv>!<output>`` at ``worktree``, and whether the commit left its flake inputs unlocked:
        without a flake.lock that locks every input, Nix can only lock them as of today, so the
        evaluation is done that way and nothing of it is the commit's to cache (a failure is transient)."""
        try:
            return self._instantiate_as(worktree, image, locked=True), False
        except CommandFailed as err:
            if not is_unlocked(err):
                raise
        try:
            return self._instantiate_as(worktree, image, locked=False), True
        except CommandFailed as err:
            raise CommandFailed(err.argv, err.returncode, err.stderr, timed_out=err.timed_out, transient=True) from None

    def _instantiate_as(self, worktree: Path, image: ImageSpec, *, locked: bool) -> str:
        return instantiate(
            worktree, image, timeout=self.timeout, shallow=self.shallow, submodules=self.submodules, locked=locked
        )

    def _failure(
        self,
        commit: CommitInfo,
        image: ImageSpec,
        key: str | None,
        status: str,
        err: CommandFailed,
        worktree: Path | None = None,
    ) -> Evaluation:
        """The evaluation of a commit whose Nix call failed; cached unless the failure may not recur.
        Where Nix names the worktree (``flake 'git+file:///…/wt-…' does not provide …``), the error
        names the repository instead: the worktree is gone after the run."""
        error = err.first_line.replace(str(worktree), str(self.repo_dir)) if worktree else err.first_line
        if key and not is_transient(err):
            self.cache.put_eval(key, {"status": status, "error": error, "by": __version__})
        return Evaluation(commit, image.name, status, error=error)

    def _closure(self, drv: str) -> Closure | None:
        """The closure of ``drv``, read from the cache once per run: commits that share a derivation
        share its closure object (memory, and statistics derive it once)."""
        with self._lock:
            known = self._closures.get(drv)
        if known is not None:
            return known
        closure = self.cache.get_closure(drv)
        if closure is not None:
            with self._lock:
                closure = self._closures.setdefault(drv, closure)
        return closure


def collect(
    settings: Settings,
    commits: list[CommitInfo],
    repo_dir: Path,
    cache: Cache,
    progress: Progress,
    *,
    shallow: bool = False,
) -> tuple[list[Evaluation], tuple[str, ...]]:
    """Evaluate every commit × image, from the cache where possible, in parallel worktrees; with the
    evaluations, what the summary should warn about."""
    fingerprint = nix_settings_fingerprint(nix_version())
    if settings.submodules:  # the same commit reads more files: another evaluation
        fingerprint += "+submodules"
    evaluator = _Evaluator(cache, fingerprint, settings, repo_dir, shallow)
    done: dict[tuple[str, str], Evaluation] = {}
    todo: list[tuple[CommitInfo, list[tuple[ImageSpec, str | None]]]] = []
    for c in commits:
        missing = []
        for img in settings.images:
            ev, drv = evaluator.from_cache(c, img)
            if ev is None:
                missing.append((img, drv))
            else:
                done[(c.sha, img.name)] = ev
        if missing:
            todo.append((c, missing))
    if len(todo) > MANY_COMMITS and settings.every == "commit":
        progress.note(
            f"{len(todo)} commits to evaluate (later runs evaluate only new ones); Ctrl-C keeps what is done, "
            "and --every 1d (the last commit of each day) or --every tag evaluates fewer"
            + ("" if settings.derive else "; --derive builds the image at one commit instead of each")
        )
    progress.start(len(commits) * len(settings.images))
    for ev in done.values():
        progress.advance(ev)

    def work(pool: WorktreePool, commit: CommitInfo, items: list[tuple[ImageSpec, str | None]]) -> list[Evaluation]:
        if gateway.STOP.is_set():
            return []
        if all(drv is not None for _, drv in items):
            return [evaluator.evaluate(None, commit, img, drv) for img, drv in items]
        try:
            with pool.checkout(commit.sha) as wt:
                return [evaluator.evaluate(wt, commit, img, drv) for img, drv in items]
        except CommandFailed as err:  # git could not check the commit out: skipped, tried again next run
            if not err.argv or err.argv[0] != "git":
                raise
            return [Evaluation(commit, img.name, FAILED, error=f"checkout: {err.first_line}") for img, _ in items]

    if todo:
        jobs = max(1, min(settings.jobs, len(todo)))
        lfs_content = any(not img.is_flake for img in settings.images)  # only a --file image reads the worktree
        pool_of = WorktreePool(repo_dir, cache.root, jobs, lfs_content=lfs_content, submodules=bool(settings.submodules))
        with gateway.workers_running(), pool_of as pool:
            try:
                results: Iterable[list[Evaluation]] = Parallel(
                    n_jobs=jobs, prefer="threads", return_as="generator_unordered"
                )(delayed(work)(pool, c, items) for c, items in todo)
                for evs in results:
                    for ev in evs:
                        done[(ev.commit.sha, ev.image)] = ev
                        progress.advance(ev)
            except BaseException as exc:
                gateway.STOP.set()
                gateway.kill_all()
                if isinstance(exc, Interrupted):
                    raise Interrupted(RESUME) from None
                raise
        if gateway.STOP.is_set():
            raise Interrupted(RESUME)
    evaluations = [done[(c.sha, img.name)] for c in commits for img in settings.images if (c.sha, img.name) in done]
    if settings.derive:
        for img in settings.images:
            evaluations = evaluator.complete(evaluations, img, progress)
    return evaluations, tuple(evaluator.notes)


def _with_submodules(settings: Settings, repo: pygit2.Repository, newest: str, progress: Progress) -> Settings:
    """The settings with ``submodules`` decided where the user said nothing: on where a flake (as of the
    newest commit) asks for its submodules (``inputs.self.submodules = true``), else off, with a word
    of advice where the repository has submodules."""
    if settings.submodules is not None:
        return settings
    flakes = [img for img in settings.images if img.is_flake]
    if any(asks_for_submodules(file_at(repo, newest, str(img.flake_dir / "flake.nix")) or "") for img in flakes):
        progress.note("the flake asks for its git submodules (`inputs.self.submodules = true`): they are evaluated too")
        return replace(settings, submodules=True)
    if file_at(repo, newest, ".gitmodules") is not None:
        progress.note(
            "the repository has git submodules, which gitmine leaves out as `nix build .#image` does; if the image "
            "reads their files (`?submodules=1`, `inputs.self.submodules = true`), pass --submodules (or "
            "--no-submodules, or `submodules = false` in gitmine.toml, to say it does not)"
        )
    return replace(settings, submodules=False)


def analysis_of(snapshots: list[Snapshot], stats: Statistics, max_layers: int) -> Analysis:
    """What the hint file says was analysed: derived from the snapshots alone, so a recorded history
    and the repository it was recorded from give the same file."""
    return Analysis(
        images=tuple(sorted({name for s in snapshots for name in s.closures})),
        rev_range=f"{snapshots[0].rev}..{snapshots[-1].rev}",
        snapshots=len(snapshots),
        transitions=stats.transitions,
        max_layers=max_layers,
        planner=PLANNER_NAME,
    )


def snapshots_from(evaluations: list[Evaluation], commits: list[CommitInfo]) -> list[Snapshot]:
    """One snapshot per commit whose images all evaluated (absent images are left out)."""
    by_commit: dict[str, list[Evaluation]] = {}
    for ev in evaluations:
        by_commit.setdefault(ev.commit.sha, []).append(ev)
    out = []
    for c in commits:
        evs = by_commit.get(c.sha, [])
        if not evs or any(e.status == FAILED for e in evs):
            continue
        closures = {e.image: e.closure for e in evs if e.status == OK and e.closure is not None}
        if closures:
            out.append(Snapshot(c.sha[:12], c.date, closures))
    return out


@dataclass
class Mined:
    """The evaluated history of a repository: what analyze and replay learn from."""

    commits: list[CommitInfo]
    evaluations: list[Evaluation]
    snapshots: list[Snapshot]
    nix_evaluations: int
    nix_builds: int
    corrupt_cache_entries: list[str]
    warnings: tuple[str, ...] = ()


def _unlocked_warnings(settings: Settings, evaluations: list[Evaluation]) -> tuple[str, ...]:
    """Flake images evaluated at commits that did not lock their inputs: say how many, and the fix."""
    out = []
    for img in settings.images:
        n = sum(1 for e in evaluations if e.image == img.name and e.unlocked)
        if n:
            total = sum(1 for e in evaluations if e.image == img.name and e.status == OK)
            out.append(
                f"`{img.name}`: {n} of the {total} evaluated commits have no flake.lock that locks every input, so Nix "
                "locked their inputs as of today and their history is not in this analysis; commit flake.lock"
            )
    return tuple(out)


def _search_path_warnings(settings: Settings, root: Path) -> tuple[str, ...]:
    """A ``--file`` image that reads ``<nixpkgs>`` from NIX_PATH hides nixpkgs' history: say so."""
    return tuple(
        f"`{img.name}` ({img.describe()}) reads <nixpkgs> (or another <…> path) from NIX_PATH: every past commit was "
        "evaluated against today's channel, so the updates of nixpkgs are not in this analysis; pin nixpkgs in "
        "the repository (a flake, niv, npins, or fetchTarball with a hash)"
        for img in settings.images
        if not img.is_flake and reads_search_path(root, img, timeout=settings.eval_timeout)
    )


def mine(settings: Settings, progress: Progress | None = None) -> Mined:
    """Walk the window, evaluate every sampled commit × image (cache first), build the snapshots."""
    progress = progress or Progress()
    repo = open_repository(settings.repo)
    since, until = parse_window(settings.since, settings.until)
    commits = select_commits(
        repo,
        rev=settings.rev,
        since=since,
        until=until,
        all_parents=settings.all_parents,
        every=settings.every,
        allow_shallow=settings.allow_shallow,
    )
    nix_version()  # fail early, with one clear line, if Nix is missing or too old
    cache = Cache(settings.cache_dir or default_cache_dir())
    before = dict(gateway.COUNTERS)
    root = workdir(repo)
    settings = _with_submodules(settings, repo, commits[-1].sha, progress)
    evaluations, notes = collect(settings, commits, root, cache, progress, shallow=bool(shallow_commits(repo)))
    for img in settings.images:
        own = [e for e in evaluations if e.image == img.name]
        if all(e.status == ABSENT for e in own):
            nix_said = f" (Nix, at the latest commit: {own[-1].error})" if own and own[-1].error else ""
            names = said(flake_packages(root / img.flake_dir)) if img.is_flake else ""
            known = f"; the flake's packages now: {names}" if names else ""
            raise RepositoryError(
                f"image {img.describe()} exists at no commit of the window{nix_said}; check --attr/--file and --since{known}"
            )
    snapshots = snapshots_from(evaluations, commits)
    if not snapshots:
        failures = [e for e in evaluations if e.status == FAILED]
        first = failures[0] if failures else None
        why = f" (first failure at {first.commit.sha[:12]}: {first.error})" if first else ""
        if failures and all(NO_BUILDER.search(e.error or "") for e in failures):
            why += (
                "; this machine cannot build for the image's system: pass --no-build to read the closures from "
                "a binary cache the images are pushed to, or set up a remote builder"
            )
        raise AnalysisFailed(f"every commit of the window failed to evaluate{why}; nothing was written")
    return Mined(
        commits,
        evaluations,
        snapshots,
        gateway.COUNTERS["eval"] - before.get("eval", 0),
        gateway.COUNTERS["build"] - before.get("build", 0),
        list(cache.corrupt),
        notes + _unlocked_warnings(settings, evaluations) + _search_path_warnings(settings, root),
    )


@dataclass(frozen=True)
class Previous:
    """The hint file in use when the analysis started: the planner keeps its layers unless a new
    plan pays for the re-pull of switching (see :func:`gitmine.planner.plan`)."""

    path: Path
    hints: Hints | None  # None: absent, ignored (--fresh) or unreadable
    note: str  # why it was not used, when it was not


def previous_hints(path: Path, fresh: bool) -> Previous:
    """The hint file at ``path`` as the starting point of a new plan, unless told to start fresh. A
    file that cannot be read is not an error here: the analysis replaces it, and says why."""
    if fresh:
        return Previous(path, None, "ignored (--fresh)")
    if not path.exists():
        return Previous(path, None, "none")
    try:
        return Previous(path, hintfile.load(path), "")
    except GitmineError as e:
        return Previous(path, None, f"unreadable, planned from scratch ({e})")


def analyze(settings: Settings, progress: Progress | None = None, *, write: bool = True) -> AnalyzeResult:
    """The whole job; ``write=False`` computes the hints without writing them (``--check``)."""
    progress = progress or Progress()
    previous = previous_hints(settings.output_path, settings.fresh)
    mined = mine(settings, progress)
    progress.stage(f"learning from {len(mined.snapshots)} snapshots and planning")
    failures = [e for e in mined.evaluations if e.status == FAILED]
    stats = compute_statistics(mined.snapshots)
    analysis = analysis_of(mined.snapshots, stats, settings.max_layers)
    hints = plan(stats, settings.max_layers, analysis, previous=previous.hints)
    if failures and settings.strict:
        raise AnalysisFailed(
            f"{len(failures)} evaluation(s) failed and --strict is set (first: {failures[0].commit.sha[:12]} "
            f"{failures[0].image}: {failures[0].error}); nothing was written"
        )
    if write:
        hintfile.write(hints, settings.output_path)
    return AnalyzeResult(
        settings,
        mined.commits,
        mined.evaluations,
        mined.snapshots,
        stats,
        hints,
        mined.nix_evaluations,
        mined.nix_builds,
        mined.corrupt_cache_entries,
        previous,
        mined.warnings,
    )


@dataclass
class LearnResult:
    snapshots: list[Snapshot]
    stats: Statistics
    hints: Hints
    previous: Previous


def learn_recorded(
    history: Path, *, since: str | None, until: str | None, max_layers: int, output: Path, fresh: bool = False
) -> LearnResult:
    """``analyze --from-closures``: the same statistics, planner and hint file, from recorded closures."""
    from .recorded import load_history

    snapshots = load_history(history, since=since, until=until)
    previous = previous_hints(output, fresh)
    stats = compute_statistics(snapshots)
    hints = plan(stats, max_layers, analysis_of(snapshots, stats, max_layers), previous=previous.hints)
    hintfile.write(hints, output)
    return LearnResult(snapshots, stats, hints, previous)
