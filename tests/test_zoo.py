"""The zoo of released checkpoints, their resolution and verification, the authors' layouts."""

from __future__ import annotations

import hashlib
import json
import shutil
import urllib.error
from pathlib import Path

import pytest
import torch

from jumprelu.cli.main import main
from jumprelu.datasets import _files
from jumprelu.datasets.core import DATASETS
from jumprelu.errors import CheckpointError, ConfigError
from jumprelu.evaluation.config import EvalConfig
from jumprelu.evaluation.protocol import attack_settings
from jumprelu.models import ARCHS, build_net
from jumprelu.models.checkpoints import load_checkpoint
from jumprelu.models.zoo import COMMIT, ZOO, ZooEntry
from jumprelu.models.zoo_files import file_hashes, identify, resolve_checkpoint

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference"


@pytest.fixture(autouse=True)
def _dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "cache"
    monkeypatch.setenv("JUMPRELU_CACHE", str(cache))
    monkeypatch.delenv("JUMPRELU_CHECKPOINTS", raising=False)
    return cache


def test_entries_are_consistent_plain_data() -> None:
    assert len({e.file_name for e in ZOO.values()}) == len(ZOO) == 12
    for name, e in ZOO.items():
        assert e.name == name and e.arch in ARCHS and e.dataset in DATASETS
        assert len(e.mean) == len(e.std) == ARCHS[e.arch].input_shape[0]
        assert e.url.endswith(e.path) and COMMIT in e.url
        assert len(e.git_blob) == 40 and (e.sha256 is None or len(e.sha256) == 64)
        assert list(e.jumps) == sorted(e.jumps) and e.jumps[0] == 0
    assert ZOO["resnet20-cifar10-baseline"].std == (0.2023, 0.1994, 0.2010)
    assert ZOO["wrn34-4-cifar10-robust"].arch_kwargs == {"depth": 34, "widen_factor": 4}


@pytest.mark.parametrize("entry", [e for e in ZOO.values() if e.local_name], ids=str)
def test_local_copies_match_both_hashes(entry: ZooEntry) -> None:
    path = REFERENCE / str(entry.local_name)
    if not path.is_file():
        pytest.skip(f"reference file not available: {path}")
    hashes = file_hashes(path)
    assert (hashes.sha256, hashes.git_blob) == (entry.sha256, entry.git_blob)
    assert identify(path) == entry


def _tiny_entry(tmp_path: Path) -> tuple[ZooEntry, bytes]:
    """A generated LeNet state_dict (DataParallel keys, legacy pickle) and its zoo entry."""
    torch.manual_seed(0)
    state = {f"module.{k}": v for k, v in build_net("lenet").state_dict().items()}
    src = tmp_path / "tiny.pkl"
    torch.save(state, src, _use_new_zipfile_serialization=False)
    data = src.read_bytes()
    blob = hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()
    entry = ZooEntry(
        "tiny", "mnist_result/Tiny.pkl", "lenet", "mnist", (0.5,), (0.25,), "test", blob
    )
    return entry, data


