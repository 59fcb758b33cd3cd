"""One released checkpoint as data (``ZooEntry``), and the authors' repository and commit its
file, download address and blob hash refer to."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["COMMIT", "HUNDREDTHS", "PREFIX", "REPO", "ZooEntry"]

#: The authors' repository and the commit whose tree the addresses and blob hashes come from.
REPO = "https://github.com/erichson/JumpReLU"
COMMIT = "c7efdac279f2cfa5e8a8e182cb695b522e92be7c"
_RAW = f"https://raw.githubusercontent.com/erichson/JumpReLU/{COMMIT}"
#: How ``--checkpoint`` names a zoo file: ``paper:NAME``.
PREFIX = "paper:"

#: The jump grid 0, 0.01, ..., 0.09: an entry's default.
HUNDREDTHS = tuple(round(0.01 * i, 2) for i in range(10))


@dataclass(frozen=True)
class ZooEntry:
    """One released checkpoint.

    Attributes:
        name: the zoo name (``--checkpoint paper:NAME``).
        path: the file's path in the authors' repository.
        arch: the project architecture (registry name) its weights load into.
        dataset: the dataset it was trained on.
        mean: per-channel normalisation means used in training.
        std: per-channel normalisation standard deviations used in training.
        training: how it was trained (the authors' protocol file).
        git_blob: git's blob hash of the file at ``COMMIT``.
        sha256: SHA-256 of the file, when known.
        local_name: the file's name in ``shared/reference``, when copied there.
        arch_kwargs: architecture options.
        jumps: the jump grid of the authors' attack commands.
        test_batch_size: the test batch size of the authors' attack commands.
    """

    name: str
    path: str
    arch: str
    dataset: str
    mean: tuple[float, ...]
    std: tuple[float, ...]
    training: str
    git_blob: str
    sha256: str | None = None
    local_name: str | None = None
    arch_kwargs: dict[str, Any] = field(default_factory=dict)
    jumps: tuple[float, ...] = HUNDREDTHS
    test_batch_size: int = 500

    @property
    def file_name(self) -> str:
        """The file's name in the authors' repository."""
        return self.path.rsplit("/", 1)[-1]

    @property
    def url(self) -> str:
        """The download address, pinned to ``COMMIT``."""
        return f"{_RAW}/{self.path}"

    def describe(self) -> dict[str, Any]:
        """A JSON-friendly description (recorded as the checkpoint's training metadata)."""
        return {
            "zoo": self.name,
            "source": f"{REPO}/blob/{COMMIT}/{self.path}",
            "url": self.url,
            "training": self.training,
            "git_blob": self.git_blob,
            "sha256": self.sha256,
            "protocol_jumps": list(self.jumps),
            "protocol_test_batch_size": self.test_batch_size,
        }
