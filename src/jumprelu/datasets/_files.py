"""File helpers shared by the dataset readers: md5 checks, (gzipped) reads, atomic downloads.

``fetch_url`` is the only function that touches the network; tests replace it with
``monkeypatch.setattr(jumprelu.datasets._files, "fetch_url", ...)``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from jumprelu.datasets._local import md5_file
from jumprelu.errors import DataError

__all__ = ["atomic_write", "download", "fetch_url"]

log = logging.getLogger(__name__)

_CHUNK = 1 << 20
_TIMEOUT_S = 60.0


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
