"""CIFAR-10 from python pickle batches, binary batches or npz files.

Looked for under ``DIR/``, ``DIR/cifar10/``, ``DIR/cifar-10-batches-py/`` and
``DIR/cifar-10-batches-bin/``; in each, python batches are tried first, then ``.bin`` batches,
then npz files. Pickles are read with a restricted unpickler that only builds numpy arrays.
"""

from __future__ import annotations

import logging
import pickle
import re
import shutil
import tarfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from jumprelu.datasets import _files
from jumprelu.errors import DataError

__all__ = ["CLASSES", "MD5", "SUBDIRS", "URL", "load_cifar10"]

log = logging.getLogger(__name__)

CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)  # fmt: skip
SUBDIRS: tuple[str, ...] = ("", "cifar10", "cifar-10-batches-py", "cifar-10-batches-bin")
URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
TAR_MD5 = "c58f30108f718f92721af3b95e74349a"
TAR_DIR = "cifar-10-batches-py"
BATCHES: dict[str, tuple[str, ...]] = {
    "train": tuple(f"data_batch_{i}" for i in range(1, 6)),
    "test": ("test_batch",),
}
RECORD = 1 + 3 * 32 * 32

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
    _files.check_md5(path, MD5.get(path.name))
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
    raw = _files.read_bytes(path)
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
    _files.check_md5(path, MD5.get(path.name))
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


def _has_xy(path: Path) -> bool:
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {"x", "y"} <= set(npz.files)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(f"cannot read npz file {path}: {exc}") from exc


def _natural(path: Path) -> list[Any]:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", path.name)]


def _concat(parts: list[Arrays]) -> Arrays:
    if len(parts) == 1:
        return parts[0]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def _require(folder: Path, names: tuple[str, ...]) -> list[Path]:
    for name in names:
        if not (folder / name).is_file():
            raise DataError(f"CIFAR-10 file {folder / name} is missing")
    return [folder / name for name in names]


def _load_from(folder: Path, part: str) -> Arrays | None:
    names = BATCHES[part]
    if any((folder / n).is_file() for n in names):
        return _concat([read_pickle_batch(p) for p in _require(folder, names)])
    bins = tuple(f"{n}.bin" for n in names)
    if any((folder / n).is_file() for n in bins):
        return _concat([read_bin_batch(p) for p in _require(folder, bins)])
    npz = sorted(folder.glob(f"{part}*.npz"), key=_natural)
    if part == "test":
        npz = [p for p in npz if _has_xy(p)]
    if npz:
        return _concat([read_npz(p) for p in npz])
    return None


def _download(root: Path) -> Path:
    tar_path = root / URL.rsplit("/", 1)[1]
    if not (tar_path.is_file() and _files.md5_file(tar_path) == TAR_MD5):
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
