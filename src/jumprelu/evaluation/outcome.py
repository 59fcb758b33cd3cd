"""The per-sample outcome of one attack run on the whole split (what a cell file stores)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

__all__ = ["N_EXAMPLES", "Outcome"]


#: Adversarial examples kept per cell for the report (what it shows).
N_EXAMPLES = 6


@dataclass
class Outcome:
    """Per-sample outcome of one attack on one model (tensors of shape (N,) on the CPU).

    Attributes:
        adv_correct: the evaluated model still classifies the adversarial input correctly.
        l2, linf, l2_rel, linf_rel: perturbation norms (absolute and relative to x).
        zero_grad: the attack gave up on an exactly zero gradient.
        grad_evals: input-gradient computations in total.
        seconds: wall time of crafting.
        x_adv: the adversarial inputs (attack space), kept for transfer and examples.
        zero_grad_steps: exactly-zero input gradients met at any iterate (-1: not counted).
        silent: an iterate was adversarial but the returned input is not (silent success).
        improving: not fooled, and the attack's objective was still improving at the end.
        unstable: fooled, but the prediction returns to the label under tiny input noise.
        stages: per-stage counts of a cascade (suites), else empty.
        checks: the re-run indicators of ``indicators.cell_checks``, else empty.
    """

    adv_correct: torch.Tensor
    l2: torch.Tensor
    linf: torch.Tensor
    l2_rel: torch.Tensor
    linf_rel: torch.Tensor
    zero_grad: torch.Tensor
    grad_evals: int
    seconds: float
    x_adv: torch.Tensor
    zero_grad_steps: torch.Tensor | None = None
    silent: torch.Tensor | None = None
    improving: torch.Tensor | None = None
    unstable: torch.Tensor | None = None
    stages: list[dict[str, Any]] = field(default_factory=list)
    checks: dict[str, Any] = field(default_factory=dict)
