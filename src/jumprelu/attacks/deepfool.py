"""DeepFool (L2 and L-infinity): minimal perturbations by linearising the decision boundaries.

Moosavi-Dezfooli, Fawzi and Frossard, "DeepFool: a simple and accurate method to fool deep
neural networks", CVPR 2016 (arXiv 1511.04599), with the settings of the JumpReLU paper
(Erichson, Yao and Mahoney, ICPRAM 2020, arXiv 1904.03750).

At each iteration the reference class is the current top prediction and every other class
(or the ``candidates`` best ones by logit) is a candidate. Linearising, the boundary with
class k lies at distance ``|f_k - f_ref| / ||w_k - w_ref||_q`` where ``w`` are the logits'
input gradients and ``q`` is the dual norm (2 for L2, 1 for L-infinity). The sample moves
toward the closest boundary by ``(r + 1e-4) * (1 + overshoot)`` along the normalised
gradient difference (L2) or its sign (L-infinity), from where it is, and is clipped to the
box. A sample stops as soon as it is misclassified with respect to its true label.

Exactly zero gradients (JumpReLU turns every unit of some layer off) make every distance
undefined: such a sample is stopped where it is, flagged in ``zero_grad``, and never turned
into NaN.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from jumprelu.attacks.base import MinimalAttack, RunOutput
from jumprelu.attacks.grad import logit_gradients
from jumprelu.attacks.norms import (
    Bounds,
    check_count,
    check_nonnegative,
    check_optional_count,
    per_sample,
)

__all__ = [
    "DeepFool",
    "candidate_classes",
    "closest_boundary",
    "closest_class",
    "forward_graph",
    "linear_step",
    "still_correct",
]

#: Added to every step's length before the overshoot (the DeepFool reference code's value).
STEP_EPS = 1e-4
#: Samples per forward/backward pass on a CPU: cache-sized passes computed the LeNet's input
#: gradients 1.7 times faster than passes over 1,000 images, with identical results.
CPU_BATCH = 256


def batch_for(batch_size: int | None, x: torch.Tensor) -> int:
    """Samples per pass: ``batch_size``, else ``CPU_BATCH`` on a CPU and all of them elsewhere."""
    if batch_size is not None:
        return batch_size
    return CPU_BATCH if x.device.type == "cpu" else max(len(x), 1)


def forward_graph(model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits of ``x`` with a graph to a fresh leaf copy of ``x``: ``(leaf, logits)``."""
    leaf = x.detach().requires_grad_(True)
    logits: torch.Tensor = model(leaf)
    return leaf, logits


def still_correct(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int) -> torch.Tensor:
    """(N,) bool: the model's prediction on ``x`` is ``y`` (no graph, in passes of ``batch``)."""
    if len(x) == 0:
        return torch.zeros_like(y, dtype=torch.bool)
    with torch.no_grad():
        pred = torch.cat([model(part).argmax(1) for part in torch.split(x, batch)])
    return pred == y


def candidate_classes(logits: torch.Tensor, candidates: int | None) -> torch.Tensor:
    """The other classes by decreasing logit, after the top one: (N, K)."""
    order = logits.detach().argsort(stable=True, dim=1, descending=True)
    k = order.shape[1] - 1 if candidates is None else min(candidates, order.shape[1] - 1)
    out: torch.Tensor = order[:, 1 : 1 + k]
    return out


def closest_boundary(
    logits: torch.Tensor,
    grads: torch.Tensor,
    classes: torch.Tensor,
    reference: torch.Tensor,
    norm: str,
) -> tuple[torch.Tensor, torch.Tensor]:
    """DeepFool's choice: the candidate whose linearised boundary is closest.

    Args:
        logits: (N, C) logits.
        grads: (N, K, ...) gradients of ``f_k - f_ref`` for the candidates ``classes``.
        classes: (N, K) candidate classes.
        reference: (N,) reference classes.
        norm: "l2" or "linf" (distances in that norm, so with the dual norm of the gradient).

    Returns:
        ``(distance, index)``, both (N,): the distance (``inf`` when every candidate's gradient
        difference is exactly zero) and the position of the closest candidate in ``classes``.
    """
    logits = logits.detach()
    gap = (logits.gather(1, reference[:, None]) - logits.gather(1, classes)).abs()
    dual = grads.flatten(2).norm(p=2 if norm == "l2" else 1, dim=2)
    dist = torch.where(dual > 0, gap / dual.clamp_min(torch.finfo(dual.dtype).tiny), math.inf)
    best_dist, best = dist.min(1)
    return best_dist, best


