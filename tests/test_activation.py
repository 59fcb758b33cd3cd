"""JumpReLU activation: definition, out-of-place, buffer, modes and gradients."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from jumprelu.activation import JumpReLU, jump_relu
from jumprelu.errors import ConfigError

floats = st.floats(-10, 10, allow_nan=False, width=32)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(floats, min_size=1, max_size=50),
    st.floats(0, 5, allow_nan=False, width=32, allow_subnormal=False).filter(
        lambda j: j == 0 or j >= 1e-30
    ),
)
def test_definition_and_out_of_place(values: list[float], jump: float) -> None:
    x = torch.tensor(values)
    before = x.clone()
    out = jump_relu(x, jump)
    expected = torch.tensor([v if v > jump else 0.0 for v in x.tolist()])
    assert torch.equal(out, expected)
    assert torch.equal(x, before)  # never writes into its input
    assert out.data_ptr() != x.data_ptr()


def test_jump_zero_is_relu() -> None:
    x = torch.randn(1000)
    assert torch.equal(jump_relu(x, 0.0), torch.relu(x))


def test_jump_is_a_buffer_saved_in_state_dict() -> None:
    m = JumpReLU(0.7)
    assert "jump" in m.state_dict() and float(m.state_dict()["jump"]) == pytest.approx(0.7)
    other = JumpReLU(0.0)
    other.load_state_dict(m.state_dict())
    assert float(other.jump) == pytest.approx(0.7)
    assert not list(m.parameters())


def test_modes_default_both_and_eval_only() -> None:
    x = torch.tensor([-1.0, 0.2, 0.6, 2.0])
    both, paper = JumpReLU(0.5), JumpReLU(0.5, eval_only=True)
    for mode in (True, False):
        both.train(mode)
        assert torch.equal(both(x), torch.tensor([0.0, 0.0, 0.6, 2.0]))
    paper.train()
    assert torch.equal(paper(x), torch.relu(x))
    paper.eval()
    assert torch.equal(paper(x), torch.tensor([0.0, 0.0, 0.6, 2.0]))


def test_exact_gradient_is_indicator_above_jump() -> None:
    x = torch.tensor([-1.0, 0.2, 0.6, 2.0], requires_grad=True)
    JumpReLU(0.5)(x).sum().backward()
    assert x.grad is not None
    assert torch.equal(x.grad, torch.tensor([0.0, 0.0, 1.0, 1.0]))


def test_relu_straight_through_gradient_keeps_forward() -> None:
    x = torch.tensor([-1.0, 0.2, 0.6, 2.0], requires_grad=True)
    m = JumpReLU(0.5, gradient="relu")
    out = m(x)
    assert torch.equal(out.detach(), torch.tensor([0.0, 0.0, 0.6, 2.0]))
    out.sum().backward()
    assert x.grad is not None
    assert torch.equal(x.grad, torch.tensor([0.0, 1.0, 1.0, 1.0]))


@pytest.mark.parametrize("bad", [-0.1, math.nan, math.inf, -math.inf])
def test_bad_jump_is_refused(bad: float) -> None:
    with pytest.raises(ConfigError, match="jump"):
        JumpReLU(bad)
    with pytest.raises(ConfigError, match="jump"):
        jump_relu(torch.zeros(2), bad)
    m = JumpReLU(1.0)
    with pytest.raises(ConfigError):
        m.set_jump(bad)
    assert float(m.jump) == 1.0


def test_unknown_gradient_is_refused() -> None:
    with pytest.raises(ConfigError, match="unknown gradient"):
        JumpReLU(0.1, gradient="magic")


def test_dtype_and_device_follow_input() -> None:
    x = torch.randn(10, dtype=torch.float64)
    out = JumpReLU(0.3).double()(x)
    assert out.dtype == torch.float64
    assert torch.equal(out, torch.where(x > 0.3, x, torch.zeros_like(x)))


def test_smooth_surrogate_forward_exact_backward_smoothed() -> None:
    x = torch.linspace(-1, 3, 401, requires_grad=True)
    for jump in (0.0, 1.0):
        y = jump_relu(x, jump, gradient="smooth")
        assert torch.equal(y, jump_relu(x.detach(), jump))  # forward is JumpReLU exactly
        (g,) = torch.autograd.grad(y.sum(), x)
        assert torch.isfinite(g).all()
        if jump == 0.0:  # a (numerically) ReLU gradient away from 0
            far = x.detach().abs() > 0.01
            assert torch.allclose(g[far], (x.detach()[far] > 0).float(), atol=1e-3)
        else:  # unlike straight-through, units just below the jump get a push upwards
            below = (x.detach() > 0.8) & (x.detach() < 1.0)
            assert (g[below] > 0.2).all() and g[x.detach() < 0].abs().max() < 0.05


@pytest.mark.parametrize("gradient", ["relu", "smooth", "smooth-0.1", "smooth-1"])
def test_fused_surrogates_equal_autograd_of_their_expression_bit_for_bit(gradient: str) -> None:
    """The surrogates' one-step backward gives the numbers autograd gives for the expression
    (ReLU; x * sigmoid((x - jump) / t)), and the forward pass is JumpReLU exactly."""
    torch.manual_seed(0)
    x = torch.randn(50_000) * 2
    jump = torch.tensor(0.7)
    g_out = torch.randn_like(x)
    xa = x.clone().requires_grad_(True)
    out = jump_relu(xa, jump, gradient=gradient)
    (fused,) = torch.autograd.grad(out, xa, g_out)
    xb = x.clone().requires_grad_(True)
    if gradient == "relu":
        expr = torch.relu(xb)
    else:
        width = 0.25 if gradient == "smooth" else float(gradient.removeprefix("smooth-"))
        expr = xb * torch.sigmoid((xb - jump) / (width * jump + 1e-6))
    (ref,) = torch.autograd.grad(expr, xb, g_out)
    assert torch.equal(fused, ref)
    assert torch.equal(out.detach(), torch.where(x > jump, x, torch.zeros(())))
