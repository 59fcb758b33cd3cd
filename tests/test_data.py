"""Tests of jumprelu.datasets.core: tiny files in the real formats, bad input, splits, real data."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import os
import pickle
import struct
import tarfile
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
import torch

from jumprelu.datasets import _files, cifar10, custom, digits, mnist
from jumprelu.datasets.core import (
    DATASETS,
    ENV_VAR,
    Split,
    load_data_spec,
    load_split,
    resolve_data_dir,
)
from jumprelu.errors import ConfigError, DataError
from jumprelu.evaluation.config import EvalConfig
from jumprelu.evaluation.protocol import attack_settings, budgets
from jumprelu.models.checkpoint_meta import MAX_CLASSES
from jumprelu.training.config import TrainConfig

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
U8 = np.uint8


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()


def _names(info: pytest.ExceptionInfo[Exception], needle: str) -> None:
    """The error message is one line and names the file or directory."""
    message = str(info.value)
    assert needle in message and "\n" not in message, message


def _as_float(x: np.ndarray, scale: float = 255.0) -> torch.Tensor:
    return torch.from_numpy(x.astype(np.float32)).div_(scale)


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test may touch the network, and none depends on the caller's $JUMPRELU_DATA."""

    def refuse(url: str, dest: Path) -> None:
        raise AssertionError(f"network access attempted: {url}")

    monkeypatch.setattr(_files, "fetch_url", refuse)
    monkeypatch.delenv(ENV_VAR, raising=False)


# ---------------------------------------------------------------- MNIST (IDX)


def _idx_bytes(arr: np.ndarray, magic: int) -> bytes:
    return struct.pack(f">I{arr.ndim}I", magic, *arr.shape) + arr.astype(U8).tobytes()


def _mnist_arrays(n: int, test: bool, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Random images; pixel (0, 0) is the index and (0, 1) marks test images (255)."""
    rng = np.random.default_rng(seed + int(test))
    x = rng.integers(0, 256, size=(n, 28, 28), dtype=U8)
    x[:, 0, 0] = np.arange(n)
    x[:, 0, 1] = 255 if test else 0
    return x, rng.integers(0, 10, size=n).astype(U8)


def _write_mnist(
    folder: Path, gz: bool = True, n_train: int = 40, n_test: int = 12
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for part, n in (("train", n_train), ("test", n_test)):
        x, y = _mnist_arrays(n, part == "test")
        for stem, arr, magic in zip(mnist.FILES[part], (x, y), (0x803, 0x801), strict=True):
            data = _idx_bytes(arr, magic)
            if gz:
                (folder / f"{stem}.gz").write_bytes(gzip.compress(data, mtime=0))
            else:
                (folder / stem).write_bytes(data)
        out[part] = (x, y)
    return out


@pytest.fixture
def trust_written(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Register the md5 of tiny files written under canonical names (as if they were real)."""

    def register(module: Any, folder: Path) -> None:
        table = dict(module.MD5)
        for path in folder.iterdir():
            if path.name in table:
                table[path.name] = _md5(path)
        monkeypatch.setattr(module, "MD5", table)

    return register


@pytest.mark.parametrize("sub", ["", "mnist", "MNIST/raw"])
def test_mnist_gz_locations_roundtrip(tmp_path: Path, sub: str, trust_written: Any) -> None:
    written = _write_mnist(tmp_path / sub)
    trust_written(mnist, tmp_path / sub)
    test = load_split("mnist", "test", data_dir=tmp_path)
    x, y = written["test"]
    assert test.x.dtype == torch.float32 and test.y.dtype == torch.int64
    assert test.x.shape == (12, 1, 28, 28) and test.split == "test"
    assert torch.equal(test.x, _as_float(x[:, None]))
    assert torch.equal(test.y, torch.from_numpy(y.astype(np.int64)))
    assert test.x.min() >= 0.0 and test.x.max() <= 1.0
    train = load_split("mnist", "train", data_dir=str(tmp_path), val_size=0)
    assert torch.equal(train.x, _as_float(written["train"][0][:, None]))


def test_mnist_uncompressed_and_env_var(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    written = _write_mnist(tmp_path / "MNIST" / "raw", gz=False)
    monkeypatch.setenv(ENV_VAR, str(tmp_path))
    test = load_split("mnist")  # default split is test, directory from the environment
    assert torch.equal(test.x, _as_float(written["test"][0][:, None]))
    assert test.info is DATASETS["mnist"]


def _corrupt(tmp_path: Path, stem: str, data: bytes) -> Path:
    _write_mnist(tmp_path, gz=False)
    path = tmp_path / stem
    path.write_bytes(data)
    return path


def test_mnist_wrong_magic(tmp_path: Path) -> None:
    x, _ = _mnist_arrays(12, True)
    path = _corrupt(tmp_path, "t10k-images-idx3-ubyte", _idx_bytes(x, 0x801)[:4] + b"\0" * 16)
    with pytest.raises(DataError, match="magic") as info:
        load_split("mnist", data_dir=tmp_path)
    _names(info, str(path))


def test_mnist_truncated_payload(tmp_path: Path) -> None:
    x, _ = _mnist_arrays(12, True)
    path = _corrupt(tmp_path, "t10k-images-idx3-ubyte", _idx_bytes(x, 0x803)[:-1])
    with pytest.raises(DataError, match="truncated") as info:
        load_split("mnist", data_dir=tmp_path)
    _names(info, str(path))


def test_mnist_truncated_gzip(tmp_path: Path, trust_written: Any) -> None:
    _write_mnist(tmp_path)
    path = tmp_path / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-8])
    trust_written(mnist, tmp_path)
    with pytest.raises(DataError, match="gzip") as info:
        load_split("mnist", data_dir=tmp_path)
    _names(info, str(path))


