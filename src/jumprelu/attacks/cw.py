"""Carlini-Wagner L2 attack (untargeted).

Carlini and Wagner, "Towards Evaluating the Robustness of Neural Networks", IEEE Symposium on
Security and Privacy 2017 (arXiv 1608.04644).

Minimises ``||x' - x||_2^2 + c * max(Z_y(x') - max_{k != y} Z_k(x'), -confidence)`` over
``x' = low + (high - low) * (tanh(w) + 1) / 2`` (so ``x'`` always lies in the box) with Adam,
and binary-searches the constant ``c`` per sample. Each sample keeps the smallest-L2
adversarial point found; samples never fooled are returned unchanged.
"""

from __future__ import annotations

import torch
from torch import nn

from jumprelu.attacks.base import MinimalAttack, RunOutput
from jumprelu.attacks.grad import margin_loss
from jumprelu.attacks.norms import Bounds, check_count, check_nonnegative, check_positive

__all__ = ["CarliniWagnerL2"]

_NO_UPPER = 1e10  # the upper bound of c before any success
_BETAS = (0.9, 0.999)


def _adam_step(
    w: torch.Tensor, grad: torch.Tensor, m: torch.Tensor, v: torch.Tensor, t: int, lr: float
) -> torch.Tensor:
    """One Adam step (Kingma and Ba, 2015; default betas), updating the moments in place."""
    m.mul_(_BETAS[0]).add_(grad, alpha=1 - _BETAS[0])
    v.mul_(_BETAS[1]).addcmul_(grad, grad, value=1 - _BETAS[1])
    m_hat = m / (1 - _BETAS[0] ** t)
    v_hat = v / (1 - _BETAS[1] ** t)
    return w - lr * m_hat / (v_hat.sqrt() + 1e-8)


class CarliniWagnerL2(MinimalAttack):
    """Untargeted Carlini-Wagner L2, fully batched. Named ``"cw-l2"``.

    Args:
        steps: Adam iterations per binary-search step (default 100).
        binary_search_steps: rounds of the search over the constant c (default 5).
        initial_const: the first c (default 0.01); multiplied by 10 while a sample has never
            been fooled, bisected once it has.
        confidence: the margin kappa by which the adversarial class must win (default 0).
        lr: Adam's learning rate in tanh space (default 0.1: with 0.01, pixels at the box edges
            barely move in 100 steps, where tanh saturates).
        max_norm: optional cap on the L2 norm (see ``MinimalAttack``).
        bounds: see ``Attack``.
    """

    name = "cw-l2"

    def __init__(
        self,
        *,
        steps: int = 100,
        binary_search_steps: int = 5,
        initial_const: float = 1e-2,
        confidence: float = 0.0,
        lr: float = 0.1,
        max_norm: float | None = None,
        bounds: str | Bounds = "box",
    ) -> None:
        super().__init__(norm="l2", max_norm=max_norm, bounds=bounds)
        self.steps = check_count("steps", steps)
        self.binary_search_steps = check_count("binary_search_steps", binary_search_steps)
        self.initial_const = check_positive("initial_const", initial_const)
        self.confidence = check_nonnegative("confidence", confidence)
        self.lr = check_positive("lr", lr)

    def _run(
        self,
        model: nn.Module,
        x: torch.Tensor,
        y: torch.Tensor,
        bounds: Bounds,
        index: torch.Tensor,
    ) -> RunOutput:
        """The binary search over c with an Adam optimisation at each round: the smallest-L2
        adversarial found per sample, or x where none was found."""
        n, dev = len(x), x.device
        shape = (-1, *([1] * (x.dim() - 1)))
        low, width = bounds.low, bounds.high - bounds.low

        def to_input(w: torch.Tensor) -> torch.Tensor:
            return bounds.clip(low + width * (torch.tanh(w) + 1) / 2)

        unit = ((x - low) / width * 2 - 1).clamp(-1 + 1e-6, 1 - 1e-6)
        w0 = torch.atanh(unit)
        const = torch.full((n,), self.initial_const, dtype=x.dtype, device=dev)
        lower = torch.zeros_like(const)
        upper = torch.full_like(const, _NO_UPPER)
        best_l2 = torch.full_like(const, float("inf"))
        best = x.clone()
        zsteps = torch.zeros(n, dtype=torch.long, device=dev)
        for _ in range(self.binary_search_steps):
            w = w0.clone()
            m, v = torch.zeros_like(w), torch.zeros_like(w)
            found = torch.zeros(n, dtype=torch.bool, device=dev)
            for t in range(1, self.steps + 1):
                w.requires_grad_(True)
                x_new = to_input(w)
                logits = model(x_new)
                margin = -margin_loss(logits, y)  # Z_y - max_{k != y} Z_k
                l2sq = (x_new - x).flatten(1).pow(2).sum(1)
                hinge = const * (margin + self.confidence).clamp_min(0)
                (g_hinge,) = torch.autograd.grad(hinge.sum(), w, retain_graph=True)
                (g_l2,) = torch.autograd.grad(l2sq.sum(), w)
                grad = g_hinge + g_l2
                with torch.no_grad():  # the classifier's part of the gradient is unavailable
                    active = margin + self.confidence > 0
                    zsteps += (active & g_hinge.flatten(1).eq(0).all(1)).long()
                with torch.no_grad():
                    # The iterate just evaluated: keep it when adversarial and smallest so far.
                    adv = (logits.argmax(1) != y) & (margin < -self.confidence)
                    improved = adv & (l2sq < best_l2)
                    best_l2 = torch.where(improved, l2sq, best_l2)
                    best = torch.where(improved.view(shape), x_new, best)
                    found |= adv
                    w = _adam_step(w.detach(), grad, m, v, t, self.lr)
            upper = torch.where(found, torch.minimum(upper, const), upper)
            lower = torch.where(found, lower, torch.maximum(lower, const))
            bisect = (lower + upper) / 2
            const = torch.where(upper < _NO_UPPER, bisect, const * 10)
        count = torch.full((n,), self.binary_search_steps * self.steps, dtype=torch.long)
        return RunOutput(best.detach(), count, count.clone(), None, zero_grad_steps=zsteps.cpu())
