"""Any model (``--model FILE.py:CALLABLE``) on any data (``--data npz:`` / ``folder:``), and
one-line errors for every kind of bad input (nothing written)."""

from __future__ import annotations

import json
import textwrap
import urllib.error
from pathlib import Path
from typing import Any

import matplotlib.image
import numpy as np
import pytest
import torch

from jumprelu.cli.main import main
from jumprelu.datasets import _files

USER_MODEL = textwrap.dedent(
    """
    import torch
    import torch.nn.functional as F
    from torch import nn


    class Net(nn.Module):
        def __init__(self, num_classes=3):
            super().__init__()
            self.conv = nn.Conv2d(3, 6, 3, padding=1)
            self.fc = nn.Linear(6 * 8 * 8, num_classes)

        def forward(self, x):
            return self.fc(F.relu(self.conv(x)).flatten(1))  # a functional relu


    class Untraceable(Net):
        def __init__(self):
            super().__init__()
            self.act = nn.ReLU()

        def forward(self, x):
            if float(x.sum()) > -1e9:  # data-dependent control flow: torch.fx cannot trace it
                x = self.act(self.conv(x))
            return self.fc(x.flatten(1))


    def make(num_classes=3):
        torch.manual_seed(0)
        return Net(num_classes)


    def untraceable():
        torch.manual_seed(0)
        return Untraceable()


    def not_a_module():
        return 42


    def wrong_output():
        return nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 5), nn.ReLU())
    """
)


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    """A user's model file, npz data (uint8 NHWC), a PNG folder and 1-channel npz data."""
    rng = np.random.default_rng(0)
    model = tmp_path / "user_model.py"
    model.write_text(USER_MODEL)
    x = rng.integers(0, 256, size=(24, 8, 8, 3), dtype=np.uint8)
    y = np.arange(24) % 3
    np.savez(tmp_path / "data.npz", x=x, y=y)
    np.savez(tmp_path / "gray.npz", x=x[..., 0], y=y)
    folder = tmp_path / "images"
    for i, (img, label) in enumerate(zip(x[:12], y[:12], strict=True)):
        (folder / f"class{label}").mkdir(parents=True, exist_ok=True)
        matplotlib.image.imsave(folder / f"class{label}" / f"{i}.png", img)
    return {"model": model, "npz": tmp_path / "data.npz", "gray": tmp_path / "gray.npz",
            "folder": folder}  # fmt: skip


def _grid(out: Path) -> list[str]:
    return ["--attacks", "fgsm", "--threats", "white", "--check-n", "0", "--eps", "0.05",
            "--out", str(out)]  # fmt: skip