def test_mnist_count_mismatch(tmp_path: Path) -> None:
    path = _corrupt(tmp_path, "t10k-labels-idx1-ubyte", _idx_bytes(np.zeros(11, U8), 0x801))
    with pytest.raises(DataError, match="count mismatch") as info:
        load_split("mnist", data_dir=tmp_path)
    _names(info, str(path))


def test_mnist_md5_mismatch_for_canonical_name(tmp_path: Path) -> None:
    _write_mnist(tmp_path)  # tiny files under the canonical .gz names, md5 not registered
    with pytest.raises(DataError, match="md5 mismatch") as info:
        load_split("mnist", data_dir=tmp_path)
    _names(info, "t10k-images-idx3-ubyte.gz")


def test_missing_files_and_directories(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not found") as info:
        load_split("mnist", data_dir=tmp_path)
    _names(info, str(tmp_path))
    with pytest.raises(DataError, match="not found") as info:
        load_split("cifar10", "train", data_dir=tmp_path)
    _names(info, str(tmp_path))
    with pytest.raises(DataError, match="does not exist"):
        load_split("mnist", data_dir=tmp_path / "nope")
    with pytest.raises(DataError, match=ENV_VAR):
        load_split("cifar10")
    _write_mnist(tmp_path / "half", gz=False)
    (tmp_path / "half" / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte"):
        load_split("mnist", data_dir=tmp_path / "half")


# ---------------------------------------------------------------- CIFAR-10


class _Py2Pickler(pickle._Pickler):
    """Writes bytes as Python 2 ``str`` opcodes, like the original CIFAR-10 batches."""

    dispatch: ClassVar[dict[type, Any]] = dict(pickle._Pickler.dispatch)

    def save_bytes(self, obj: bytes) -> None:
        n = len(obj)
        head = pickle.SHORT_BINSTRING + bytes([n]) if n < 256 else pickle.BINSTRING
        self.write(head + (b"" if n < 256 else struct.pack("<i", n)) + obj)  # type: ignore[attr-defined]
        self.memoize(obj)  # type: ignore[attr-defined]

    dispatch[bytes] = save_bytes


def _py2_pickle(obj: object) -> bytes:
    buf = io.BytesIO()
    _Py2Pickler(buf, protocol=2).dump(obj)
    return buf.getvalue().replace(b"numpy._core.multiarray\n", b"numpy.core.multiarray\n")


def _cifar_arrays(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 3, 32, 32), dtype=U8), rng.integers(0, 10, n).astype(U8)


def _cifar_parts(sizes: tuple[int, ...] = (4, 3, 4, 2, 3), n_test: int = 5) -> list[Any]:
    return [_cifar_arrays(n, i) for i, n in enumerate((*sizes, n_test))]


def _expect(parts: list[Any]) -> tuple[torch.Tensor, torch.Tensor]:
    x = np.concatenate([p[0] for p in parts])
    return _as_float(x), torch.from_numpy(np.concatenate([p[1] for p in parts]).astype(np.int64))


def _write_pickles(folder: Path, parts: list[Any], py2: bool = True) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, (x, y) in zip((*cifar10.BATCHES["train"], "test_batch"), parts, strict=True):
        batch = {
            b"batch_label": name.encode(),
            b"labels": [int(v) for v in y],
            b"data": x.reshape(len(x), 3072),
            b"filenames": [f"img_{i}.png".encode() for i in range(len(x))],
        }
        data = _py2_pickle(batch) if py2 else pickle.dumps(batch, protocol=5)
        (folder / name).write_bytes(data)


@pytest.mark.parametrize("py2", [True, False])
def test_cifar_pickle_batches(tmp_path: Path, trust_written: Any, py2: bool) -> None:
    parts = _cifar_parts()
    folder = tmp_path / "cifar-10-batches-py"
    _write_pickles(folder, parts, py2=py2)
    trust_written(cifar10, folder)
    train = load_split("cifar10", "train", data_dir=tmp_path, val_size=0)
    test = load_split("cifar10", "test", data_dir=tmp_path)
    assert train.x.shape == (16, 3, 32, 32) and test.x.shape == (5, 3, 32, 32)
    assert torch.equal(train.x, _expect(parts[:5])[0]) and torch.equal(
        train.y, _expect(parts[:5])[1]
    )
    assert torch.equal(test.x, _expect(parts[5:])[0]) and torch.equal(test.y, _expect(parts[5:])[1])


def test_cifar_pickle_md5_mismatch_for_canonical_name(tmp_path: Path) -> None:
    _write_pickles(tmp_path / "cifar10", _cifar_parts())
    with pytest.raises(DataError, match="md5 mismatch") as info:
        load_split("cifar10", "test", data_dir=tmp_path)
    _names(info, str(tmp_path / "cifar10" / "test_batch"))


class _Evil:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch {self.marker}",))


def test_cifar_evil_pickle_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cifar10, "MD5", {})
    marker = tmp_path / "pwned"
    path = tmp_path / "test_batch"
    path.write_bytes(pickle.dumps({"data": _Evil(marker), "labels": [0]}, protocol=2))
    with pytest.raises(DataError, match="refusing to unpickle") as info:
        load_split("cifar10", "test", data_dir=tmp_path)
    _names(info, str(path))
    assert "system" in str(info.value)
    assert not marker.exists()


