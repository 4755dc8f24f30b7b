"""Write files whole or not at all: a temp file in the same directory, fsync, then rename.

The file keeps the mode of the one it replaces; a new file gets the usual ``0666`` less the umask
(a temp file is created ``0600``, which a hint file or a report must not inherit).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .errors import InputError


def write_text_atomic(path: Path, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))


def missing_directory(path: Path) -> Path | None:
    """The directory ``path`` would be written in, if it does not exist."""
    parent = Path(path).parent
    return None if parent.is_dir() else parent


def write_bytes_atomic(path: Path, data: bytes) -> None:
    path = Path(path)
    parent = path.parent
    if missing_directory(path) is not None:
        raise InputError(f"{path}: directory {parent} does not exist; create it or write elsewhere")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=parent)
    except OSError as err:
        raise InputError(f"{path}: cannot write in {parent} ({err.strerror}); write elsewhere") from None
    try:
        os.fchmod(fd, _mode_for(path))
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as err:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise InputError(f"{path}: write failed ({err.strerror}); the previous file is unchanged") from None
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _mode_for(path: Path) -> int:
    try:
        return path.stat().st_mode & 0o7777
    except OSError:  # a new file
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask
