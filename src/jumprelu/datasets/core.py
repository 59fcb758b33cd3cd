"""Datasets as tensors: ``mnist``, ``cifar10`` and the embedded ``digits``.

Every fact about a registered dataset is on its ``DatasetInfo`` in ``DATASETS`` (defined with
its reader in the dataset's own module): adding a dataset is one module and one entry here.

``load_split(name, split)`` returns float32 images (N, C, H, W) in [0, 1] and int64 labels.
The ``val`` split is carved from the training set by a seeded ``torch.Generator``
permutation and ``train`` is the training set minus it, so the two never overlap and ``test``
is never touched. MNIST and CIFAR-10 are read from a data directory (the ``data_dir``
argument, else the ``JUMPRELU_DATA`` environment variable); ``digits`` ships with the package.
"""

from __future__ import annotations

import logging
import numbers
import os
from pathlib import Path

import numpy as np
import torch

from jumprelu.datasets import cifar10, custom, digits, mnist
from jumprelu.datasets._local import ENV_VAR
from jumprelu.datasets.split import (
    DatasetInfo,
    Loader,
    Split,
    carve_val,
    check_val_size,
    split_indices,
    val_count,
)
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

SPLITS = ("train", "val", "test")


#: The registered datasets by name (each record's facts live in its module).
DATASETS: dict[str, DatasetInfo] = {
    info.name: info for info in (mnist.INFO, cifar10.INFO, digits.INFO)
}


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


def _registered(dataset: str) -> tuple[DatasetInfo, Loader]:
    """A registered dataset's record and reader (ConfigError for any other name)."""
    info = DATASETS.get(str(dataset).strip().lower())
    if info is None or info.loader is None:
        raise ConfigError(f"unknown dataset {dataset!r}; choose one of {', '.join(DATASETS)}")
    return info, info.loader


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
            fraction; default the dataset's ``DatasetInfo.val_size`` (5000 for mnist and
            cifar10, 0.2 for digits). Ignored for test.
        seed: seed of the permutation choosing the val examples.
        download: fetch missing MNIST / CIFAR-10 files into ``data_dir`` (never otherwise).

    Returns:
        A ``Split`` with float32 x (N, C, H, W) in [0, 1] and int64 y (N,).

    Raises:
        ConfigError: unknown dataset or split, a bad val_size or seed, or a data_dir or
            download of the wrong type.
        DataError: missing, corrupt or unverifiable files.

    Example:
        >>> import jumprelu
        >>> test = jumprelu.load_split("digits", "test")
        >>> test.x.shape, test.y.dtype, test.info.num_classes
        (torch.Size([359, 1, 8, 8]), torch.int64, 10)
        >>> len(jumprelu.load_split("digits", "train")), len(jumprelu.load_split("digits", "val"))
        (1150, 288)
    """
    if not isinstance(dataset, str):
        raise ConfigError(f"dataset must be a name (str), got {dataset!r}")
    if data_dir is not None and not isinstance(data_dir, (str, os.PathLike)):
        raise ConfigError(f"data_dir must be a path (str or Path) or None, got {data_dir!r}")
    whole = isinstance(seed, numbers.Integral) and not isinstance(seed, bool)
    if not whole or not -(2**63) <= seed < 2**64:  # what torch.Generator.manual_seed takes
        raise ConfigError(f"seed must be an integer in [-2**63, 2**64), got {seed!r}")
    if not isinstance(download, bool):
        raise ConfigError(f"download must be True or False, got {download!r}")
    info, loader = _registered(dataset)
    if split not in SPLITS:
        raise ConfigError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    size = info.val_size if val_size is None else val_size
    check_val_size(size)
    part = "test" if split == "test" else "train"
    x, y = loader(part, resolve_data_dir(data_dir), download)
    if split != "test":
        n_val = val_count(size, len(y), info.name)
        if split == "val" and n_val == 0:
            raise ConfigError(f"val_size={size} gives an empty val split for {info.name}")
        train_idx, val_idx = split_indices(len(y), n_val, seed)
        idx = (val_idx if split == "val" else train_idx).numpy()
        x, y = x[idx], y[idx]
    images = torch.from_numpy(x.astype(np.float32)).div_(float(info.max_value))
    labels = torch.from_numpy(y.astype(np.int64))
    log.debug("%s %s: %d examples", info.name, split, len(labels))
    return Split(images, labels, info, split)


def load_data_spec(spec: str, *, name: str = "custom", num_classes: int | None = None) -> Split:
    """Load a user's data, ``npz:PATH`` or ``folder:DIR`` (see ``jumprelu.datasets.custom``).

    Its ``DatasetInfo`` has the data's shape and classes and the identity normalisation
    (mean 0, std 1): a model without statistics of its own takes the [0, 1] pixels as they are.
    It has no default budgets, paper settings, reader or training recipe.

    Args:
        spec: ``npz:PATH`` or ``folder:DIR``.
        name: the dataset's name in results.
        num_classes: number of classes, in [2, ``custom.MAX_CLASSES``] (default: the class
            folders, else the largest label + 1).

    Returns:
        A ``Split`` called "test" holding every example (at least one).

    Raises:
        ConfigError: a malformed spec or num_classes.
        DataError: unreadable or empty data, labels outside ``num_classes``, or (without
            ``num_classes``) a single class.
    """
    kind, path = custom.parse_spec(spec)
    if kind == "npz":
        x, y = custom.read_npz(path)
        classes: tuple[str, ...] = ()
    else:
        x, y, classes = custom.read_folder(path)
    if len(y) == 0:  # the readers refuse it; a result over no examples must never be reported
        raise DataError(f"{spec} holds no examples")
    found = max(len(classes), int(y.max()) + 1)
    if num_classes is None:
        if found < 2:
            raise DataError(
                f"{spec}: only one class found (every label is {int(y.max())}); "
                "give --num-classes if the data has more"
            )
        count = found
    else:
        count = num_classes
        if isinstance(count, bool) or not isinstance(count, int):
            raise ConfigError(f"num_classes must be an int, got {count!r}")
        if not 2 <= count <= custom.MAX_CLASSES:
            raise ConfigError(f"num_classes must be in [2, {custom.MAX_CLASSES}], got {count}")
    if found > count:
        raise DataError(f"{spec} has labels up to {found - 1}, but num_classes is {count}")
    c, h, w = (int(v) for v in x.shape[1:])
    info = DatasetInfo(
        name, (c, h, w), count, (0.0,) * c, (1.0,) * c, classes or tuple(map(str, range(count)))
    )
    return Split(torch.from_numpy(x), torch.from_numpy(y), info, "test")
