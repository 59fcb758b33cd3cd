"""CIFAR-10 from python pickle batches, binary batches or npz files: where, checked, fetched.

Looked for under ``DIR/``, ``DIR/cifar10/``, ``DIR/cifar-10-batches-py/`` and
``DIR/cifar-10-batches-bin/``; in each, python batches are tried first, then ``.bin`` batches,
then npz files. Every file whose name ``MD5`` knows is checked before it is read; the readers
of the formats live in ``cifar10_batches``.
"""

from __future__ import annotations

import logging
import re
import shutil
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from jumprelu.datasets import _files, _local
from jumprelu.datasets.cifar10_batches import (
    CLASSES,
    Arrays,
    has_xy,
    read_bin_batch,
    read_npz,
    read_pickle_batch,
)
from jumprelu.datasets.split import DatasetInfo, TrainRecipe
from jumprelu.errors import DataError

__all__ = ["CLASSES", "INFO", "MD5", "SUBDIRS", "URL", "load", "load_cifar10"]

log = logging.getLogger(__name__)

SUBDIRS: tuple[str, ...] = ("", "cifar10", "cifar-10-batches-py", "cifar-10-batches-bin")
URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
TAR_MD5 = "c58f30108f718f92721af3b95e74349a"
TAR_DIR = "cifar-10-batches-py"
BATCHES: dict[str, tuple[str, ...]] = {
    "train": tuple(f"data_batch_{i}" for i in range(1, 6)),
    "test": ("test_batch",),
}

#: md5 of known files (canonical python batches, the shared npz copies); checked by name.
MD5: dict[str, str] = {
    "data_batch_1": "c99cafc152244af753f735de768cd75f",
    "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
    "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
    "data_batch_4": "634d18415352ddfa80567beed471001a",
    "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
    "test_batch": "40351d587109b95175f43aff81a1287e",
    "train_0.npz": "dbc0c092bc7d6e02ca76c98eca794432",
    "train_1.npz": "fde86a57176cb5075602edcd90a3788c",
    "test_first1000.npz": "07f913e67cb6315e8353168633b54b8c",
    "test_labels.npz": "22f7161ddcb7fddf5e4a278e89a05563",
}


def _natural(path: Path) -> list[Any]:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", path.name)]


def _concat(parts: list[Arrays]) -> Arrays:
    if len(parts) == 1:
        return parts[0]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def _read(reader: Callable[[Path], Arrays], paths: list[Path]) -> Arrays:
    """Read files in order, each checked first against its known md5 (``MD5``, by name)."""
    parts = []
    for path in paths:
        _local.check_md5(path, MD5.get(path.name))
        parts.append(reader(path))
    return _concat(parts)


def _require(folder: Path, names: tuple[str, ...]) -> list[Path]:
    for name in names:
        if not (folder / name).is_file():
            raise DataError(f"CIFAR-10 file {folder / name} is missing")
    return [folder / name for name in names]


def _load_from(folder: Path, part: str) -> Arrays | None:
    names = BATCHES[part]
    if any((folder / n).is_file() for n in names):
        return _read(read_pickle_batch, _require(folder, names))
    bins = tuple(f"{n}.bin" for n in names)
    if any((folder / n).is_file() for n in bins):
        return _read(read_bin_batch, _require(folder, bins))
    npz = sorted(folder.glob(f"{part}*.npz"), key=_natural)
    if part == "test":
        npz = [p for p in npz if has_xy(p)]
    if npz:
        return _read(read_npz, npz)
    return None


def _download(root: Path) -> Path:
    tar_path = root / URL.rsplit("/", 1)[1]
    if not (tar_path.is_file() and _local.md5_file(tar_path) == TAR_MD5):
        _files.download(URL, tar_path, TAR_MD5)
    dest = root / TAR_DIR
    wanted = {f"{TAR_DIR}/{n}": n for n in (*BATCHES["train"], *BATCHES["test"], "batches.meta")}
    done: set[str] = set()
    try:
        with tarfile.open(tar_path, "r:gz") as tar:
            for member in tar:
                name = wanted.get(member.name)
                source = tar.extractfile(member) if name and member.isfile() else None
                if name is None or source is None:
                    continue  # only the expected regular files, never paths from the archive
                with source, _files.atomic_write(dest / name) as tmp, tmp.open("wb") as out:
                    shutil.copyfileobj(source, out, 1 << 20)
                done.add(name)
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise DataError(f"cannot extract {tar_path}: {exc}") from exc
    missing = sorted(set(wanted.values()) - done)
    if missing:
        raise DataError(f"{tar_path} lacks {', '.join(missing)}")
    return dest


def load_cifar10(root: Path, part: str, *, download: bool = False) -> Arrays:
    """Load the CIFAR-10 training or test part from the first location that has it.

    Args:
        root: the data directory.
        part: ``"train"`` or ``"test"``.
        download: fetch and extract the python batches into ``root/cifar-10-batches-py``
            when no format is found.

    Returns:
        ``(x, y)``: uint8 images (N, 3, 32, 32) and int64 labels (N,).

    Raises:
        DataError: when no files are found or they are corrupt.
    """
    for sub in SUBDIRS:
        folder = root / sub if sub else root
        if folder.is_dir():
            found = _load_from(folder, part)
            if found is not None:
                log.debug("loaded CIFAR-10 %s: %d images from %s", part, len(found[1]), folder)
                return found
    if download:
        found = _load_from(_download(root), part)
        if found is not None:
            return found
    looked = ", ".join(str(root / sub) for sub in SUBDIRS)
    raise DataError(
        f"CIFAR-10 {part} files not found under {root} (looked in {looked} for python batches,"
        f" .bin batches or {part}*.npz); pass download=True to fetch them"
    )


def load(part: str, root: Path | None, download: bool) -> Arrays:
    """``INFO.loader``: ``load_cifar10`` from the data directory ``root`` (which must be set)."""
    return load_cifar10(_local.require_root("cifar10", root, download), part, download=download)


INFO = DatasetInfo(
    name="cifar10",
    shape=(3, 32, 32),
    num_classes=10,
    mean=(0.4914, 0.4822, 0.4465),
    std=(0.2470, 0.2435, 0.2616),
    classes=CLASSES,
    eps=(8 / 255, 0.5),
    val_size=5000,
    max_value=255,
    loader=load,
    # The authors' iteration counts (train_protocol.md: --iter for IFGSM, --iter_df for
    # DeepFool, the default --iter_tr for Trust Region).
    paper_steps={"ifgsm": 7, "deepfool": 7, "tr": 40},
    # The jump grid of the authors' attack commands (ResNet, WideResNet, MobileNetV2; their
    # AlexLike used 0 to 0.8, see ``jumprelu.models.zoo``).
    paper_jumps=tuple(round(0.01 * i, 2) for i in range(10)),
    # The paper's ResNets: lr 0.1, x0.1 after epochs 30/60/90 of 120, batch 128, weight decay
    # 5e-4, crop-and-flip augmentation; adversarial: FGSM on 60% of each batch, eps 0.031
    # (normalised units).
    recipe=TrainRecipe(
        settings={
            "epochs": 120,
            "lr": 0.1,
            "milestones": (30, 60, 90),
            "gamma": 0.1,
            "augment": True,
        },
        adv_ratio=0.6,
        adv_eps=0.031,
    ),
)
