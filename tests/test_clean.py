"""Clean-accuracy sweep, and the paper's reference numbers on the authors' LeNet."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from jumprelu.datasets.core import DATASETS, Split, load_split
from jumprelu.errors import ConfigError
from jumprelu.evaluation.clean import (
    clean_accuracy_sweep,
    predict,
)
from jumprelu.evaluation.jump_grid import parse_jumps
from jumprelu.models.checkpoints import load_checkpoint

SHARED = Path(__file__).resolve().parents[2] / "shared"
BASELINE = SHARED / "reference" / "lenet_mnist_baseline.pkl"
MNIST = SHARED / "data"


def toy_split(n: int = 64) -> Split:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(n, 1, 8, 8, generator=g)
    return Split(x, (x.mean((1, 2, 3)) > 0.5).long(), DATASETS["digits"], "test")


def toy_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 2)).eval()


def test_sweep_counts_match_direct_computation() -> None:
    data, model = toy_split(), toy_model()
    sweep = clean_accuracy_sweep(model, data, [0.0, 0.3, 100.0])
    assert [r.jump for r in sweep.rows] == [0.0, 0.3, 100.0]
    assert sweep.rows[0].correct == int((predict(model, data.x) == data.y).sum())
    # a huge jump zeroes every hidden unit: all examples get the class of the output bias
    bias_class = int(model[3].bias.argmax())
    assert sweep.rows[2].correct == int((data.y == bias_class).sum())
    assert all(r.n == 64 and r.accuracy == r.correct / 64 for r in sweep.rows)
    assert sweep.sites == ["2"]
    assert sweep.to_dict()["rows"][1]["jump"] == 0.3


def test_predict_restores_mode_and_batches_consistently() -> None:
    model, data = toy_model().train(), toy_split(50)
    a = predict(model, data.x, batch_size=7)
    assert model.training
    assert torch.equal(a, predict(model, data.x, batch_size=1000))


@pytest.mark.parametrize("bad", ["", "0,-1", "0,nan", "a,b", "inf"])
def test_bad_jump_grid(bad: str) -> None:
    with pytest.raises(ConfigError):
        parse_jumps(bad)


@pytest.mark.skipif(
    not (BASELINE.is_file() and (MNIST / "mnist").is_dir()),
    reason="needs ../shared/reference/lenet_mnist_baseline.pkl and ../shared/data/mnist",
)
def test_authors_lenet_baseline_reproduces_reference_clean_accuracy() -> None:
    """../shared/reference/README.md: 99.55, 99.54, 99.53, 99.34 at jumps 0, 0.5, 1, 1.5."""
    info = DATASETS["mnist"]
    model, _ = load_checkpoint(str(BASELINE), arch="lenet", default_stats=(info.mean, info.std))
    test = load_split("mnist", "test", data_dir=str(MNIST))
    sweep = clean_accuracy_sweep(model, test, "0,0.5,1.0,1.5")
    assert [r.n for r in sweep.rows] == [10_000] * 4
    assert [r.correct for r in sweep.rows] == [9955, 9954, 9953, 9934]


def test_a_model_without_parameters_runs() -> None:
    """No weights at all (a fixed function): the device is the CPU, no StopIteration."""
    model = nn.Sequential(nn.AdaptiveAvgPool2d((1, 10)), nn.Flatten(), nn.ReLU())
    x = torch.rand(6, 1, 8, 8)
    data = Split(x, torch.arange(6) % 10, DATASETS["digits"], "test")
    sweep = clean_accuracy_sweep(model, data, [0.0, 0.1])
    assert [r.n for r in sweep.rows] == [6, 6]
    assert torch.equal(predict(model, x), model(x).argmax(1))
