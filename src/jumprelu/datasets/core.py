"""Datasets as tensors: ``mnist``, ``cifar10`` and the embedded ``digits``.

``load_split(name, split)`` returns float32 images (N, C, H, W) in [0, 1] and int64 labels.
The ``val`` split is carved from the training set by a seeded ``torch.Generator``
permutation and ``train`` is the training set minus it, so the two never overlap and ``test``
is never touched. MNIST and CIFAR-10 are read from a data directory (the ``data_dir``
argument, else the ``JUMPRELU_DATA`` environment variable); ``digits`` ships with the package.
"""

from __future__ import annotations

import logging
import math
import numbers
import operator
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import torch

from jumprelu.datasets import cifar10, custom, digits, mnist
from jumprelu.errors import ConfigError, DataError

__all__ = [
    "DATASETS",
    "ENV_VAR",
    "SPLITS",
    "DatasetInfo",
    "Split",
    "carve_val",
    "load_data_spec",
    "load_split",
    "resolve_data_dir",
]

log = logging.getLogger(__name__)

ENV_VAR = "JUMPRELU_DATA"
SPLITS = ("train", "val", "test")


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


DATASETS: dict[str, DatasetInfo] = {
    "mnist": DatasetInfo(
        "mnist", (1, 28, 28), 10, (0.1307,), (0.3081,), tuple(str(d) for d in range(10))
    ),
    "cifar10": DatasetInfo(
        "cifar10",
        (3, 32, 32),
        10,
        (0.4914, 0.4822, 0.4465),
        (0.2470, 0.2435, 0.2616),
        cifar10.CLASSES,
    ),
    # Statistics of the 1,438-image training part (train + val) of the embedded digits.
    "digits": DatasetInfo("digits", (1, 8, 8), 10, (0.3054,), (0.3761,), digits.CLASSES),
}

_DEFAULT_VAL_SIZE: dict[str, int | float] = {"mnist": 5000, "cifar10": 5000, "digits": 0.2}
_MAX_VALUE: dict[str, int] = {"mnist": 255, "cifar10": 255, "digits": digits.MAX_VALUE}


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


def resolve_data_dir(data_dir: str | Path | None) -> Path | None:
    """Pick the data directory: the argument, else ``$JUMPRELU_DATA``, else None.

    Args:
        data_dir: an explicit directory, or None (or ``""``) to use the environment.

    Returns:
        The directory (``~`` expanded), or None when neither is set.
    """
    chosen = os.fspath(data_dir) if data_dir is not None else ""
    if not chosen:
        chosen = os.environ.get(ENV_VAR, "")
    return Path(chosen).expanduser() if chosen else None


def _dataset_info(dataset: str) -> DatasetInfo:
    info = DATASETS.get(str(dataset).strip().lower())
    if info is None:
        raise ConfigError(f"unknown dataset {dataset!r}; choose one of {', '.join(DATASETS)}")
    return info


def _check_val_size(val_size: int | float) -> None:
    if isinstance(val_size, bool) or not isinstance(val_size, numbers.Real):
        raise ConfigError(f"val_size must be an int count or a float fraction, got {val_size!r}")
    if isinstance(val_size, numbers.Integral):
        if val_size < 0:
            raise ConfigError(f"val_size must be >= 0, got {val_size}")
    elif not (math.isfinite(val_size) and 0.0 <= val_size < 1.0):
        raise ConfigError(f"a fractional val_size must be in [0, 1), got {val_size}")


def _val_count(val_size: int | float, n_train: int, name: str) -> int:
    if isinstance(val_size, numbers.Integral):
        count = int(val_size)
    else:
        count = round(float(val_size) * n_train)
    if count >= n_train:
        raise ConfigError(
            f"val_size={val_size} leaves no training examples: {name} has {n_train} for train+val"
        )
    return count


