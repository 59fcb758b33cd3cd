"""The CIFAR-10 file formats: python pickle batches, binary batches and npz files.

Each reader returns ``(x, y)``: uint8 images (N, 3, 32, 32) and int64 labels. Pickles are read
with a restricted unpickler that only builds numpy arrays. Where the files are and their md5
checks are ``cifar10``'s business.
"""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from jumprelu.datasets import _local
from jumprelu.errors import DataError

__all__ = [
    "CLASSES",
    "RECORD",
    "Arrays",
    "has_xy",
    "read_bin_batch",
    "read_npz",
    "read_pickle_batch",
]

CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)  # fmt: skip
#: Bytes per record of a binary batch: a label, then a 3x32x32 image (CHW).
RECORD = 1 + 3 * 32 * 32

Arrays = tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]

# The only globals a pickled numpy array needs (protocols 2-4: _reconstruct; 5: _frombuffer).
_RECONSTRUCT: Any = np.empty(0).__reduce__()[0]
_FROMBUFFER: Any = np.empty(1).__reduce_ex__(5)[0]
_ALLOWED: dict[tuple[str, str], Any] = {
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy.core.numeric", "_frombuffer"): _FROMBUFFER,
    ("numpy._core.numeric", "_frombuffer"): _FROMBUFFER,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}


class _SafeUnpickler(pickle.Unpickler):
    """Unpickler that resolves only the numpy array globals; everything else is refused."""

    def __init__(self, file: Any, path: Path) -> None:
        super().__init__(file, encoding="latin1")
        self._path = path

    def find_class(self, module: str, name: str) -> Any:
        found = _ALLOWED.get((module, name))
        if found is None:
            raise DataError(f"refusing to unpickle global {module}.{name} in {self._path}")
        return found


def _check(x: npt.NDArray[Any], y: npt.NDArray[Any], path: Path) -> Arrays:
    if x.dtype != np.uint8:
        raise DataError(f"CIFAR-10 images in {path} have dtype {x.dtype}, expected uint8")
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise DataError(f"CIFAR-10 labels in {path} must be a 1-d integer array, got {y.dtype}")
    if len(x) != len(y):
        raise DataError(f"count mismatch in {path}: {len(x)} images but {len(y)} labels")
    if y.size and (int(y.min()) < 0 or int(y.max()) >= len(CLASSES)):
        raise DataError(f"CIFAR-10 label out of range 0..9 in {path}")
    return x, y.astype(np.int64)


def read_pickle_batch(path: Path) -> Arrays:
    """Read one python batch (a pickled dict with ``data`` (N, 3072) uint8 and ``labels``).

    Args:
        path: the batch file.

    Returns:
        ``(x, y)``: uint8 images (N, 3, 32, 32) and int64 labels.

    Raises:
        DataError: when the file is unreadable, not such a dict, or pickles any other global.
    """
    try:
        with path.open("rb") as fh:
            obj = _SafeUnpickler(fh, path).load()
    except DataError:
        raise
    except Exception as exc:  # a corrupt pickle can raise almost anything
        raise DataError(f"corrupt CIFAR-10 batch {path}: {type(exc).__name__}: {exc}") from exc
    if not isinstance(obj, dict):
        raise DataError(f"CIFAR-10 batch {path} holds a {type(obj).__name__}, expected a dict")
    batch = {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in obj.items()}
    if "data" not in batch or "labels" not in batch:
        raise DataError(f"CIFAR-10 batch {path} lacks 'data' or 'labels'")
    data = batch["data"]
    if not isinstance(data, np.ndarray) or data.ndim != 2 or data.shape[1] != RECORD - 1:
        raise DataError(f"CIFAR-10 batch {path}: 'data' is not an (N, 3072) array")
    try:
        labels = np.asarray(batch["labels"], dtype=np.int64)
    except (TypeError, ValueError) as exc:
        raise DataError(f"CIFAR-10 batch {path}: bad 'labels': {exc}") from exc
    x, y = _check(data, labels, path)
    return x.reshape(-1, 3, 32, 32), y


def read_bin_batch(path: Path) -> Arrays:
    """Read one binary batch: records of 1 label byte + 3072 image bytes (CHW).

    Args:
        path: the ``.bin`` file.

    Returns:
        ``(x, y)``: uint8 images (N, 3, 32, 32) and int64 labels.

    Raises:
        DataError: when the size is not a positive multiple of 3073 or a label is out of range.
    """
    raw = _local.read_bytes(path)
    if not raw or len(raw) % RECORD:
        raise DataError(f"CIFAR-10 binary batch {path}: {len(raw)} bytes, not a multiple of 3073")
    records = np.frombuffer(raw, dtype=np.uint8).reshape(-1, RECORD)
    return _check(records[:, 1:].reshape(-1, 3, 32, 32), records[:, 0], path)


def read_npz(path: Path) -> Arrays:
    """Read an npz with uint8 ``x`` (N, 32, 32, 3) (HWC) and integer ``y`` (N,).

    Args:
        path: the ``.npz`` file (loaded with ``allow_pickle=False``).

    Returns:
        ``(x, y)``: uint8 images (N, 3, 32, 32) and int64 labels.

    Raises:
        DataError: when the file is unreadable or the arrays have the wrong shape or dtype.
    """
    try:
        with np.load(path, allow_pickle=False) as npz:
            x, y = npz["x"], npz["y"]
    except KeyError as exc:
        raise DataError(f"npz file {path} lacks array {exc}") from exc
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(f"cannot read npz file {path}: {exc}") from exc
    if x.ndim != 4 or x.shape[1:] != (32, 32, 3):
        raise DataError(f"npz file {path}: x has shape {x.shape}, expected (N, 32, 32, 3)")
    x, y = _check(x, y, path)
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2)), y


def has_xy(path: Path) -> bool:
    """Whether an npz file holds arrays ``x`` and ``y`` (other npz files are skipped)."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {"x", "y"} <= set(npz.files)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(f"cannot read npz file {path}: {exc}") from exc
