"""The command line: a thin typer layer over the pipeline's functions.

Human output (progress, tables) goes to stderr; ``--json`` results go to stdout. Every
:class:`~gitmine.errors.GitmineError` becomes one line on stderr and its exit code; ``--debug``
shows the traceback instead.
"""

from __future__ import annotations

import json
import math
import os
import signal
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress as RichProgress, TextColumn, TimeRemainingColumn
from rich.status import Status
from rich.table import Table

from . import __version__
from .errors import EXIT_BUG, EXIT_INTERRUPTED, EXIT_USAGE, GitmineError, InputError, Interrupted, NoImage, UsageError
from .units import mb, mb_delta

if TYPE_CHECKING:
    from .analyze import AnalyzeResult, Evaluation, Progress
    from .closure import Closure, Snapshot
    from .config import Settings
    from .hints import Hints
    from .replay import Run

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="History-aware layering for Nix-built container images.",
)
cache_app = typer.Typer(no_args_is_help=True, help="Inspect or trim the evaluation cache.")
app.add_typer(cache_app, name="cache")
err = Console(stderr=True)
_DEBUG = False


def _say(text: str, *, markup: bool = False) -> None:
    """A message on stderr, not wrapped (the terminal wraps it; paths and commands stay whole for
    copying, also in CI logs), and not read as rich markup unless ``markup`` (escape what goes in)."""
    err.print(text, highlight=False, markup=markup, soft_wrap=True)


def _one_line(text: str) -> str:
    """``text`` with its control characters escaped (``\\n``, ``\\t``, ``\\x1b``): a message that quotes a
    damaged input (a store path with a newline in it) stays one line."""
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text)


def _emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True) + "\n")


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"gitmine {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks instead of one-line errors."),
    version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    global _DEBUG
    _DEBUG = debug


# ---------------------------------------------------------------------------------------------
# analyze


def _refuse(given: Mapping[str, object], why: str) -> None:
    """A usage error for the first option given (a truthy value) that does not apply here."""
    flag = next((flag for flag, value in given.items() if value), None)
    if flag is not None:
        raise UsageError(f"{flag} {why}")