def test_cifar_corrupt_pickle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cifar10, "MD5", {})
    _write_pickles(tmp_path, _cifar_parts())
    path = tmp_path / "test_batch"
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(DataError, match="corrupt") as info:
        load_split("cifar10", "test", data_dir=tmp_path)
    _names(info, str(path))


def _write_bins(folder: Path, parts: list[Any]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, (x, y) in zip((*cifar10.BATCHES["train"], "test_batch"), parts, strict=True):
        records = np.concatenate([y[:, None], x.reshape(len(x), 3072)], axis=1)
        (folder / f"{name}.bin").write_bytes(records.tobytes())


def test_cifar_binary_batches(tmp_path: Path) -> None:
    parts = _cifar_parts()
    _write_bins(tmp_path / "cifar-10-batches-bin", parts)
    train = load_split("cifar10", "train", data_dir=tmp_path, val_size=0)
    test = load_split("cifar10", "test", data_dir=tmp_path)
    assert torch.equal(train.x, _expect(parts[:5])[0]) and torch.equal(
        train.y, _expect(parts[:5])[1]
    )
    assert torch.equal(test.x, _expect(parts[5:])[0]) and torch.equal(test.y, _expect(parts[5:])[1])
    path = tmp_path / "cifar-10-batches-bin" / "test_batch.bin"
    path.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(DataError, match="multiple of 3073") as info:
        load_split("cifar10", "test", data_dir=tmp_path)
    _names(info, str(path))


def _npz(path: Path, x: np.ndarray, y: np.ndarray) -> None:
    np.savez_compressed(path, x=x.transpose(0, 2, 3, 1), y=y)


def test_cifar_npz(tmp_path: Path) -> None:
    parts = _cifar_parts(sizes=(3, 4, 2), n_test=4)
    for name, (x, y) in zip(("train_b2", "train_b10", "train_a"), parts[:3], strict=True):
        _npz(tmp_path / f"{name}.npz", x, y)
    _npz(tmp_path / "test_small.npz", *parts[3])
    np.savez(tmp_path / "test_only_labels.npz", y=np.arange(10, dtype=U8))  # ignored
    train = load_split("cifar10", "train", data_dir=tmp_path, val_size=0)
    order = [parts[2], parts[0], parts[1]]  # train_a, train_b2, train_b10 (natural order)
    assert torch.equal(train.x, _expect(order)[0]) and torch.equal(train.y, _expect(order)[1])
    test = load_split("cifar10", "test", data_dir=tmp_path)
    assert torch.equal(test.x, _expect(parts[3:])[0]) and torch.equal(test.y, _expect(parts[3:])[1])
    np.savez(tmp_path / "train_c.npz", y=np.zeros(3, dtype=U8))
    with pytest.raises(DataError, match="lacks") as info:
        load_split("cifar10", "train", data_dir=tmp_path, val_size=0)
    _names(info, "train_c.npz")


# ---------------------------------------------------------------- splits and arguments


def _ids(split: Split) -> set[int]:
    return set((split.x[:, 0, 0, 0] * 255).round().long().tolist())


def test_train_val_disjoint_and_cover_training_set(tmp_path: Path) -> None:
    _write_mnist(tmp_path, gz=False, n_train=200, n_test=30)
    train = load_split("mnist", "train", data_dir=tmp_path, val_size=50, seed=3)
    val = load_split("mnist", "val", data_dir=tmp_path, val_size=50, seed=3)
    assert (len(train), len(val)) == (150, 50)
    assert _ids(train).isdisjoint(_ids(val)) and _ids(train) | _ids(val) == set(range(200))
    assert (val.x[:, 0, 0, 1] == 0).all() and (train.x[:, 0, 0, 1] == 0).all()  # not test
    again = load_split("mnist", "val", data_dir=tmp_path, val_size=50, seed=3)
    assert torch.equal(again.x, val.x) and torch.equal(again.y, val.y)
    other = load_split("mnist", "val", data_dir=tmp_path, val_size=50, seed=4)
    assert _ids(other) != _ids(val)
    frac = load_split("mnist", "val", data_dir=tmp_path, val_size=0.1, seed=3)
    assert len(frac) == 20


@pytest.mark.parametrize("bad", [-1, 200, 500, 1.0, -0.1, float("nan"), True, "5"])
def test_bad_val_size(tmp_path: Path, bad: Any) -> None:
    _write_mnist(tmp_path, gz=False, n_train=200)
    with pytest.raises(ConfigError, match="val_size"):
        load_split("mnist", "train", data_dir=tmp_path, val_size=bad)


def test_unknown_names_and_empty_val() -> None:
    with pytest.raises(ConfigError, match="unknown dataset 'imagenet'"):
        load_split("imagenet")
    with pytest.raises(ConfigError, match="unknown split"):
        load_split("digits", "validation")
    with pytest.raises(ConfigError, match="empty val"):
        load_split("digits", "val", val_size=0)


def test_every_registered_dataset_carries_its_facts() -> None:
    """What code needs about a dataset is on its record (never decided by its name)."""
    for name, info in DATASETS.items():
        assert info.name == name and info.loader is not None, name
        assert info.eps is not None and all(e > 0 for e in info.eps), name
        assert info.val_size > 0 and info.max_value > 0, name
        assert set(info.paper_steps) == {"ifgsm", "deepfool", "tr"}, name
        assert info.recipe is not None and 0 < info.recipe.adv_ratio <= 1, name
        assert TrainConfig(**info.recipe.settings).epochs >= 1, name
    assert DATASETS["digits"].max_value == digits.MAX_VALUE
    for bad in ("nope", "custom"):
        with pytest.raises(ConfigError, match=f"unknown dataset '{bad}'"):
            load_split(bad)


def test_user_data_without_budgets_needs_eps() -> None:
    """The user's data has no default budgets: a budget attack without --eps is an error."""
    base = {"dataset": "custom", "data": "npz:x.npz", "jumps": [0.0], "attacks": ["fgsm"]}
    with pytest.raises(ConfigError, match="'custom' has no default budgets: give --eps") as info:
        EvalConfig(**base, threats=["white"])
    _names(info, "--eps")
    config = EvalConfig(**base, threats=["white"], eps=0.1)  # an L-inf budget is all fgsm needs
    assert dict(budgets(config, std=1.0)) == {"linf": (0.1, 0.1)}
    with pytest.raises(ConfigError, match="give --eps-l2"):
        budgets(config, std=1.0)["l2"]
    # no paper iteration counts either: the attack's own default
    paper = dataclasses.replace(config, protocol="paper")
    assert "steps" not in attack_settings("deepfool-l2", paper, std=1.0)


def test_take_and_resolve_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    test = load_split("digits", "test")
    head = test.take(10)
    assert isinstance(head, Split) and len(head) == 10 and torch.equal(head.x, test.x[:10])
    assert len(test.take(len(test))) == len(test)
    with pytest.raises(ConfigError, match="cannot take"):
        test.take(len(test) + 1)
    assert resolve_data_dir(None) is None
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "env"))
    assert resolve_data_dir(None) == tmp_path / "env"
    assert resolve_data_dir(tmp_path / "arg") == tmp_path / "arg"
    assert resolve_data_dir(str(tmp_path)) == tmp_path


