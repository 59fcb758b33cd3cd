"""Robustness metrics: pure functions of per-sample attack outcomes.

Two averaging conventions for perturbation sizes are reported side by side:
- ``*_all``: the mean over ALL evaluated points, unchanged points counting as 0 (the JumpReLU
  paper's rho_p);
- ``*_success``: the mean over successfully attacked, originally correct points only (the
  ART / torchattacks convention).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch

__all__ = [
    "Metrics",
    "fits_budget",
    "robust_accuracy_curve",
    "robust_within_budget",
    "summarize",
]


def _mean(t: torch.Tensor) -> float | None:
    return float(t.double().mean()) if t.numel() else None


def _median(t: torch.Tensor) -> float | None:
    return float(t.double().median()) if t.numel() else None


@dataclass(frozen=True)
class Metrics:
    """Metrics of one attack on one model.

    Attributes:
        n: points evaluated.
        clean_accuracy: fraction classified correctly without attack.
        adv_accuracy: fraction classified correctly on the adversarial inputs ("accuracy under
            attack"; a point that was already wrong stays wrong).
        success_rate: among originally correct points, the fraction the attack fooled.
        rho2_all, rhoinf_all: mean relative perturbation ||x_adv - x||_p / ||x||_p over all
            points (paper convention; unchanged points count as 0).
        rho2_success, rhoinf_success: the same over fooled, originally correct points only.
        median_rho2_success, median_rhoinf_success: medians over the same points.
        l2_success, linf_success: mean absolute norms over the same points.
        zero_grad_fraction: fraction of points abandoned on an exactly zero gradient.
        grad_evals: input-gradient computations spent in total.
        seconds: wall time of the attack.
    """

    n: int
    clean_accuracy: float
    adv_accuracy: float
    success_rate: float | None
    rho2_all: float | None
    rhoinf_all: float | None
    rho2_success: float | None
    rhoinf_success: float | None
    median_rho2_success: float | None
    median_rhoinf_success: float | None
    l2_success: float | None
    linf_success: float | None
    zero_grad_fraction: float
    grad_evals: int
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict."""
        return asdict(self)


def summarize(
    *,
    clean_correct: torch.Tensor,
    adv_correct: torch.Tensor,
    l2_rel: torch.Tensor,
    linf_rel: torch.Tensor,
    l2: torch.Tensor,
    linf: torch.Tensor,
    zero_grad: torch.Tensor | None = None,
    grad_evals: int = 0,
    seconds: float = 0.0,
) -> Metrics:
    """Compute ``Metrics`` from per-sample outcomes (all (N,) tensors).

    Args:
        clean_correct: prediction on x equals the label.
        adv_correct: prediction on x_adv equals the label.
        l2_rel, linf_rel: relative perturbation norms.
        l2, linf: absolute perturbation norms.
        zero_grad: points abandoned on a zero gradient (None: none).
        grad_evals: total input-gradient computations.
        seconds: wall time.

    Returns:
        The metrics.
    """
    n = len(clean_correct)
    fooled = clean_correct & ~adv_correct
    zero = zero_grad if zero_grad is not None else torch.zeros(n, dtype=torch.bool)
    return Metrics(
        n=n,
        clean_accuracy=float(clean_correct.float().mean()) if n else 0.0,
        adv_accuracy=float(adv_correct.float().mean()) if n else 0.0,
        success_rate=_mean(fooled[clean_correct].float()),
        rho2_all=_mean(l2_rel),
        rhoinf_all=_mean(linf_rel),
        rho2_success=_mean(l2_rel[fooled]),
        rhoinf_success=_mean(linf_rel[fooled]),
        median_rho2_success=_median(l2_rel[fooled]),
        median_rhoinf_success=_median(linf_rel[fooled]),
        l2_success=_mean(l2[fooled]),
        linf_success=_mean(linf[fooled]),
        zero_grad_fraction=float(zero.float().mean()) if n else 0.0,
        grad_evals=int(grad_evals),
        seconds=float(seconds),
    )


def robust_accuracy_curve(
    norms: torch.Tensor,
    clean_correct: torch.Tensor,
    adv_correct: torch.Tensor,
    eps_grid: Sequence[float],
) -> list[tuple[float, float]]:
    """Robust accuracy as a function of eps, from a minimal-perturbation attack.

    A point is robust at eps when it is classified correctly and the attack found no
    adversarial perturbation of norm <= eps. This is an upper bound on the true robust
    accuracy (a stronger attack can only lower it).

    Args:
        norms: (N,) norm of each point's minimal perturbation.
        clean_correct: (N,) correct without attack.
        adv_correct: (N,) still correct on the attack's output (attack failed).
        eps_grid: budgets to evaluate.

    Returns:
        ``[(eps, robust accuracy)]`` in the order of ``eps_grid``.
    """
    n = max(len(norms), 1)
    fooled = clean_correct & ~adv_correct
    curve = []
    for eps in eps_grid:
        robust = clean_correct & ~(fooled & (norms <= eps))
        curve.append((float(eps), float(robust.sum()) / n))
    return curve


def robust_within_budget(
    clean_correct: torch.Tensor,
    outcomes: Sequence[tuple[torch.Tensor, torch.Tensor]],
    eps: float,
) -> torch.Tensor:
    """Per point: correct, and no attack fooled it with a perturbation of norm <= ``eps``.

    Every attack counts, whatever norm it minimised: an L2 attack whose output happens to lie
    within the L-infinity ball is an L-infinity adversarial example too. Fixed-budget attacks
    at ``eps`` always qualify; minimal-perturbation attacks qualify where their norm is small
    enough. This is the worst case over the attacks run, an upper bound on robust accuracy.

    Args:
        clean_correct: (N,) correct without attack.
        outcomes: per attack, ``(adv_correct, norms)``: (N,) still correct on its output, and
            (N,) norm of its perturbation in the budget's norm.
        eps: the budget (same units as ``norms``).

    Returns:
        (N,) boolean tensor.
    """
    robust = clean_correct.clone()
    for adv_correct, norms in outcomes:
        robust &= ~(~adv_correct & fits_budget(norms, eps))
    return robust


def fits_budget(norms: torch.Tensor, eps: float) -> torch.Tensor:
    """Whether perturbations of these norms lie within ``eps``, up to float error.

    ``(x + d) - x`` carries the rounding of ``x`` (about 1e-7 for inputs of order 1, as
    pixels and normalised inputs are), and budget projections carry a relative error: the
    allowance is ``1e-5 eps + 1e-7``. A relative allowance alone rejects most points at a
    small budget (at 1/255 in normalised CIFAR-10 units the rounding exceeds 1e-6 eps).

    Args:
        norms: (N,) perturbation norms.
        eps: the budget, in the same units.

    Returns:
        (N,) boolean tensor.
    """
    return norms <= eps + eps * 1e-5 + 1e-7
