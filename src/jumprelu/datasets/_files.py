"""File helpers shared by the dataset readers: md5 checks, (gzipped) reads, atomic downloads.

``fetch_url`` is the only function that touches the network; tests replace it with
``monkeypatch.setattr(jumprelu.datasets._files, "fetch_url", ...)``.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import logging
import os
import shutil
import tempfile
import urllib.request
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path

from jumprelu.errors import DataError

__all__ = [
    "atomic_write",
    "check_md5",
    "download",
    "fetch_url",
    "find_dir",
    "md5_file",
    "read_bytes",
]

log = logging.getLogger(__name__)

_CHUNK = 1 << 20
_TIMEOUT_S = 60.0


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


def fetch_url(url: str, dest: Path) -> None:
    """Download ``url`` into the (already open-able) file ``dest``; the network's only door.

    Args:
        url: an http(s) URL.
        dest: the file to write; it is overwritten.
    """
    if not url.startswith(("https://", "http://")):
        raise DataError(f"refusing to download from a non-http URL: {url}")
    with urllib.request.urlopen(url, timeout=_TIMEOUT_S) as response, dest.open("wb") as out:
        shutil.copyfileobj(response, out, _CHUNK)


@contextlib.contextmanager
def atomic_write(dest: Path) -> Iterator[Path]:
    """Yield a temporary path next to ``dest``; on success move it onto ``dest`` atomically.

    Args:
        dest: the final file.

    Yields:
        The temporary file to fill. It is removed if the block raises.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


def download(url: str, dest: Path, md5: str) -> None:
    """Download ``url`` to ``dest`` atomically and verify its md5 before it appears there.

    Args:
        url: where to download from.
        dest: the final file path.
        md5: the expected hex digest.

    Raises:
        DataError: when the download fails or the md5 does not match; ``dest`` is untouched.
    """
    log.info("downloading %s -> %s", url, dest)
    with atomic_write(dest) as tmp:
        try:
            fetch_url(url, tmp)
        except DataError:
            raise
        except Exception as exc:  # urllib raises many kinds; report each as one line
            raise DataError(f"download of {url} to {dest} failed: {exc}") from exc
        actual = md5_file(tmp)
        if actual != md5:
            raise DataError(
                f"md5 mismatch for download {url} (for {dest}): expected {md5}, got {actual}"
            )
