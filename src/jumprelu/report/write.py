"""All-or-nothing writing of a report's files.

Everything is first written (and fsynced) into a staging folder inside the output directory;
then each target is swapped in with ``os.replace``, the previous version kept aside until all
swaps succeeded. On any failure the swaps are undone, so the directory holds either the old
report or the complete new one, never a mixture or a half-written file. The output directory is
held with ``run_lock`` meanwhile, so a staging folder found there at the start is a leftover of
a killed writer (kill -9 undoes nothing): it is removed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

from jumprelu._util import run_lock
from jumprelu.errors import JumpReLUError
from jumprelu.report.load import ReportError

__all__ = ["write_all"]

log = logging.getLogger(__name__)


def _write(path: Path, data: bytes) -> None:
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.chmod(path, 0o644)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


#: Prefix of the staging folders inside the output directory.
STAGING_PREFIX = ".report-staging-"


def _remove_stale(out: Path) -> None:
    """Remove staging folders left by killed writers (called with ``out`` locked)."""
    for old in out.glob(f"{STAGING_PREFIX}*"):
        if old.is_dir() and not old.is_symlink():
            log.info("removing %s, left by an interrupted report", old)
            shutil.rmtree(old, ignore_errors=True)


def write_all(
    out: Path, files: Mapping[str, bytes], folders: Mapping[str, Mapping[str, bytes]]
) -> list[Path]:
    """Write files and whole folders into ``out`` atomically as a set.

    Args:
        out: the output directory (created when missing).
        files: file name -> bytes, directly under ``out``.
        folders: folder name -> (file name -> bytes); each folder replaces any previous one.

    Returns:
        The paths written (folders' files included), in order.

    Raises:
        ReportError: when the directory cannot be written; nothing is left changed.
        ConfigError: another process holds the directory (``run_lock``).
    """
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ReportError(f"cannot write the report in {out}: {exc.strerror or exc}") from exc
    with run_lock(out):
        _remove_stale(out)
        return _write_locked(out, files, folders)


def _write_locked(
    out: Path, files: Mapping[str, bytes], folders: Mapping[str, Mapping[str, bytes]]
) -> list[Path]:
    try:
        staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=out))
    except OSError as exc:
        raise ReportError(f"cannot write the report in {out}: {exc.strerror or exc}") from exc
    aside = staging / ".previous"
    swapped: list[tuple[Path, Path | None]] = []
    written: list[Path] = []
    try:
        names = [*folders, *files]
        for name, content in folders.items():
            (staging / name).mkdir()
            for fname, data in content.items():
                _write(staging / name / fname, data)
                written.append(out / name / fname)
        for name, data in files.items():
            _write(staging / name, data)
            written.append(out / name)
        aside.mkdir()
        for name in names:
            target, old = out / name, None
            if target.exists() or target.is_symlink():
                old = aside / name
                os.replace(target, old)
            swapped.append((target, old))
            os.replace(staging / name, target)
    except BaseException as exc:
        for target, old in reversed(swapped):
            with contextlib.suppress(OSError):
                _remove(target)
                if old is not None:
                    os.replace(old, target)
        shutil.rmtree(staging, ignore_errors=True)
        if isinstance(exc, OSError):
            raise ReportError(
                f"cannot write the report in {out}: {exc.strerror or exc}; nothing was changed"
            ) from exc
        if isinstance(exc, Exception) and not isinstance(exc, JumpReLUError):
            raise ReportError(f"cannot write the report in {out}: {exc}") from exc
        raise
    shutil.rmtree(staging, ignore_errors=True)
    for path in written:
        log.debug("wrote %s", path)
    return written
