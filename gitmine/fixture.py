"""Generate an example repository whose images build with real Nix and no nixpkgs.

Every package is a trivial derivation (``builder = "/bin/sh"``) whose output embeds the output paths
of its dependencies, so Nix records real references, real ``narSize`` and real hash propagation: a
bump of ``openssl`` changes the store path of everything above it. The history models a real
project: stable base libraries, mid-level libraries updated now and then, a vendored dependency
bundle updated every few weeks, an application that changes at every commit, and docs-only
commits. The repository has both ``flake.nix`` (attribute ``image``) and ``default.nix``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from . import gateway


@dataclass(frozen=True)
class Package:
    name: str
    deps: tuple[str, ...]
    size: int  # bytes of padding: the path's narSize is about this
    period: int  # a new version every `period` commits (0: never)
    offset: int = 0


PACKAGES: tuple[Package, ...] = (
    Package("glibc", (), 2_400_000, 0),
    Package("zlib", ("glibc",), 150_000, 0),
    Package("tzdata", (), 900_000, 0),
    Package("openssl", ("glibc",), 700_000, 17, 5),
    Package("libxml2", ("glibc", "zlib"), 400_000, 23, 11),
    Package("sqlite", ("glibc", "zlib"), 500_000, 29, 3),
    Package("python3", ("glibc", "zlib", "openssl", "sqlite"), 1_800_000, 13, 7),
    Package("curl", ("glibc", "zlib", "openssl"), 300_000, 19, 2),
    Package("app-deps", ("python3", "libxml2"), 1_200_000, 6, 1),
    Package("app", ("app-deps", "python3", "curl", "tzdata"), 60_000, 1),
)

DEFAULT_NIX = r'''# Generated example: a package set of trivial derivations (no nixpkgs needed).
{ system ? builtins.currentSystem }:
let
  versions = import ./versions.nix;
  # CPU work done at evaluation time (benchmarks use it to make evaluation cost about a second)
  evalWork = builtins.foldl' builtins.add 0 (builtins.genList (x: x) @WORK@);
  mk = name: size: deps: derivation {
    inherit system;
    name = "${name}-${versions.${name}}";
    salt = "@SALT@";
    builder = "/bin/sh";
    args = [ "-c" ''@BUILD@printf '%s\n' ${builtins.concatStringsSep " " deps} > $out; printf '%0${toString size}d' 0 >> $out'' ];
  };
  pkgs = rec {
@PACKAGES@
  };
in pkgs // {
  image = derivation {
    inherit system;
    name = "image-root";
    work = toString evalWork;
    builder = "/bin/sh";
    args = [ "-c" "printf '%s\n' ${pkgs.app} ${pkgs.python3} ${pkgs.curl} > $out" ];
  };
}
'''

FLAKE_NIX = r'''{
  description = "gitmine example: an image built from trivial derivations";
  outputs = { self }:
    let
      systems = [ "x86_64-linux" "aarch64-linux" ];
      forAll = f: builtins.listToAttrs (map (system: { name = system; value = f system; }) systems);
    in {
      packages = forAll (system: import ./default.nix { inherit system; });
    };
}
'''

GITMINE_TOML = '''# gitmine settings for this repository; flags given to `gitmine analyze` override them.
since = "6months"
max-layers = 8

[[image]]
name = "image"
attr = "image"
'''


def _versions(i: int) -> dict[str, str]:
    out = {}
    for p in PACKAGES:
        if p.period == 0:
            n = 0
        elif p.period == 1:
            n = i
        else:
            n = max(0, (i - p.offset) // p.period + 1) if i >= p.offset else 0
        out[p.name] = f"1.{n}"
    return out


def _render_default(eval_work: int = 0, salt: str = "", build_seconds: float = 0) -> str:
    lines = []
    for p in PACKAGES:
        deps = " ".join(p.deps)
        lines.append(f"    {_ident(p.name)} = mk \"{p.name}\" {p.size} [ {deps and ' '.join(_ident(d) for d in p.deps)} ];")
    build = f'${{if name == "app" then "/bin/sleep {build_seconds:g}; " else ""}}' if build_seconds else ""
    text = DEFAULT_NIX.replace("@PACKAGES@", "\n".join(lines)).replace("@WORK@", str(eval_work))
    return text.replace("@SALT@", salt).replace("@BUILD@", build)


def _ident(name: str) -> str:
    return name.replace("-", "_")


def _git(repo: Path, *args: str, when: datetime | None = None) -> None:
    env = {
        "GIT_AUTHOR_NAME": "Example Dev",
        "GIT_AUTHOR_EMAIL": "dev@example.org",
        "GIT_COMMITTER_NAME": "Example Dev",
        "GIT_COMMITTER_EMAIL": "dev@example.org",
    }
    if when is not None:
        stamp = when.strftime("%Y-%m-%dT%H:%M:%S+00:00")
        env.update(GIT_AUTHOR_DATE=stamp, GIT_COMMITTER_DATE=stamp)
    gateway.run(["git", *args], cwd=repo, env=env)


def generate(
    repo: Path,
    *,
    commits: int = 60,
    days: float = 150.0,
    end: datetime | None = None,
    docs_every: int = 7,
    broken: tuple[int, ...] = (),
    eval_work: int = 0,
    salt: str = "",
    build_seconds: float = 0,
) -> Path:
    """Create ``repo`` with ``commits`` commits spread over ``days`` days ending at ``end`` (default: now).

    Every ``docs_every``-th commit only edits the README; commits listed in ``broken`` have a Nix
    syntax error in ``default.nix`` (fixed by the next commit). ``eval_work`` adds CPU work to
    every evaluation; a ``salt`` gives every derivation other store paths than an unsalted
    repository's (benchmarks use it to start from an empty store). ``build_seconds`` makes each build of
    the application take that long, as a real one would (benchmarks; it needs a builder without sandbox).
    """
    repo = Path(repo)
    if repo.exists() and any(repo.iterdir()):
        raise FileExistsError(f"{repo} exists and is not empty")
    repo.mkdir(parents=True, exist_ok=True)
    _git(repo, "init", "-q", "-b", "main")
    end = end or datetime.now(timezone.utc).replace(microsecond=0)
    step = timedelta(days=days / max(commits - 1, 1))
    start = end - step * (commits - 1)
    (repo / "flake.nix").write_text(FLAKE_NIX)
    (repo / "gitmine.toml").write_text(GITMINE_TOML)
    good_default = _render_default(eval_work, salt, build_seconds)
    app_version = 0
    for i in range(commits):
        when = start + step * i
        docs_only = i > 0 and docs_every > 0 and i % docs_every == 0
        if docs_only:
            with open(repo / "README.md", "a") as fh:
                fh.write(f"Release notes, revision {i}.\n")
        else:
            app_version += 1
            (repo / "versions.nix").write_text(
                "{\n" + "".join(f'  "{k}" = "{v}";\n' for k, v in sorted(_versions(app_version).items())) + "}\n"
            )
            text = good_default
            if i in broken:
                text = text.replace("pkgs = rec {", "pkgs = rec { this is not nix", 1)
            (repo / "default.nix").write_text(text)
        if i == 0:
            (repo / "README.md").write_text("# Example image\n\nBuilt from trivial derivations.\n")
        _git(repo, "add", "-A")
        msg = "docs: release notes" if docs_only else f"release {app_version}" + (" (broken)" if i in broken else "")
        _git(repo, "commit", "-q", "-m", msg, when=when)
    return repo
