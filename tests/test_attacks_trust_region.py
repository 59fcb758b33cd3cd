"""The adaptive Trust-Region attack: the accept/reject rule, BPDA, the box, linear models."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from jumprelu.attacks.base import Bounds
from jumprelu.attacks.deepfool import DeepFool
from jumprelu.attacks.trust_region import TrustRegion, trust_update
from jumprelu.errors import ConfigError
from jumprelu.retrofit import retrofit

WIDE = Bounds(-100.0, 100.0)  # no pressure from the box


def mlp(seed: int = 0) -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """A small two-hidden-layer ReLU MLP fitted to random 1x8x8 images, with its data."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(48, 1, 8, 8, generator=g)
    y = ((x.flatten(1) - 0.5) @ torch.randn(64, 4, generator=g)).argmax(1)
    torch.manual_seed(seed)
    model = nn.Sequential(
        nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 4)
    )
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    for _ in range(100):
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()  # type: ignore[no-untyped-call]
        opt.step()
    for p in model.parameters():
        p.grad = None
    return model.eval(), x, y


# --- The rule itself ---


def _decide(actual: float, predicted: float, fooled: bool = False) -> tuple[Any, ...]:
    x, x_trial = torch.zeros(1, 3), torch.ones(1, 3)
    radius, length = torch.tensor([0.6]), torch.tensor([0.5])
    x_next, r, acc = trust_update(
        x,
        x_trial,
        radius,
        length,
        torch.tensor([actual]),
        torch.tensor([predicted]),
        torch.tensor([fooled]),
        factor=1.2,
        min_radius=1e-3,
        max_radius=10.0,
    )
    return x_next, float(r), bool(acc)


def test_poor_ratio_rejects_and_shrinks_below_the_step() -> None:
    for actual in (0.3, 0.0, -0.2):  # rho 0.3, 0, negative
        x_next, r, acc = _decide(actual, 1.0)
        assert not acc and torch.equal(x_next, torch.zeros(1, 3))  # the iterate stays
        assert r == pytest.approx(0.5 / 1.2)  # the rejected step's length / factor
    x_next, r, acc = _decide(1.0, 0.0)  # no predicted decrease (the box cancelled the step)
    assert not acc and torch.equal(x_next, torch.zeros(1, 3)) and r < 0.5


def test_good_ratio_accepts_and_grows_moderate_keeps() -> None:
    x_next, r, acc = _decide(0.95, 1.0)
    assert acc and torch.equal(x_next, torch.ones(1, 3)) and r == pytest.approx(0.6 * 1.2)
    x_next, r, acc = _decide(0.7, 1.0)
    assert acc and torch.equal(x_next, torch.ones(1, 3)) and r == pytest.approx(0.6)
    x_next, r, acc = _decide(0.1, 1.0, fooled=True)  # adversarial trials are always taken
    assert acc and torch.equal(x_next, torch.ones(1, 3))


def test_radius_stays_within_its_limits() -> None:
    x, ones = torch.zeros(2, 1), torch.ones(2)
    _, r, _ = trust_update(
        x, x + 1, torch.tensor([9.0, 2e-3]), torch.tensor([9.0, 2e-3]), ones,
        torch.tensor([1.0, 100.0]), torch.zeros(2, dtype=torch.bool),
        factor=2.0, min_radius=1e-3, max_radius=10.0,
    )  # fmt: skip
    assert r.tolist() == pytest.approx([10.0, 1e-3])


