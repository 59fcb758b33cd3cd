"""Atomic file writes: a temporary file in the same directory, then ``os.replace``."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from .errors import JumpReLUError

__all__ = ["atomic_write"]


def atomic_write(
    path: Path, write: Callable[[str], None], error: type[JumpReLUError] = JumpReLUError
) -> None:
    """Write ``path`` atomically: readers see the old file or the complete new one.

    Args:
        path: destination; parent directories are created.
        write: called with a temporary file name to fill.
        error: exception class raised (with a one-line message) when writing fails; the
            temporary file is removed and an existing file at ``path`` is left untouched.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
    except OSError as exc:
        raise error(f"cannot write {path}: {exc.strerror or exc}") from exc
    try:
        write(tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, Exception) and not isinstance(exc, JumpReLUError):
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise error(f"cannot write {path}: {first}") from exc
        raise
