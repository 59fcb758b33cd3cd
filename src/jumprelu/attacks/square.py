"""Square Attack (L-infinity): a score-based, gradient-free attack.

Andriushchenko, Croce, Flammarion and Hein, "Square Attack: a query-efficient black-box
adversarial attack via random search", ECCV 2020 (arXiv 1912.00049).

Random search over perturbations at the corners of the eps-ball: each iteration changes a
random square window of every still-unbroken image to +-eps per channel and keeps the change
when the margin loss f_y - max_{k != y} f_k decreases. It never looks at a gradient, so it
exposes defences that only mask gradients (as a discontinuous activation can).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .base import Bounds, FixedBudgetAttack, RunOutput, check_count, check_positive

__all__ = ["SquareAttack"]

# Iterations (out of 10,000) after which the square's area fraction p is halved (the paper's
# schedule, rescaled to the query budget).
_HALVINGS = (10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000)


def _margin(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    logits = model(x)
    true = logits.gather(1, y[:, None]).squeeze(1)
    other = logits.scatter(1, y[:, None], float("-inf")).amax(1)
    out: torch.Tensor = true - other
    return out


def _fraction(p_init: float, it: int, n_iters: int) -> float:
    scaled = int(it / n_iters * 10_000)
    return float(p_init / 2 ** sum(scaled > h for h in _HALVINGS))


class SquareAttack(FixedBudgetAttack):
    """Square Attack, L-infinity (score-based, gradient-free).

    Args:
        eps: L-infinity budget (> 0).
        queries: iterations, one model query per still-unbroken image each (default 1000).
        p_init: initial fraction of the image covered by the square (default 0.05).
        seed: seed of the attack's own random generator (the global RNG is untouched).
        bounds: see ``Attack``.
    """

    def __init__(
        self,
        *,
        eps: float,
        queries: int = 1000,
        p_init: float = 0.05,
        seed: int = 0,
        bounds: str | Bounds = "box",
    ) -> None:
        super().__init__(eps=eps, norm="linf", bounds=bounds)
        self.name = "square-linf"
        self.queries = check_count("queries", queries)
        self.p_init = check_positive("p_init", p_init)
        self.seed = int(seed)

    def _run(
        self,
        model: nn.Module,
        x: torch.Tensor,
        y: torch.Tensor,
        bounds: Bounds,
        index: torch.Tensor,
    ) -> RunOutput:
        gen = torch.Generator().manual_seed(self.seed)
        n, c, h, w = x.shape
        eps, dev = self.eps, x.device

        def signs(*shape: int) -> torch.Tensor:
            return (torch.randint(0, 2, shape, generator=gen) * 2 - 1).to(dev, x.dtype)

        # Initialisation: vertical stripes of +-eps; points already misclassified stay as they are.
        stripes = bounds.clip(x + eps * signs(n, c, 1, w))
        with torch.no_grad():
            m0, m1 = _margin(model, x, y), _margin(model, stripes, y)
        done = m0 <= 0
        x_best = torch.where(done.view(-1, 1, 1, 1), x, stripes)
        margin = torch.where(done, m0, m1)
        iterations = torch.zeros(n, dtype=torch.long)
        rows = torch.arange(h, device=dev).view(1, 1, h, 1)
        cols = torch.arange(w, device=dev).view(1, 1, 1, w)
        for it in range(self.queries):
            active = (margin > 0).nonzero().squeeze(1)
            if active.numel() == 0:
                break
            iterations[active.cpu()] += 1
            k = active.numel()
            side = max(round(math.sqrt(_fraction(self.p_init, it, self.queries) * h * w)), 1)
            side = min(side, h - 1, w - 1) if min(h, w) > 1 else 1
            top = torch.randint(0, h - side + 1, (k,), generator=gen).to(dev).view(k, 1, 1, 1)
            left = torch.randint(0, w - side + 1, (k,), generator=gen).to(dev).view(k, 1, 1, 1)
            window = (rows >= top) & (rows < top + side) & (cols >= left) & (cols < left + side)
            x_a, cur = x[active], x_best[active]
            candidate = torch.where(window, x_a + eps * signs(k, c, 1, 1), cur)
            candidate = bounds.clip(torch.min(torch.max(candidate, x_a - eps), x_a + eps))
            with torch.no_grad():
                new_margin = _margin(model, candidate, y[active])
            better = new_margin < margin[active]
            x_best[active[better]] = candidate[better]
            margin[active[better]] = new_margin[better]
        return RunOutput(x_best, iterations, torch.zeros(n, dtype=torch.long))