@app.command()
def analyze(
    repo: Path = typer.Argument(Path("."), help="The repository to analyse (default: the current directory)."),
    since: Optional[str] = typer.Option(
        None, help="Start of the window: 6months (the default), 2w, 90days, 1y, an ISO date, or all (the whole history)."
    ),
    until: Optional[str] = typer.Option(None, help="End of the window (default: now); same forms as --since."),
    rev: Optional[str] = typer.Option(None, help="Walk history back from this revision (default: HEAD)."),
    all_parents: Optional[bool] = typer.Option(None, "--all-parents", help="Include commits of merged branches, not just first parents."),
    every: Optional[str] = typer.Option(None, help="Sample: commit (default), 1d, 1w or tag."),
    attr: Optional[list[str]] = typer.Option(
        None, "--attr", help="Image attribute (repeatable): flake attr (DIR#ATTR: the flake in DIR), or attr of --file (default: the images of gitmine.toml, else the flake's default package)."
    ),
    file: Optional[str] = typer.Option(None, "--file", help="Evaluate --attr in this Nix file instead of the flake."),
    jobs: Optional[int] = typer.Option(None, "--jobs", "-j", help="Commits evaluated at once (default: cores, at most one per 2 GiB of memory)."),
    max_layers: Optional[int] = typer.Option(None, "--max-layers", help="Layer budget per image (default: max-layers in gitmine.toml, else the hint file's, else 100)."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Hint file to write (default: REPO/layer-hints.toml)."),
    strict: Optional[bool] = typer.Option(None, "--strict", help="Fail (exit 1) if any commit fails to evaluate."),
    allow_shallow: Optional[bool] = typer.Option(None, "--allow-shallow", help="Analyse a shallow clone's partial history."),
    build: Optional[bool] = typer.Option(
        None, "--build/--no-build",
        help="Build (or download) each commit's image, the default; --no-build reads closures from the local store and the binary caches' metadata instead.",
    ),  # fmt: skip
    derive: Optional[bool] = typer.Option(
        None, "--derive/--no-derive",
        help="Build (or, with --no-build, read) the image at one commit only, and derive the other commits' closures from their derivations.",
    ),  # fmt: skip
    submodules: Optional[bool] = typer.Option(
        None, "--submodules/--no-submodules",
        help="Evaluate each commit with its git submodules checked out (as nix build '.?submodules=1#image').",
    ),  # fmt: skip
    cache_dir: Optional[Path] = typer.Option(None, "--cache-dir", help="Evaluation cache (default: $XDG_CACHE_HOME/gitmine)."),
    eval_timeout: Optional[float] = typer.Option(None, "--eval-timeout", help="Seconds before a Nix call counts as failed."),
    from_closures: Optional[Path] = typer.Option(None, "--from-closures", help="Learn from recorded closures (JSONL or directory) instead of git + Nix."),
    record: Optional[Path] = typer.Option(None, "--record", help="Also write the evaluated closures as a JSONL history."),
    check_only: bool = typer.Option(False, "--check", help="Exit 1 if the committed hint file is stale; write nothing."),
    report: Optional[Path] = typer.Option(None, "--report", help="With --check: write the drift report as Markdown."),
    fresh: bool = typer.Option(
        False, "--fresh", help="Plan from scratch; by default the layers of the existing hint file are kept unless a new plan pays for the switch."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON on stdout."),
) -> None:
    """Mine the repository's history into a layer hint file."""
    from .summary import summary_of

    if from_closures is not None:
        _refuse({
            "REPO": repo != Path("."), "--rev": rev, "--all-parents": all_parents, "--every": every, "--attr": attr,
            "--file": file, "--jobs": jobs, "--strict": strict, "--allow-shallow": allow_shallow,
            "--build/--no-build": build is not None, "--derive/--no-derive": derive is not None,
            "--submodules/--no-submodules": submodules is not None, "--cache-dir": cache_dir,
            "--eval-timeout": eval_timeout, "--record": record, "--check": check_only, "--report": report,
        }, "works on a repository, not with --from-closures (which takes --since, --until, --max-layers, --output, "
           "--fresh and --json)")  # fmt: skip
        _analyze_recorded(from_closures, since, until, max_layers, output, fresh, as_json)
        return
    settings = _settings(repo, dict(
        since=since, until=until, rev=rev, all_parents=all_parents, every=every, jobs=jobs,
        max_layers=max_layers, output=output, strict=strict, allow_shallow=allow_shallow,
        cache_dir=cache_dir, eval_timeout=eval_timeout, fresh=fresh or None, build=build, derive=derive,
        submodules=submodules,
    ), attr, file)  # fmt: skip
    if report is not None and not check_only:
        raise UsageError("--report goes with --check")
    _directories_exist(("--output", None if check_only else settings.output_path), ("--record", record), ("--report", report))
    if check_only:
        _check(settings, report, as_json)
        return
    result = _run_analysis(settings)
    if record is not None:
        from .recorded import write_history

        write_history(record, result.snapshots)
    _show_summary(summary_of(result), as_json)


def _analyze_recorded(
    history: Path, since: str | None, until: str | None, max_layers: int | None, output: Path | None, fresh: bool, as_json: bool
) -> None:
    """``analyze --from-closures``: learn and plan from a recorded history, no git or Nix."""
    from . import config
    from .analyze import learn_recorded
    from .summary import summary_recorded

    if max_layers is not None and max_layers < 1:
        raise UsageError(f"--max-layers {max_layers}: must be at least 1")
    out = output or Path(config.DEFAULT_OUTPUT)
    _directories_exist(("--output", out))
    with _activity() as show:
        show(f"learning from {history} and planning")
        res = learn_recorded(
            history, since=since, until=until, max_layers=max_layers or config.budget_in_use(out), output=out, fresh=fresh
        )
    _show_summary(summary_recorded(res, out, since=since, until=until), as_json)


def _directories_exist(*outputs: tuple[str, Path | None]) -> None:
    """Say now, not after the evaluations, that an output's directory is missing."""
    from .atomic import missing_directory

    for flag, path in outputs:
        if path is None:
            continue
        if Path(path).name == "-":  # not standard output: the next run reads the hint file back
            raise UsageError(f"{flag} -: name a file to write (--json prints the results on standard output)")
        missing = missing_directory(path)
        if missing is not None:
            raise UsageError(f"{flag} {path}: directory {missing} does not exist; create it first")
        if Path(path).is_dir():
            raise UsageError(f"{flag} {path} is a directory; name the file to write")


def _settings(repo: Path, flags: dict[str, Any], attr: list[str] | None, file: str | None) -> Settings:
    from .config import Settings, resolve
    from .history import open_repository, workdir
    from .nixeval import ImageSpec

    repo = repo.resolve()
    if not repo.exists():
        raise UsageError(f"{repo} does not exist; pass the path of a git repository")
    repo = workdir(open_repository(repo))  # run from a subdirectory: the root's gitmine.toml and hint file
    if file and not attr:
        raise UsageError("--file needs --attr: which attribute of the file is the image?")
    if file and any("#" in a for a in attr or ()):
        raise UsageError("--attr DIR#ATTR names a flake in a subdirectory; with --file give the attribute alone")
    if attr:
        flags["images"] = tuple(ImageSpec(a, a, file) for a in attr)
    if flags.get("output") is not None:
        flags["output"] = Path(flags["output"]).resolve()
    packages: list[str] = []

    def flake_default(root: Path) -> ImageSpec | None:
        """With no image named, what `nix build` with no attribute builds: packages.<system>.default."""
        from .nixeval import DEFAULT_PACKAGE, flake_packages

        packages[:] = flake_packages(root)
        if DEFAULT_PACKAGE not in packages:
            return None
        image = ImageSpec(DEFAULT_PACKAGE, DEFAULT_PACKAGE)
        _say(f"image: the flake's default package ({image.describe()}, what `nix build` builds); --attr names another")
        return image

    try:
        return resolve(Settings(repo=repo), flags, default_image=flake_default)
    except NoImage as err:
        from .nixeval import said

        raise NoImage(f"{err}; this flake's packages: {said(packages)}" if packages else str(err)) from None


def _check(settings: Settings, report: Path | None, as_json: bool) -> None:
    from . import hints as hintfile
    from .atomic import write_text_atomic
    from .drift import drift, markdown
    from .summary import summary_of

    path = settings.output_path
    if not path.exists():
        raise UsageError(f"no committed hint file at {path}; create it with `gitmine analyze` first")
    committed = hintfile.load(path)
    result = _run_analysis(settings, write=False)
    d = drift(committed, result.hints, result.snapshots)
    if report is not None:
        write_text_atomic(report, markdown(d, str(path)))
    if as_json:
        _emit_json({"check": d.as_dict(), "summary": summary_of(result)})
    else:
        _say(markdown(d, str(path)))
    if d.stale:
        raise typer.Exit(1)


@contextmanager
def _bar(*fields: str) -> Iterator[RichProgress]:
    """Progress bars on stderr while the block runs, one per task; ``fields`` are counters shown after them."""
    columns = [TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn()]
    columns += [TextColumn(f"{{task.fields[{f}]}} {f}") for f in fields]
    bar = RichProgress(*columns, TimeRemainingColumn(), console=err)
    try:
        yield bar
    finally:
        if bar.live.is_started:
            bar.stop()


@contextmanager
def _activity() -> Iterator[Callable[[str], None]]:
    """A spinner on stderr naming what runs now (``show(what)``), removed when the block ends."""
    status: Status | None = None

    def show(what: str) -> None:
        nonlocal status
        if not err.is_terminal:  # a log (CI) gets the results, not a spinner's leftovers
            return
        if status is None:
            status = err.status(what)
            status.start()
        else:
            status.update(what)

    try:
        yield show
    finally:
        if status is not None:
            status.stop()


def _evaluation_progress(bar: RichProgress, show: Callable[[str], None]) -> Progress:
    """Evaluation callbacks that start ``bar`` once the number of commits × images is known, and
    hand over to a spinner (``show``) for the work after it. Where stderr is a log (CI), not a
    terminal, a line every tenth of the way and a line per stage instead: a bar would be drawn there
    once, at the end of a first run that may take an hour."""
    from .analyze import FAILED, Progress

    task: Any = None
    failed = done = total = step = 0
    log = not err.is_terminal

    def start(n: int) -> None:
        nonlocal task, total, step
        total, step = n, max(1, math.ceil(n / 10))
        if not log:
            bar.start()
            task = bar.add_task("evaluating", total=n, failed=0)

    def advance(ev: Evaluation) -> None:
        nonlocal failed, done
        failed += ev.status == FAILED
        done += 1
        if not log:
            bar.update(task, advance=1, failed=failed)
        elif done == total or done % step == 0:
            _say(f"evaluating {done}/{total}, {failed} failed")

    def stage(what: str) -> None:
        if log:  # a template build for --derive may take as long as the evaluations
            _say(what)
            return
        bar.stop()
        show(what)

    def note(text: str) -> None:
        _say(f"note: {text}")

    return Progress(start, advance, stage, note)


def _run_analysis(settings: Settings, *, write: bool = True) -> AnalyzeResult:
    """Run the analysis with a progress bar on stderr, shown once evaluation starts."""
    from .analyze import analyze

    with _bar("failed") as bar, _activity() as show:
        return analyze(settings, _evaluation_progress(bar, show), write=write)


def _per_release(cost: dict[str, Any], size: dict[str, Any]) -> str:
    """Pulled and unpacked bytes per release as ratios to the lower bound, and the bytes of ``size``."""
    pull, unpack = mb(size["pull"]), mb(size["unpack"])
    if cost["pull_ratio"] is None:  # nothing changes, nothing to compare with
        return f"{pull} pulled, {unpack} unpacked"
    return f"{pull} pulled ({cost['pull_ratio']:.2f}× the lower bound), {unpack} unpacked ({cost['unpack_ratio']:.2f}×)"


SHOWN_FAILURES = 10  # failed commits listed after the summary table; --json lists them all


def _show_summary(summary: dict[str, Any], as_json: bool) -> None:
    if as_json:
        _emit_json(summary)
        return
    t = Table(title="gitmine analyze", show_header=False, title_justify="left")
    if "window" in summary:
        w = summary["window"]
        bounds = f"--since {w['since']}" + (f" --until {w['until']}" if w["until"] else "")
        of = "commits" if "commits" in summary else "snapshots"  # a repository's, or a recorded history's
        t.add_row("window", f"{bounds}: {of} of {w['first'][:10]} to {w['last'][:10]}")
    rows = ("commits", "snapshots", "evaluations", "builds", "derived", "from_cache", "failed", "absent", "keys", "layers")
    for k in (*rows, "output"):
        if k in summary:
            t.add_row(k.replace("_", " "), str(summary[k]))
        if k == "layers" and "layers_per_image" in summary:
            each = ", ".join(f"{image} {n}" for image, n in sorted(summary["layers_per_image"].items()))
            t.add_row("  per image", each)
    prev = summary["previous"]
    if prev["used"]:
        whose = "the images' " if "layers_per_image" in summary else ""  # each image's blobs of the file's layers
        kept = f"{prev['layers_unchanged']} of {whose}{prev['layers']} layers unchanged ({prev['path']})"
        if prev["switch_pull"] or prev["switch_unpack"]:
            save = prev["saving_per_release"]
            kept += (
                f"; the switch re-pulls {mb(prev['switch_pull'])} once and is expected to change the bytes per "
                f"release by {mb_delta(-save['pull'])} pulled, {mb_delta(-save['unpack'])} unpacked"
            )
        t.add_row("previous hints", kept)
    elif prev["note"] != "none":
        t.add_row("previous hints", prev["note"])
    fc = summary["expected_per_release"]
    auto = fc["autolayer"]
    # bytes in one scale: gitmine's ratios applied to the lower bound auto-layer's cost was measured on
    t.add_row("expected per release", _per_release(fc, fc.get("estimate", fc)))
    what = "nixpkgs, same budget" + (", over the analysed releases" if auto["how"] != "forecast" else "")
    t.add_row("  with auto-layer", f"{_per_release(auto, auto)}; {what}")
    if auto["lower_bound"]:
        t.add_row("  lower bound", f"{mb(auto['lower_bound'])} of new store paths per release")
    volatile = ", ".join(f"{v['key']} ({v['changes']})" for v in summary["most_volatile"])
    t.add_row("most volatile", volatile or "none: the image did not change in the window")
    for i, c in enumerate(summary["cochange_clusters"], 1):
        t.add_row(f"change together #{i}", ", ".join(c[:8]) + (f" +{len(c) - 8}" if len(c) > 8 else ""))
    err.print(t)
    for w in summary["warnings"]:
        _say(f"[yellow]warning:[/] {escape(w)}", markup=True)
    failures = summary.get("failures", [])
    for f in failures[:SHOWN_FAILURES]:
        _say(f"[yellow]failed[/] {f['commit'][:12]} {escape(f['image'])}: {escape(str(f['error']))}", markup=True)
    if len(failures) > SHOWN_FAILURES:
        _say(f"[yellow]… and {len(failures) - SHOWN_FAILURES} more failures[/] (all of them: --json)", markup=True)
    if summary.get("corrupt_cache_entries"):
        _say(f"[yellow]{summary['corrupt_cache_entries']} corrupt cache entries were recomputed[/]", markup=True)
    if not prev["used"]:  # a first hint file: what to do with it
        out = summary["output"]
        _say(
            f"next: commit {out} and lay images out with it at build time: gitmine's nix/layers-file.nix (flake "
            f"output lib.layersFile) makes nix2container's layersFile from it (nix/n2c-layers.nix: explicit layers for "
            f"released nix2container; nix/docker-pipeline.nix: dockerTools' layeringPipeline). A built image's layers: "
            f"nix path-info --recursive --json ./result | gitmine layout --hints {out} --explain -"
        )


# ---------------------------------------------------------------------------------------------
# layout, check


def _hint_file(given: Path | None, how: str) -> Path:
    """The hint file a command was given; else the one in this directory; else, inside a repository,
    the one ``gitmine analyze`` writes there (run from a subdirectory, or with ``output`` set in
    gitmine.toml)."""
    if given is not None:
        return given
    from .config import DEFAULT_OUTPUT, output_of
    from .errors import RepositoryError
    from .history import open_repository, workdir

    if Path(DEFAULT_OUTPUT).exists():
        return Path(DEFAULT_OUTPUT)
    try:
        written = output_of(workdir(open_repository(Path.cwd())))
    except RepositoryError:
        written = None
    if written is not None and written.exists():
        return written
    where = f" nor at {written}" if written is not None else ""
    raise UsageError(f"no {DEFAULT_OUTPUT} in this directory{where}; pass {how}, or create it with `gitmine analyze`")


@app.command()
def layout(
    graph: Optional[str] = typer.Argument(None, help="Closure graph file (JSON or exportReferencesGraph text), or - for stdin."),
    hints: Optional[Path] = typer.Option(
        None, "--hints", help="The hint file (default: ./layer-hints.toml, where gitmine analyze writes it)."
    ),
    max_layers: Optional[int] = typer.Option(None, "--max-layers", help="Layer budget (default: the hint file's)."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write the layers here instead of stdout (-: stdout)."),
    explain: bool = typer.Option(False, "--explain", help="Print a table of the layers on stderr."),
    pipeline: bool = typer.Option(
        False, "--pipeline",
        help="Write nixpkgs dockerTools' layeringPipeline instead (each layer the closure of its paths less the layers below).",
    ),  # fmt: skip
    nix_build: bool = typer.Option(
        False, "--nix-build", help="Run as a Nix builder: read `graph` from $NIX_ATTRS_JSON_FILE, write to its `out`."
    ),
) -> None:
    """Lay a closure out into layers: nix2container's layersFile JSON, bottom layer first (or, with
    --pipeline, the dockerTools layeringPipeline that comes closest)."""
    from . import hints as hintfile
    from .closure import parse_graph
    from .layout import layers_json, layout as do_layout, too_many_layers
    from .pipeline import layering_pipeline, peeled

    hints = _hint_file(hints, "--hints FILE")
    h = hintfile.load(hints)
    if max_layers is not None and max_layers < 1:
        raise UsageError(f"--max-layers {max_layers}: must be at least 1")
    if nix_build:
        text, source, output = _structured_attrs()
    elif graph is None:
        raise UsageError("layout needs a GRAPH file (or - for stdin)")
    elif graph == "-":
        text, source = sys.stdin.read(), "<stdin>"
    else:
        try:
            text, source = Path(graph).read_text(encoding="utf-8"), graph
        except FileNotFoundError:
            raise InputError(f"{graph}: no such graph file") from None
        except (OSError, UnicodeDecodeError) as e:
            raise InputError(f"{graph}: cannot read the graph ({e})") from None
    closure = parse_graph(text, source)
    layers = do_layout(closure, h, max_layers)
    _warn_unseen(closure, h, hints)
    deep = too_many_layers(len(layers))
    if deep:
        _say(f"warning: {deep}")
    if pipeline:
        body = json.dumps(layering_pipeline([layer.paths for layer in layers], closure), indent=1) + "\n"
    else:
        body = layers_json(layers)
    if output is not None and str(output) != "-":
        from .atomic import write_text_atomic

        write_text_atomic(output, body)
    else:
        sys.stdout.write(body)
    if explain:
        t = Table(title=f"{len(layers)} layers, bottom first", title_justify="left")
        for col in ("#", "paths", "size", "change rate"):
            t.add_column(col, justify="right")
        t.add_column("keys")
        for i, layer in enumerate(layers, 1):
            keys = ", ".join(layer.keys[:6]) + (f" +{len(layer.keys) - 6}" if len(layer.keys) > 6 else "")
            size = f"{layer.size / 1e6:.1f} MB" if closure.sizes_known else "unknown"
            t.add_row(str(i), str(len(layer.paths)), size, f"{layer.change_rate:.3f}" + (" (new keys)" if layer.unseen else ""), keys)
        err.print(t)
        if pipeline:
            pieces = peeled([layer.paths for layer in layers], closure)
            moved = sum(len(piece) - len(own) for own, piece in pieces)
            _say(
                f"the pipeline makes {len(pieces)} layers of these: each takes the closure of its paths less the layers "
                f"below ({moved} of {len(closure)} paths move down to a layer that uses them)"
            )


UNSEEN_WARNING = 0.5  # warn when more than this share of a closure is in keys the hints do not know


def _warn_unseen(closure: Closure, h: Hints, path: Path) -> None:
    """The layout is valid whatever the hints, but hints that know little of the closure are probably
    another image's, or stale after a mass rename: say so on stderr."""
    from .layout import unseen_keys

    new = unseen_keys(set(closure.keys), h)
    if not new:
        return
    paths = [p for k in new for p in closure.keys[k]]
    if closure.sizes_known and closure.total_size():
        share = sum(closure.paths[p].size for p in paths) / closure.total_size()
    else:
        share = len(paths) / len(closure)
    if share > UNSEEN_WARNING:
        _say(
            f"[yellow]warning:[/] {share:.0%} of the closure ({len(paths)} of {len(closure)} paths) is in keys "
            f"{escape(str(path))} does not list. Are these the hints of this image? "
            "Rerun `gitmine analyze` to place them.",
            markup=True,
        )


def _structured_attrs() -> tuple[str, str, Path]:
    """(text, path, output path) of the structured attributes of a Nix build (``__structuredAttrs = true``),
    whose ``graph`` (``exportReferencesGraph``) is the closure to lay out."""
    attrs = os.environ.get("NIX_ATTRS_JSON_FILE") or (".attrs.json" if Path(".attrs.json").exists() else None)
    if not attrs:
        raise UsageError("--nix-build runs inside a Nix build with __structuredAttrs = true; no .attrs.json found")
    try:
        text = Path(attrs).read_text(encoding="utf-8")
        data = json.loads(text)
    except (OSError, ValueError) as e:
        raise InputError(f"{attrs}: cannot read the structured attributes ({e})") from None
    outputs = data.get("outputs") if isinstance(data, dict) else None
    out = outputs.get("out") if isinstance(outputs, dict) else None
    if not isinstance(out, str) or not out:
        raise InputError(f"{attrs}: no outputs.out path in the structured attributes")
    if not any(k in data for k in ("graph", "closure")):
        raise InputError(f"{attrs}: no closure graph in the structured attributes; set `exportReferencesGraph.graph = roots;`")
    return text, attrs, Path(out)


@app.command()
def check(
    file: Optional[Path] = typer.Argument(None, help="The hint file to validate (default: ./layer-hints.toml).")
) -> None:
    """Validate a hint file and explain what is wrong with it."""
    from . import hints as hintfile

    file = _hint_file(file, "its path")
    try:
        text = file.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError(f"{file}: no such file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{file}: cannot read it ({e})") from None
    problems = hintfile.problems(text)
    if problems:
        for p in problems:
            _say(f"{file}: {p}")
        raise typer.Exit(EXIT_USAGE)
    h = hintfile.parse(text, str(file))
    n_keys = sum(len(layer.keys) for layer in h.layers)
    images = len(h.analysis.images)
    each = f" for each of {images} images" if images > 1 else ""
    _say(f"{file}: valid: {len(h.layers)} layers, {n_keys} keys, max-layers {h.max_layers}{each}")
    from .layout import too_many_layers

    deep = too_many_layers(h.max_layers, budget=True)
    if deep:
        _say(f"{file}: warning: {deep}")


# ---------------------------------------------------------------------------------------------
# replay


@app.command()
def replay(
    history: list[Path] = typer.Argument(
        ..., help="Recorded histories (JSONL or directory), or git repositories with --attr; several give a table each and totals."
    ),
    max_layers: Optional[list[int]] = typer.Option(
        None, "--max-layers", help="Layer budget (repeatable; default: a repository's gitmine.toml, else its hint file's, else 100)."
    ),
    train: int = typer.Option(26, "--train", help="Training window, in weeks."),
    test: int = typer.Option(26, "--test", help="Scored window after it, in weeks."),
    replan_every: Optional[int] = typer.Option(
        None, "--replan-every", help="Instead of folds: re-analyse before every N-th release on the previous --train weeks, switches charged."
    ),
    start: Optional[int] = typer.Option(
        None,
        "--start",
        help="With --replan-every: the first analysis after this many weeks (default: --train), its window growing to --train weeks, as in a young repository.",
    ),
    strategy: Optional[list[str]] = typer.Option(None, "--strategy", help="Strategies to compare (default: all)."),
    attr: Optional[list[str]] = typer.Option(None, "--attr", help="With a git repository: image attribute(s)."),
    file: Optional[str] = typer.Option(None, "--file", help="With a git repository: Nix file of --attr."),
    since: Optional[str] = typer.Option(None, help="Only snapshots since (same forms as analyze)."),
    cache_dir: Optional[Path] = typer.Option(None, "--cache-dir", help="With a git repository: the evaluation cache."),
    build: Optional[bool] = typer.Option(
        None, "--build/--no-build", help="With a git repository: build each commit's image, or (--no-build) read closures from the stores."
    ),
    derive: Optional[bool] = typer.Option(
        None, "--derive/--no-derive", help="With a git repository: realise one commit's image, derive the other closures from derivations."
    ),
    submodules: Optional[bool] = typer.Option(
        None, "--submodules/--no-submodules", help="With a git repository: evaluate each commit with its git submodules."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print results as JSON on stdout."),
    plot: Optional[Path] = typer.Option(
        None, "--plot", help="Draw cumulative pull bytes (the last --max-layers, a panel per history) to FILE.png or FILE.svg."
    ),
) -> None:
    """Score layering strategies on held-out history: bytes pulled and unpacked per release."""
    from .replay import DEFAULT_STRATEGIES, FRESH
    from .replay import totals
    from .report import plot_cumulative, replay_json, replay_table, totals_json

    known = DEFAULT_STRATEGIES if replan_every is None else (*DEFAULT_STRATEGIES, FRESH)
    strategies = tuple(strategy or known)
    bad = [s for s in strategies if s not in known]
    if bad:
        raise UsageError(f"--strategy {bad[0]!r} is not known; choose from {', '.join(known)}")
    if train < 1 or test < 1:
        raise UsageError("--train and --test must be at least 1 week")
    if replan_every is not None and replan_every < 1:
        raise UsageError("--replan-every must be at least 1 release")
    if start is not None and replan_every is None:
        raise UsageError("--start is for --replan-every: folds always learn from --train weeks")
    if start is not None and start < 1:
        raise UsageError("--start must be at least 1 week")
    if any(n < 1 for n in max_layers or ()):
        raise UsageError("--max-layers must be at least 1")
    if plot is not None and plot.suffix.lower() not in (".png", ".svg"):
        raise UsageError(f"--plot {plot}: the file must end in .png or .svg")
    if not any(_is_repository(h) for h in history):
        given = {
            "--attr": attr, "--file": file, "--cache-dir": cache_dir, "--build/--no-build": build is not None,
            "--derive/--no-derive": derive is not None, "--submodules/--no-submodules": submodules is not None,
        }  # fmt: skip
        what = f"{history[0]} is a recorded history" if len(history) == 1 else "these are recorded histories"
        _refuse(given, f"works on a git repository; {what}")
    per_history: list[list[Run]] = []
    for h in history:
        snapshots, budget = _replay_snapshots(h, attr, file, since, cache_dir, build, derive, submodules)
        per_history.append(_replay_runs(h, snapshots, max_layers or [budget], train, test, replan_every, strategies, start))
    total: list[Run] = []
    if len(history) > 1:
        if len({tuple(n for n, _, _ in runs) for runs in per_history}) == 1:
            total = totals(per_history)
        else:
            _say("no totals: the repositories' budgets (gitmine.toml or hint file) differ; --max-layers sets one for all")
    if as_json:
        per = [replay_json(str(h), runs, replan_every, start) for h, runs in zip(history, per_history)]
        _emit_json(per[0] if len(per) == 1 else {"histories": per, "totals": totals_json(total)})
    else:
        for h, runs in zip(history, per_history):
            for n, results, folds in runs:
                err.print(replay_table(_history_name(h), n, results, folds, replan_every, start))
        for n, results, folds in total:
            err.print(replay_table(f"all {len(history)} histories", n, results, folds, replan_every, start))
    if plot is not None:
        plot_cumulative([(f"{h.resolve().name}, {runs[-1][0]} layers", runs[-1][1]) for h, runs in zip(history, per_history)], plot)


def _replay_runs(
    history: Path,
    snapshots: list[Snapshot],
    max_layers: list[int],
    train: int,
    test: int,
    replan_every: int | None,
    strategies: tuple[str, ...],
    start: int | None = None,
) -> list[Run]:
    """One replay of ``snapshots`` per budget, with a progress bar on stderr."""
    from .replay import replay as do_replay, replay_replanning

    runs: list[Run] = []
    with _bar() as bar:
        for n in max_layers:
            task = bar.add_task(f"replaying {history.resolve().name}, {n} layers", total=None)

            def step(done: int, total: int, task: Any = task) -> None:
                bar.start()
                bar.update(task, completed=done, total=total)

            if replan_every is None:
                results, folds = do_replay(
                    snapshots, max_layers=n, train_weeks=train, test_weeks=test, strategies=strategies, progress=step
                )
            else:
                results, folds = replay_replanning(
                    snapshots, max_layers=n, train_weeks=train, every=replan_every, strategies=strategies, progress=step,
                    start_weeks=start,
                )  # fmt: skip
            if not folds:
                # what to lower: the weeks before the first scored release (--start, when given), or the fold
                option, weeks, lower = ("--train", train, "--train/--test") if start is None else ("--start", start, "--start")
                span = f"{weeks} weeks and a release after them" if replan_every else f"one fold of {train}+{test} weeks"
                raise InputError(
                    f"{history}: {len(snapshots)} snapshot{'s' if len(snapshots) != 1 else ''}"
                    f"{_weeks_spanned(snapshots)} do not cover {span}; lower {lower}"
                    f"{_what_fits(snapshots, replan_every is not None, option)} or record more history"
                )
            runs.append((n, results, folds))
    return runs


def _days_spanned(snapshots: list[Snapshot]) -> int | None:
    from datetime import date

    try:
        return (date.fromisoformat(snapshots[-1].date[:10]) - date.fromisoformat(snapshots[0].date[:10])).days
    except (IndexError, ValueError):
        return None


def _weeks_spanned(snapshots: list[Snapshot]) -> str:
    """`` over 21 weeks``: the span of the snapshots' dates, where they have dates."""
    days = _days_spanned(snapshots)
    if days is None:
        return ""
    return f" over {days / 7:.0f} weeks" if days >= 7 else (f" over {days} days" if days > 1 else "")


def _what_fits(snapshots: list[Snapshot], replanning: bool, option: str = "--train") -> str:
    """`` (e.g. --train 14 --test 7)``: a split of the weeks the snapshots span that gives a fold
    (re-planning: the weeks of ``option``, --train or --start, before the first scored release)."""
    days = _days_spanned(snapshots)
    if days is None or days < 14:
        return ""
    weeks = days // 7  # whole weeks: the last snapshot falls after the training weeks
    if replanning:
        return f" (e.g. {option} {weeks - 1})" if weeks > 1 else ""
    train = max(1, weeks * 2 // 3)
    return f" (e.g. --train {train} --test {max(1, weeks - train)})"


def _history_name(history: Path) -> str:
    """A history as its table names it: the path given, or for ``.`` and ``..`` the directory's name."""
    return history.resolve().name if history.name in ("", "..") else str(history)


def _is_repository(history: Path) -> bool:
    return history.is_dir() and (history / ".git").exists()


def _replay_snapshots(
    history: Path,
    attr: list[str] | None,
    file: str | None,
    since: str | None,
    cache_dir: Path | None,
    build: bool | None,
    derive: bool | None,
    submodules: bool | None,
) -> tuple[list[Snapshot], int]:
    """Snapshots of a recorded history, or of a git repository evaluated like `analyze` does, and the
    layer budget to replay them with when none is given: the repository's (``gitmine.toml``, else its
    hint file's), else 100."""
    from .config import DEFAULT_MAX_LAYERS
    from .recorded import load_history
    from .window import ALL

    if _is_repository(history):
        from .analyze import mine

        # folds want all the history
        flags = dict(since=since or ALL, cache_dir=cache_dir, build=build, derive=derive, submodules=submodules)
        settings = _settings(history, flags, attr, file)
        with _bar("failed") as bar, _activity() as show:
            return mine(settings, _evaluation_progress(bar, show)).snapshots, settings.max_layers
    return load_history(history, since=since), DEFAULT_MAX_LAYERS


# ---------------------------------------------------------------------------------------------
# cache, example


@cache_app.command("info")
def cache_info(
    cache_dir: Optional[Path] = typer.Option(None, "--cache-dir"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Show the cache's location, size and entry counts."""
    from .cache import Cache, default_cache_dir

    info = Cache(cache_dir or default_cache_dir()).info()
    data = {"path": str(info.path), "eval_entries": info.eval_entries, "closure_entries": info.closure_entries, "bytes": info.bytes}
    if as_json:
        _emit_json(data)
    else:
        _say(f"{info.path}: {info.eval_entries} evaluations, {info.closure_entries} closures, {info.bytes / 1e6:.1f} MB")


@cache_app.command("prune")
def cache_prune(
    older_than: str = typer.Option("30days", "--older-than", help="Remove entries neither written nor used within this window."),
    cache_dir: Optional[Path] = typer.Option(None, "--cache-dir"),
) -> None:
    """Remove cache entries older than a window."""
    from datetime import datetime, timezone

    from .cache import Cache, default_cache_dir
    from .window import parse_point

    now = datetime.now(timezone.utc)
    cutoff = parse_point(older_than, now=now, flag="--older-than")
    n = Cache(cache_dir or default_cache_dir()).prune((now - cutoff).total_seconds())
    _say(f"removed {n} entries")


@cache_app.command("clear")
def cache_clear(cache_dir: Optional[Path] = typer.Option(None, "--cache-dir")) -> None:
    """Remove every cache entry."""
    from .cache import Cache, default_cache_dir

    n = Cache(cache_dir or default_cache_dir()).clear()
    _say(f"removed {n} entries")


@app.command()
def example(
    directory: Path = typer.Argument(..., help="Where to create the example repository (must not exist)."),
    commits: int = typer.Option(60, help="Number of commits."),
    days: float = typer.Option(150.0, help="Days of history the commits span, ending now."),
) -> None:
    """Create an example repository with Nix-built images and a history to analyse."""
    from .fixture import generate

    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise UsageError(f"{directory} exists and is not an empty directory; choose a new one")
    if commits < 1 or days <= 0:
        raise UsageError("--commits must be at least 1 and --days more than 0")
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError(f"cannot create {directory} ({e.strerror}); choose a directory you can write to") from None
    generate(directory, commits=commits, days=days)
    _say(f"created {directory} ({commits} commits over {days:g} days); now run: gitmine analyze {directory}")


# ---------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the CLI and turn every failure into one line and an exit code."""
    from .gateway import request_stop

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    try:
        app(args=argv, prog_name="gitmine", standalone_mode=True)
        return 0
    except SystemExit as e:  # usage errors (exit 2) and normal ends, as click reports them
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except GitmineError as e:
        if _DEBUG:
            raise
        what = "" if isinstance(e, Interrupted) else "error: "
        _say(f"gitmine: {what}{_one_line(str(e))}")
        return e.exit_code
    except KeyboardInterrupt:
        _say("gitmine: interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except Exception as e:  # noqa: BLE001 - the last word on an error nobody foresaw: one line, and how to see more
        if _DEBUG:
            raise
        _say(
            f"gitmine: internal error: {type(e).__name__}: {_one_line(str(e))} (a bug in gitmine: `gitmine --debug …` shows the "
            "traceback to report)"
        )
        return EXIT_BUG


def run() -> None:
    sys.exit(main())


if __name__ == "__main__":
    run()
