"""Examples as tensors (``Split``, with its ``DatasetInfo``) and seeded validation carving.

A validation part is the first examples of a seeded ``torch.Generator`` permutation and the
rest is everything else, so the two never overlap; both keep the original order.
"""

from __future__ import annotations

import math
import numbers
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from jumprelu.errors import ConfigError

__all__ = [
    "DatasetInfo",
    "Loader",
    "Split",
    "TrainRecipe",
    "carve_val",
    "check_val_size",
    "split_indices",
    "val_count",
]

#: Reads one part (``"train"`` or ``"test"``) of a dataset: ``(part, root, download)`` ->
#: ``(x, y)``, uint8 (or small int) images (N, C, H, W) and int64 labels (N,). ``root`` is the
#: data directory (None when neither ``data_dir`` nor ``$JUMPRELU_DATA`` names one);
#: ``download`` allows fetching missing files into it.
Loader = Callable[[str, Path | None, bool], tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]]


@dataclass(frozen=True)
class TrainRecipe:
    """A dataset's default training settings (``training.config.paper_recipe`` builds them).

    Attributes:
        settings: ``TrainConfig`` keyword arguments of plain training (the rest default).
        adv_ratio: the paper's FGSM adversarial training: fraction of each batch replaced.
        adv_eps: its L-infinity radius, in normalised units.
    """

    settings: Mapping[str, Any] = field(hash=False)
    adv_ratio: float
    adv_eps: float


@dataclass(frozen=True)
class DatasetInfo:
    """Static facts about a dataset: what code needs to know about one is read here, never
    decided by comparing its name.

    Attributes:
        name: the dataset's name (a key of ``DATASETS``).
        shape: one image's (C, H, W).
        num_classes: number of labels.
        mean: per-channel mean of the training images in [0, 1].
        std: per-channel standard deviation of the training images in [0, 1].
        classes: the class names, indexed by label.
        eps: default budgets (linf, l2) of fixed-budget attacks in [0, 1] pixel units; None
            (the user's data) when there are none: ``--eps``/``--eps-l2`` must be given.
        val_size: examples ``load_split`` carves from the training part for ``val`` by
            default: an int count or a float fraction.
        max_value: the largest value of the stored images (255 for uint8 pixels); the
            loaded images are divided by it.
        loader: reads one part of the stored data (see ``Loader``); None when the data are
            not registered (the user's data, loaded by ``load_data_spec``).
        paper_steps: the paper protocol's iteration counts per attack family ("ifgsm",
            "deepfool", "tr"; see ``evaluation.protocol.PAPER_KIND``); empty: the attacks'
            own defaults.
        paper_jumps: the jump grid of the authors' attack commands (the paper protocol's
            default grid); None: the command's default grid.
        recipe: the default training settings (``TrainRecipe``); None: not trainable here.
        ships_model: the package ships a model trained on it (``default_model_path``), the
            CLI's model when no ``--checkpoint`` or ``--model`` is given.
    """

    name: str
    shape: tuple[int, int, int]
    num_classes: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    classes: tuple[str, ...]
    eps: tuple[float, float] | None = None
    val_size: int | float = 0.2
    max_value: int = 255
    loader: Loader | None = None
    paper_steps: Mapping[str, int] = field(default_factory=dict, hash=False)
    paper_jumps: tuple[float, ...] | None = None
    recipe: TrainRecipe | None = None
    ships_model: bool = False


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
