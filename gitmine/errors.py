"""One exception hierarchy; the CLI turns each into a one-line message and an exit code."""

from __future__ import annotations

EXIT_ANALYSIS = 1
EXIT_USAGE = 2
EXIT_ENVIRONMENT = 3
EXIT_INTERRUPTED = 130
EXIT_BUG = 70  # EX_SOFTWARE: an error gitmine did not expect


class GitmineError(Exception):
    """Base class: ``str(err)`` is the whole message shown to the user."""

    exit_code = EXIT_ANALYSIS


class UsageError(GitmineError):
    """A flag, a config value or a command line that cannot be understood."""

    exit_code = EXIT_USAGE


class NoImage(UsageError):
    """Nothing names an image to analyse (no ``--attr``, no ``[[image]]`` in gitmine.toml)."""


class InputError(GitmineError):
    """A file given to gitmine (graph, history, hint file) is malformed."""

    exit_code = EXIT_USAGE


class RepositoryError(GitmineError):
    """The repository cannot be analysed as asked (not a repo, no commits in the window...)."""

    exit_code = EXIT_USAGE


class EnvironmentProblem(GitmineError):
    """Something gitmine needs on this machine is missing or misconfigured (nix, git)."""

    exit_code = EXIT_ENVIRONMENT


class AnalysisFailed(GitmineError):
    """The run finished but produced nothing usable (every commit failed, or --strict)."""

    exit_code = EXIT_ANALYSIS


class Interrupted(GitmineError):
    """Ctrl-C or SIGTERM: workers stopped, worktrees removed, finished evaluations kept in the cache."""

    exit_code = EXIT_INTERRUPTED

    def __init__(self, message: str = "interrupted") -> None:
        super().__init__(message)


class CommandFailed(GitmineError):
    """A git or nix subprocess exited non-zero; ``first_line`` is its first meaningful error line."""

    def __init__(
        self, argv: list[str], returncode: int, stderr: str, *, timed_out: bool = False, transient: bool = False
    ):
        self.argv = argv
        self.returncode = returncode
        self.stderr = stderr
        self.timed_out = timed_out
        self.transient = transient  # says nothing about the commit: the same call may succeed next time
        self.first_line = first_error_line(stderr) or f"exit code {returncode}"
        what = "timed out" if timed_out else f"failed ({returncode})"
        super().__init__(f"`{' '.join(argv[:3])}` {what}: {self.first_line}")


def first_error_line(stderr: str) -> str:
    """The first line of ``stderr`` that says what went wrong: Nix prefixes errors with ``error:``,
    git with ``fatal:`` or ``error:``; otherwise the first line that is not a warning. Nix 2.13 and
    later put a trace between a bare ``error:`` and the message (``… while calling the 'import'
    builtin``, ``at …``): the message is then the trace's own ``error:`` line. Newer Nix says why a
    build failed, or which attribute was meant, on the next line (``Reason: builder failed …``, ``Did
    you mean image?``): that line is kept with it."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    at = _message_at(lines)
    if at is None:
        return next((line for line in lines if not line.startswith("warning:")), lines[0] if lines else "")
    message = lines[at]
    if message.startswith(("error:", "fatal:")):
        message = message.partition(":")[2].strip()
    if at + 1 < len(lines) and lines[at + 1].startswith(("Reason:", "Did you mean")):
        message = f"{message}{' ' if message.endswith('.') else '. '}{lines[at + 1]}"
    return message


def _message_at(lines: list[str]) -> int | None:
    """Where the first error message is in ``lines``, or None if none is marked as one."""
    for i, line in enumerate(lines):
        if not line.startswith(("error:", "fatal:")):
            continue
        if line.partition(":")[2].strip():
            return i
        if i + 1 < len(lines) and lines[i + 1].startswith("…"):  # a trace, then the message
            told = (j for j in range(i + 1, len(lines)) if lines[j].startswith("error:") and lines[j][6:].strip())
            nested = next(told, None)
            if nested is not None:
                return nested
        return i + 1 if i + 1 < len(lines) else i
    return None
