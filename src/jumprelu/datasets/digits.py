"""The embedded ``digits`` dataset: 1,797 8x8 handwritten digits with values 0..16.

The file ``jumprelu/assets/digits.csv.gz`` is scikit-learn's copy of the UCI "Optical
Recognition of Handwritten Digits" test set (see ``assets/README.md``): one row per image,
64 pixel values then the label. A fixed 20% (seeded by ``SPLIT_SEED``, independent of any
user seed) is the test part; the rest is the training part.
"""

from __future__ import annotations

import functools
import gzip
import importlib.resources
import io
import logging
from pathlib import Path

import numpy as np
import numpy.typing as npt
import torch

from jumprelu.datasets.split import DatasetInfo, TrainRecipe
from jumprelu.errors import DataError

__all__ = [
    "CLASSES",
    "INFO",
    "MAX_VALUE",
    "NUM_EXAMPLES",
    "SPLIT_SEED",
    "TEST_FRACTION",
    "load",
    "load_digits",
]

log = logging.getLogger(__name__)

ASSET = "assets/digits.csv.gz"
NUM_EXAMPLES = 1797
MAX_VALUE = 16
TEST_FRACTION = 0.2
SPLIT_SEED = 20_190_408  # fixed forever: the test part must never change
CLASSES = tuple(str(d) for d in range(10))

Arrays = tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]


@functools.lru_cache(maxsize=1)
def _load_all() -> Arrays:
    resource = importlib.resources.files("jumprelu").joinpath(ASSET)
    try:
        text = gzip.decompress(resource.read_bytes()).decode("ascii")
        table = np.loadtxt(io.StringIO(text), delimiter=",", dtype=np.int64, ndmin=2)
    except (OSError, EOFError, ValueError) as exc:
        raise DataError(f"corrupt embedded dataset {resource}: {exc}") from exc
    if table.shape != (NUM_EXAMPLES, 65):
        raise DataError(f"embedded dataset {resource} has shape {table.shape}, expected (1797, 65)")
    pixels, labels = table[:, :64], table[:, 64]
    if pixels.min() < 0 or pixels.max() > MAX_VALUE or labels.min() < 0 or labels.max() > 9:
        raise DataError(f"embedded dataset {resource} has values out of range")
    x = pixels.astype(np.uint8).reshape(-1, 1, 8, 8)
    y = labels.copy()
    x.setflags(write=False)
    y.setflags(write=False)
    return x, y


def fixed_test_indices() -> npt.NDArray[np.int64]:
    """Return the sorted indices (into the 1,797 rows) of the fixed test part.

    Returns:
        359 sorted int64 indices.
    """
    generator = torch.Generator().manual_seed(SPLIT_SEED)
    perm = torch.randperm(NUM_EXAMPLES, generator=generator)
    n_test = round(TEST_FRACTION * NUM_EXAMPLES)
    return perm[:n_test].sort().values.numpy()


def load_digits(part: str) -> Arrays:
    """Load the training or test part of the embedded digits (no files, no network).

    Args:
        part: ``"train"`` (1,438 images) or ``"test"`` (359 images).

    Returns:
        ``(x, y)``: uint8 images (N, 1, 8, 8) with values 0..16 and int64 labels (N,).
    """
    x, y = _load_all()
    mask = np.zeros(NUM_EXAMPLES, dtype=bool)
    mask[fixed_test_indices()] = True
    if part == "train":
        mask = ~mask
    return x[mask], y[mask]


def load(part: str, root: Path | None, download: bool) -> Arrays:
    """``INFO.loader``: the embedded part (``root`` and ``download`` are not needed)."""
    return load_digits(part)


INFO = DatasetInfo(
    name="digits",
    shape=(1, 8, 8),
    num_classes=10,
    # Statistics of the 1,438-image training part (train + val).
    mean=(0.3054,),
    std=(0.3761,),
    classes=CLASSES,
    eps=(0.1, 1.0),
    val_size=0.2,
    max_value=MAX_VALUE,
    loader=load,
    paper_steps={"ifgsm": 40, "deepfool": 40, "tr": 40},  # not in the paper: MNIST's counts
    paper_jumps=None,
    ships_model=True,
    # Not in the paper: the settings of the shipped default model, and MNIST's adversarial
    # settings (FGSM on 30% of each batch, eps 0.3 in normalised units).
    recipe=TrainRecipe(
        settings={"epochs": 30, "lr": 0.05, "batch_size": 64, "milestones": (20,), "gamma": 0.1},
        adv_ratio=0.3,
        adv_eps=0.3,
    ),
)