# ---------------------------------------------------------------- digits (embedded)


def test_digits_offline() -> None:
    train, val, test = (
        load_split("digits", s, data_dir="/nonexistent") for s in ("train", "val", "test")
    )
    assert (len(train), len(val), len(test)) == (1150, 288, 359)
    for s in (train, val, test):
        assert s.x.shape[1:] == (1, 8, 8) and s.x.dtype == torch.float32
        assert s.y.dtype == torch.int64 and s.y.min() >= 0 and s.y.max() <= 9
        assert s.x.min() >= 0.0 and s.x.max() <= 1.0
        assert torch.equal(s.x * 16, (s.x * 16).round())
    assert set(torch.cat([train.y, val.y, test.y]).tolist()) == set(range(10))
    assert torch.equal(load_split("digits", "test", seed=7).x, test.x)  # test never moves
    assert digits.fixed_test_indices()[:5].tolist() == [6, 7, 11, 24, 28]  # pinned forever
    part = torch.cat([train.x, val.x])
    info = DATASETS["digits"]
    assert part.mean().item() == pytest.approx(info.mean[0], abs=1e-4)
    assert part.std(unbiased=False).item() == pytest.approx(info.std[0], abs=1e-4)
    assert info.shape == (1, 8, 8) and info.classes == tuple("0123456789")