def test_npz_accuracy_matches_the_model(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    net = _user_module(files["model"]).make()
    torch.manual_seed(1)
    for p in net.parameters():
        p.data.normal_(0, 0.3)
    torch.save(net.state_dict(), tmp_path / "weights.pt")
    args = ["accuracy", "--model", f"{files['model']}:make", "--data", f"npz:{files['npz']}",
            "--checkpoint", str(tmp_path / "weights.pt"), "--mean", "0.5,0.5,0.5",
            "--std", "0.25,0.25,0.25", "--jumps", "0,0.5", "--json"]  # fmt: skip
    assert main(args) == 0
    doc = json.loads(capsys.readouterr().out)
    with np.load(files["npz"]) as npz:
        x = torch.from_numpy(npz["x"]).permute(0, 3, 1, 2).float() / 255
        y = torch.from_numpy(npz["y"])
    with torch.no_grad():
        expected = int((net.eval()((x - 0.5) / 0.25).argmax(1) == y).sum())
    assert doc["rows"][0]["correct"] == expected and doc["rows"][0]["n"] == 24
    assert doc["sites"] == doc["provenance"]["retrofit"]["sites"] and len(doc["sites"]) == 1
    assert doc["provenance"]["normalization"] == {"mean": [0.5] * 3, "std": [0.25] * 3}


def test_folder_evaluate_and_report(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    args = ["evaluate", "--model", f"{files['model']}:make", "--data",
            f"folder:{files['folder']}", "--jumps", "0,0.5", "--mean", "0.5,0.5,0.5",
            "--std", "0.25,0.25,0.25", *_grid(out)]  # fmt: skip
    assert main(args) == 0
    assert "JumpReLU sites (1)" in capsys.readouterr().out
    doc = json.loads((out / "results.json").read_text())
    assert doc["config"]["mean"] == [0.5] * 3 and doc["config"]["data"].startswith("folder:")
    assert doc["clean"][0]["n"] == 12 and doc["config"]["dataset"] == "custom"
    assert main(["report", str(out)]) == 0
    assert (out / "report.html").is_file() and (out / "report.md").is_file()


def test_npz_tune_carves_validation_from_the_data(files: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "tuned"
    args = ["tune", "--model", f"{files['model']}:make", "--data", f"npz:{files['npz']}",
            "--jumps", "0,0.25,0.5", "--max-drop", "0.5", *_grid(out)]  # fmt: skip
    assert main(args) == 0
    doc = json.loads((out / "results.json").read_text())
    tuning = doc["provenance"]["tuning"]
    assert "carved from npz:" in tuning["validation"]
    assert tuning["n"] + doc["clean"][0]["n"] == 24  # validation and test are disjoint
    assert main(["report", str(out)]) == 0


def test_untraceable_model_works_with_one_warning(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["accuracy", "--model", f"{files['model']}:untraceable", "--data",
            f"npz:{files['npz']}", "--jumps", "0,1"]  # fmt: skip
    assert main(args) == 0
    captured = capsys.readouterr()
    warnings = [ln for ln in captured.err.splitlines() if ln.startswith("jumprelu: warning:")]
    assert len(warnings) == 1 and "could not trace" in warnings[0]
    assert "JumpReLU sites (1): net.act" in captured.out


def _bad_cases(files: dict[str, Path], cache: Path) -> dict[str, tuple[list[str], str]]:
    m, npz = f"{files['model']}:make", f"npz:{files['npz']}"
    return {
        "unknown zoo name": (["--checkpoint", "paper:nope", "--dataset", "digits"], "unknown zoo"),
        "hash mismatch": (
            ["--checkpoint", "paper:resnet20-cifar10-baseline", "--dataset", "cifar10"],
            "left untouched and not used",
        ),
        "no network, no cache": (
            ["--checkpoint", "paper:mobilenetv2-cifar10-robust", "--dataset", "cifar10"],
            str(cache / "MobileNetV2_robust.pkl"),
        ),
        "model not importable": (["--model", "no_such_module_xyz:make", "--data", npz], "import"),
        "not an nn.Module": (["--model", f"{files['model']}:not_a_module", "--data", npz], "int"),
        "output not (N, classes)": (
            ["--model", f"{files['model']}:wrong_output", "--data", npz],
            "expected (24, 3)",
        ),
        "data does not fit": (["--model", m, "--data", f"npz:{files['gray']}"], "1x8x8"),
        "mean/std length": (
            ["--model", m, "--data", npz, "--mean", "0.5", "--std", "0.2"],
            "3 channel",
        ),
        "std <= 0": (
            ["--model", m, "--data", npz, "--mean", "0.5,0.5,0.5", "--std", "0.2,0,0.2"],
            "std must be a number in [1e-06",
        ),
    }


@pytest.mark.parametrize("command", ["accuracy", "evaluate"])
def test_bad_input_is_one_line_exit_2_nothing_written(
    files: dict[str, Path],
    tmp_path: Path,
    command: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "ResNet_baseline.pkl").write_bytes(b"not the authors' file")
    monkeypatch.setenv("JUMPRELU_CACHE", str(cache))
    monkeypatch.delenv("JUMPRELU_CHECKPOINTS", raising=False)

    def offline(url: str, dest: Path) -> None:
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(_files, "fetch_url", offline)
    for case, (args, needle) in _bad_cases(files, cache).items():
        out = tmp_path / f"out-{case}"
        extra = _grid(out) if command == "evaluate" else []
        assert main([command, *args, *extra]) == 2, case
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("jumprelu: error: "), (case, err)
        assert needle in err[0], (case, err[0])
        assert not out.exists(), case
    assert (cache / "ResNet_baseline.pkl").read_bytes() == b"not the authors' file"
    assert sorted(p.name for p in cache.iterdir()) == ["ResNet_baseline.pkl"]


@pytest.mark.parametrize(
    ("attacks", "budget", "needle"),
    [("fgsm", [], "give --eps (and --eps-l2"), ("pgd-l2", ["--eps", "0.05"], "give --eps-l2")],
)
def test_user_data_without_a_budget_is_one_line_error(
    files: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    attacks: str,
    budget: list[str],
    needle: str,
) -> None:
    """The user's data has no default budgets: the needed one must be given."""
    out = tmp_path / "run"
    args = ["evaluate", "--model", f"{files['model']}:make", "--data", f"npz:{files['npz']}",
            "--jumps", "0", "--attacks", attacks, "--threats", "white", "--check-n", "0",
            *budget, "--out", str(out)]  # fmt: skip
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("jumprelu: error: data 'custom' has no default")
    assert needle in err[0] and not out.exists()


@pytest.mark.parametrize("kind", ["npz-uint8-nhwc", "npz-float-nchw", "folder"])
def test_user_model_goes_through_every_command(
    files: dict[str, Path], tmp_path: Path, kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Done-when of issue 12: a user's model file on npz and folder data runs accuracy,
    evaluate, tune and report, and every command sees the same clean accuracy."""
    with np.load(files["npz"]) as npz:
        x_u8, y = npz["x"], npz["y"]
    if kind == "npz-float-nchw":
        spec = tmp_path / "float.npz"
        np.savez(spec, x=x_u8.transpose(0, 3, 1, 2).astype(np.float32) / 255, y=y)
        data, n = f"npz:{spec}", 24
    elif kind == "folder":
        data, n = f"folder:{files['folder']}", 12
    else:
        data, n = f"npz:{files['npz']}", 24
    model = ["--model", f"{files['model']}:make", "--data", data]
    capsys.readouterr()
    assert main(["accuracy", *model, "--jumps", "0,0.5", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    # The model's own prediction on the pixels in [0, 1] (no statistics given: identity).
    net = _user_module(files["model"]).make().eval()
    order = np.argsort(y[:n], kind="stable") if kind == "folder" else np.arange(n)
    xs = torch.from_numpy(x_u8[:n][order]).permute(0, 3, 1, 2).float() / 255
    with torch.no_grad():
        expected = int((net(xs).argmax(1) == torch.from_numpy(y[:n][order])).sum())
    assert rows[0]["n"] == n and rows[0]["correct"] == expected

    run = tmp_path / "run"
    assert main(["evaluate", *model, "--jumps", "0,0.5", *_grid(run)]) == 0
    doc = json.loads((run / "results.json").read_text())
    assert [round(c["accuracy"] * c["n"]) for c in doc["clean"]] == [r["correct"] for r in rows]
    assert {c["attack"] for c in doc["cells"]} == {"fgsm"}

    tuned = tmp_path / "tuned"
    assert main(["tune", *model, "--jumps", "0,0.5", "--max-drop", "0.9", *_grid(tuned)]) == 0
    tuning = json.loads((tuned / "results.json").read_text())["provenance"]["tuning"]
    assert tuning["jump"] == 0.5 and "carved from" in tuning["validation"]

    for out in (run, tuned):
        assert main(["report", str(out)]) == 0
        assert data.split(":", 1)[0] + ":" in (out / "report.md").read_text()


def _user_module(path: Path) -> Any:
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"user_model_{path.stat().st_ino}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
