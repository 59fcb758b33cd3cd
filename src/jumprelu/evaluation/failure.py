"""Per-sample indicators of attack failure, measured on a run's own output.

Pintor et al., "Indicators of Attack Failure", NeurIPS 2022: the objective was still improving
at the end (more iterations would help), or the adversarial inputs are unstable under tiny
noise (a lucky point rather than a robust misclassification).
"""

from __future__ import annotations

import torch
from torch import nn

from jumprelu.attacks.base import Attack, FixedBudgetAttack
from jumprelu.attacks.rng import SampleRandom
from jumprelu.evaluation.clean import predict

__all__ = [
    "IMPROVING_SHARE",
    "UNSTABLE_DRAWS",
    "UNSTABLE_SCALE",
    "still_improving",
    "unstable_points",
]

#: Noise draws and scale (relative to the budget) of the unstable-prediction indicator.
UNSTABLE_DRAWS, UNSTABLE_SCALE = 8, 0.01


#: The incomplete-optimisation indicator: the best objective still rose by more than this
#: share of its total rise during the last tenth of the iterations.
IMPROVING_SHARE = 0.05


def still_improving(
    traces: list[tuple[int, torch.Tensor | None]], success: torch.Tensor
) -> torch.Tensor:
    """Points not fooled whose best objective still rose in the last tenth of the run.

    Args:
        traces: per batch, in order, its size and its (n, T) objective per iteration
            (``RunOutput.trace``), or None where the attack does not record one.
        success: (N,) the points fooled.
    """
    out = torch.zeros(len(success), dtype=torch.bool)
    at = 0
    for n, trace in traces:
        if trace is not None and trace.shape[1] >= 10:
            t = trace.float().cpu().nan_to_num(nan=-torch.inf)
            best = t.cummax(1).values
            first = best[:, 0]
            first = torch.where(torch.isfinite(first), first, best[:, -1])
            late = best[:, -1] - best[:, int(0.9 * t.shape[1]) - 1]
            total = (best[:, -1] - first).clamp_min(1e-12)
            rising = torch.isfinite(late) & (late > IMPROVING_SHARE * total) & (late > 1e-6)
            out[at : at + n] = rising & ~success[at : at + n]
        at += n
    return out


def unstable_points(
    attack: Attack,
    model: nn.Module,
    x: torch.Tensor,
    x_adv: torch.Tensor,
    y: torch.Tensor,
    success: torch.Tensor,
    index: torch.Tensor,
    batch_size: int,
) -> torch.Tensor:
    """Fooled points whose prediction returns to the label under noise of 1% of the budget."""
    out = torch.zeros(len(x), dtype=torch.bool)
    if not isinstance(attack, FixedBudgetAttack) or not bool(success.any()):
        return out
    rows = success.nonzero().squeeze(1)
    rng = SampleRandom(7919, index[rows])
    scale = UNSTABLE_SCALE * attack.eps
    dims = tuple(x.shape[1:])
    if attack.norm == "linf":
        z = (rng.uniform(0, UNSTABLE_DRAWS, *dims) * 2 - 1) * scale
    else:
        z = rng.normal(0, UNSTABLE_DRAWS, *dims)
        z = (
            z
            * scale
            / z.flatten(2).norm(dim=2).clamp_min(1e-12).view(*z.shape[:2], *[1] * len(dims))
        )
    box = attack.bounds_for(x)
    noisy = box.clip(x_adv[rows].unsqueeze(1) + z).flatten(0, 1)
    pred = predict(model, noisy, batch_size=batch_size).view(len(rows), UNSTABLE_DRAWS)
    out[rows] = (pred == y[rows].unsqueeze(1)).any(1)
    return out
