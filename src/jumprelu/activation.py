"""The JumpReLU activation: J(x) = x if x > jump else 0.

Erichson, Yao and Mahoney, "JumpReLU: A Retrofit Defense Strategy for Adversarial Attacks",
ICPRAM 2020 (arXiv 1904.03750).

The forward pass is always the same; how gradients flow through the jump is pluggable
(``GRADIENTS``): ``"exact"`` is the almost-everywhere derivative 1[x > jump] the paper's
white-box attacks see, ``"relu"`` is the straight-through (BPDA) derivative 1[x > 0] of the
ReLU the jump replaced, which adaptive attacks use by default, and ``"smooth"`` is the
derivative of a sigmoid-smoothed jump (BPDA through a differentiable surrogate);
``"smooth-W"`` sets that sigmoid's width to ``W`` times the jump (``"smooth"`` is
``"smooth-0.25"``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from jumprelu._util import real
from jumprelu.errors import ConfigError

__all__ = [
    "GRADIENTS",
    "JumpReLU",
    "MeanSparse",
    "check_gradient",
    "check_jump",
    "check_jumps",
    "jump_relu",
    "smooth_surrogate",
]


#: The largest jump (and smooth-surrogate width) accepted: far above any activation, and
#: what float32 computes with (a JumpReLU at 1e39 would be infinite).
MAX_JUMP = 1e6


def check_jump(jump: float) -> float:
    """Validate a jump size.

    Args:
        jump: the threshold kappa.

    Returns:
        The jump as a float.

    Raises:
        ConfigError: when the jump is not a number in [0, ``MAX_JUMP``] (float32 carries it).
    """
    return real("jump", jump, low=0.0, high=MAX_JUMP)


#: A jump: one threshold, or one per channel (learned thresholds, ``jumprelu.learn``).
Jump = float | list[float]


def check_jumps(jump: object, where: str = "") -> Jump:
    """Validate a jump or a per-channel list of jumps (each as ``check_jump``).

    Args:
        jump: a number, or a non-empty list (or 1-d tensor) of numbers, one per channel.
        where: what it is (e.g. a site), prefixed to the error message.

    Returns:
        A float, or a list of floats.

    Raises:
        ConfigError: not a number or list of numbers, an empty list, or an invalid jump.
    """
    at = f"{where}: " if where else ""
    if isinstance(jump, torch.Tensor):
        if jump.dim() > 1:
            raise ConfigError(f"{at}per-channel jumps must be 1-d, not {list(jump.shape)}")
        jump = jump.tolist()
    if isinstance(jump, (list, tuple)):
        if not jump:
            raise ConfigError(f"{at}a per-channel jump list must not be empty")
        bad = [v for v in jump if isinstance(v, bool) or not isinstance(v, (int, float))]
        if bad:
            raise ConfigError(f"{at}per-channel jumps must be numbers, got {bad[0]!r}")
        try:
            return [check_jump(v) for v in jump]
        except ConfigError as exc:
            raise ConfigError(f"{at}{exc}") from None
    if isinstance(jump, bool) or not isinstance(jump, (int, float)):
        raise ConfigError(f"{at}jump must be a number or a list of numbers, got {jump!r}")
    try:
        return check_jump(jump)
    except ConfigError as exc:
        raise ConfigError(f"{at}{exc}") from None


def _forward(x: torch.Tensor, jump: torch.Tensor) -> torch.Tensor:
    if jump.numel() == 1 and x.device.type == "cpu":  # one fused kernel: a third of the time
        return torch.threshold(x, float(jump), 0.0)  # of a ResNet-20 forward pass on a CPU
    return torch.where(x > jump, x, torch.zeros((), dtype=x.dtype, device=x.device))


def _exact(x: torch.Tensor, jump: torch.Tensor) -> torch.Tensor:
    return _forward(x, jump)


class _Surrogate(torch.autograd.Function):
    """Forward: JumpReLU. Backward: a surrogate's derivative, in one fused step.

    ``width`` None: the ReLU's 1[x > 0] (straight-through); else the derivative of
    x * sigmoid((x - jump) / t), t = width * jump + 1e-6, in the order autograd computes it
    for that expression (the same numbers, without building its graph in every forward pass).
    """

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, jump: torch.Tensor, width: float | None) -> torch.Tensor:
        ctx.save_for_backward(x, jump)
        ctx.width = width
        return _forward(x, jump)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        x, jump = ctx.saved_tensors
        if ctx.width is None:
            return torch.where(x > 0, grad, torch.zeros((), dtype=grad.dtype)), None, None
        t = ctx.width * jump + 1e-6
        sig = torch.sigmoid((x - jump) / t)
        return grad * sig + grad * x * (1 - sig) * sig / t, None, None


def _relu_straight_through(x: torch.Tensor, jump: torch.Tensor) -> torch.Tensor:
    """Forward: JumpReLU. Backward: 1[x > 0], the ReLU's."""
    out: torch.Tensor = _Surrogate.apply(x, jump, None)  # type: ignore[no-untyped-call]
    return out


GradientFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

#: Width of the smooth surrogate's sigmoid, relative to the jump (gradient "smooth").
SMOOTH_WIDTH = 0.25


def smooth_surrogate(width: float) -> GradientFn:
    """The gradient variant backpropagating through s(x) = x * sigmoid((x - jump) / t).

    Forward: JumpReLU exactly. ``t = width * jump`` (plus a tiny floor), so s tends to
    x * 1[x > jump] as t -> 0 and has the same shape at every jump; unlike the straight-through
    ReLU gradient it also rewards pushing a unit across the threshold (BPDA with a
    differentiable approximation, Athalye, Carlini and Wagner, ICML 2018).

    Args:
        width: the sigmoid's width relative to the jump (> 0).

    Returns:
        The gradient function ``(x, jump) -> output``.
    """

    def fn(x: torch.Tensor, jump: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = _Surrogate.apply(x, jump, width)  # type: ignore[no-untyped-call]
        return out

    return fn


#: Gradient variants by name; each computes the JumpReLU forward pass exactly.
GRADIENTS: dict[str, GradientFn] = {
    "exact": _exact,
    "relu": _relu_straight_through,
    "smooth": smooth_surrogate(SMOOTH_WIDTH),
}


def _gradient_fn(name: str) -> GradientFn:
    fn = GRADIENTS.get(name)
    if fn is not None:
        return fn
    if isinstance(name, str) and name.startswith("smooth-"):
        try:
            width = float(name.removeprefix("smooth-"))
        except ValueError:
            width = math.nan
        if math.isnan(width):
            raise ConfigError(f"gradient {name!r}: the smooth surrogate's width must be a number")
        return smooth_surrogate(
            real(f"gradient {name!r}: the width", width, low=0.0, high=MAX_JUMP, open_low=True)
        )
    raise ConfigError(
        f"unknown gradient {name!r}; known: {', '.join(sorted(GRADIENTS))}, smooth-WIDTH"
    )


def check_gradient(name: str) -> str:
    """Validate a gradient variant's name (``GRADIENTS`` or ``smooth-W`` with W > 0).

    Args:
        name: the variant's name.

    Returns:
        The name.

    Raises:
        ConfigError: an unknown name or a width <= 0.
    """
    _gradient_fn(name)
    return name


def jump_relu(
    x: torch.Tensor, jump: float | torch.Tensor = 0.0, *, gradient: str = "exact"
) -> torch.Tensor:
    """Apply JumpReLU out of place.

    Args:
        x: input tensor (never modified).
        jump: threshold kappa >= 0; a tensor must broadcast against ``x``.
        gradient: name in ``GRADIENTS`` deciding the backward pass.

    Returns:
        A new tensor equal to ``x`` where ``x > jump`` and 0 elsewhere.
    """
    if not isinstance(jump, torch.Tensor):
        jump = torch.tensor(check_jump(jump), dtype=x.dtype, device=x.device)
    return _gradient_fn(gradient)(x, jump)


class JumpReLU(nn.Module):
    """JumpReLU module, a drop-in replacement for ``nn.ReLU``.

    Args:
        jump: threshold kappa >= 0, stored as a buffer (saved in the state_dict).
        eval_only: apply the jump only in eval mode and act as a plain ReLU in training mode,
            as the paper's code did. By default the jump applies in both modes.
        gradient: name in ``GRADIENTS``: ``"exact"`` (1[x > jump], default), ``"relu"``
            (straight-through, for BPDA attacks), ``"smooth"`` or ``"smooth-W"`` (sigmoid
            surrogate of width W times the jump).

    Example:
        >>> import torch, jumprelu
        >>> act = jumprelu.JumpReLU(jump=1.0)
        >>> act(torch.tensor([-1.0, 0.5, 1.0, 2.0]))
        tensor([0., 0., 0., 2.])
        >>> act
        JumpReLU(jump=1)
    """

    jump: torch.Tensor

    def __init__(self, jump: float = 0.0, *, eval_only: bool = False, gradient: str = "exact"):
        super().__init__()
        self.register_buffer("jump", torch.tensor(check_jump(jump)))
        self.eval_only = eval_only
        self._fn = _gradient_fn(gradient)
        self._fn_name = self.gradient = gradient

    def set_jump(self, jump: float | list[float] | torch.Tensor) -> None:
        """Change the threshold in place.

        Args:
            jump: new threshold kappa >= 0, or one per channel (a list or 1-d tensor; the
                input's dimension 1 must then have that many channels).
        """
        value = check_jumps(jump)
        if isinstance(value, list) or self.jump.dim():  # a new shape: a new buffer
            self.jump = torch.tensor(value, dtype=self.jump.dtype, device=self.jump.device)
        else:
            self.jump.fill_(value)

    def _load_from_state_dict(self, state_dict: Any, prefix: str, *args: Any) -> None:
        saved = state_dict.get(prefix + "jump")
        if isinstance(saved, torch.Tensor) and saved.shape != self.jump.shape:
            self.jump = torch.empty_like(saved, device=self.jump.device)  # per-channel jumps
        super()._load_from_state_dict(state_dict, prefix, *args)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the activation (out of place)."""
        if self.eval_only and self.training:
            return torch.relu(x)
        if self._fn_name != self.gradient:  # the attribute may be set directly
            self._fn, self._fn_name = _gradient_fn(self.gradient), self.gradient
        jump = self.jump.to(x.dtype)
        if jump.dim():
            channels = x.shape[1] if x.dim() > 1 else -1
            if channels != jump.numel():
                raise ConfigError(
                    f"JumpReLU has {jump.numel()} per-channel jumps but its input "
                    f"{list(x.shape)} has {max(channels, 0)} channels (dimension 1)"
                )
            jump = jump.view(1, -1, *([1] * (x.dim() - 2)))
        return self._fn(x, jump)

    def extra_repr(self) -> str:
        if self.jump.dim():
            extra = f"jump=[{self.jump.numel()} channels, max {float(self.jump.max()):g}]"
        else:
            extra = f"jump={float(self.jump):g}"
        if self.eval_only:
            extra += ", eval_only=True"
        if self.gradient != "exact":
            extra += f", gradient={self.gradient!r}"
        return extra


class _MeanSparseFn(torch.autograd.Function):
    """Forward: MeanSparse. Backward by ``mode``: "exact" (zero inside the band), "relu"
    (straight-through: the identity's 1) or a smooth width (the derivative of
    mu + (x - mu) * sigmoid((|x - mu| - band) / t), t = width * band + 1e-6)."""

    @staticmethod
    def forward(
        ctx: Any, x: torch.Tensor, mu: torch.Tensor, band: torch.Tensor, mode: str | float
    ) -> torch.Tensor:
        ctx.save_for_backward(x, mu, band)
        ctx.mode = mode
        return torch.where((x - mu).abs() < band, mu.expand_as(x), x)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, None, None, None]:
        x, mu, band = ctx.saved_tensors
        if ctx.mode == "relu":
            return grad, None, None, None
        dist = (x - mu).abs()
        if ctx.mode == "exact":
            return (
                torch.where(dist < band, torch.zeros((), dtype=grad.dtype), grad),
                None,
                None,
                None,
            )
        t = float(ctx.mode) * band + 1e-6
        sig = torch.sigmoid((dist - band) / t)
        return grad * (sig + dist * sig * (1 - sig) / t), None, None, None


class MeanSparse(nn.Module):
    """MeanSparse (Amini, Teymoorianfard, Ma and Houmansadr 2024, arXiv 2406.05927): a feature
    within ``alpha`` standard deviations of its channel's mean becomes that mean.

    ``y = mu_c if |x - mu_c| < alpha * sigma_c else x`` per channel (dimension 1), with the
    channel's training mean and standard deviation. Its input gradient is zero inside the band,
    as JumpReLU's is below the jump; ``gradient`` chooses what an attack backpropagates:
    "exact" (what a plain attack sees), "relu" (straight-through: the identity's gradient,
    BPDA) or "smooth"/"smooth-W" (a sigmoid surrogate of the band, width W times the band).

    Args:
        mean: per-channel means (C,).
        std: per-channel standard deviations (C,), > 0.
        alpha: the band's half-width in standard deviations (>= 0; 0 is the identity).
        gradient: as for ``JumpReLU``.

    Example:
        >>> import torch, jumprelu
        >>> from jumprelu.activation import MeanSparse
        >>> op = MeanSparse(torch.tensor([0.0]), torch.tensor([1.0]), alpha=0.5)
        >>> op(torch.tensor([[-1.0, -0.2, 0.3, 2.0]]).T)  # one channel, four samples
        tensor([[-1.],
                [ 0.],
                [ 0.],
                [ 2.]])
    """

    mean: torch.Tensor
    std: torch.Tensor
    alpha: torch.Tensor
    gradient: str

    def __init__(
        self, mean: torch.Tensor, std: torch.Tensor, alpha: float = 0.0, *, gradient: str = "exact"
    ) -> None:
        super().__init__()
        mean, std = mean.detach().float().flatten(), std.detach().float().flatten()
        if (
            mean.shape != std.shape
            or not bool(torch.isfinite(mean).all())
            or not bool((torch.isfinite(std) & (std > 0)).all())
        ):
            raise ConfigError("MeanSparse needs finite per-channel means and stds > 0")
        self.register_buffer("mean", mean)
        self.register_buffer("std", std)
        self._alpha = real("alpha", alpha, low=0.0, high=MAX_JUMP)  # no device sync per call
        self.register_buffer("alpha", torch.tensor(self._alpha))
        check_gradient(gradient)
        self.gradient = gradient

    def _load_from_state_dict(self, *args: Any, **kwargs: Any) -> None:
        super()._load_from_state_dict(*args, **kwargs)
        self._alpha = float(self.alpha)  # the loaded band, not the constructed one

    def set_alpha(self, alpha: float) -> None:
        """Change the band's half-width (in standard deviations) in place."""
        self._alpha = real("alpha", alpha, low=0.0, high=MAX_JUMP)
        self.alpha.fill_(self._alpha)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the operator (out of place; the identity at alpha 0, bit for bit)."""
        if self._alpha == 0:
            return x
        shape = (1, -1, *([1] * (x.dim() - 2)))
        mu = self.mean.to(x.dtype).view(shape)
        band = (self.alpha * self.std).to(x.dtype).view(shape)
        name = self.gradient
        mode: str | float = name
        if name.startswith("smooth"):
            mode = SMOOTH_WIDTH if name == "smooth" else float(name.removeprefix("smooth-"))
        elif name not in ("exact", "relu"):
            raise ConfigError(f"MeanSparse has no gradient {name!r}")
        out: torch.Tensor = _MeanSparseFn.apply(x, mu, band, mode)  # type: ignore[no-untyped-call]
        return out

    def extra_repr(self) -> str:
        extra = f"channels={len(self.mean)}, alpha={float(self.alpha):g}"
        return extra + (f", gradient={self.gradient!r}" if self.gradient != "exact" else "")
