"""Histories recorded elsewhere: a JSONL file (optionally gzipped) or a directory of closures."""

from __future__ import annotations

import gzip
import json
import zlib
from datetime import date
from pathlib import Path
from typing import IO, Any

from .atomic import write_bytes_atomic
from .closure import Closure, Snapshot, StorePath, closure_from_json, parse_graph
from .errors import InputError
from .window import bounds, check_forms, iso_instant

RECORDED_IMAGE = "image"


def load_history(path: Path, *, since: str | None = None, until: str | None = None) -> list[Snapshot]:
    """Snapshots oldest first, those dated within ``since`` .. ``until`` (the forms of ``--since``:
    ``6months``, ``2024-05-01``, ``all``; no bound where None), compared by day. A duration counts back
    from the history's latest date, not from today: a file gives the same window whenever it is read."""
    check_forms(since, until)  # before the file is read
    if path.is_dir():
        snaps = _load_directory(path)
    elif path.is_file():
        snaps = _load_jsonl(path)
    else:
        raise InputError(f"{path}: no such file or directory; pass a JSONL history or a directory of closures")
    if not (since or until):
        return snaps
    days = [_date_prefix(s.date) for s in snaps]
    if not all(days):
        raise InputError(f"{path}: snapshots without dates cannot be filtered; name the files YYYY-MM-DD…")
    latest = iso_instant(max(days))
    assert latest is not None  # a date _date_prefix accepted
    start, end = bounds(since, until, now=latest)
    first = start.date().isoformat() if start else None
    last = end.date().isoformat() if end else None
    out = [s for s in snaps if (first is None or s.date[:10] >= first) and (last is None or s.date[:10] <= last)]
    if not out:
        span = f"its snapshots are dated {min(days)} to {max(days)}"
        raise InputError(f"{path}: no snapshot in the window ({span}); widen --since/--until")
    return out


def _load_jsonl(path: Path) -> list[Snapshot]:
    snaps: list[Snapshot] = []
    previous: dict[str, tuple[Any, Closure]] = {}  # image → its closure on the line before, as read and as built
    memo: dict[str, StorePath] = {}  # entries read so far: the next line mostly repeats them
    try:
        with _open_text(path) as fh:
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                src = f"{path}:{lineno}"
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as err:
                    raise InputError(f"{src}: malformed JSON ({err.msg}); one snapshot per line") from None
                if not isinstance(obj, dict) or not ("closure" in obj or isinstance(obj.get("closures"), dict)):
                    raise InputError(
                        f"{src}: expected {{\"rev\", \"date\", \"closure\"}} per line "
                        "(or \"closures\": an object of one closure per image)"
                    )
                when = str(obj.get("date", ""))
                if not _date_prefix(when):
                    raise InputError(f"{src}: snapshot has no ISO \"date\" (YYYY-MM-DD)")
                rev = str(obj.get("rev", f"line-{lineno}"))
                images = obj["closures"] if "closures" in obj else {RECORDED_IMAGE: obj["closure"]}
                if not images:
                    raise InputError(f"{src}: \"closures\" names no image")
                closures = {}
                for image, raw in sorted(images.items()):
                    if image not in previous or raw != previous[image][0]:  # commits that leave it alone share it
                        previous[image] = (raw, closure_from_json(raw, f"{src} ({image})" if "closures" in obj else src, memo))
                    closures[image] = previous[image][1]
                snaps.append(Snapshot(rev, when, closures))
    except (EOFError, zlib.error, gzip.BadGzipFile) as err:
        raise InputError(f"{path}: the gzip data is damaged or cut short ({err}); copy or record the history again") from None
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"{path}: cannot read history ({err})") from None
    if not snaps:
        raise InputError(f"{path}: the history is empty")
    return snaps


def _open_text(path: Path) -> IO[str]:
    """The file as text, gunzipped when it is gzip data (by its first bytes, whatever its name)."""
    with open(path, "rb") as fh:
        magic = fh.read(2)
    return gzip.open(path, "rt", encoding="utf-8") if magic == b"\x1f\x8b" else open(path, encoding="utf-8")


def _load_directory(path: Path) -> list[Snapshot]:
    files = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
    if not files:
        raise InputError(f"{path}: the directory holds no closure files")
    snaps = []
    for f in files:
        try:
            text = f.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise InputError(f"{f}: cannot read it ({err})") from None
        closure = parse_graph(text, str(f))
        stem = f.name.split(".")[0]
        snaps.append(Snapshot(stem, _date_prefix(stem), {RECORDED_IMAGE: closure}))
    return snaps


def _date_prefix(name: str) -> str:
    """``2024-11-03`` from ``2024-11-03-abc123``; empty when the name does not start with a date."""
    try:
        return date.fromisoformat(name[:10]).isoformat()
    except ValueError:
        return ""


def write_history(path: Path, snapshots: list[Snapshot]) -> None:
    """Record snapshots as JSONL (one line per snapshot: ``closure``, or with several images
    ``closures``, one per image), gzipped when ``path`` ends in ``.gz`` (with no timestamp in the
    header, so the same history gives the same bytes)."""

    def line(s: Snapshot) -> str:
        if len(s.closures) > 1:
            closures = {image: c.to_json() for image, c in sorted(s.closures.items())}
            return json.dumps({"rev": s.rev, "date": s.date, "closures": closures}, sort_keys=True)
        return json.dumps({"rev": s.rev, "date": s.date, "closure": s.closure().to_json()}, sort_keys=True)

    lines = [line(s) for s in snapshots]
    data = ("\n".join(lines) + "\n").encode("utf-8")
    write_bytes_atomic(path, gzip.compress(data, mtime=0) if path.suffix == ".gz" else data)
