"""A weekly closure history of an image made of Debian packages, from a Debian system's own records.

    python scripts/debian_history.py OUT.jsonl.gz --roots git,openssh-client [--rootfs /] [--weeks 104]
                                     [--end 2026-10-25] [--app]

The same derivation as the corpus (``fixtures/corpus/README.md``), from any Debian root filesystem
(this machine, a chroot): the graph is the installed packages' ``Depends`` and ``Pre-Depends``
(first installed alternative, virtual packages through ``Provides``; edges closing a cycle dropped,
as Nix graphs are acyclic), ``narSize`` is ``Installed-Size`` x 1024, and each package's version at
a week is the newest entry of its ``changelog.Debian.gz`` (its source's, where it has none of its
own) dated on or before that week, uploads to experimental left out. A store path's hash covers its
name, version and the hashes of what it references, so an update of a library changes every path
above it, as input addressing does. The graph and sizes are today's, held fixed back in time.

``--app`` puts an application on top of the roots, new at every snapshot (1 MB): the image of a
service released weekly. Without it, weeks in which no package of the image changed are releases
that change nothing.
"""

from __future__ import annotations

import argparse
import email.utils
import gzip
import json
import re
import sys
from dataclasses import dataclass
from functools import lru_cache
from graphlib import CycleError, TopologicalSorter
from operator import itemgetter
from datetime import date, timedelta
from pathlib import Path

from synthetic import store_hash

HEADER = re.compile(r"^(\S+) \(([^)]+)\) ([^;]+);")
TRAILER = re.compile(r"^ -- .*>\s+(\S.*)$")
APP_SIZE = 1 << 20
DAY = itemgetter(0)  # of a changelog entry (date, version)


@dataclass
class Package:
    name: str
    version: str
    size: int
    depends: list[list[str]]  # clauses of alternatives
    source: str
    provides: list[str]


def read_status(rootfs: Path) -> dict[str, Package]:
    """The installed packages of ``rootfs`` (one per name: the first architecture listed)."""
    packages: dict[str, Package] = {}
    text = (rootfs / "var/lib/dpkg/status").read_text(encoding="utf-8", errors="replace")
    for block in text.split("\n\n"):
        fields: dict[str, str] = {}
        key = None
        for line in block.splitlines():
            if line[:1] in (" ", "\t") and key:
                fields[key] += " " + line.strip()
            elif ":" in line:
                key, value = line.split(":", 1)
                fields[key] = value.strip()
        name = fields.get("Package")
        if not name or not fields.get("Status", "").endswith(" installed") or name in packages:
            continue
        clauses = [
            [alt.strip().split()[0].split(":")[0] for alt in clause.split("|") if alt.strip()]
            for field in ("Pre-Depends", "Depends")
            for clause in fields.get(field, "").split(",")
            if clause.strip()
        ]
        packages[name] = Package(
            name=name,
            version=fields.get("Version", "0"),
            size=int(fields.get("Installed-Size", "0") or 0) * 1024,
            depends=clauses,
            source=fields.get("Source", name).split()[0],
            provides=[p.strip().split()[0] for p in fields.get("Provides", "").split(",") if p.strip()],
        )
    return packages


def _doc_dir(rootfs: Path, name: str) -> Path:
    """``/usr/share/doc/NAME`` inside ``rootfs``, following a symbolic link as the system would."""
    path = rootfs / "usr/share/doc" / name
    for _ in range(8):
        if not path.is_symlink():
            return path
        target = Path(path.readlink())
        path = rootfs / target.relative_to("/") if target.is_absolute() else path.parent / target
    return path


def read_changelog(path: Path) -> list[tuple[date, str]]:
    """``(date, version)`` of each upload in a ``changelog.Debian.gz``, experimental ones left out."""
    entries: list[tuple[date, str]] = []
    version: str | None = None
    with gzip.open(path, "rt", encoding="utf-8", errors="replace") as f:
        for line in f:
            if m := HEADER.match(line):
                version = m.group(2) if "experimental" not in m.group(3) and "UNRELEASED" not in m.group(3) else None
            elif version is not None and (m := TRAILER.match(line)):
                try:
                    entries.append((email.utils.parsedate_to_datetime(m.group(1)).date(), version))
                except (TypeError, ValueError):
                    pass
                version = None
    return entries


def changelogs(rootfs: Path, packages: dict[str, Package]) -> dict[str, list[tuple[date, str]]]:
    """Each package's uploads: its own changelog, else that of a package built from the same source."""
    own: dict[str, list[tuple[date, str]]] = {}
    for name in sorted(packages):
        path = _doc_dir(rootfs, name) / "changelog.Debian.gz"
        if path.is_file():
            own[name] = read_changelog(path)
    by_source: dict[str, list[tuple[date, str]]] = {}
    for name in sorted(own):
        by_source.setdefault(packages[name].source, own[name])
    return {name: own.get(name) or by_source.get(packages[name].source, []) for name in packages}


def graph(packages: dict[str, Package]) -> dict[str, list[str]]:
    """Each package's references: the first installed alternative of each clause, with the edges that
    close a cycle dropped one by one (the cycles in the order graphlib finds them: the same every time)."""
    providers: dict[str, str] = {}
    for name in sorted(packages):
        for virtual in packages[name].provides:
            providers.setdefault(virtual, name)
    refs: dict[str, set[str]] = {}
    for name in sorted(packages):
        chosen = (next((providers.get(alt, alt) for alt in clause if alt in packages or alt in providers), None) for clause in packages[name].depends)
        refs[name] = {ref for ref in chosen if ref is not None and ref != name}
    while True:
        try:
            TopologicalSorter({name: sorted(refs[name]) for name in refs}).prepare()
        except CycleError as cycle:
            path = cycle.args[1]  # [a, b, ..., a]: each a reference of the next
            refs[path[1]].discard(path[0])
        else:
            return {name: sorted(refs[name]) for name in refs}