class _Lying(torch.autograd.Function):
    """Forward 0 (flat), backward the identity: a gradient that promises what never comes."""

    @staticmethod
    def forward(ctx: Any, a: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(a)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        return grad


class Decoy(nn.Module):
    """Class 0 wins at the origin; class 1 looks closest (distance 1 along x0) but its logit
    never moves; class 2's boundary x1 = 2 is real."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = x[:, 0], x[:, 1]
        lying: torch.Tensor = _Lying.apply(a)  # type: ignore[no-untyped-call]
        return torch.stack([torch.zeros_like(a), lying - 1, b - 2], 1)


def test_rejected_trials_stay_and_a_stalled_target_is_replaced() -> None:
    model, x, y = Decoy(), torch.zeros(1, 2), torch.zeros(1, dtype=torch.long)
    res = TrustRegion(adaptive=True, radius=0.5, patience=4, bounds=WIDE)(model, x, y)
    assert res.success.all()
    assert float(res.x_adv[0, 0]) == 0.0  # every step toward the decoy was rejected
    assert float(res.x_adv[0, 1]) >= 2.0
    assert int(res.iterations) > 4 and res.trace is not None
    decoy = res.trace[0, :4]
    assert torch.equal(decoy, torch.full((4,), -1.0))  # stayed at the margin of the origin
    fixed = TrustRegion(radius=0.5, steps=100, bounds=WIDE)(model, x, y)
    assert not fixed.success.any()  # the fixed target walks toward the decoy forever


# --- Small networks ---


@pytest.mark.parametrize("norm", ["l2", "linf"])
def test_unbounded_reaches_every_point_of_a_relu_model(norm: str) -> None:
    model, x, y = mlp()
    res = TrustRegion(norm=norm, adaptive=True, bounds=WIDE)(model, x, y)
    assert res.success.all() and res.found is not None and res.found.all()
    df = DeepFool(norm=norm, bounds=WIDE)(model, x, y)
    # minimal: no more than a little above DeepFool's perturbations
    assert float(getattr(res, norm).median()) <= 1.05 * float(getattr(df, norm).median())


@pytest.mark.parametrize("gradient", ["relu", "smooth"])
def test_bpda_on_a_jump_model(gradient: str) -> None:
    model, x, y = mlp()
    jumpy = retrofit(model, 1.0, gradient=gradient)  # the straight-through or smooth BPDA
    with torch.no_grad():
        y = jumpy(x).argmax(1)
    res = TrustRegion(adaptive=True, bounds=WIDE)(jumpy, x, y)
    fixed = TrustRegion(bounds=WIDE)(jumpy, x, y)  # the paper's fixed radius, 40 iterations
    assert res.success.all() and not res.zero_grad.any()
    assert float(fixed.success.float().mean()) < 0.75


@pytest.mark.parametrize("norm", ["l2", "linf"])
def test_box_respected(norm: str) -> None:
    model, x, y = mlp()
    box = Bounds(0.1, 0.9)
    x = box.clip(x)
    with torch.no_grad():
        y = model(x).argmax(1)
    res = TrustRegion(norm=norm, adaptive=True, bounds=box)(model, x, y)
    assert float(res.x_adv.min()) >= 0.1 and float(res.x_adv.max()) <= 0.9
    assert res.success.float().mean() > 0.9


@pytest.mark.parametrize("classes", [2, 5])
@pytest.mark.parametrize("norm", ["l2", "linf"])
def test_linear_classifier_analytic_distance(classes: int, norm: str) -> None:
    torch.manual_seed(classes)
    model = nn.Linear(6, classes)
    x = torch.randn(12, 6)
    with torch.no_grad():
        f = model(x)
        y = f.argmax(1)
        w = model.weight[None] - model.weight[y][:, None]  # (N, K, 6)
        gap = (f.gather(1, y[:, None]) - f).clamp_min(0)
        dual = w.norm(p=2 if norm == "l2" else 1, dim=2)
        analytic = torch.where(dual > 0, gap / dual, torch.inf).min(1).values
    res = TrustRegion(norm=norm, adaptive=True, bounds=WIDE)(model, x, y)
    size = getattr(res, norm)
    assert res.success.all()
    assert (size >= analytic - 1e-5).all()
    torch.testing.assert_close(size, analytic, rtol=0.03, atol=2e-4)


def test_results_do_not_depend_on_the_batch() -> None:
    model, x, y = mlp(1)
    jumpy = retrofit(model, 0.5, gradient="relu")
    whole = TrustRegion(adaptive=True, bounds=WIDE)(jumpy, x, y)
    parts = [
        TrustRegion(adaptive=True, bounds=WIDE)(jumpy, x[s:s + 3], y[s:s + 3],
                                                 index=torch.arange(s, s + 3))
        for s in range(0, len(x), 3)
    ]  # fmt: skip
    torch.testing.assert_close(torch.cat([p.x_adv for p in parts]), whole.x_adv, atol=1e-5, rtol=0)
    assert torch.equal(torch.cat([p.iterations for p in parts]), whole.iterations)


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: TrustRegion(adaptive=True, patience=0), "patience"),
        (lambda: TrustRegion(adaptive=True, radius_fraction=0), "radius_fraction"),
        (lambda: TrustRegion(adaptive=True, radius_fraction=float("inf")), "radius_fraction"),
        (lambda: TrustRegion(adaptive=True, radius_factor=0.5), "radius_factor"),
        (lambda: TrustRegion(adaptive=True, min_radius=1.0, max_radius=0.1), "min_radius"),
        (lambda: TrustRegion(adaptive=True, radius=5.0, max_radius=1.0), "max_radius"),
        (lambda: TrustRegion(adaptive=True, steps=0), "steps"),
        (lambda: TrustRegion(adaptive=True, radius=-1.0), "radius"),
        (lambda: TrustRegion(adaptive=True, overshoot=-1.0), "overshoot"),
    ],
)
def test_bad_settings(make: Callable[[], object], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        make()


def test_defaults() -> None:
    ada, fixed = TrustRegion(adaptive=True), TrustRegion()
    assert (ada.steps, ada.radius, ada.radius_factor) == (200, None, 1.2)
    assert (fixed.steps, fixed.radius) == (40, 0.01)
