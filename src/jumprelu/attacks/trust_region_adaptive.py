"""The adaptive radius of the Trust-Region attack (``TrustRegion(adaptive=True)``).

Yao, Gholami, Xu, Keutzer and Mahoney, "Trust Region Based Adversarial Attack on Neural
Networks", CVPR 2019 (arXiv 1812.06371); see ``trust_region`` for the target class and the
fixed radius.

Adaptive radius: a true trust-region loop on the hinge objective ``max(m, 0)`` (the attack
only needs to reach the boundary), modelled by ``max(m - grad m . s, 0)``, with the TR
paper's thresholds and factor as its authors' public code sets them (``sigma_1 = 0.5``,
``sigma_2 = 0.9``, ``eta = 1.2``). That code adapts the radius but takes every step; here a
poor step is rejected, the textbook trust-region rule (Nocedal and Wright, ch. 4):

* the trial step has length ``min(radius, (r + 1e-4) * (1 + overshoot))``; the distance and
  the direction use only the gradient components the box lets move (a pixel at its bound is
  not pushed further out);
* ``rho`` = actual / predicted decrease of the objective for the (clipped) trial step;
* ``rho > 0.9``: accept the trial point and enlarge the radius by ``radius_factor``;
  ``0.5 <= rho <= 0.9``: accept, keep the radius; ``rho < 0.5`` (or no predicted decrease):
  reject, stay at the current point, and shrink the radius to the rejected step's length over
  ``radius_factor`` (so the next trial is really shorter). A misclassified trial point is
  always accepted: the attack is done;
* after ``patience`` consecutive rejections the sample is stalled (with BPDA this happens in
  regions where the forward pass is flat but the surrogate gradient is not): the target is
  re-chosen at the current point (the DeepFool-closest class other than the stalled one), the
  radius is reset to the initial one (doubled at each further stall, at most 1024 times) and
  the next trials fill the whole trust region until one is accepted.

The initial radius is ``radius`` when given, else ``radius_fraction * ||x||`` (the sample's
norm in the attack's norm); the adaptive default is 200 iterations (a rejected trial counts
as one). A surrogate (BPDA) gradient's linear model is wrong at small scales (``rho`` is noisy
there) but roughly right at the scale of the boundary's distance: a radius at the scale of the
problem that shrinks only on rejected steps keeps the attack moving.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
from torch import nn

from jumprelu.attacks.deepfool import (
    STEP_EPS,
    batch_for,
    closest_class,
    forward_graph,
    still_correct,
)
from jumprelu.attacks.grad import free_gradient, logit_gradients
from jumprelu.attacks.norms import Bounds, lp_norm, per_sample
from jumprelu.attacks.result import RunOutput

if TYPE_CHECKING:
    from jumprelu.attacks.trust_region import TrustRegion

__all__ = ["run_adaptive", "trust_update"]

#: The adaptive rule's thresholds on rho: reject and shrink below the first, grow above the
#: second (the TR paper's sigma_1 and sigma_2).
SHRINK_BELOW, GROW_ABOVE = 0.5, 0.9


def trust_update(
    x: torch.Tensor,
    x_trial: torch.Tensor,
    radius: torch.Tensor,
    length: torch.Tensor,
    actual: torch.Tensor,
    predicted: torch.Tensor,
    fooled: torch.Tensor,
    *,
    factor: float,
    min_radius: float = 0.0,
    max_radius: float = math.inf,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One trust-region decision per sample: ``(x_next, radius_next, accepted)``.

    Args:
        x: current iterates (N, ...).
        x_trial: trial points (N, ...).
        radius: (N,) current radii.
        length: (N,) length of each trial step (at most its radius).
        actual: (N,) actual decrease of the objective from ``x`` to ``x_trial``.
        predicted: (N,) decrease the linear model predicted (<= 0: no prediction, rejected).
        fooled: (N,) bool, the trial point is adversarial (always accepted).
        factor: growth and shrink factor (> 1).
        min_radius: the radius' floor.
        max_radius: the radius' ceiling.
    """
    ok = predicted > 0
    rho = torch.where(ok, actual / predicted.clamp_min(torch.finfo(predicted.dtype).tiny), -1.0)
    accepted = fooled | (rho >= SHRINK_BELOW)
    grown = (radius * factor).clamp(max=max_radius)
    shrunk = (torch.minimum(length, radius) / factor).clamp(min=min_radius)
    new_radius = torch.where(rho > GROW_ABOVE, grown, radius)
    new_radius = torch.where(accepted, new_radius, shrunk)
    return torch.where(per_sample(accepted, x), x_trial, x), new_radius, accepted


def _target(
    model: nn.Module,
    xa: torch.Tensor,
    ya: torch.Tensor,
    attack: TrustRegion,
    exclude: torch.Tensor | None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]:
    """The DeepFool-closest class at ``xa`` (not ``exclude`` where another exists), with the
    gradient of ``f_t - f_y`` and the margin ``f_y - f_t``: ``(target, grad, margin, K)``."""
    leaf, logits = forward_graph(model, xa)
    target, grad, _, k = closest_class(logits, leaf, ya, attack.norm, attack.candidates, exclude)
    logits = logits.detach()
    rows = torch.arange(len(xa), device=xa.device)
    return target, grad, logits[rows, ya] - logits[rows, target], k


