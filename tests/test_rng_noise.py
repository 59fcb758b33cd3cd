"""Per-sample random numbers and the noise-averaged gradient do not depend on the batching."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from jumprelu.activation import JumpReLU, jump_relu
from jumprelu.attacks.noise import NoiseAveragedGradient
from jumprelu.attacks.rng import SampleRandom
from jumprelu.errors import ConfigError


def test_a_sample_draws_the_same_numbers_in_any_batch() -> None:
    whole = SampleRandom(3, torch.arange(10))
    part = SampleRandom(3, torch.tensor([7, 2]))
    assert torch.equal(whole.uniform(5, 4, 3)[[7, 2]], part.uniform(5, 4, 3))
    assert torch.equal(whole.take(torch.tensor([7, 2])).normal(1, 6), part.normal(1, 6))
    assert not torch.equal(whole.uniform(5, 8), whole.uniform(6, 8))  # streams differ
    assert not torch.equal(whole.uniform(5, 8), SampleRandom(4, torch.arange(10)).uniform(5, 8))


def test_distributions_have_the_right_range_and_moments() -> None:
    rng = SampleRandom(0, torch.arange(200))
    u = rng.uniform(0, 500)
    assert float(u.min()) >= 0 and float(u.max()) < 1 and abs(float(u.mean()) - 0.5) < 0.01
    z = rng.normal(1, 500)
    assert abs(float(z.mean())) < 0.02 and abs(float(z.std()) - 1) < 0.02
    k = rng.randint(2, torch.arange(1, 201), 50)
    assert bool((k >= 0).all()) and bool((k < torch.arange(1, 201)[:, None]).all())
    s = rng.signs(3, 100)
    assert set(s.unique().tolist()) == {-1.0, 1.0}


def test_smooth_surrogate_widths() -> None:
    x = torch.linspace(-1, 3, 50, requires_grad=True)
    jump = torch.tensor(1.0)

    def grad(name: str) -> torch.Tensor:
        (g,) = torch.autograd.grad(jump_relu(x, jump, gradient=name).sum(), x)
        return g

    assert torch.equal(grad("smooth"), grad("smooth-0.25"))
    narrow, wide = grad("smooth-0.1"), grad("smooth-1")
    below = x.detach() < 0.5
    assert float(wide[below].abs().sum()) > float(narrow[below].abs().sum())  # wider leaks more
    assert torch.equal(jump_relu(x, jump, gradient="smooth-1"), jump_relu(x, jump))
    for bad in ("smooth-0", "smooth--1", "smooth-x", "smoothish"):
        with pytest.raises(ConfigError):
            JumpReLU(1.0, gradient=bad)


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(12, 16), JumpReLU(0.3), nn.Linear(16, 4))


def test_noise_averaged_gradient_keeps_the_forward_and_averages_the_backward() -> None:
    net = _net().eval()
    wrapped = NoiseAveragedGradient(net, sigma=0.5, samples=16, seed=1)
    x = torch.rand(6, 1, 3, 4)
    assert torch.equal(wrapped(x), net(x))
    xg = x.clone().requires_grad_(True)
    (g_avg,) = torch.autograd.grad(wrapped(xg)[:, 0].sum(), xg)
    xg2 = x.clone().requires_grad_(True)
    (g_plain,) = torch.autograd.grad(net(xg2)[:, 0].sum(), xg2)
    assert not torch.allclose(g_avg, g_plain)
    # the same sample gets the same noise, hence the same gradient, in another batch
    xs = x[[4, 1]].clone().requires_grad_(True)
    (g_sub,) = torch.autograd.grad(wrapped(xs)[:, 0].sum(), xs)
    assert torch.allclose(g_sub, g_avg[[4, 1]], atol=1e-6)
    with pytest.raises(ConfigError):
        NoiseAveragedGradient(net, sigma=0.0)
