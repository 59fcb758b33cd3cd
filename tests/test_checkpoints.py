"""Tests for checkpoint reading and writing (all offline, CPU, tiny files in tmp_path)."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from jumprelu.errors import CheckpointError, ConfigError
from jumprelu.models import NormalizedModel, build_model, build_net, checkpoints
from jumprelu.models.checkpoints import (
    CheckpointMeta,
    load_checkpoint,
    read_state_dict,
    save_checkpoint,
)

MNIST = ((0.1307,), (0.3081,))
SHARED = Path(__file__).resolve().parents[2] / "shared"
REFERENCE = SHARED / "reference"
REFERENCE_SHA256 = {
    "baseline": "e115ba0ee89ecbd8c4b128a5988ae4eef70ae2f07e75286fcd38961f9b62227f",
    "robust": "01d9822eda9d39dcf4ebcdffc5f09abbf914304080a3b116e7921ec7db82bb6e",
    "distillation": "b5dc7c8529571d93f7704d51667330c0651a110c2478e23161337dc9c843e545",
}


class _Payload:
    """A class whose instances must never be unpickled by the loader."""

    def __init__(self) -> None:
        self.value = 1


def _payload_function() -> int:
    return 1


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def _lenet() -> NormalizedModel:
    return build_model("lenet", mean=MNIST[0], std=MNIST[1]).eval()


def _meta(**kwargs: Any) -> CheckpointMeta:
    base: dict[str, Any] = {"arch": "lenet", "dataset": "mnist", "training": {"epochs": 2}}
    return CheckpointMeta(**{**base, **kwargs})


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.mark.parametrize("suffix", [".pt", ".pth", ".safetensors"])
def test_round_trip(tmp_path: Path, suffix: str) -> None:
    model = _lenet()
    meta = _meta(training={"recipe": "sgd", "epochs": 3, "seed": 0, "val_acc": 0.99})
    path = tmp_path / f"m{suffix}"
    save_checkpoint(model, path, meta)
    loaded, got = load_checkpoint(path)
    expected = CheckpointMeta(**{**meta.__dict__, "mean": MNIST[0], "std": MNIST[1]})
    assert got == expected
    assert got.source == "jumprelu"
    assert _same_weights(loaded, model)
    assert not loaded.training
    x = torch.rand(2, 1, 28, 28)
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))
    assert os.listdir(tmp_path) == [path.name]


def test_project_format_is_plain_and_weights_only(tmp_path: Path) -> None:
    path = tmp_path / "m.pt"
    save_checkpoint(_lenet(), path, _meta())
    raw = torch.load(path, map_location="cpu", weights_only=True)
    assert raw["format"] == "jumprelu.checkpoint" and raw["version"] == 1
    assert raw["meta"]["arch"] == "lenet" and raw["meta"]["mean"] == [0.1307]
    assert set(raw["state_dict"]) == set(build_net("lenet").state_dict())
    json.dumps(raw["meta"])


def test_safetensors_metadata_header(tmp_path: Path) -> None:
    path = tmp_path / "m.safetensors"
    save_checkpoint(_lenet(), path, _meta())
    with safe_open(str(path), framework="pt") as fh:
        header = fh.metadata()
    assert header["format"] == "jumprelu.checkpoint" and header["version"] == "1"
    assert json.loads(header["meta"])["dataset"] == "mnist"


def test_bare_net_and_explicit_stats(tmp_path: Path) -> None:
    net = build_net("resnet20").eval()
    path = tmp_path / "r.pt"
    save_checkpoint(net, path, CheckpointMeta("resnet20", dataset="cifar10"))
    with pytest.raises(CheckpointError, match="normalisation"):
        load_checkpoint(path)
    stats = ((0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
    model, meta = load_checkpoint(path, mean=stats[0], std=stats[1])
    assert (meta.mean, meta.std) == stats and _same_weights(model.net, net)


def test_arguments_override_and_conflict(tmp_path: Path) -> None:
    path = tmp_path / "m.pt"
    save_checkpoint(_lenet(), path, _meta())
    model, meta = load_checkpoint(path, mean=(0.5,), std=(0.5,))
    assert model.mean == (0.5,) and meta.mean == (0.5,)
    with pytest.raises(CheckpointError, match="alexlike"):
        load_checkpoint(path, arch="alexlike")
    with pytest.raises(CheckpointError, match="num_classes"):
        load_checkpoint(path, num_classes=5)
    with pytest.raises(ConfigError):
        load_checkpoint(path, mean=(0.5,))


def test_plain_state_dict_needs_arch(tmp_path: Path) -> None:
    path = tmp_path / "sd.pt"
    torch.save(_lenet().net.state_dict(), path)
    with pytest.raises(CheckpointError, match="--arch"):
        load_checkpoint(path, mean=MNIST[0], std=MNIST[1])
    with pytest.raises(CheckpointError, match="mean"):
        load_checkpoint(path, arch="lenet")
    _, meta = load_checkpoint(path, arch="lenet", mean=MNIST[0], std=MNIST[1])
    assert meta.source == "state_dict" and meta.arch == "lenet"


@pytest.mark.parametrize("layout", ["dataparallel", "legacy", "normalized", "wrapped", "st"])
def test_foreign_layouts(tmp_path: Path, layout: str) -> None:
    model = _lenet()
    sd = model.net.state_dict()
    path = tmp_path / "f.pth"
    if layout == "dataparallel":
        torch.save({f"module.{k}": v for k, v in sd.items()}, path)
    elif layout == "legacy":
        with path.open("wb") as fh:
            torch.save(sd, fh, _use_new_zipfile_serialization=False)
    elif layout == "normalized":
        torch.save(model.state_dict(), path)
    elif layout == "wrapped":
        torch.save({"state_dict": dict(sd), "epoch": 3}, path)
    else:
        path = tmp_path / "f.bin"  # safetensors recognised by content, not suffix
        save_file({k: v.contiguous() for k, v in sd.items()}, str(path))
    state, meta = read_state_dict(path)
    assert meta is None and not any(k.startswith("module.") for k in state)
    stats: dict[str, Any] = {} if layout == "normalized" else {"mean": MNIST[0], "std": MNIST[1]}
    loaded, meta2 = load_checkpoint(path, arch="lenet", **stats)
    assert _same_weights(loaded.net, model.net) and loaded.mean == MNIST[0]
    assert meta2.source == "state_dict"


@pytest.mark.parametrize("payload", [_Payload(), _payload_function, {"w": _Payload()}])
def test_pickled_objects_are_refused(tmp_path: Path, payload: Any) -> None:
    path = tmp_path / "evil.pt"
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match="weights_only") as info:
        load_checkpoint(path, arch="lenet", mean=MNIST[0], std=MNIST[1])
    assert str(path) in str(info.value)


def test_other_architecture_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "alex.pt"
    torch.save(build_net("alexlike").state_dict(), path)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path, arch="lenet", mean=MNIST[0], std=MNIST[1])
    msg = str(info.value)
    assert "\n" not in msg and "'lenet'" in msg
    assert "unexpected keys: conv3.weight" in msg
    assert "conv1.weight: checkpoint (64, 3, 3, 3) vs model (10, 1, 5, 5)" in msg
    path = tmp_path / "resnet.pt"
    torch.save(build_net("resnet20").state_dict(), path)
    with pytest.raises(CheckpointError, match=r"unexpected keys: bn1\.weight, .* and \d+ more;"):
        load_checkpoint(path, arch="lenet", mean=MNIST[0], std=MNIST[1])


def test_wrong_shape_is_named(tmp_path: Path) -> None:
    sd = build_net("lenet").state_dict()
    sd["fc1.weight"] = torch.zeros(120, 500)
    path = tmp_path / "bad.pt"
    torch.save(sd, path)
    with pytest.raises(
        CheckpointError, match=r"fc1\.weight: checkpoint \(120, 500\) vs model \(120, 320\)"
    ):
        load_checkpoint(path, arch="lenet", mean=MNIST[0], std=MNIST[1])


def test_corrupt_and_missing_files(tmp_path: Path) -> None:
    good = tmp_path / "good.pt"
    torch.save(build_net("lenet").state_dict(), good)
    legacy = tmp_path / "legacy.pt"
    with legacy.open("wb") as fh:
        torch.save(build_net("lenet").state_dict(), fh, _use_new_zipfile_serialization=False)
    rng = np.random.default_rng(0)
    cases = {
        "random.pt": rng.bytes(4096),
        "truncated.pt": good.read_bytes()[:5000],
        "truncated_legacy.pt": legacy.read_bytes()[:3000],
        "empty.pt": b"",
        "text.pth": b"not a checkpoint",
        "bad.safetensors": b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}......",
    }
    for name, data in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(CheckpointError) as info:
            load_checkpoint(path, arch="lenet", mean=MNIST[0], std=MNIST[1])
        assert str(path) in str(info.value), name
    missing = tmp_path / "nope.pt"
    with pytest.raises(CheckpointError, match="not found") as info:
        read_state_dict(missing)
    assert str(missing) in str(info.value)


def test_non_state_dicts_and_versions(tmp_path: Path) -> None:
    path = tmp_path / "x.pt"
    torch.save([torch.zeros(1)], path)
    with pytest.raises(CheckpointError, match="not a state_dict"):
        read_state_dict(path)
    torch.save({"a": torch.zeros(1), "b": 3}, path)
    with pytest.raises(CheckpointError, match="not a state_dict"):
        read_state_dict(path)
    save_checkpoint(_lenet(), path, _meta())
    raw = torch.load(path, weights_only=True)
    torch.save({**raw, "version": 2}, path)
    with pytest.raises(CheckpointError, match="version"):
        load_checkpoint(path)
    torch.save({**raw, "meta": {"arch": 3}}, path)
    with pytest.raises(CheckpointError, match="malformed"):
        load_checkpoint(path)


def test_non_finite_weights(tmp_path: Path) -> None:
    sd = build_net("lenet").state_dict()
    sd["fc2.bias"][0] = float("nan")
    path = tmp_path / "nan.pt"
    torch.save(sd, path)
    with pytest.raises(CheckpointError, match=r"non-finite.*fc2\.bias"):
        load_checkpoint(path, arch="lenet", mean=MNIST[0], std=MNIST[1])
    model = _lenet()
    with torch.no_grad():
        model.net.fc1.weight[0, 0] = float("inf")
    with pytest.raises(CheckpointError, match="non-finite"):
        save_checkpoint(model, tmp_path / "inf.pt", _meta())
    assert not (tmp_path / "inf.pt").exists()


def test_save_validates(tmp_path: Path) -> None:
    path = tmp_path / "m.pt"
    with pytest.raises(CheckpointError, match="does not fit"):
        save_checkpoint(_lenet(), path, _meta(arch="resnet20"))
    with pytest.raises(CheckpointError, match="mean"):
        save_checkpoint(_lenet(), path, _meta(mean=(0.5,), std=(0.3081,)))
    with pytest.raises(CheckpointError, match="plain"):
        save_checkpoint(_lenet(), path, _meta(training={"obj": object()}))
    with pytest.raises(ConfigError, match="known"):
        save_checkpoint(_lenet(), path, _meta(arch="vgg"))
    assert list(tmp_path.iterdir()) == []
    save_checkpoint(_lenet(), path, _meta(training={"acc": np.float32(0.5), "lrs": (0.1, 0.02)}))
    assert load_checkpoint(path)[1].training == {"acc": 0.5, "lrs": [0.1, 0.02]}


@pytest.mark.parametrize("suffix", [".pt", ".safetensors"])
def test_failed_save_keeps_existing_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, suffix: str
) -> None:
    path = tmp_path / f"m{suffix}"
    save_checkpoint(_lenet(), path, _meta())
    before = path.read_bytes()

    def broken(obj: Any, f: Any, *args: Any, **kwargs: Any) -> None:
        Path(f).write_bytes(b"half-written")
        raise RuntimeError("disk full")

    name = "save_file" if suffix == ".safetensors" else "save"
    target = checkpoints if suffix == ".safetensors" else torch
    monkeypatch.setattr(target, name, broken)
    with pytest.raises(CheckpointError, match="disk full"):
        save_checkpoint(_lenet(), path, _meta())
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == [path.name]


def _require(path: Path) -> Path:
    if not path.is_file():
        pytest.skip(f"reference file not available: {path}")
    return path


@pytest.mark.parametrize("name", sorted(REFERENCE_SHA256))
def test_released_lenet_checkpoints(name: str) -> None:
    path = _require(REFERENCE / f"lenet_mnist_{name}.pkl")
    assert hashlib.sha256(path.read_bytes()).hexdigest() == REFERENCE_SHA256[name]
    model, meta = load_checkpoint(path, arch="lenet", mean=MNIST[0], std=MNIST[1])
    # the file is known by its hash: the zoo supplies its record (issue 12)
    assert meta.source == f"paper:lenet-mnist-{name}" and (meta.mean, meta.std) == MNIST
    assert meta.dataset == "mnist" and meta.training["sha256"] == REFERENCE_SHA256[name]
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert all(p.device.type == "cpu" for p in model.parameters())
    assert not model.training


def _idx(path: Path) -> np.ndarray:
    data = gzip.decompress(path.read_bytes())
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(data[3])]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * data[3]).reshape(dims)


def test_released_baseline_reproduces_clean_accuracy() -> None:
    ckpt = _require(REFERENCE / "lenet_mnist_baseline.pkl")
    mnist = SHARED / "data" / "mnist"
    images = _require(mnist / "t10k-images-idx3-ubyte.gz")
    labels = _require(mnist / "t10k-labels-idx1-ubyte.gz")
    model, _ = load_checkpoint(ckpt, arch="lenet", mean=MNIST[0], std=MNIST[1])
    x = torch.from_numpy(_idx(images).copy()).float().div(255).unsqueeze(1)
    y = torch.from_numpy(_idx(labels).copy()).long()
    with torch.no_grad():
        correct = int((model(x).argmax(1) == y).sum())
    assert correct == 9955  # 99.55 %, the README's clean accuracy at jump 0


def test_default_stats_are_only_a_fallback(tmp_path: Path) -> None:
    from jumprelu.models import build_net

    plain = tmp_path / "plain.pt"
    torch.save(build_net("lenet").state_dict(), plain)
    model, _ = load_checkpoint(plain, arch="lenet", default_stats=((0.5,), (0.25,)))
    assert model.mean == pytest.approx((0.5,)) and model.std == pytest.approx((0.25,))
    own = tmp_path / "own.pt"
    save_checkpoint(model, own, CheckpointMeta(arch="lenet", mean=(0.5,), std=(0.25,)))
    again, _ = load_checkpoint(own, default_stats=((0.1,), (0.2,)))
    assert again.mean == pytest.approx((0.5,))  # the file's own statistics win
