"""Minimal trainer and the shipped default model."""

from __future__ import annotations

import pytest
import torch

from jumprelu.checkpoints import load_checkpoint
from jumprelu.clean import predict
from jumprelu.data import DATASETS, Split, load_split
from jumprelu.demo import default_model_path, run_demo
from jumprelu.errors import ConfigError
from jumprelu.models import build_model
from jumprelu.train import TrainConfig, train


def blobs(n: int = 200, seed: int = 0) -> Split:
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 10, (n,), generator=g)
    x = torch.rand(n, 1, 8, 8, generator=g) * 0.3
    x[torch.arange(n), 0, y % 8, y // 8 * 4] += 0.7  # one bright pixel per class
    return Split(x, y, DATASETS["digits"], "train")


def fresh_model() -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model("digitsnet", mean=(0.3,), std=(0.3,))


def test_training_reduces_loss_and_is_reproducible() -> None:
    data = blobs()
    cfg = TrainConfig(epochs=3, lr=0.05, batch_size=32, seed=1)
    a, b = fresh_model(), fresh_model()
    ra, rb = train(a, data, data, cfg), train(b, data, data, cfg)
    assert ra.train_loss[-1] < ra.train_loss[0]
    assert ra.train_loss == rb.train_loss
    assert all(
        torch.equal(p, q)
        for p, q in zip(a.state_dict().values(), b.state_dict().values(), strict=True)
    )
    assert len(ra.val_accuracy) == 3 and not a.training


@pytest.mark.parametrize(
    "cfg",
    [TrainConfig(epochs=0), TrainConfig(lr=0.0), TrainConfig(lr=-1), TrainConfig(batch_size=0)],
)
def test_bad_config_refused_before_training(cfg: TrainConfig) -> None:
    model = fresh_model()
    before = [p.clone() for p in model.parameters()]
    with pytest.raises(ConfigError):
        train(model, blobs(), None, cfg)
    assert all(torch.equal(p, q) for p, q in zip(before, model.parameters(), strict=True))


def test_shipped_default_model_is_accurate_and_documented() -> None:
    model, meta = load_checkpoint(default_model_path())
    test = load_split("digits", "test")
    acc = float((predict(model, test.x) == test.y).float().mean())
    assert meta.arch == "digitsnet" and meta.dataset == "digits"
    assert acc == pytest.approx(meta.training["test_accuracy"]) and acc > 0.97
    assert meta.training["command"] == "python scripts/make_default_model.py"


def test_demo_sweep_decreases_weakly_with_large_jumps() -> None:
    sweep = run_demo("0,0.5,50")
    assert sweep.dataset == "digits" and sweep.rows[0].accuracy > 0.97
    assert sweep.rows[2].accuracy < 0.5  # a huge jump silences the network
