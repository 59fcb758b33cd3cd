"""MNIST from its original IDX files (gzipped or not), with header, length and md5 checks.

Looked for under ``DIR/``, ``DIR/mnist/`` and ``DIR/MNIST/raw/`` (torchvision's layout).
"""

from __future__ import annotations

import logging
import struct
from pathlib import Path

import numpy as np
import numpy.typing as npt

from jumprelu.datasets import _files, _local
from jumprelu.datasets.split import DatasetInfo, TrainRecipe
from jumprelu.errors import DataError

__all__ = [
    "FILES",
    "IMAGE_MAGIC",
    "INFO",
    "LABEL_MAGIC",
    "MD5",
    "SUBDIRS",
    "URL",
    "load",
    "load_mnist",
]

log = logging.getLogger(__name__)

URL = "https://ossci-datasets.s3.amazonaws.com/mnist/"
SUBDIRS: tuple[str, ...] = ("", "mnist", "MNIST/raw")
DOWNLOAD_SUBDIR = "mnist"
IMAGE_MAGIC = 0x00000803
LABEL_MAGIC = 0x00000801
ROWS = COLS = 28
NUM_CLASSES = 10

#: (images, labels) file names, without ``.gz``, per part.
FILES: dict[str, tuple[str, str]] = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

#: md5 of the canonical gzipped files; checked whenever a file has one of these names.
MD5: dict[str, str] = {
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
}


def read_idx(path: Path, magic: int) -> npt.NDArray[np.uint8]:
    """Read a uint8 IDX file and check its magic number and payload length.

    Args:
        path: the file (gunzipped on the fly when its name ends in ``.gz``).
        magic: the expected magic number (0x803 for images, 0x801 for labels).

    Returns:
        A read-only uint8 array with the dimensions from the header.

    Raises:
        DataError: on a wrong magic number, a short header or a truncated/overlong payload.
    """
    data = _local.read_bytes(path)
    if len(data) < 4:
        raise DataError(f"truncated IDX header in {path}: {len(data)} bytes")
    found = int.from_bytes(data[:4], "big")
    if found != magic:
        raise DataError(f"wrong IDX magic 0x{found:08x} in {path}, expected 0x{magic:08x}")
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"truncated IDX header in {path}: {len(data)} of {header} bytes")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    expected = int(np.prod(dims, dtype=np.int64))
    payload = len(data) - header
    if payload < expected:
        raise DataError(f"truncated payload in {path}: {payload} of {expected} bytes for {dims}")
    if payload > expected:
        raise DataError(f"{payload - expected} unexpected trailing bytes in {path} after {dims}")
    return np.frombuffer(data, dtype=np.uint8, count=expected, offset=header).reshape(dims)


def _pick(folder: Path, stem: str) -> Path | None:
    for name in (f"{stem}.gz", stem):
        if (folder / name).is_file():
            return folder / name
    return None


def _locate(root: Path, part: str, download: bool) -> tuple[Path, Path]:
    stems = FILES[part]
    candidates = [name for stem in stems for name in (f"{stem}.gz", stem)]
    folder = _local.find_dir(root, SUBDIRS, candidates)
    if folder is None:
        if not download:
            looked = ", ".join(str(root / sub) for sub in SUBDIRS)
            raise DataError(
                f"MNIST {part} files {stems[0]}[.gz] not found under {root} (looked in {looked});"
                " pass download=True to fetch them"
            )
        folder = root / DOWNLOAD_SUBDIR
    paths = []
    for stem in stems:
        path = _pick(folder, stem)
        if path is None:
            if not download:
                raise DataError(f"MNIST file {folder / stem}[.gz] is missing")
            path = folder / f"{stem}.gz"
            _files.download(URL + path.name, path, MD5[path.name])
        paths.append(path)
    return paths[0], paths[1]


def load_mnist(
    root: Path, part: str, *, download: bool = False
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
    """Load the MNIST training or test part.

    Args:
        root: the data directory.
        part: ``"train"`` (60,000) or ``"test"`` (10,000).
        download: fetch the missing files into ``root/mnist`` when they are not found.

    Returns:
        ``(x, y)``: uint8 images (N, 1, 28, 28) and int64 labels (N,).

    Raises:
        DataError: when files are missing or corrupt.
    """
    images_path, labels_path = _locate(root, part, download)
    for path in (images_path, labels_path):
        _local.check_md5(path, MD5.get(path.name))
    images = read_idx(images_path, IMAGE_MAGIC)
    labels = read_idx(labels_path, LABEL_MAGIC)
    if images.shape[1:] != (ROWS, COLS):
        raise DataError(f"MNIST images in {images_path} are {images.shape[1:]}, expected (28, 28)")
    if len(images) != len(labels):
        raise DataError(
            f"count mismatch: {images_path} has {len(images)} images"
            f" but {labels_path} has {len(labels)} labels"
        )
    if labels.size and int(labels.max()) >= NUM_CLASSES:
        raise DataError(f"label {int(labels.max())} out of range 0..9 in {labels_path}")
    log.debug("loaded MNIST %s: %d images from %s", part, len(images), images_path.parent)
    return images.reshape(-1, 1, ROWS, COLS), labels.astype(np.int64)


def load(
    part: str, root: Path | None, download: bool
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
    """``INFO.loader``: ``load_mnist`` from the data directory ``root`` (which must be set)."""
    return load_mnist(_local.require_root("mnist", root, download), part, download=download)


INFO = DatasetInfo(
    name="mnist",
    shape=(1, ROWS, COLS),
    num_classes=NUM_CLASSES,
    mean=(0.1307,),
    std=(0.3081,),
    classes=tuple(str(d) for d in range(NUM_CLASSES)),
    eps=(0.3, 2.0),
    val_size=5000,
    max_value=255,
    loader=load,
    # The authors' iteration counts (train_protocol.md: --iter for IFGSM, --iter_df for
    # DeepFool, the default --iter_tr for Trust Region).
    paper_steps={"ifgsm": 40, "deepfool": 40, "tr": 40},
    paper_jumps=(0.0, 0.5, 1.0, 1.5),  # the jump grid of the authors' attack commands
    # The paper's LeNet: lr 0.02, x0.2 after epochs 30/60/80 of 90, batch 128, weight decay
    # 5e-4; adversarial: FGSM on 30% of each batch, eps 0.3 (normalised units).
    recipe=TrainRecipe(
        settings={"epochs": 90, "lr": 0.02, "milestones": (30, 60, 80), "gamma": 0.2},
        adv_ratio=0.3,
        adv_eps=0.3,
    ),
)