def run_adaptive(
    attack: TrustRegion, model: nn.Module, x: torch.Tensor, y: torch.Tensor, bounds: Bounds
) -> RunOutput:
    """The adaptive trust-region loop of ``attack`` on ``(x, y)`` (model in eval mode)."""
    n, dev, batch = len(x), x.device, batch_for(attack.batch_size, x)
    shape = (-1, *([1] * (x.dim() - 1)))
    x_adv = x.clone()
    iterations, grad_evals, zero_steps, stalls, restarts, target = (
        torch.zeros(n, dtype=torch.long, device=dev) for _ in range(6)
    )
    zero, found, bold = (torch.zeros(n, dtype=torch.bool, device=dev) for _ in range(3))
    trace = torch.full((n, attack.steps), math.nan, dtype=x.dtype, device=dev)
    top = math.inf if attack.max_radius is None else attack.max_radius
    if attack.radius is None:
        start = (attack.radius_fraction * lp_norm(x, attack.norm)).clamp(attack.min_radius, top)
    else:
        start = torch.full((n,), attack.radius, dtype=x.dtype, device=dev)
    radius = start.clone()
    grad = torch.zeros_like(x)
    margin = torch.zeros(n, dtype=x.dtype, device=dev)
    dual_p = 2 if attack.norm == "l2" else 1
    idx = torch.arange(n, device=dev)
    idx = idx[still_correct(model, x, y, batch)]  # misclassified ones are not attacked

    def choose(part: torch.Tensor, exclude: torch.Tensor | None) -> None:
        t, g, m, k = _target(model, x_adv[part], y[part], attack, exclude)
        target[part], grad[part], margin[part] = t, g, m
        grad_evals[part] += k
        dead = g.flatten(1).eq(0).all(1)
        zero[part[dead]] = True
        zero_steps[part[dead]] += 1

    for part in torch.split(idx, batch):
        choose(part, None)
    for it in range(attack.steps):
        idx = idx[~zero[idx] & ~found[idx]]
        if len(idx) == 0:
            break
        for part in torch.split(idx, batch):
            xa, g, ya = x_adv[part], grad[part], y[part]
            free = free_gradient(g, xa, bounds)
            dual = free.flatten(1).norm(p=dual_p, dim=1)
            dist = margin[part].clamp_min(0) / dual.clamp_min(torch.finfo(x.dtype).tiny)
            to_boundary = (dist + STEP_EPS) * (1.0 + attack.overshoot)
            length = torch.where(bold[part], radius[part], radius[part].minimum(to_boundary))
            length = torch.where(dual > 0, length, 0.0)
            direction = free.sign() if attack.norm == "linf" else free / dual.view(shape)
            x_trial = bounds.clip(xa + length.view(shape) * direction.nan_to_num(0.0))
            leaf, logits = forward_graph(model, x_trial)
            rows = torch.arange(len(part), device=dev)
            g_trial = logit_gradients(logits, leaf, target[part, None], ya)[:, 0]
            logits = logits.detach()
            m_trial = logits[rows, ya] - logits[rows, target[part]]
            fooled = logits.argmax(1) != ya
            # the objective is the hinge max(m, 0), its model max(m - g.s, 0)
            predicted = (g * (x_trial - xa)).flatten(1).sum(1).minimum(margin[part])
            actual = margin[part] - m_trial.clamp_min(0)
            x_adv[part], radius[part], acc = trust_update(
                xa, x_trial, radius[part], length, actual, predicted, fooled,
                factor=attack.radius_factor, min_radius=attack.min_radius, max_radius=top,
            )  # fmt: skip
            iterations[part] += 1
            grad_evals[part] += 1
            found[part] |= fooled
            grad[part] = torch.where(acc.view(shape), g_trial, g)
            margin[part] = torch.where(acc, m_trial, margin[part])
            dead = acc & ~fooled & g_trial.flatten(1).eq(0).all(1)
            zero[part[dead]] = True
            zero_steps[part[acc & g_trial.flatten(1).eq(0).all(1)]] += 1
            stalls[part] = torch.where(acc, 0, stalls[part] + 1)
            bold[part] &= ~acc
            trace[part, it] = -margin[part]
            stuck = part[(stalls[part] >= attack.patience) & ~fooled]
            if len(stuck):  # a new target, and trials that fill the trust region
                choose(stuck, target[stuck])
                restarts[stuck] += 1
                grow = 2.0 ** (restarts[stuck] - 1).clamp_max(10)
                radius[stuck] = (start[stuck] * grow).clamp_max(top)
                stalls[stuck], bold[stuck] = 0, True
    return RunOutput(x_adv, iterations, grad_evals, zero, zero_steps, trace, found)
