"""A user's own data: an npz file of images and labels, or an image folder (one per class).

``--data npz:PATH``: arrays ``x`` (uint8 (N, H, W, C) with C 1 or 3, or (N, H, W), in 0..255;
or float (N, C, H, W) in [0, 1]) and ``y`` (integer labels in [0, ``MAX_CLASSES``), shape
(N,)), at least one example. A uint8 array is never read channels-first: save (N, C, H, W)
images as float in [0, 1]. ``--data folder:DIR``: one
sub-folder of images per class (the ImageNet layout), classes in sorted order; images are read
with matplotlib (PNG natively; JPEG and others through Pillow, which matplotlib requires), all
of one size and channel count; an alpha channel is dropped.
"""

from __future__ import annotations

import logging
import zipfile
from pathlib import Path

import numpy as np
import numpy.typing as npt

from jumprelu.errors import ConfigError, DataError

__all__ = ["IMAGE_SUFFIXES", "KINDS", "MAX_CLASSES", "parse_spec", "read_folder", "read_npz"]

log = logging.getLogger(__name__)

KINDS = ("npz", "folder")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
#: Most classes a user's data may have (labels below it), the bound of
#: ``jumprelu.models.checkpoint_meta.MAX_CLASSES`` (not imported: models import datasets).
MAX_CLASSES = 100_000

Images = npt.NDArray[np.float32]
Labels = npt.NDArray[np.int64]


def parse_spec(spec: str) -> tuple[str, Path]:
    """Split ``npz:PATH`` or ``folder:DIR`` into its kind and path.

    Raises:
        ConfigError: for another form.
    """
    kind, sep, rest = spec.partition(":")
    if not sep or kind not in KINDS or not rest:
        raise ConfigError(f"--data expects npz:PATH or folder:DIR, got {spec!r}")
    return kind, Path(rest).expanduser()


def _labels(y: npt.NDArray[np.generic], n: int, where: str) -> Labels:
    if y.ndim != 1 or len(y) != n:
        raise DataError(f"{where}: y must have shape ({n},), got {y.shape}")
    if not np.issubdtype(y.dtype, np.integer):
        raise DataError(f"{where}: y must hold integer labels, got {y.dtype}")
    if n:  # compared in y's own dtype (int() is exact): a uint64 must not wrap in int64
        low, high = int(y.min()), int(y.max())
        if low < 0:
            raise DataError(f"{where}: labels must be >= 0, got {low}")
        if high >= MAX_CLASSES:
            raise DataError(
                f"{where}: labels must be below {MAX_CLASSES} (the most classes supported), "
                f"got {high}"
            )
    return y.astype(np.int64)


def read_npz(path: Path) -> tuple[Images, Labels]:
    """Read images and labels from an npz file (formats in the module docstring).

    Returns:
        float32 images (N, C, H, W) in [0, 1] and int64 labels (N,).

    Raises:
        DataError: a missing or unreadable file, missing arrays, or wrong shapes or values.
    """
    if path.is_file() and not zipfile.is_zipfile(path):  # np.load would try it as a pickle
        raise DataError(f"{path} is not an npz file (not a zip archive of arrays)")
    try:
        with np.load(path, allow_pickle=False) as npz:
            if "x" not in npz.files or "y" not in npz.files:
                raise DataError(f"{path} must hold arrays 'x' and 'y', found {npz.files}")
            x, y = npz["x"], npz["y"]
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(f"cannot read npz file {path}: {exc}") from exc
    if x.ndim and x.shape[0] == 0:
        raise DataError(f"{path} holds no examples (x has shape {x.shape})")
    if 0 in x.shape:
        raise DataError(f"{path}: images must have at least one pixel, got x of shape {x.shape}")
    if x.dtype == np.uint8 and (x.ndim == 3 or (x.ndim == 4 and x.shape[3] in (1, 3))):
        images = (x[..., None] if x.ndim == 3 else x).transpose(0, 3, 1, 2) / np.float32(255)
    elif x.dtype == np.uint8 and x.ndim == 4:
        raise DataError(
            f"{path}: uint8 x must be (N, H, W) or (N, H, W, C) with C 1 or 3, got {x.shape}; "
            "save channels-first (N, C, H, W) images as float in [0, 1]"
        )
    elif np.issubdtype(x.dtype, np.floating) and x.ndim == 4:
        images = x.astype(np.float32)
        if not (np.isfinite(images).all() and images.min() >= 0 and images.max() <= 1):
            raise DataError(f"{path}: float x must be finite and in [0, 1]")
    else:
        raise DataError(
            f"{path}: x must be uint8 (N,H,W,C) or (N,H,W), or float (N,C,H,W) in [0, 1]; "
            f"got {x.dtype} {x.shape}"
        )
    return np.ascontiguousarray(images, dtype=np.float32), _labels(y, len(images), str(path))


def _read_image(path: Path) -> npt.NDArray[np.float32]:
    import matplotlib.image as mpimg

    try:
        img = np.asarray(mpimg.imread(path))
    except Exception as exc:  # matplotlib/Pillow raise many kinds for a bad file
        raise DataError(f"cannot read image {path}: {exc}") from exc
    scale = np.float32(255 if img.dtype == np.uint8 else 1)
    scaled = (img / scale).astype(np.float32)
    if scaled.ndim == 2:
        scaled = scaled[..., None]
    if scaled.ndim != 3 or scaled.shape[2] not in (1, 2, 3, 4):
        raise DataError(f"image {path} has an unsupported shape {img.shape}")
    if scaled.shape[2] in (2, 4):  # drop alpha
        scaled = scaled[..., :-1]
    return scaled.transpose(2, 0, 1)


def read_folder(root: Path) -> tuple[Images, Labels, tuple[str, ...]]:
    """Read an image folder: one sub-folder per class, classes in sorted order.

    Returns:
        float32 images (N, C, H, W) in [0, 1], int64 labels (N,) and the class names.

    Raises:
        DataError: a missing folder, no class folders or images, unreadable images, or
            images of different sizes.
    """
    if root.exists() and not root.is_dir():
        raise DataError(f"image folder {root} is not a directory")
    if not root.is_dir():
        raise DataError(f"image folder {root} does not exist")
    classes = tuple(sorted(d.name for d in root.iterdir() if d.is_dir()))
    if not classes:
        raise DataError(f"{root} holds no class sub-folders (one folder of images per class)")
    images, labels = [], []
    for label, name in enumerate(classes):
        for file in sorted((root / name).iterdir()):
            if file.suffix.lower() in IMAGE_SUFFIXES:
                images.append(_read_image(file))
                labels.append(label)
    if not images:
        raise DataError(f"{root}: no images ({', '.join(IMAGE_SUFFIXES)}) in its class folders")
    shapes = sorted({tuple(i.shape) for i in images})
    if len(shapes) > 1:
        raise DataError(f"{root}: images differ in size or channels: {shapes[:4]}")
    log.info("%s: %d images, %d classes", root, len(images), len(classes))
    return np.stack(images), np.asarray(labels, dtype=np.int64), classes
