"""Examples as tensors (``Split``, with its ``DatasetInfo``) and seeded validation carving.

A validation part is the first examples of a seeded ``torch.Generator`` permutation and the
rest is everything else, so the two never overlap; both keep the original order.
"""

from __future__ import annotations

import math
import numbers
import operator
from dataclasses import dataclass

import torch

from jumprelu.errors import ConfigError

__all__ = ["DatasetInfo", "Split", "carve_val", "check_val_size", "split_indices", "val_count"]


@dataclass(frozen=True)
class DatasetInfo:
    """Static facts about a dataset.

    Attributes:
        name: the dataset's name (a key of ``DATASETS``).
        shape: one image's (C, H, W).
        num_classes: number of labels.
        mean: per-channel mean of the training images in [0, 1].
        std: per-channel standard deviation of the training images in [0, 1].
        classes: the class names, indexed by label.
    """

    name: str
    shape: tuple[int, int, int]
    num_classes: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    classes: tuple[str, ...]


@dataclass
class Split:
    """One split of a dataset.

    Attributes:
        x: float32 images (N, C, H, W) in [0, 1].
        y: int64 labels (N,).
        info: the dataset's ``DatasetInfo``.
        split: ``"train"``, ``"val"`` or ``"test"``.
    """

    x: torch.Tensor
    y: torch.Tensor
    info: DatasetInfo
    split: str

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def take(self, n: int) -> Split:
        """Return the first ``n`` examples (views of this split's tensors).

        Args:
            n: how many examples, 0 <= n <= len(self).

        Returns:
            A new ``Split`` of length ``n``.

        Raises:
            ConfigError: when ``n`` is not an integer in that range.
        """
        try:
            count = operator.index(n)
        except TypeError as exc:
            raise ConfigError(f"take() needs an integer count, got {n!r}") from exc
        if not 0 <= count <= len(self):
            raise ConfigError(
                f"cannot take {count} examples from the {self.info.name} {self.split} split,"
                f" which has {len(self)}"
            )
        return Split(self.x[:count], self.y[:count], self.info, self.split)


def check_val_size(val_size: int | float) -> None:
    """Raise ConfigError unless ``val_size`` is an int count >= 0 or a fraction in [0, 1)."""
    if isinstance(val_size, bool) or not isinstance(val_size, numbers.Real):
        raise ConfigError(f"val_size must be an int count or a float fraction, got {val_size!r}")
    if isinstance(val_size, numbers.Integral):
        if val_size < 0:
            raise ConfigError(f"val_size must be >= 0, got {val_size}")
    elif not (math.isfinite(val_size) and 0.0 <= val_size < 1.0):
        raise ConfigError(f"a fractional val_size must be in [0, 1), got {val_size}")


def val_count(val_size: int | float, n_train: int, name: str) -> int:
    """How many of ``n_train`` examples ``val_size`` carves (some must be left to train on)."""
    if isinstance(val_size, numbers.Integral):
        count = int(val_size)
    else:
        count = round(float(val_size) * n_train)
    if count >= n_train:
        raise ConfigError(
            f"val_size={val_size} leaves no training examples: {name} has {n_train} for train+val"
        )
    return count


def split_indices(n: int, n_val: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Sorted (train, val) indices: val is the first ``n_val`` of a seeded permutation."""
    generator = torch.Generator().manual_seed(int(seed))
    perm = torch.randperm(n, generator=generator)
    return perm[n_val:].sort().values, perm[:n_val].sort().values


def carve_val(data: Split, val_size: int | float = 0.2, seed: int = 0) -> tuple[Split, Split]:
    """Split examples into a seeded validation part and the disjoint rest.

    Args:
        data: the examples.
        val_size: an int count or a float fraction of them.
        seed: seed of the permutation choosing the validation examples.

    Returns:
        ``(val, rest)``, both in their original order.
    """
    check_val_size(val_size)
    n_val = val_count(val_size, len(data), data.info.name)
    if n_val == 0:
        raise ConfigError(f"val_size={val_size} gives an empty val split for {data.info.name}")
    rest, val = split_indices(len(data), n_val, seed)
    return (
        Split(data.x[val], data.y[val], data.info, "val"),
        Split(data.x[rest], data.y[rest], data.info, data.split),
    )
