"""The project's checkpoint format: its name and version, and the metadata it records.

A checkpoint's metadata is a ``CheckpointMeta``; in a file it is a plain JSON-like dict,
validated field by field on reading (``meta_from_dict``) and converted on writing
(``to_plain``), so nothing but plain values is ever stored or trusted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from jumprelu.errors import CheckpointError

__all__ = ["FORMAT", "MAX_CLASSES", "VERSION", "CheckpointMeta", "meta_from_dict", "to_plain"]

log = logging.getLogger(__name__)

#: Value of the ``format`` field of the project's checkpoints.
FORMAT = "jumprelu.checkpoint"
#: The format version this library writes and reads.
VERSION = 1
#: Most classes a checkpoint may declare (a sanity bound: the classifier is allocated from it).
MAX_CLASSES = 100_000


@dataclass
class CheckpointMeta:
    """What a checkpoint holds and how it was made.

    Attributes:
        arch: registry name of the architecture.
        dataset: dataset it was trained on, if known.
        arch_kwargs: architecture options passed to the builder.
        num_classes: number of logits.
        mean: per-channel normalisation means, if known.
        std: per-channel normalisation standard deviations, if known.
        training: how it was trained (recipe, epochs, seed, validation accuracy, ...).
        source: ``"jumprelu"`` for the project's files, ``"state_dict"`` for foreign ones.
    """

    arch: str
    dataset: str | None = None
    arch_kwargs: dict[str, Any] = field(default_factory=dict)
    num_classes: int = 10
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    training: dict[str, Any] = field(default_factory=dict)
    source: str = "jumprelu"

    def __post_init__(self) -> None:
        self.arch_kwargs = dict(self.arch_kwargs)
        self.training = dict(self.training)
        if self.mean is not None:
            self.mean = tuple(float(v) for v in self.mean)
        if self.std is not None:
            self.std = tuple(float(v) for v in self.std)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


#: Each metadata field: (check, what it must be).
_META_CHECKS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "arch": (lambda v: isinstance(v, str) and bool(v), "a non-empty string"),
    "dataset": (lambda v: v is None or isinstance(v, str), "a string or null"),
    "arch_kwargs": (lambda v: isinstance(v, dict) and all(map(_is_str, v)), "a dict"),
    "num_classes": (
        lambda v: isinstance(v, int) and not isinstance(v, bool) and 2 <= v <= MAX_CLASSES,
        f"an int in [2, {MAX_CLASSES}]",
    ),
    "mean": (lambda v: v is None or _is_numbers(v), "a list of numbers or null"),
    "std": (lambda v: v is None or _is_numbers(v), "a list of numbers or null"),
    "training": (lambda v: isinstance(v, dict) and all(map(_is_str, v)), "a dict"),
    "source": (lambda v: isinstance(v, str), "a string"),
}


def _is_str(v: Any) -> bool:
    return isinstance(v, str)


def _is_numbers(v: Any) -> bool:
    return isinstance(v, (list, tuple)) and all(map(_is_number, v))


def meta_from_dict(data: Any, path: Path) -> CheckpointMeta:
    """Validate and convert a plain metadata dict (see ``CheckpointMeta``).

    Raises:
        CheckpointError: not a dict with an ``arch``, or a field of the wrong kind.
    """
    if not isinstance(data, dict) or "arch" not in data:
        raise CheckpointError(f"malformed metadata in {path}: expected a dict with an 'arch'")
    if unknown := sorted(set(data) - set(_META_CHECKS)):
        log.warning("ignoring unknown metadata fields in %s: %s", path, ", ".join(unknown))
    values = {k: v for k, v in data.items() if k in _META_CHECKS}
    for name, value in values.items():
        check, want = _META_CHECKS[name]
        if not check(value):
            raise CheckpointError(f"malformed metadata in {path}: {name!r} must be {want}")
    return CheckpointMeta(**values)


def to_plain(value: Any, where: str) -> Any:
    """Convert metadata to JSON-like values (dict, list, str, int, float, bool, None).

    Raises:
        CheckpointError: a key that is not a string, or a value that is not plain.
    """
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, (list, tuple)):
        return [to_plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise CheckpointError(f"cannot save metadata {where}: key {k!r} is not a string")
            out[k] = to_plain(v, f"{where}.{k}")
        return out
    raise CheckpointError(
        f"cannot save metadata {where}: a {type(value).__name__} is not a plain JSON value"
    )