# ---------------------------------------------------------------- download (network mocked)


def test_mnist_download_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = tmp_path / "source"
    _write_mnist(source)
    monkeypatch.setattr(mnist, "MD5", {p.name: _md5(p) for p in source.iterdir()})
    urls: list[str] = []

    def fetch(url: str, dest: Path) -> None:
        urls.append(url)
        dest.write_bytes((source / url.rsplit("/", 1)[1]).read_bytes())

    monkeypatch.setattr(_files, "fetch_url", fetch)
    root = tmp_path / "data"
    test = load_split("mnist", data_dir=root, download=True)
    assert len(test) == 12 and urls[0] == mnist.URL + "t10k-images-idx3-ubyte.gz"
    assert sorted(p.name for p in (root / "mnist").iterdir()) == sorted(
        f"{s}.gz" for s in mnist.FILES["test"]
    )
    load_split("mnist", data_dir=root, download=True)
    assert len(urls) == 2  # present files are never fetched again
    monkeypatch.setitem(mnist.MD5, "train-images-idx3-ubyte.gz", "0" * 32)
    with pytest.raises(DataError, match="md5 mismatch"):
        load_split("mnist", "train", data_dir=root, download=True, val_size=1)
    assert not (root / "mnist" / "train-images-idx3-ubyte.gz").exists()
    assert not [p for p in (root / "mnist").iterdir() if p.name.endswith(".part")]