def _store_version(version: str) -> str:
    """A Debian version as a store path name may hold it (no epoch; ``~`` and ``:`` replaced)."""
    return version.split(":", 1)[-1].replace("~", "_").replace(":", "_")


@lru_cache(maxsize=None)
def system(rootfs: Path) -> tuple[dict[str, Package], dict[str, list[str]], dict[str, list[tuple[date, str]]]]:
    """A Debian system's packages, their graph and their uploads, read once for all its images."""
    packages = read_status(rootfs)
    return packages, graph(packages), changelogs(rootfs, packages)


def _packages_of(rootfs: Path, roots: list[str]) -> list[str]:
    """The packages of the image made of ``roots``: them and their dependencies, dependencies first."""
    packages, refs, _ = system(rootfs)
    missing = [r for r in roots if r not in packages]
    if missing:
        raise SystemExit(f"not installed in {rootfs}: {', '.join(missing)}")
    reachable, todo = set(roots), list(roots)
    while todo:
        for ref in refs[todo.pop()]:
            if ref not in reachable:
                reachable.add(ref)
                todo.append(ref)
    return list(TopologicalSorter({name: refs[name] for name in sorted(reachable)}).static_order())


def _newest_upload(rootfs: Path, image: list[str]) -> date:
    logs = system(rootfs)[2]
    return max((d for n in image for d, _ in logs[n]), default=date.today())


def history(rootfs: Path, roots: list[str], weeks: int, end: date | None, app: bool, app_name: str = "app") -> list[dict[str, object]]:
    """The weekly snapshots of the image made of ``roots`` and their dependencies, the last one at ``end``
    (default: the newest upload among its packages); with ``app``, an application named ``app_name`` on top."""
    packages, refs, logs = system(rootfs)
    image = _packages_of(rootfs, roots)
    last = end or _newest_upload(rootfs, image)
    snapshots: list[dict[str, object]] = []
    for w in range(weeks):
        day = last - timedelta(weeks=weeks - 1 - w)
        path: dict[str, str] = {}
        closure: list[dict[str, object]] = []
        for name in image:  # dependencies first: their paths are known
            dated = [(d, v) for d, v in logs[name] if d <= day]  # before its first upload: its oldest version
            version = max(dated, key=DAY)[1] if dated else min(logs[name], key=DAY)[1] if logs[name] else packages[name].version
            label = f"{name}-{_store_version(version)}"
            references = sorted(path[r] for r in refs[name])
            path[name] = f"/nix/store/{store_hash(label + '|' + ','.join(references))}-{label}"
            closure.append({"path": path[name], "narSize": packages[name].size, "references": references})
        if app:
            label = f"{app_name}-{w + 1}"
            top = sorted(path[r] for r in roots)
            closure.append({"path": f"/nix/store/{store_hash(label)}-{label}", "narSize": APP_SIZE, "references": top})
        snapshots.append({"rev": f"week-{w + 1}", "date": day.isoformat(), "closure": closure})
    return snapshots


def several(rootfs: Path, images: dict[str, list[str]], weeks: int, app: bool) -> list[dict[str, object]]:
    """The weekly snapshots of several images of one system (image name → its roots), dated alike: the
    last one at the newest upload among all their packages. With ``app``, each image has an application
    of its own on top (``NAME-app``)."""
    end = max(_newest_upload(rootfs, _packages_of(rootfs, roots)) for roots in images.values())
    each = {name: history(rootfs, roots, weeks, end, app, f"{name}-app") for name, roots in sorted(images.items())}
    return [
        {"rev": s["rev"], "date": s["date"], "closures": {name: snaps[w]["closure"] for name, snaps in each.items()}}
        for w, s in enumerate(next(iter(each.values())))
    ]


def write(path: Path, snapshots: list[dict[str, object]]) -> None:
    """``snapshots`` as a gzipped JSON Lines history, oldest first."""
    with gzip.open(path, "wt", encoding="utf-8", compresslevel=9) as f:
        for s in snapshots:
            f.write(json.dumps(s, sort_keys=True) + "\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", type=Path)
    parser.add_argument("--roots", required=True, help="packages the image is made of, comma-separated")
    parser.add_argument("--rootfs", type=Path, default=Path("/"), help="the Debian system to read (default: this one)")
    parser.add_argument("--weeks", type=int, default=104)
    parser.add_argument("--end", type=date.fromisoformat, default=None, help="date of the last snapshot (default: the newest upload)")
    parser.add_argument("--app", action="store_true", help="an application on top, new every week")
    args = parser.parse_args(argv)
    snaps = history(args.rootfs, args.roots.split(","), args.weeks, args.end, args.app)
    write(args.output, snaps)
    n = len(snaps[-1]["closure"])  # type: ignore[arg-type]
    print(f"{args.output}: {len(snaps)} snapshots of {n} paths, {snaps[0]['date']} to {snaps[-1]['date']}", file=sys.stderr)


if __name__ == "__main__":
    main()
