"""Norms, budgets, projection and the input box, and the checks of attack settings.

A budget (``eps``) is one radius, or for L-infinity one radius per channel: a tensor of C
values (or one), shaped ``(1, C, 1, ...)`` by ``check_budget`` so that it broadcasts over a
batch (N, C, ...). Adversarial training needs the per-channel ball: an eps in normalised units
is ``eps * std_c`` pixels in channel c.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Literal, TypeAlias, TypedDict

import torch

from jumprelu._util import real
from jumprelu.errors import ConfigError

__all__ = [
    "NORMS",
    "Bounds",
    "Budget",
    "Norms",
    "check_batch",
    "check_budget",
    "check_count",
    "check_nonnegative",
    "check_norm",
    "check_optional_count",
    "check_positive",
    "check_radius",
    "clip_to_ball",
    "lp_norm",
    "outside",
    "per_sample",
    "perturbation_norms",
    "project",
]

Norm = Literal["l2", "linf"]
NORMS: tuple[str, ...] = ("l2", "linf")
#: One radius, or per-channel L-infinity radii (a tensor).
Budget: TypeAlias = float | torch.Tensor
_TOL = 1e-6


def check_norm(norm: str) -> Norm:
    """Validate a norm name ("l2" or "linf")."""
    if norm not in NORMS:
        raise ConfigError(f"unknown norm {norm!r}; known: {', '.join(NORMS)}")
    return norm  # type: ignore[return-value]


#: Bounds of attack settings: counts (steps, queries, restarts) and real settings (budgets,
#: step sizes, margins), so that a run ends and float32 carries every value.
MAX_COUNT, MAX_SETTING = 100_000, 1e30


def check_positive(name: str, value: float) -> float:
    """Validate a finite, strictly positive setting such as epsilon or a step size."""
    return real(name, value, low=0.0, high=MAX_SETTING, open_low=True)


def check_nonnegative(name: str, value: float) -> float:
    """Validate a finite setting >= 0 such as an overshoot or a confidence margin."""
    return real(name, value, low=0.0, high=MAX_SETTING)


def check_count(name: str, value: int, minimum: int = 1, maximum: int = MAX_COUNT) -> int:
    """Validate an integer setting such as a number of steps (at most ``maximum``, a sane
    bound: a billion steps would fill the memory or never end)."""
    whole = isinstance(value, numbers.Integral) or (
        isinstance(value, float) and float(value).is_integer()
    )
    if isinstance(value, bool) or not whole:
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if value < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if value > maximum:
        raise ConfigError(f"{name} must be at most {maximum:,} (a sane bound), got {value!r}")
    return int(value)


def check_optional_count(name: str, value: int | None) -> int | None:
    """Validate an optional integer setting (None or an int >= 1)."""
    return None if value is None else check_count(name, value)


def check_radius(name: str, value: Budget) -> Budget:
    """Validate a radius: a finite number > 0, or a tensor of C (or 1) of them, per channel.

    Returns:
        The float, or the tensor flattened to 1-D and detached (on its device).
    """
    if not isinstance(value, torch.Tensor):
        return check_positive(name, value)
    flat = value.detach().reshape(-1)
    if value.dim() > 1 or len(flat) == 0 or not bool((torch.isfinite(flat) & (flat > 0)).all()):
        raise ConfigError(
            f"{name} per channel must be a 1-D tensor of finite numbers > 0, got {value!r}"
        )
    return flat


def check_budget(
    name: str, value: Budget, norm: str, x: torch.Tensor, *, per_channel: bool
) -> Budget:
    """Validate a budget for the batch ``x`` and lay a per-channel one out as (1, C, 1, ...).

    Args:
        name: the setting's name, for messages.
        value: a float, or a tensor of C (or 1) L-infinity radii.
        norm: the attack's norm.
        x: the batch (N, C, ...).
        per_channel: whether the attack accepts per-channel radii.

    Returns:
        The float, or the radii on ``x``'s device and dtype, broadcastable to ``x``.

    Raises:
        ConfigError: a radius <= 0 or not finite, per-channel radii for an L2 attack or one
            without them, or a number of radii other than C or 1.
    """
    radius = check_radius(name, value)
    if not isinstance(radius, torch.Tensor):
        return radius
    if norm != "linf" or not per_channel:
        raise ConfigError(f"{name} per channel needs an L-inf attack that supports it")
    channels = x.shape[1] if x.dim() > 1 else 1
    if len(radius) not in (1, channels):
        raise ConfigError(f"{name} has {len(radius)} values for {channels} channels")
    return radius.to(x.device, x.dtype).view(1, -1, *([1] * (x.dim() - 2)))


def lp_norm(t: torch.Tensor, norm: str) -> torch.Tensor:
    """Per-sample norm of a batch (N, ...) -> (N,)."""
    flat = t.flatten(1)
    out: torch.Tensor = flat.norm(p=2, dim=1) if norm == "l2" else flat.abs().amax(dim=1)
    return out


class Norms(TypedDict):
    """Per-sample perturbation norms (see ``perturbation_norms``)."""

    l2: torch.Tensor
    linf: torch.Tensor
    l2_rel: torch.Tensor
    linf_rel: torch.Tensor


def perturbation_norms(x: torch.Tensor, x_adv: torch.Tensor) -> Norms:
    """The per-sample norms of ``x_adv - x``: absolute and relative to the same norm of ``x``.

    Args:
        x: clean inputs (N, ...).
        x_adv: perturbed inputs, same shape.

    Returns:
        ``{"l2", "linf", "l2_rel", "linf_rel"}``, each (N,) (the paper's rho_p for ``_rel``).
    """
    delta = x_adv - x
    l2, linf = lp_norm(delta, "l2"), lp_norm(delta, "linf")
    return Norms(
        l2=l2,
        linf=linf,
        l2_rel=l2 / lp_norm(x, "l2").clamp_min(1e-12),
        linf_rel=linf / lp_norm(x, "linf").clamp_min(1e-12),
    )


def per_sample(t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """(N,) values shaped (N, 1, 1, ...) to broadcast over a batch shaped like ``like``."""
    return t.view(-1, *([1] * (like.dim() - 1)))


def project(delta: torch.Tensor, eps: Budget, norm: str) -> torch.Tensor:
    """Project perturbations onto the ``norm`` ball of radius ``eps``.

    Args:
        delta: perturbations (N, ...).
        eps: a radius, or radii broadcastable to ``delta``: per sample (N, 1, ...) or, for
            L-infinity, per channel (1, C, 1, ...).
        norm: "linf" or "l2".
    """
    if norm == "linf":
        if isinstance(eps, torch.Tensor):  # clamp's tensor and number overloads, one each
            return delta.clamp(-eps, eps)
        return delta.clamp(-eps, eps)
    n = per_sample(lp_norm(delta, "l2").clamp_min(1e-12), delta)
    out: torch.Tensor = delta * (eps / n).clamp(max=1.0)
    return out


def outside(delta: torch.Tensor, eps: Budget, norm: str) -> torch.Tensor:
    """(N,) bool: the perturbation exceeds the budget (per-channel radii: in some channel)."""
    if isinstance(eps, torch.Tensor):
        out: torch.Tensor = (delta.abs() > eps).flatten(1).any(1)
        return out
    return lp_norm(delta, norm) > eps


@dataclass(frozen=True)
class Bounds:
    """The valid input range: a box [low, high] applied to every element.

    Attributes:
        low: smallest valid value.
        high: largest valid value.
    """

    low: float = 0.0
    high: float = 1.0

    @classmethod
    def of_batch(cls, x: torch.Tensor) -> Bounds:
        """The paper's convention: the global min and max of the clean batch."""
        return cls(float(x.min()), float(x.max()))

    def clip(self, x: torch.Tensor) -> torch.Tensor:
        """Clip ``x`` into the box."""
        return x.clamp(self.low, self.high)

    def check(self, x: torch.Tensor) -> None:
        """Raise ConfigError when ``x`` lies outside the box."""
        lo, hi = float(x.min()), float(x.max())
        if lo < self.low - _TOL or hi > self.high + _TOL:
            raise ConfigError(
                f"inputs range over [{lo:g}, {hi:g}], outside the declared bounds "
                f"[{self.low:g}, {self.high:g}]"
            )


def clip_to_ball(
    x: torch.Tensor, point: torch.Tensor, eps: Budget, norm: str, bounds: Bounds
) -> torch.Tensor:
    """``point`` moved into the ``norm`` ball of radius ``eps`` around ``x``, then into the box.

    A float budget is applied as ``clip(x + project(point - x))``, the arithmetic behind the
    published results. Per-channel radii take ``min(max(point, x - eps), x + eps)`` clipped to
    the box: the same point up to rounding, and a point already inside is kept exactly.

    Args:
        x: the clean inputs (N, ...).
        point: the points to move (N, ...).
        eps: the budget (a float, or per-channel radii from ``check_budget``).
        norm: "linf" or "l2".
        bounds: the box.
    """
    if isinstance(eps, torch.Tensor):
        low, high = (x - eps).clamp_min(bounds.low), (x + eps).clamp_max(bounds.high)
        return torch.minimum(torch.maximum(point, low), high)
    return bounds.clip(x + project(point - x, eps, norm))


def check_batch(
    x: torch.Tensor, y: torch.Tensor, bounds: Bounds, index: torch.Tensor | None
) -> torch.Tensor:
    """Check an attack's batch before any work; returns the samples' indices on the CPU.

    Args:
        x: inputs (N, ...), finite and within ``bounds``.
        y: integer labels (N,).
        bounds: the box.
        index: (N,) global indices of the samples, or None for ``0..N-1``.

    Raises:
        ConfigError: non-finite inputs, labels of the wrong shape or type, inputs outside the
            box, or an index of the wrong shape.
    """
    if not torch.isfinite(x).all():
        raise ConfigError("inputs contain NaN or infinite values")
    if y.dim() != 1 or len(y) != len(x):
        raise ConfigError(f"labels must have shape ({len(x)},), got {tuple(y.shape)}")
    if y.dtype.is_floating_point:
        raise ConfigError(f"labels must be integers, got {y.dtype}")
    bounds.check(x)
    if index is None:
        return torch.arange(len(x))
    if index.shape != (len(x),):
        raise ConfigError(f"index must have shape ({len(x)},), got {tuple(index.shape)}")
    return index.cpu()
