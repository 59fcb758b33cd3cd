"""Local file helpers shared by the dataset readers: the data directory, md5 checks,
(gunzipped) reads, and the first of a dataset's candidate folders that holds its files."""

from __future__ import annotations

import gzip
import hashlib
import logging
import zlib
from collections.abc import Sequence
from pathlib import Path

from jumprelu.errors import DataError

__all__ = ["ENV_VAR", "check_md5", "find_dir", "md5_file", "read_bytes", "require_root"]

log = logging.getLogger(__name__)

_CHUNK = 1 << 20

#: The environment variable naming the data directory when no ``data_dir`` is given.
ENV_VAR = "JUMPRELU_DATA"


def require_root(name: str, root: Path | None, download: bool) -> Path:
    """The data directory a dataset's files are read from (created when downloading).

    Args:
        name: the dataset, for messages.
        root: the resolved data directory, or None when none is set.
        download: whether missing files may be fetched (then a missing directory is made).

    Returns:
        ``root``.

    Raises:
        DataError: no directory set, a file in its place, or a missing one without download.
    """
    if root is None:
        raise DataError(f"{name} needs a data directory: pass data_dir or set {ENV_VAR}")
    if root.exists() and not root.is_dir():
        raise DataError(f"data directory {root} is not a directory")
    if not root.exists():
        if not download:
            raise DataError(f"data directory {root} does not exist")
        root.mkdir(parents=True, exist_ok=True)
    return root


def md5_file(path: Path) -> str:
    """Return the hex md5 digest of a file.

    Args:
        path: the file.

    Returns:
        The 32-character lowercase hex digest.
    """
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def check_md5(path: Path, expected: str | None) -> None:
    """Raise DataError when ``path``'s md5 differs from ``expected`` (nothing to do if None).

    Args:
        path: the file to hash.
        expected: the expected hex digest, or None to skip the check.

    Raises:
        DataError: on a mismatch or when the file cannot be read.
    """
    if expected is None:
        return
    try:
        actual = md5_file(path)
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if actual != expected:
        raise DataError(
            f"md5 mismatch for {path}: expected {expected}, got {actual} "
            "(corrupt or modified file; delete it and download again)"
        )
    log.debug("md5 ok: %s", path)


def read_bytes(path: Path) -> bytes:
    """Read a whole file, gunzipping it when its name ends in ``.gz``.

    Args:
        path: the file.

    Returns:
        The (decompressed) contents.

    Raises:
        DataError: when the file is missing, unreadable or not valid gzip.
    """
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if path.name.endswith(".gz"):
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise DataError(f"corrupt gzip file {path}: {exc}") from exc
    return raw


def find_dir(root: Path, subdirs: Sequence[str], names: Sequence[str]) -> Path | None:
    """Return the first of ``root/sub`` (in order) that holds a file called one of ``names``.

    Args:
        root: the data directory.
        subdirs: sub-directories to try, ``""`` meaning ``root`` itself.
        names: file names to look for.

    Returns:
        The directory, or None when none of them holds any of the names.
    """
    for sub in subdirs:
        folder = root / sub if sub else root
        if any((folder / name).is_file() for name in names):
            return folder
    return None