def test_download_once_verified_then_from_cache(
    tmp_path: Path, _dirs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entry, data = _tiny_entry(tmp_path)
    monkeypatch.setitem(ZOO, "tiny", entry)
    calls: list[str] = []

    def fetch(url: str, dest: Path) -> None:
        calls.append(url)
        dest.write_bytes(data)

    monkeypatch.setattr(_files, "fetch_url", fetch)
    _, meta = load_checkpoint("paper:tiny")
    assert calls == [entry.url] and (_dirs / "Tiny.pkl").read_bytes() == data
    assert (meta.arch, meta.mean, meta.std, meta.source) == ("lenet", (0.5,), (0.25,), "paper:tiny")
    assert resolve_checkpoint("paper:tiny") == (_dirs / "Tiny.pkl", entry)
    assert len(calls) == 1  # the second use reads the cache


def test_bad_download_writes_nothing(
    tmp_path: Path, _dirs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entry, _ = _tiny_entry(tmp_path)
    monkeypatch.setitem(ZOO, "tiny", entry)
    monkeypatch.setattr(_files, "fetch_url", lambda url, dest: dest.write_bytes(b"tampered"))
    with pytest.raises(CheckpointError, match="git blob hash"):
        resolve_checkpoint("paper:tiny")
    assert not _dirs.exists() or not any(_dirs.iterdir())


def test_mismatching_cached_file_is_left_untouched(
    tmp_path: Path, _dirs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entry, _ = _tiny_entry(tmp_path)
    monkeypatch.setitem(ZOO, "tiny", entry)
    _dirs.mkdir()
    (_dirs / "Tiny.pkl").write_bytes(b"someone else's file")
    monkeypatch.setattr(_files, "fetch_url", lambda url, dest: pytest.fail("no download"))
    with pytest.raises(CheckpointError, match="left untouched and not used"):
        load_checkpoint("paper:tiny")
    assert (_dirs / "Tiny.pkl").read_bytes() == b"someone else's file"


def test_local_copy_directory(tmp_path: Path, _dirs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    entry, data = _tiny_entry(tmp_path)
    monkeypatch.setitem(ZOO, "tiny", entry)
    local = tmp_path / "copies"
    local.mkdir()
    (local / "Tiny.pkl").write_bytes(data)
    monkeypatch.setenv("JUMPRELU_CHECKPOINTS", str(local))
    assert resolve_checkpoint("paper:tiny") == (local / "Tiny.pkl", entry)


def _offline(url: str, dest: Path) -> None:
    raise urllib.error.URLError("Name or service not known")


def test_offline_without_cache_says_where_to_put_the_file(
    _dirs: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(_files, "fetch_url", _offline)
    args = ["accuracy", "--checkpoint", "paper:wrn34-4-cifar10-baseline", "--dataset", "cifar10"]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("jumprelu: error: ")
    assert str(_dirs / "WideResNet_baseline.pkl") in err and "raw.githubusercontent" in err


def test_zoo_command_lists_every_entry(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["zoo", "--long"]) == 0
    out = capsys.readouterr().out
    assert all(f"paper:{name}" in out for name in ZOO)
    assert "0.2023" in out and "WideResNet_baseline.pkl" in out


def test_resnet20_gets_the_authors_normalisation_by_hash() -> None:
    path = REFERENCE / "resnet20_cifar10_baseline.pkl"
    if not path.is_file():
        pytest.skip("reference file not available")
    model, meta = load_checkpoint(path)
    assert meta.arch == "resnet20" and model.std == (0.2023, 0.1994, 0.201)
    own, _ = load_checkpoint(path, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
    assert own.std == (0.25, 0.25, 0.25)  # explicit statistics win


def _authors_wrn_keys(depth: int, k: int) -> dict[str, tuple[int, ...]]:
    """Names and shapes of the authors' WideResNet (models/WideResNet.py), written out."""

    def bn(prefix: str, c: int) -> dict[str, tuple[int, ...]]:
        out = {f"{prefix}.{n}": (c,) for n in ("weight", "bias", "running_mean", "running_var")}
        return {**out, f"{prefix}.num_batches_tracked": ()}

    keys = {"conv1.weight": (16, 3, 3, 3), "conv1.bias": (16,)}
    n, c_in = (depth - 4) // 6, 16
    for stage, width in enumerate((16 * k, 32 * k, 64 * k), start=1):
        for b in range(n):
            p = f"layer{stage}.{b}"
            keys |= bn(f"{p}.bn1", c_in) | bn(f"{p}.bn2", width)
            keys |= {f"{p}.conv1.weight": (width, c_in, 3, 3), f"{p}.conv1.bias": (width,)}
            keys |= {f"{p}.conv2.weight": (width, width, 3, 3), f"{p}.conv2.bias": (width,)}
            if b == 0:
                keys |= {f"{p}.shortcut.0.weight": (width, c_in, 1, 1)}
                keys |= {f"{p}.shortcut.0.bias": (width,)}
            c_in = width
    return keys | bn("bn1", 64 * k) | {"linear.weight": (10, 64 * k), "linear.bias": (10,)}


@pytest.mark.parametrize(("depth", "k"), [(10, 2), (34, 4)])
def test_authors_wideresnet_checkpoint_loads_as_is(tmp_path: Path, depth: int, k: int) -> None:
    shapes = _authors_wrn_keys(depth, k)
    gen = torch.Generator().manual_seed(0)
    state = {
        f"module.{n}": torch.tensor(7) if not s else torch.rand(s, generator=gen) + 0.5
        for n, s in shapes.items()
    }
    path = tmp_path / "WideResNet_baseline.pkl"
    torch.save(state, path, _use_new_zipfile_serialization=False)
    model, _ = load_checkpoint(
        path, arch="wrn-paper", depth=depth, widen_factor=k, mean=(0.5,) * 3, std=(0.25,) * 3
    )
    loaded = model.net.state_dict()
    assert loaded.keys() == shapes.keys()
    assert all(torch.equal(loaded[n], state[f"module.{n}"]) for n in shapes)
    with torch.no_grad():
        assert model(torch.rand(2, 3, 32, 32)).shape == (2, 10)


def test_authors_mobilenetv2_names_and_shapes() -> None:
    state = build_net("mobilenetv2-paper").state_dict()
    assert (
        len(state) == 344
        and sum(
            v.numel() for k, v in state.items() if "running" not in k and "num_batches" not in k
        )
        == 2296922
    )
    assert state["conv1.weight"].shape == (32, 3, 3, 3)
    assert state["layers.0.shortcut.0.weight"].shape == (16, 32, 1, 1)  # stride 1, 32 -> 16
    assert state["layers.16.conv3.weight"].shape == (320, 960, 1, 1)
    assert state["conv2.weight"].shape == (1280, 320, 1, 1)
    assert state["linear.weight"].shape == (10, 1280)
    assert "layers.2.shortcut.0.weight" not in state  # 24 -> 24, identity shortcut


def test_paper_steps_per_attack_and_dataset() -> None:
    assert DATASETS["cifar10"].paper_steps == {"ifgsm": 7, "deepfool": 7, "tr": 40}
    cfg = EvalConfig(dataset="cifar10", jumps=[0.0], attacks=["ifgsm"], protocol="paper")
    steps = {a: attack_settings(a, cfg, std=0.2)["steps"] for a in ("ifgsm", "deepfool-l2")}
    assert steps == {"ifgsm": 7, "deepfool-l2": 7}
    assert attack_settings("tr-l2", cfg, std=0.2)["steps"] == 40
    mnist = EvalConfig(dataset="mnist", jumps=[0.0], attacks=["ifgsm"], protocol="paper")
    assert attack_settings("ifgsm", mnist, std=0.3)["steps"] == 40


def test_unknown_zoo_name_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="resnet20-cifar10-baseline"):
        resolve_checkpoint("paper:resnet21")


def test_zoo_copy_in_cache_is_used(_dirs: Path) -> None:
    src = REFERENCE / "resnet20_cifar10_robust.pkl"
    if not src.is_file():
        pytest.skip("reference file not available")
    _dirs.mkdir()
    shutil.copy(src, _dirs / "ResNet_robust.pkl")
    path, entry = resolve_checkpoint("paper:resnet20-cifar10-robust")
    assert path == _dirs / "ResNet_robust.pkl" and entry is ZOO["resnet20-cifar10-robust"]


# The reference README's clean accuracy of the authors' ResNet-20s on the 1,000 test images.
RESNET20_CLEAN = {"baseline": "92.40 92.10 92.40 91.50", "robust": "90.60 90.60 90.40 89.50"}


@pytest.mark.slow  # ~10 s; and one image at jump 0.06 sits within float32 rounding of the jump
@pytest.mark.parametrize("which", sorted(RESNET20_CLEAN))
def test_resnet20_accuracy_command_gives_the_reference_numbers(
    which: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = REFERENCE / f"resnet20_cifar10_{which}.pkl"
    data = REFERENCE.parent / "data"
    if not path.is_file() or not data.is_dir():
        pytest.skip("../shared/reference or ../shared/data not available")
    args = ["accuracy", "--checkpoint", str(path), "--dataset", "cifar10", "--data-dir",
            str(data), "--jumps", "0,0.03,0.06,0.09", "--json"]  # fmt: skip
    assert main(args) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert " ".join(f"{100 * r['accuracy']:.2f}" for r in rows) == RESNET20_CLEAN[which]


def test_offline_leaves_no_cache_directory_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A JUMPRELU_CACHE that does not exist is not created by a download that fails."""
    monkeypatch.setattr(_files, "fetch_url", _offline)
    monkeypatch.setenv("JUMPRELU_CACHE", str(tmp_path / "a" / "b" / "c"))
    monkeypatch.delenv("JUMPRELU_CHECKPOINTS", raising=False)
    args = ["accuracy", "--checkpoint", "paper:wrn34-4-cifar10-baseline", "--dataset", "cifar10"]
    assert main(args) == 2
    assert "jumprelu: error: " in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
