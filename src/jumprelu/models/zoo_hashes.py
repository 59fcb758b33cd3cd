"""Recognise the zoo's files by their hashes: SHA-256 when known, else git's blob hash, both
computed in one pass over the file."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from jumprelu.errors import CheckpointError
from jumprelu.models.zoo import PREFIX, ZOO, ZooEntry

__all__ = ["FileHashes", "file_hashes", "identify", "verify"]

_CHUNK = 1 << 20


@dataclass(frozen=True)
class FileHashes:
    """A file's SHA-256 and git blob hash (SHA-1 of ``b"blob SIZE\\0" + bytes``)."""

    sha256: str
    git_blob: str

    def matches(self, entry: ZooEntry) -> bool:
        """True when these are the hashes of ``entry``'s file (SHA-256 when known)."""
        if entry.sha256 is not None:
            return self.sha256 == entry.sha256
        return self.git_blob == entry.git_blob


def file_hashes(path: Path) -> FileHashes:
    """Hash a file once for both SHA-256 and git's blob hash.

    Args:
        path: the file.

    Returns:
        Its ``FileHashes``.

    Raises:
        CheckpointError: when the file cannot be read.
    """
    try:
        size = path.stat().st_size
        sha, blob = hashlib.sha256(), hashlib.sha1(usedforsecurity=False)
        blob.update(f"blob {size}\0".encode())
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(_CHUNK), b""):
                sha.update(block)
                blob.update(block)
    except OSError as exc:
        raise CheckpointError(f"cannot read {path}: {exc.strerror or exc}") from exc
    return FileHashes(sha.hexdigest(), blob.hexdigest())


def identify(path: Path) -> ZooEntry | None:
    """The zoo entry whose hash the file at ``path`` has, or None."""
    hashes = file_hashes(path)
    return next((e for e in ZOO.values() if hashes.matches(e)), None)


def verify(path: Path, entry: ZooEntry, what: str) -> None:
    """Raise CheckpointError unless ``path`` holds ``entry``'s file (``what`` names it)."""
    hashes = file_hashes(path)
    if not hashes.matches(entry):
        kind, want, got = (
            ("sha256", entry.sha256, hashes.sha256)
            if entry.sha256 is not None
            else ("git blob hash", entry.git_blob, hashes.git_blob)
        )
        raise CheckpointError(
            f"{what} is not {PREFIX}{entry.name}: {kind} {got}, expected {want} "
            "(the file was left untouched and not used)"
        )
