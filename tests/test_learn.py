"""Per-channel jumps and learned thresholds (``jumprelu.learn``, ``tune --learn-thresholds``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

import jumprelu
from jumprelu.activation import JumpReLU
from jumprelu.cli.main import main
from jumprelu.datasets.core import Split
from jumprelu.errors import ConfigError
from jumprelu.evaluation.jump_grid import (
    apply_point,
    check_sites,
    map_summary,
    parse_grid,
    point_label,
    point_level,
    site_channels,
)
from jumprelu.learn import _LearnedJump, learn_thresholds


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(4 * 6 * 6, 8),
        nn.ReLU(),
        nn.Linear(8, 3),
    )


def _split(n: int, seed: int, split: str = "train") -> Split:
    """Three classes of 6x6 images told apart by where the bright square is."""
    gen = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 3
    x = 0.2 * torch.rand(n, 1, 6, 6, generator=gen)
    for i, c in enumerate(y.tolist()):
        x[i, 0, 2 * c : 2 * c + 2, 1:5] += 0.7
    info = jumprelu.load_split("digits", "val").info
    return Split(x.clamp(0, 1), y, info, split)


def _trained() -> nn.Module:
    net = _net()
    train = _split(300, 1)
    opt = torch.optim.Adam(net.parameters(), lr=0.01)
    for _ in range(60):
        opt.zero_grad()
        nn.functional.cross_entropy(net(train.x), train.y).backward()
        opt.step()
    return net.eval()


def test_per_channel_jumps_equal_a_direct_computation() -> None:
    """A list of jumps applies channel by channel (conv and linear inputs); a wrong count and
    a state_dict round trip behave."""
    act = JumpReLU()
    act.set_jump([0.0, 0.5, 1.0])
    x = torch.randn(2, 3, 4, 4)
    kappa = torch.tensor([0.0, 0.5, 1.0]).view(1, 3, 1, 1)
    assert torch.equal(act(x), torch.where(x > kappa, x, torch.zeros(())))
    z = torch.randn(5, 3)
    assert torch.equal(act(z), torch.where(z > kappa.view(1, 3), z, torch.zeros(())))
    with pytest.raises(ConfigError, match="3 per-channel jumps but its input"):
        act(torch.randn(2, 4, 4, 4))
    other = JumpReLU(jump=0.2)
    other.load_state_dict(act.state_dict())
    assert torch.equal(other.jump, act.jump)
    act.set_jump(0.25)  # back to one jump
    assert act.jump.dim() == 0 and float(act.jump) == 0.25


def test_mapping_points_with_lists() -> None:
    """Per-channel lists parse, label, summarise, apply and are checked against the channels."""
    jm = jumprelu.retrofit(_net())
    point = parse_grid([{"1": [0.1, 0.2, 0.3, 0.4], "4": 0.5}])[1 - 1]
    assert isinstance(point, dict)
    assert point_level(point) == 0.5 and point_label(point).startswith("layers-")
    assert map_summary(point) == {"jump_map": {"1": 0.25, "4": 0.5}, "jump_channels": {"1": 4}}
    x = torch.rand(2, 1, 6, 6)
    channels = site_channels(jm, x[:1])
    assert channels == {"1": 4, "4": 8}
    check_sites([point], jumprelu.jump_sites(jm), channels)
    apply_point(jm, point)
    assert jumprelu.jump_sites(jm)["1"].jump.tolist() == pytest.approx([0.1, 0.2, 0.3, 0.4])
    with pytest.raises(ConfigError, match="8 channels but 4"):
        check_sites([{"4": [0.1] * 4}], jumprelu.jump_sites(jm), channels)


def test_pseudo_derivative_is_the_sae_rectangle() -> None:
    """d/dtheta = -(theta/eps) 1[|z - theta| < eps/2], summed over all but the channel axis;
    d/dz = 1[z > theta]."""
    z = torch.tensor([[0.0, 0.97, 1.2], [1.04, 2.0, 0.5]], requires_grad=True)  # (2, 3)
    theta = torch.tensor([[1.0, 1.0, 1.0]], requires_grad=True)
    _LearnedJump.apply(z, theta, 0.1).sum().backward()
    assert z.grad is not None and theta.grad is not None
    assert torch.equal(z.grad, (z > 1.0).float())
    # inside the band: z=1.04 (channel 0) and z=0.97 (channel 1); 1.2 and 0.5 are not
    assert theta.grad[0].tolist() == pytest.approx([-10.0, -10.0, 0.0])


def test_learning_moves_thresholds_not_weights() -> None:
    """Only thresholds change; the result is within the budget and evaluates as a point."""
    net = _trained()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    train, val = _split(256, 2), _split(90, 3, "val")
    result = learn_thresholds(net, train, val, eps=0.1, steps=30, eval_every=10, max_drop=0.05)
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    assert set(result.site_jumps) == {"1", "4"}
    assert [len(v) for v in result.site_jumps.values()] == [4, 8]
    init = {n: [0.1 * result.settings["scales"][n]] * len(v) for n, v in result.site_jumps.items()}
    assert any(result.site_jumps[n] != pytest.approx(init[n]) for n in init)  # they moved
    assert result.baseline_accuracy - result.accuracy <= 0.05 + 1e-12
    jm = jumprelu.retrofit(net)
    apply_point(jm, dict(result.site_jumps))
    acc = float((jm(val.x).argmax(1) == val.y).float().mean())
    assert acc == pytest.approx(result.accuracy)


def test_budget_zero_keeps_admissible_thresholds() -> None:
    """With max_drop 0, whatever is returned costs no validation accuracy."""
    net = _trained()
    train, val = _split(128, 4), _split(60, 5, "val")
    result = learn_thresholds(
        net, train, val, eps=0.3, steps=20, eval_every=5, max_drop=0.0, init=2.0
    )
    assert result.accuracy >= result.baseline_accuracy
    assert all(r["admissible"] for r in result.rows[:-1])


def test_cli_learns_on_digits_and_the_mapping_evaluates(tmp_path: Path) -> None:
    """``tune --learn-thresholds`` writes jumps.json; ``evaluate --jumps @FILE`` takes it and
    gives the same test numbers at that point."""
    out, again = tmp_path / "learn", tmp_path / "again"
    base = ["-q", "--dataset", "digits", "--n", "30", "--attacks", "fgsm", "--threats", "white"]
    assert (
        main(
            ["-q", "tune", *base[1:], "--learn-thresholds", "--learn-steps", "4", "--out", str(out)]
        )
        == 0
    )
    mapping = json.loads((out / "jumps.json").read_text())
    assert {k: len(v) for k, v in mapping.items()} == {
        "net.act1": 16,
        "net.act2": 32,
        "net.act3": 64,
    }
    doc = json.loads((out / "results.json").read_text())
    tuning = doc["provenance"]["tuning"]
    assert tuning["learned"] and tuning["label"] == point_label(mapping)
    assert "site_jumps" not in tuning  # the mapping lives in jumps.json
    argv = ["-q", "evaluate", *base[1:], "--jumps", f"@{out / 'jumps.json'}", "--out", str(again)]
    assert main(argv) == 0
    other = json.loads((again / "results.json").read_text())
    first = [c for c in doc["cells"] if c["jump"] == tuning["label"]]
    assert [c["metrics"]["adv_accuracy"] for c in first] == [
        c["metrics"]["adv_accuracy"] for c in other["cells"]
    ]
    assert other["clean"][0]["jump_channels"] == {"net.act1": 16, "net.act2": 32, "net.act3": 64}
