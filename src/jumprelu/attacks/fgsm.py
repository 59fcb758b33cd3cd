"""Fast Gradient Sign Method (L-infinity) and Fast Gradient Method (L2).

Goodfellow, Shlens and Szegedy, "Explaining and Harnessing Adversarial Examples", ICLR 2015
(arXiv 1412.6572).

One step along the gradient of the cross-entropy loss with respect to the input:
``x + eps * sign(g)`` for L-infinity, ``x + eps * g / ||g||_2`` for L2 (the fast gradient
method). The base class clips the result to the box. An L-infinity budget given at call may be
per channel (adversarial training's ball in pixel space).
"""

from __future__ import annotations

import torch
from torch import nn

from jumprelu.attacks.base import FixedBudgetAttack, RunOutput
from jumprelu.attacks.grad import check_loss, gradient_step, loss_gradient, zero_gradient
from jumprelu.attacks.norms import Bounds

__all__ = ["FGSM"]


class FGSM(FixedBudgetAttack):
    """One fast gradient step of size ``eps``, clipped to the box.

    Named ``"fgsm"`` for L-infinity and ``"fgm-l2"`` for L2.

    Args:
        eps: the budget (> 0), in the units of the space attacked (or given at call; an
            L-infinity budget given at call may be per channel).
        norm: "linf" (sign of the gradient) or "l2" (gradient scaled to L2 length eps).
        loss: "ce" (cross-entropy, default) or "margin" (Carlini-Wagner margin).
        bounds: see ``Attack``.
    """

    per_channel = True

    def __init__(
        self,
        *,
        eps: float | None = None,
        norm: str = "linf",
        loss: str = "ce",
        bounds: str | Bounds = "box",
    ) -> None:
        super().__init__(eps=eps, norm=norm, bounds=bounds)
        self.loss = check_loss(loss)
        self.name = "fgsm" if self.norm == "linf" else "fgm-l2"

    def _run(
        self,
        model: nn.Module,
        x: torch.Tensor,
        y: torch.Tensor,
        bounds: Bounds,
        index: torch.Tensor,
    ) -> RunOutput:
        """One gradient step from every sample; ``zero_grad`` flags exactly zero gradients."""
        grad, _ = loss_gradient(model, x, y, self.loss)
        ones = torch.ones(len(x), dtype=torch.long)
        x_adv = bounds.clip(x + gradient_step(grad, self.budget, self.norm))
        zero = zero_gradient(grad).cpu()
        return RunOutput(x_adv, ones, ones.clone(), zero, zero_grad_steps=zero.long())
