"""Find, download and verify the zoo's files; recognise a local copy by its hash.

``--checkpoint paper:NAME`` is looked for in the cache directory (``$JUMPRELU_CACHE``, else
``~/.cache/jumprelu``), then in the directories of ``$JUMPRELU_CHECKPOINTS`` (local copies,
under the authors' file name or the ``shared/reference`` name), else downloaded once into the
cache. Every file is verified (SHA-256 when known, else git's blob hash) before it is used; a
file that does not match is left untouched and not used. The network is reached only through
``jumprelu.datasets._files.fetch_url`` (tests replace it). Hashing lives in ``zoo_hashes``.
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path

from jumprelu.datasets import _files
from jumprelu.errors import CheckpointError, ConfigError
from jumprelu.models.zoo import PREFIX, ZOO, ZooEntry
from jumprelu.models.zoo_hashes import FileHashes, file_hashes, identify, verify

__all__ = [
    "CACHE_ENV",
    "LOCAL_ENV",
    "PREFIX",
    "FileHashes",
    "cache_dir",
    "file_hashes",
    "find_copy",
    "get_entry",
    "identify",
    "resolve_checkpoint",
]

log = logging.getLogger(__name__)

CACHE_ENV = "JUMPRELU_CACHE"
LOCAL_ENV = "JUMPRELU_CHECKPOINTS"


def cache_dir() -> Path:
    """The download cache: ``$JUMPRELU_CACHE``, else ``~/.cache/jumprelu``."""
    chosen = os.environ.get(CACHE_ENV, "")
    return Path(chosen).expanduser() if chosen else Path.home() / ".cache" / "jumprelu"


def get_entry(name: str) -> ZooEntry:
    """The zoo entry called ``name`` (``paper:`` prefix allowed).

    Raises:
        ConfigError: for an unknown name, listing the known ones.
    """
    entry = ZOO.get(name.removeprefix(PREFIX))
    if entry is None:
        raise ConfigError(f"unknown zoo checkpoint {name!r}; known: {', '.join(ZOO)}")
    return entry


def _candidates(entry: ZooEntry) -> list[Path]:
    names = [entry.file_name] + ([entry.local_name] if entry.local_name else [])
    dirs = [cache_dir()]
    dirs += [Path(d).expanduser() for d in os.environ.get(LOCAL_ENV, "").split(os.pathsep) if d]
    return [d / n for d in dirs for n in names]


def find_copy(entry: ZooEntry) -> Path | None:
    """The first cached or local copy of ``entry``'s file (not yet verified), or None."""
    return next((p for p in _candidates(entry) if p.is_file()), None)


def _download(entry: ZooEntry, dest: Path) -> None:
    log.info("downloading %s -> %s", entry.url, dest)
    missing = [d for d in (dest.parent, *dest.parent.parents) if not d.exists()]
    try:
        _fetch(entry, dest)
    except BaseException:
        for d in missing:  # deepest first: a failed download leaves no directory behind
            with contextlib.suppress(OSError):
                d.rmdir()
        raise


def _fetch(entry: ZooEntry, dest: Path) -> None:
    try:
        with _files.atomic_write(dest) as tmp:
            try:
                _files.fetch_url(entry.url, tmp)
            except Exception as exc:  # urllib raises many kinds; each becomes one line
                reason = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
                raise CheckpointError(
                    f"{PREFIX}{entry.name} is not in the cache and could not be downloaded "
                    f"from {entry.url} ({reason}); download it and put it at {dest} "
                    f"(or set {CACHE_ENV}), or pass the local file's path to --checkpoint"
                ) from exc
            verify(tmp, entry, f"the download from {entry.url}")
    except OSError as exc:
        raise CheckpointError(f"cannot write {dest}: {exc.strerror or exc}") from exc


def resolve_checkpoint(spec: str | Path) -> tuple[Path, ZooEntry | None]:
    """The file a ``--checkpoint`` value names, and its zoo entry when it is a known file.

    Args:
        spec: ``paper:NAME`` (cache, local copies, else a verified download) or a file path
            (recognised by its hash).

    Returns:
        ``(path, entry)``; ``entry`` is None for a file the zoo does not know.

    Raises:
        ConfigError: an unknown zoo name.
        CheckpointError: a file whose hash does not match (left untouched, not used), or a
            file that is neither found nor downloadable.
    """
    text = os.fspath(spec)
    if not text.startswith(PREFIX):
        path = Path(text)
        return path, identify(path) if path.is_file() else None
    entry = get_entry(text)
    for path in _candidates(entry):
        if path.is_file():
            verify(path, entry, f"the local copy {path}")
            return path, entry
    dest = cache_dir() / entry.file_name
    _download(entry, dest)
    return dest, entry