def closest_class(
    logits: torch.Tensor,
    x: torch.Tensor,
    reference: torch.Tensor,
    norm: str,
    candidates: int | None,
    exclude: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]:
    """The candidate class whose linearised boundary with ``reference`` is closest.

    Args:
        logits: ``model(x)`` (N, C), computed with ``x`` requiring grad.
        x: the inputs (N, ...).
        reference: (N,) the reference classes.
        norm: "l2" or "linf".
        candidates: how many classes to consider (see ``candidate_classes``).
        exclude: optional (N,) class to replace by another candidate where one exists.

    Returns:
        ``(target, grad, distance, K)``: the class (N,), the gradient of
        ``f_target - f_reference`` (N, ...), the distance (N,, ``inf`` when every gradient
        difference is zero) and the number of gradients computed per sample.
    """
    classes = candidate_classes(logits, candidates)
    if exclude is not None and classes.shape[1] > 1:  # replace it by another candidate
        other = torch.where(classes[:, 0] == exclude, classes[:, 1], classes[:, 0])
        classes = torch.where(classes == exclude[:, None], other[:, None], classes)
    grads = logit_gradients(logits, x, classes, reference)
    dist, best = closest_boundary(logits, grads, classes, reference, norm)
    rows = torch.arange(len(x), device=x.device)
    return classes[rows, best], grads[rows, best], dist, classes.shape[1]


def linear_step(
    length: torch.Tensor, direction: torch.Tensor, norm: str, overshoot: float
) -> torch.Tensor:
    """The step ``(length + 1e-4) * (1 + overshoot)`` along ``direction`` in ``norm``.

    L2: along ``direction / ||direction||_2``; L-infinity: along its sign. A zero direction
    gives a zero step (never NaN).
    """
    size = per_sample((length + STEP_EPS) * (1.0 + overshoot), direction)
    if norm == "linf":
        return size * direction.sign()
    unit = direction.flatten(1).norm(p=2, dim=1).view_as(size)
    out: torch.Tensor = size * direction / unit.clamp_min(torch.finfo(unit.dtype).tiny)
    return out


class DeepFool(MinimalAttack):
    """DeepFool, L2 or L-infinity (Moosavi-Dezfooli et al., CVPR 2016).

    Args:
        norm: "l2" or "linf".
        steps: most iterations per sample (the JumpReLU paper: 40 on MNIST, 7 on CIFAR-10).
        overshoot: each step is ``(r + 1e-4) * (1 + overshoot)`` (default 0.02).
        candidates: how many classes to consider, the best by logit after the top one
            (default: all other classes).
        batch_size: samples per forward/backward pass (default: 256 on a CPU, all at once
            elsewhere); results do not depend on it.
        max_norm: see ``MinimalAttack``.
        bounds: see ``Attack``.

    ``grad_evals`` counts one input gradient per candidate class and iteration (the gradients
    of ``f_k - f_ref`` are computed directly, so the reference class costs none).
    """

    def __init__(
        self,
        *,
        norm: str = "l2",
        steps: int = 50,
        overshoot: float = 0.02,
        candidates: int | None = None,
        batch_size: int | None = None,
        max_norm: float | None = None,
        bounds: str | Bounds = "box",
    ) -> None:
        super().__init__(norm=norm, max_norm=max_norm, bounds=bounds)
        self.name = f"deepfool-{self.norm}"
        self.steps = check_count("steps", steps)
        self.overshoot = check_nonnegative("overshoot", overshoot)
        self.candidates = check_optional_count("candidates", candidates)
        self.batch_size = check_optional_count("batch_size", batch_size)

    def _step(
        self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, bounds: Bounds
    ) -> tuple[torch.Tensor, torch.Tensor, int]:
        """One iteration for samples all still classified as ``y``: (x_new, zero_grad, K)."""
        leaf, logits = forward_graph(model, x)  # y is the top prediction here
        _, direction, dist, k = closest_class(logits, leaf, y, self.norm, self.candidates)
        dead = torch.isinf(dist)
        step = linear_step(dist.masked_fill(dead, 0.0), direction, self.norm, self.overshoot)
        x_new = torch.where(per_sample(dead, x), x, bounds.clip(x + step))
        return x_new, dead, k

    def _run(
        self,
        model: nn.Module,
        x: torch.Tensor,
        y: torch.Tensor,
        bounds: Bounds,
        index: torch.Tensor,
    ) -> RunOutput:
        n, dev, batch = len(x), x.device, batch_for(self.batch_size, x)
        x_adv = x.clone()
        iterations = torch.zeros(n, dtype=torch.long, device=dev)
        grad_evals = torch.zeros(n, dtype=torch.long, device=dev)
        zero = torch.zeros(n, dtype=torch.bool, device=dev)
        idx = torch.arange(n, device=dev)  # the samples still being attacked
        for _ in range(self.steps):
            idx = idx[still_correct(model, x_adv[idx], y[idx], batch)]
            if len(idx) == 0:
                break
            for part in torch.split(idx, batch):
                x_new, dead, k = self._step(model, x_adv[part], y[part], bounds)
                x_adv[part] = x_new
                iterations[part] += 1
                grad_evals[part] += k
                zero[part[dead]] = True
            idx = idx[~zero[idx]]
        return RunOutput(x_adv, iterations, grad_evals, zero)
