"""Trust-Region attack (first order, L2 and L-infinity), fixed or adaptive radius.

Yao, Gholami, Xu, Keutzer and Mahoney, "Trust Region Based Adversarial Attack on Neural
Networks", CVPR 2019 (arXiv 1812.06371), with the fixed-radius setting of the JumpReLU paper
(Erichson, Yao and Mahoney, ICPRAM 2020, arXiv 1904.03750). Written from the papers.

The target class t is chosen on the clean input: the DeepFool-closest class, the one whose
linearised boundary ``|f_t - f_ref| / ||w_t - w_ref||_q`` is nearest (``ref`` is the clean
prediction, ``q`` the dual norm). Each iteration linearises the margin
``m(x) = f_ref(x) - f_t(x)`` and steps toward its zero along the normalised gradient (L2) or
its sign (L-infinity), clipped to the box. A sample stops once misclassified w.r.t. its label.

Fixed radius (the JumpReLU paper: radius 0.01, 40 iterations): every step has length
``(min(r, radius) + 1e-4) * (1 + overshoot)`` where ``r = m / ||grad m||_q`` is the
linearised distance, as in DeepFool; every step is taken and the target never changes.

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

A sample whose margin gradient is exactly zero (JumpReLU masking) stops where it is and is
flagged in ``zero_grad``.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from jumprelu.attacks.base import (
    Bounds,
    MinimalAttack,
    RunOutput,
    check_count,
    check_positive,
    lp_norm,
)
from jumprelu.attacks.deepfool import (
    STEP_EPS,
    batch_for,
    candidate_classes,
    check_optional_count,
    check_overshoot,
    closest_boundary,
    forward_graph,
    linear_step,
    still_correct,
)
from jumprelu.attacks.grad import logit_gradients
from jumprelu.errors import ConfigError

__all__ = ["TrustRegion", "trust_update"]

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
    keep = accepted.view(-1, *([1] * (x.dim() - 1)))
    return torch.where(keep, x_trial, x), new_radius, accepted


def _free_gradient(grad: torch.Tensor, x: torch.Tensor, bounds: Bounds) -> torch.Tensor:
    """``grad`` without the components that would push a pixel at a bound out of the box."""
    blocked = ((x <= bounds.low) & (grad < 0)) | ((x >= bounds.high) & (grad > 0))
    return grad.masked_fill(blocked, 0.0)


class TrustRegion(MinimalAttack):
    """Trust-Region attack, first order, L2 or L-infinity (Yao et al., CVPR 2019).

    Args:
        norm: "l2" or "linf" (the trust region's norm and the one minimised).
        steps: most iterations per sample (default 40, the JumpReLU paper's, for the fixed
            radius; 200 for the adaptive one, where an iteration may be a rejected trial).
        radius: the (initial) trust radius, in the units of the input space (default 0.01 for
            the fixed radius; for the adaptive one ``radius_fraction * ||x||`` per sample).
        adaptive: adapt the radius with the TR paper's ratio rule (default False: fixed).
        radius_fraction: the adaptive initial radius as a fraction of ``||x||`` when
            ``radius`` is not given (default 0.1).
        radius_factor: the adaptive rule's growth and shrink factor (> 1, default 1.2, the TR
            paper's).
        min_radius: the adaptive radius' floor (default 1e-6).
        max_radius: the adaptive radius' ceiling (default None: no ceiling; every step is
            anyway at most the linearised distance).
        patience: consecutive rejected trials after which the adaptive attack re-chooses the
            target (default 5).
        overshoot: steps toward the boundary are ``(r + 1e-4) * (1 + overshoot)`` long
            (default 0.02).
        candidates: classes considered for the target, the best by logit after the top one
            (default: all other classes).
        batch_size: samples per forward/backward pass (default: 256 on a CPU, all at once
            elsewhere); results do not depend on it.
        max_norm: see ``MinimalAttack``.
        bounds: see ``Attack``.

    ``grad_evals`` counts the K gradients of each target choice, then one per iteration.
    """

    def __init__(
        self,
        *,
        norm: str = "l2",
        steps: int | None = None,
        radius: float | None = None,
        adaptive: bool = False,
        radius_fraction: float = 0.1,
        radius_factor: float = 1.2,
        min_radius: float = 1e-6,
        max_radius: float | None = None,
        patience: int = 5,
        overshoot: float = 0.02,
        candidates: int | None = None,
        batch_size: int | None = None,
        max_norm: float | None = None,
        bounds: str | Bounds = "box",
    ) -> None:
        super().__init__(norm=norm, max_norm=max_norm, bounds=bounds)
        if not isinstance(adaptive, bool):
            raise ConfigError(f"adaptive must be True or False, got {adaptive!r}")
        self.adaptive = adaptive
        self.name = f"tr-adaptive-{self.norm}" if adaptive else f"tr-{self.norm}"
        self.steps = check_count("steps", (200 if adaptive else 40) if steps is None else steps)
        if radius is None and not adaptive:
            radius = 0.01
        self.radius = None if radius is None else check_positive("radius", radius)
        self.radius_fraction = check_positive("radius_fraction", radius_fraction)
        self.radius_factor = check_positive("radius_factor", radius_factor)
        if self.radius_factor <= 1:
            raise ConfigError(f"radius_factor must be > 1, got {radius_factor!r}")
        self.min_radius = check_positive("min_radius", min_radius)
        self.max_radius = None if max_radius is None else check_positive("max_radius", max_radius)
        top = math.inf if self.max_radius is None else self.max_radius
        if self.min_radius > top:
            raise ConfigError(f"need min_radius <= max_radius, got {min_radius!r}, {max_radius!r}")
        if self.radius is not None and not self.min_radius <= self.radius <= top:
            raise ConfigError(
                f"need min_radius <= radius <= max_radius, got {self.min_radius:g}, "
                f"{self.radius:g}, {top:g}"
            )
        self.patience = check_count("patience", patience)
        self.overshoot = check_overshoot(overshoot)
        self.candidates = check_optional_count("candidates", candidates)
        self.batch_size = check_optional_count("batch_size", batch_size)

    def _run(
        self,
        model: nn.Module,
        x: torch.Tensor,
        y: torch.Tensor,
        bounds: Bounds,
        index: torch.Tensor,
    ) -> RunOutput:
        if self.adaptive:
            return self._run_adaptive(model, x, y, bounds)
        return self._run_fixed(model, x, y, bounds)

    def _target(
        self, model: nn.Module, xa: torch.Tensor, ya: torch.Tensor, exclude: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]:
        """The DeepFool-closest class at ``xa`` (not ``exclude`` where another exists), with the
        gradient of ``f_t - f_y`` and the margin ``f_y - f_t``: ``(target, grad, margin, K)``."""
        leaf, logits = forward_graph(model, xa)
        classes = candidate_classes(logits, self.candidates)
        if exclude is not None and classes.shape[1] > 1:  # replace it by another candidate
            other = torch.where(classes[:, 0] == exclude, classes[:, 1], classes[:, 0])
            classes = torch.where(classes == exclude[:, None], other[:, None], classes)
        grads = logit_gradients(logits, leaf, classes, ya)
        best = closest_boundary(logits, grads, classes, ya, self.norm)[1]
        rows = torch.arange(len(xa), device=xa.device)
        target = classes[rows, best]
        logits = logits.detach()
        margin = logits[rows, ya] - logits[rows, target]
        return target, grads[rows, best], margin, classes.shape[1]

    def _run_adaptive(
        self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, bounds: Bounds
    ) -> RunOutput:
        n, dev, batch = len(x), x.device, batch_for(self.batch_size, x)
        shape = (-1, *([1] * (x.dim() - 1)))
        x_adv = x.clone()
        iterations, grad_evals, zero_steps, stalls, restarts, target = (
            torch.zeros(n, dtype=torch.long, device=dev) for _ in range(6)
        )
        zero, found, bold = (torch.zeros(n, dtype=torch.bool, device=dev) for _ in range(3))
        trace = torch.full((n, self.steps), math.nan, dtype=x.dtype, device=dev)
        top = math.inf if self.max_radius is None else self.max_radius
        if self.radius is None:
            start = (self.radius_fraction * lp_norm(x, self.norm)).clamp(self.min_radius, top)
        else:
            start = torch.full((n,), self.radius, dtype=x.dtype, device=dev)
        radius = start.clone()
        grad = torch.zeros_like(x)
        margin = torch.zeros(n, dtype=x.dtype, device=dev)
        dual_p = 2 if self.norm == "l2" else 1
        idx = torch.arange(n, device=dev)
        idx = idx[still_correct(model, x, y, batch)]  # misclassified ones are not attacked

        def choose(part: torch.Tensor, exclude: torch.Tensor | None) -> None:
            t, g, m, k = self._target(model, x_adv[part], y[part], exclude)
            target[part], grad[part], margin[part] = t, g, m
            grad_evals[part] += k
            dead = g.flatten(1).eq(0).all(1)
            zero[part[dead]] = True
            zero_steps[part[dead]] += 1

        for part in torch.split(idx, batch):
            choose(part, None)
        for it in range(self.steps):
            idx = idx[~zero[idx] & ~found[idx]]
            if len(idx) == 0:
                break
            for part in torch.split(idx, batch):
                xa, g, ya = x_adv[part], grad[part], y[part]
                free = _free_gradient(g, xa, bounds)
                dual = free.flatten(1).norm(p=dual_p, dim=1)
                dist = margin[part].clamp_min(0) / dual.clamp_min(torch.finfo(x.dtype).tiny)
                to_boundary = (dist + STEP_EPS) * (1.0 + self.overshoot)
                length = torch.where(bold[part], radius[part], radius[part].minimum(to_boundary))
                length = torch.where(dual > 0, length, 0.0)
                direction = free.sign() if self.norm == "linf" else free / dual.view(shape)
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
                    factor=self.radius_factor, min_radius=self.min_radius, max_radius=top,
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
                stuck = part[(stalls[part] >= self.patience) & ~fooled]
                if len(stuck):  # a new target, and trials that fill the trust region
                    choose(stuck, target[stuck])
                    restarts[stuck] += 1
                    grow = 2.0 ** (restarts[stuck] - 1).clamp_max(10)
                    radius[stuck] = (start[stuck] * grow).clamp_max(top)
                    stalls[stuck], bold[stuck] = 0, True
        return RunOutput(x_adv, iterations, grad_evals, zero, zero_steps, trace, found)

    def _run_fixed(
        self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, bounds: Bounds
    ) -> RunOutput:
        assert self.radius is not None
        n, dev, batch = len(x), x.device, batch_for(self.batch_size, x)
        x_adv = x.clone()
        iterations = torch.zeros(n, dtype=torch.long, device=dev)
        grad_evals = torch.zeros(n, dtype=torch.long, device=dev)
        zero = torch.zeros(n, dtype=torch.bool, device=dev)
        target = torch.zeros(n, dtype=torch.long, device=dev)
        radius = torch.full((n,), self.radius, dtype=x.dtype, device=dev)
        idx = torch.arange(n, device=dev)
        idx = idx[still_correct(model, x, y, batch)]  # misclassified ones are not attacked
        for it in range(self.steps):
            if len(idx) == 0:
                break
            kept = []
            for part in torch.split(idx, batch):
                xa, ya = x_adv[part], y[part]
                leaf, logits = forward_graph(model, xa)
                if it == 0:  # the target: the DeepFool-closest class on the clean input
                    classes = candidate_classes(logits, self.candidates)
                    grads = logit_gradients(logits, leaf, classes, ya)
                    best = closest_boundary(logits, grads, classes, ya, self.norm)[1]
                    target[part] = classes.gather(1, best[:, None]).squeeze(1)
                    grad = grads[torch.arange(len(part), device=dev), best]
                    grad_evals[part] += classes.shape[1]
                else:
                    grad = logit_gradients(logits, leaf, target[part, None], ya)[:, 0]
                    grad_evals[part] += 1
                logits = logits.detach()
                going = logits.argmax(1) == ya
                margin = logits.gather(1, ya[:, None]) - logits.gather(1, target[part, None])
                margin = margin.squeeze(1)
                dual = grad.flatten(1).norm(p=2 if self.norm == "l2" else 1, dim=1)
                dead = going & (dual == 0)
                zero[part[dead]] = True
                going &= ~dead
                part, xa, grad, margin = part[going], xa[going], grad[going], margin[going]
                dist = margin.clamp_min(0) / dual[going]
                step = linear_step(
                    torch.minimum(dist, radius[part]), grad, self.norm, self.overshoot
                )
                x_adv[part] = bounds.clip(xa + step)
                iterations[part] += 1
                kept.append(part)
            idx = torch.cat(kept)
        return RunOutput(x_adv, iterations, grad_evals, zero)