def test_cifar_download_extracts_only_expected_members(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parts = _cifar_parts()
    staging = tmp_path / "staging" / "cifar-10-batches-py"
    _write_pickles(staging, parts)
    (staging / "batches.meta").write_bytes(_py2_pickle({b"label_names": []}))
    tar_path = tmp_path / "cifar.tar.gz"
    with tarfile.open(tar_path, "w:gz") as tar:
        tar.add(staging, arcname="cifar-10-batches-py")
        evil = tarfile.TarInfo("../escaped")
        evil.size = 1
        tar.addfile(evil, io.BytesIO(b"x"))
    monkeypatch.setattr(cifar10, "TAR_MD5", _md5(tar_path))
    monkeypatch.setattr(cifar10, "MD5", {p.name: _md5(p) for p in staging.iterdir()})
    monkeypatch.setattr(
        _files, "fetch_url", lambda url, dest: dest.write_bytes(tar_path.read_bytes())
    )
    root = tmp_path / "data"
    test = load_split("cifar10", "test", data_dir=root, download=True)
    assert torch.equal(test.y, _expect(parts[5:])[1])
    assert (root / "cifar-10-batches-py" / "data_batch_5").is_file()
    assert not (tmp_path / "escaped").exists()


# ---------------------------------------------------------------- a user's data (npz:, folder:)


def _spec(tmp_path: Path, x: np.ndarray, y: np.ndarray) -> str:
    np.savez(tmp_path / "d.npz", x=x, y=y)
    return f"npz:{tmp_path / 'd.npz'}"


GRAY = np.zeros((6, 8, 8), np.uint8)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.uint32, np.uint64, np.int8, np.int64])
def test_npz_labels_of_any_integer_dtype(tmp_path: Path, dtype: Any) -> None:
    split = load_data_spec(_spec(tmp_path, GRAY, np.arange(6).astype(dtype)))
    assert split.y.dtype == torch.int64 and split.y.tolist() == list(range(6))
    assert split.info.num_classes == 6


@pytest.mark.parametrize(
    ("y", "needle"),
    [
        (np.array([0, 1, 2, 3, 4, 2**64 - 1], np.uint64), "got 18446744073709551615"),  # not -1
        (np.array([0, 1, 2, 3, 4, 2**63], np.uint64), f"below {custom.MAX_CLASSES}"),
        (np.array([0, 1, 2, 3, 4, -1], np.int8), ">= 0, got -1"),
        (np.array([0, 1, 2, 3, 4, 10**12]), f"below {custom.MAX_CLASSES}"),  # no 10**12 names
        (np.array([0, 1, 0, 1, 0, 1], bool), "integer labels"),
        (np.arange(6, dtype=np.float32), "integer labels"),
    ],
)
def test_npz_labels_checked_in_their_own_dtype(tmp_path: Path, y: np.ndarray, needle: str) -> None:
    with pytest.raises(DataError) as info:
        load_data_spec(_spec(tmp_path, GRAY, y))
    _names(info, needle)


