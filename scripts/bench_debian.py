"""Histories no part of gitmine was tuned on: gitmine against auto-layer on images made of the Debian
packages of other systems (a few seconds per history once derived).

    python scripts/bench_debian.py [--rootfs NAME=DIR]... [--keep DIR] [--replan | --start WEEKS]

Each image's weekly history is derived by ``debian_history.py`` from a Debian system's own records
(its installed packages' dependency graph and sizes, and their changelogs' upload dates), as the
corpus was, but from other package sets: this machine's Debian 12 (a CI runner, a PostgreSQL
server, a Python build image, a JVM build image, an LLVM toolchain, developer tools, a cloud CLI, and
all 700-odd installed packages at once), and, with ``--rootfs trixie=/var/tmp/gm-trixie`` and
``--rootfs sid=/var/tmp/gm-sid`` (the chroots of ``test_newer_nix.sh``), the whole of a Debian 13 and
a Debian unstable system. Each image also comes with an application on top, new at every snapshot.
The Debian 12 images are also replayed together, each with an application of its own, for a host that
runs them all (``debian_history.several``: one history of several images, dated alike; budgets 8, 16
and 32 layers per image), as ``gitmine replay`` scores several images.
Same folds and scoring as ``bench_replay.py`` (train 26 weeks, score the next 26, slide by 26);
pull / unpack as ratios to the lower bound. Budgets: 8 and 16 layers for images of fewer than 150
paths, 32 and 64 below 500, 64 and 100 above. A row is marked where gitmine pulls more than 2% above
auto-layer. The figures move as the systems' packages are upgraded (their changelogs grow).

``--replan``: re-planned before every release as ``gitmine analyze`` does, from the hints in use
(every 4th release for the 700-package images), switches charged, as ``bench_replan.py``; ``--start
WEEKS``: the same from a young repository, the first analysis after WEEKS weeks.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from debian_history import history, read_status, several, write
from gitmine.closure import Snapshot
from gitmine.recorded import load_history
from gitmine.replay import replay, replay_replanning

IMAGES = {  # images of this machine's packages (where they are all installed)
    "ci": "git,git-lfs,openssh-client,python3-venv,nix-bin,curl",
    "postgres": "postgresql,postgresql-contrib",
    "pydev": "python3-dev,python3-pip,python3-venv,build-essential",
    "jvm": "maven",
    "llvm": "llvm-14-dev,cmake,ninja-build",
    "tools": "vim,tmux,gdb,strace,valgrind,less,lsof",
    "cloud": "google-cloud-cli-app-engine-java,kubectl",
}


def codename(rootfs: Path) -> str:
    """The system's release name (``bookworm``), as its ``/etc/os-release`` says."""
    for line in (rootfs / "etc/os-release").read_text().splitlines():
        if line.startswith("VERSION_CODENAME="):
            return line.partition("=")[2].strip('"') or "debian"
    return "debian"


def budgets(paths: int) -> tuple[int, int]:
    return (8, 16) if paths < 150 else (32, 64) if paths < 500 else (64, 100)


def row(name: str, app: bool, paths: int, n: int, snaps: list[Snapshot], replan: bool, start: int | None) -> str:
    """One table row: auto-layer and gitmine at ``n`` layers, folds or (``replan``, ``start``) re-planned."""
    if replan or start:
        every = 4 if paths > 500 else 1  # a plan of a big image takes seconds
        gm, al = replay_replanning(snaps, max_layers=n, every=every, strategies=("gitmine", "autolayer"), start_weeks=start)[0]
    else:
        al, gm = replay(snaps, max_layers=n, strategies=("autolayer", "gitmine"))[0]
    lb = al.lower_bound
    mark = " (above)" if gm.pull > 1.02 * al.pull else ""
    cells = f"{al.pull / lb:.2f} / {al.unpack / lb:.2f} | {gm.pull / lb:.2f} / {gm.unpack / lb:.2f}"
    return f"| {name} | {'yes' if app else 'no'} | {paths} | {n} | {cells} | {gm.pull / al.pull:.0%}{mark} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rootfs", action="append", default=[], metavar="NAME=DIR", help="another Debian system: its whole package set is an image"
    )
    parser.add_argument("--keep", type=Path, default=None, help="write the derived histories to this directory")
    parser.add_argument("--replan", action="store_true", help="re-plan before every release, switches charged")
    parser.add_argument("--start", type=int, default=None, metavar="WEEKS", help="--replan from a young repository")
    args = parser.parse_args()
    here = Path("/")
    jobs: list[tuple[str, Path, list[str]]] = []
    services: dict[str, list[str]] = {}  # this system's images, also replayed together for a host running them all
    system = codename(here) if (here / "etc/os-release").is_file() else "debian"
    if (here / "var/lib/dpkg/status").is_file():
        present = set(read_status(here))
        for image, wanted in IMAGES.items():
            if set(wanted.split(",")) <= present:
                services[image] = wanted.split(",")
                jobs.append((f"{system}-{image}", here, services[image]))
        jobs.append((f"{system}-all", here, sorted(present)))
    for spec in args.rootfs:
        name, _, root = spec.partition("=")
        jobs.append((f"{name}-all", Path(root), sorted(read_status(Path(root)))))
    out = args.keep or Path(tempfile.mkdtemp(prefix="gitmine-debian-"))
    out.mkdir(parents=True, exist_ok=True)
    print("| image | app | paths | layers | autolayer pull / unpack | gitmine pull / unpack | gitmine ÷ autolayer pull |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    t0 = time.perf_counter()
    for name, rootfs, roots in jobs:
        layers: tuple[int, int] | None = None
        for app in (False, True):
            file = out / f"{name}{'-app' if app else ''}.jsonl.gz"
            write(file, history(rootfs, roots, 104, None, app))
            snaps = load_history(file)
            paths = len(snaps[-1].closure())
            layers = layers or budgets(paths)  # the image's, with or without the application
            for n in layers:
                print(row(name, app, paths, n, snaps, args.replan, args.start), flush=True)
    if len(services) > 1:
        file = out / f"{system}-services.jsonl.gz"
        write(file, several(here, services, 104, True))
        snaps = load_history(file)
        paths = len(snaps[-1].closure())
        for n in (8, 16, 32):
            print(row(f"{system}, {len(services)} images", True, paths, n, snaps, args.replan, args.start), flush=True)
    print(f"\n({time.perf_counter() - t0:.0f} s; histories in {out})", file=sys.stderr)


if __name__ == "__main__":
    main()