def _split_indices(n: int, n_val: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Sorted (train, val) indices: val is the first ``n_val`` of a seeded permutation."""
    generator = torch.Generator().manual_seed(int(seed))
    perm = torch.randperm(n, generator=generator)
    return perm[n_val:].sort().values, perm[:n_val].sort().values


def _root(name: str, data_dir: str | Path | None, download: bool) -> Path:
    root = resolve_data_dir(data_dir)
    if root is None:
        raise DataError(f"{name} needs a data directory: pass data_dir or set {ENV_VAR}")
    if root.exists() and not root.is_dir():
        raise DataError(f"data directory {root} is not a directory")
    if not root.exists():
        if not download:
            raise DataError(f"data directory {root} does not exist")
        root.mkdir(parents=True, exist_ok=True)
    return root


def _load_part(
    name: str, part: str, data_dir: str | Path | None, download: bool
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
    if name == "digits":
        return digits.load_digits(part)
    root = _root(name, data_dir, download)
    if name == "mnist":
        return mnist.load_mnist(root, part, download=download)
    return cifar10.load_cifar10(root, part, download=download)


def load_split(
    dataset: str,
    split: str = "test",
    *,
    data_dir: str | Path | None = None,
    val_size: int | float | None = None,
    seed: int = 0,
    download: bool = False,
) -> Split:
    """Load one split of a dataset as tensors.

    Args:
        dataset: ``"mnist"``, ``"cifar10"`` or ``"digits"`` (embedded, needs no files).
        split: ``"train"``, ``"val"`` or ``"test"``.
        data_dir: directory holding the files; default ``$JUMPRELU_DATA``. Ignored for digits.
        val_size: examples carved from the training set for ``val``: an int count or a float
            fraction; default 5000 for mnist and cifar10, 0.2 for digits. Ignored for test.
        seed: seed of the permutation choosing the val examples.
        download: fetch missing MNIST / CIFAR-10 files into ``data_dir`` (never otherwise).

    Returns:
        A ``Split`` with float32 x (N, C, H, W) in [0, 1] and int64 y (N,).

    Raises:
        ConfigError: unknown dataset or split, or a bad val_size.
        DataError: missing, corrupt or unverifiable files.
    """
    info = _dataset_info(dataset)
    if split not in SPLITS:
        raise ConfigError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    size = _DEFAULT_VAL_SIZE[info.name] if val_size is None else val_size
    _check_val_size(size)
    part = "test" if split == "test" else "train"
    x, y = _load_part(info.name, part, data_dir, download)
    if split != "test":
        n_val = _val_count(size, len(y), info.name)
        if split == "val" and n_val == 0:
            raise ConfigError(f"val_size={size} gives an empty val split for {info.name}")
        train_idx, val_idx = _split_indices(len(y), n_val, seed)
        idx = (val_idx if split == "val" else train_idx).numpy()
        x, y = x[idx], y[idx]
    images = torch.from_numpy(x.astype(np.float32)).div_(float(_MAX_VALUE[info.name]))
    labels = torch.from_numpy(y.astype(np.int64))
    log.debug("%s %s: %d examples", info.name, split, len(labels))
    return Split(images, labels, info, split)


def load_data_spec(spec: str, *, name: str = "custom", num_classes: int | None = None) -> Split:
    """Load a user's data, ``npz:PATH`` or ``folder:DIR`` (see ``jumprelu.datasets.custom``).

    Its ``DatasetInfo`` has the data's shape and classes and the identity normalisation
    (mean 0, std 1): a model without statistics of its own takes the [0, 1] pixels as they are.

    Args:
        spec: ``npz:PATH`` or ``folder:DIR``.
        name: the dataset's name in results.
        num_classes: number of classes (default: the class folders, else the largest label + 1).

    Returns:
        A ``Split`` called "test" holding every example.

    Raises:
        ConfigError: a malformed spec or num_classes.
        DataError: unreadable data, or labels outside ``num_classes``.
    """
    kind, path = custom.parse_spec(spec)
    if kind == "npz":
        x, y = custom.read_npz(path)
        classes: tuple[str, ...] = ()
    else:
        x, y, classes = custom.read_folder(path)
    found = max(len(classes), int(y.max()) + 1 if len(y) else 0)
    count = found if num_classes is None else num_classes
    if isinstance(count, bool) or not isinstance(count, int) or count < 2:
        raise ConfigError(f"num_classes must be an int >= 2, got {count!r}")
    if found > count:
        raise DataError(f"{spec} has labels up to {found - 1}, but num_classes is {count}")
    c, h, w = (int(v) for v in x.shape[1:])
    info = DatasetInfo(
        name, (c, h, w), count, (0.0,) * c, (1.0,) * c, classes or tuple(map(str, range(count)))
    )
    return Split(torch.from_numpy(x), torch.from_numpy(y), info, "test")


def carve_val(data: Split, val_size: int | float = 0.2, seed: int = 0) -> tuple[Split, Split]:
    """Split examples into a seeded validation part and the disjoint rest.

    Args:
        data: the examples.
        val_size: an int count or a float fraction of them.
        seed: seed of the permutation choosing the validation examples.

    Returns:
        ``(val, rest)``, both in their original order.
    """
    _check_val_size(val_size)
    n_val = _val_count(val_size, len(data), data.info.name)
    if n_val == 0:
        raise ConfigError(f"val_size={val_size} gives an empty val split for {data.info.name}")
    rest, val = _split_indices(len(data), n_val, seed)
    return (
        Split(data.x[val], data.y[val], data.info, "val"),
        Split(data.x[rest], data.y[rest], data.info, data.split),
    )