def test_max_classes_is_the_checkpoints_bound() -> None:
    assert custom.MAX_CLASSES == MAX_CLASSES


@pytest.mark.parametrize(
    ("x", "needle"),
    [
        (np.zeros((0, 8, 8), np.uint8), "no examples"),
        (np.zeros((0, 1, 8, 8), np.float32), "no examples"),
        (np.zeros((6, 0, 8), np.uint8), "at least one pixel"),
        (np.zeros((6, 1, 8, 8), np.uint8), "(N, H, W, C) with C 1 or 3"),  # NCHW uint8
        (np.zeros((6, 8, 8, 4), np.uint8), "(N, H, W, C) with C 1 or 3"),
    ],
)
def test_npz_images_refused(tmp_path: Path, x: np.ndarray, needle: str) -> None:
    with pytest.raises(DataError) as info:
        custom.read_npz(Path(_spec(tmp_path, x, np.arange(len(x)) % 2)[4:]))
    _names(info, needle)


@pytest.mark.parametrize("channels", [1, 3])
def test_npz_uint8_nhwc(tmp_path: Path, channels: int) -> None:
    x = np.arange(6 * 8 * 4 * channels, dtype=np.int64).reshape(6, 8, 4, channels) % 256
    images, _ = custom.read_npz(Path(_spec(tmp_path, x.astype(np.uint8), np.arange(6))[4:]))
    assert images.shape == (6, channels, 8, 4)
    assert np.allclose(images, x.transpose(0, 3, 1, 2) / 255)


def test_one_class_without_num_classes_blames_the_data(tmp_path: Path) -> None:
    spec = _spec(tmp_path, GRAY, np.zeros(6, int))
    with pytest.raises(DataError) as info:
        load_data_spec(spec)
    _names(info, "only one class found")
    assert "num_classes is" not in str(info.value)
    assert load_data_spec(spec, num_classes=2).info.num_classes == 2
    with pytest.raises(ConfigError, match="num_classes"):
        load_data_spec(spec, num_classes=custom.MAX_CLASSES + 1)
    with pytest.raises(DataError, match="up to 5, but num_classes is 3"):
        load_data_spec(_spec(tmp_path, GRAY, np.arange(6)), num_classes=3)


def test_folder_that_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "f.txt").write_text("x")
    with pytest.raises(DataError) as info:
        load_data_spec(f"folder:{tmp_path / 'f.txt'}")
    _names(info, "is not a directory")
    with pytest.raises(DataError, match="does not exist"):
        load_data_spec(f"folder:{tmp_path / 'none'}")


# ---------------------------------------------------------------- real data (skipped when absent)

needs_mnist = pytest.mark.skipif(
    not (SHARED / "mnist").is_dir(), reason=f"real MNIST not found at {SHARED / 'mnist'}"
)
needs_cifar = pytest.mark.skipif(
    not (SHARED / "cifar10").is_dir(), reason=f"real CIFAR-10 not found at {SHARED / 'cifar10'}"
)


@needs_mnist
def test_real_mnist_test() -> None:
    test = load_split("mnist", "test", data_dir=SHARED)
    assert test.x.shape == (10_000, 1, 28, 28)
    counts = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert torch.bincount(test.y, minlength=10).tolist() == counts


@needs_cifar
def test_real_cifar10_test() -> None:
    test = load_split("cifar10", "test", data_dir=SHARED)
    assert test.x.shape == (1000, 3, 32, 32) and test.y[:5].tolist() == [3, 8, 8, 0, 6]


@needs_cifar
def test_real_cifar10_train() -> None:
    x, y = cifar10.load_cifar10(SHARED, "train")  # the reader, skipping float conversion
    assert x.shape == (50_000, 3, 32, 32) and y[:5].tolist() == [6, 9, 9, 4, 1]
    assert np.bincount(y).tolist() == [5000] * 10
