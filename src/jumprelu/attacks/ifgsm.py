"""Iterative FGSM as used in the JumpReLU paper (not PGD: no epsilon-ball, early stop).

Erichson, Yao and Mahoney, "JumpReLU: A Retrofit Defense Strategy for Adversarial Attacks",
ICPRAM 2020 (arXiv 1904.03750), building on the fast gradient sign method of Goodfellow,
Shlens and Szegedy, "Explaining and Harnessing Adversarial Examples", ICLR 2015.

Each iteration takes one FGSM step ``x <- clip(x + eps * sign(grad CE(f(x), y)))`` of size
``eps`` on every image the network still classifies correctly; an image stops as soon as it
is misclassified. There is no projection onto an epsilon-ball: the perturbation grows up to
``steps * eps`` in L-infinity. Only the still-correct images are forwarded each iteration.
"""

from __future__ import annotations

import logging

import torch
from torch import nn

from jumprelu.attacks.base import Attack, RunOutput
from jumprelu.attacks.grad import loss_gradient, zero_gradient
from jumprelu.attacks.norms import Bounds, check_count, check_positive

__all__ = ["IterativeFGSM"]

log = logging.getLogger(__name__)


class IterativeFGSM(Attack):
    """The JumpReLU paper's iterative FGSM with per-image early stopping.

    An image whose input gradient is exactly zero would never move again (the step is the
    sign of the gradient); it is dropped and reported in ``zero_grad`` (gradient masking).

    Args:
        eps: the size of each step (> 0), in the units of the space attacked (default 0.01,
            the paper's setting in normalised space).
        steps: the most steps per image (default 40; the paper uses 7 on CIFAR-10).
        bounds: see ``Attack`` (the paper's protocol uses "paper").
    """

    name = "ifgsm"

    def __init__(self, *, eps: float = 0.01, steps: int = 40, bounds: str | Bounds = "box") -> None:
        super().__init__(bounds=bounds)
        self.eps = check_positive("eps", eps)
        self.steps = check_count("steps", steps)

    def _run(
        self,
        model: nn.Module,
        x: torch.Tensor,
        y: torch.Tensor,
        bounds: Bounds,
        index: torch.Tensor,
    ) -> RunOutput:
        """The last iterate of every image, with per-image steps and gradient counts."""
        n = len(x)
        x_adv = x.clone()
        iterations = torch.zeros(n, dtype=torch.long, device=x.device)
        grad_evals = torch.zeros(n, dtype=torch.long, device=x.device)
        zero_grad = torch.zeros(n, dtype=torch.bool, device=x.device)
        active = torch.arange(n, device=x.device)
        for _ in range(self.steps):
            if active.numel() == 0:
                break
            grad, logits = loss_gradient(model, x_adv[active], y[active])
            grad_evals[active] += 1
            correct = logits.argmax(1) == y[active]
            flat = zero_gradient(grad)
            zero_grad[active[correct & flat]] = True
            keep = correct & ~flat
            active, grad = active[keep], grad[keep]
            x_adv[active] = bounds.clip(x_adv[active] + self.eps * grad.sign())
            iterations[active] += 1
        log.debug(
            "ifgsm: %d of %d images still correct, %d stopped on a zero gradient",
            active.numel(),
            n,
            int(zero_grad.sum()),
        )
        return RunOutput(x_adv, iterations.cpu(), grad_evals.cpu(), zero_grad.cpu())
