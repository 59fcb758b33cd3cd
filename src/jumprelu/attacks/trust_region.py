"""Trust-Region attack (first order, L2 and L-infinity), fixed or adaptive radius.

Yao, Gholami, Xu, Keutzer and Mahoney, "Trust Region Based Adversarial Attack on Neural
Networks", CVPR 2019 (arXiv 1812.06371), with the fixed-radius setting of the JumpReLU paper
(Erichson, Yao and Mahoney, ICPRAM 2020, arXiv 1904.03750). Written from the papers.

The target class t is chosen once, on the clean input: the DeepFool-closest class, the one
whose linearised boundary ``|f_t - f_ref| / ||w_t - w_ref||_q`` is nearest (``ref`` is the
clean prediction, ``q`` the dual norm). Each iteration linearises the margin
``m(x) = f_ref(x) - f_t(x)`` and steps toward its zero: length ``min(r, radius)`` where
``r = m / ||grad m||_q`` is the linearised distance, with the same overshoot as DeepFool
(``(length + 1e-4) * (1 + overshoot)``), along the normalised gradient (L2) or its sign
(L-infinity), clipped to the box. A sample stops once misclassified w.r.t. its true label.

Fixed radius: the radius never changes (the JumpReLU paper: 0.01, 40 iterations). Adaptive
radius (the TR paper's rule): after each step the ratio ``rho`` of the actual decrease of the
margin to the decrease the linear model predicted is computed; the radius is divided by
``radius_factor`` when ``rho < 0.5`` and multiplied by it when ``rho > 0.9``, within
``[min_radius, max_radius]``. Every step is taken; the ratio only adapts the radius.

A sample whose margin gradient is exactly zero (JumpReLU masking) stops where it is and is
flagged in ``zero_grad``.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..errors import ConfigError
from .base import Bounds, MinimalAttack, RunOutput, check_count, check_positive
from .deepfool import (
    batch_for,
    candidate_classes,
    check_optional_count,
    check_overshoot,
    closest_boundary,
    forward_graph,
    linear_step,
    still_correct,
)
from .grad import logit_gradients

__all__ = ["TrustRegion"]

#: The adaptive rule's thresholds on rho: shrink below the first, grow above the second.
SHRINK_BELOW, GROW_ABOVE = 0.5, 0.9


class TrustRegion(MinimalAttack):
    """Trust-Region attack, first order, L2 or L-infinity (Yao et al., CVPR 2019).

    Args:
        norm: "l2" or "linf" (the trust region's norm and the one minimised).
        steps: most iterations per sample (default 40, the JumpReLU paper's).
        radius: the (initial) trust radius, in the units of the input space (default 0.01).
        adaptive: adapt the radius with the TR paper's ratio rule (default False: fixed).
        radius_factor: the adaptive rule's growth and shrink factor (> 1, default 2).
        min_radius: the adaptive radius' floor (default 1e-6).
        max_radius: the adaptive radius' ceiling (default None: no ceiling; every step is
            anyway at most the linearised distance).
        overshoot: each step is ``(length + 1e-4) * (1 + overshoot)`` (default 0.02).
        candidates: classes considered for the target, the best by logit after the top one
            (default: all other classes).
        batch_size: samples per forward/backward pass (default: 256 on a CPU, all at once
            elsewhere); results do not depend on it.
        max_norm: see ``MinimalAttack``.
        bounds: see ``Attack``.

    ``grad_evals`` counts the K gradients of the target choice, then one per iteration.
    """

    def __init__(
        self,
        *,
        norm: str = "l2",
        steps: int = 40,
        radius: float = 0.01,
        adaptive: bool = False,
        radius_factor: float = 2.0,
        min_radius: float = 1e-6,
        max_radius: float | None = None,
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
        self.steps = check_count("steps", steps)
        self.radius = check_positive("radius", radius)
        self.radius_factor = check_positive("radius_factor", radius_factor)
        if self.radius_factor <= 1:
            raise ConfigError(f"radius_factor must be > 1, got {radius_factor!r}")
        self.min_radius = check_positive("min_radius", min_radius)
        self.max_radius = None if max_radius is None else check_positive("max_radius", max_radius)
        top = math.inf if self.max_radius is None else self.max_radius
        if not self.min_radius <= self.radius <= top:
            raise ConfigError(
                f"need min_radius <= radius <= max_radius, got {self.min_radius:g}, "
                f"{self.radius:g}, {top:g}"
            )
        self.overshoot = check_overshoot(overshoot)
        self.candidates = check_optional_count("candidates", candidates)
        self.batch_size = check_optional_count("batch_size", batch_size)

    def _adapt(
        self, radius: torch.Tensor, actual: torch.Tensor, predicted: torch.Tensor
    ) -> torch.Tensor:
        """The new radius from the ratio of the actual to the predicted decrease."""
        valid = predicted > 0  # no prediction (a step the box cancelled): keep the radius
        rho = actual / predicted.clamp_min(torch.finfo(predicted.dtype).tiny)
        top = math.inf if self.max_radius is None else self.max_radius
        grown = (radius * self.radius_factor).clamp_max(top)
        shrunk = (radius / self.radius_factor).clamp_min(self.min_radius)
        radius = torch.where(valid & (rho > GROW_ABOVE), grown, radius)
        return torch.where(valid & (rho < SHRINK_BELOW), shrunk, radius)

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
        target = torch.zeros(n, dtype=torch.long, device=dev)
        radius = torch.full((n,), self.radius, dtype=x.dtype, device=dev)
        last_margin = torch.zeros(n, dtype=x.dtype, device=dev)
        predicted = torch.zeros(n, dtype=x.dtype, device=dev)  # by the linear model
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
                if self.adaptive and it > 0:
                    actual = last_margin[part] - margin
                    radius[part] = self._adapt(radius[part], actual, predicted[part])
                dual = grad.flatten(1).norm(p=2 if self.norm == "l2" else 1, dim=1)
                dead = going & (dual == 0)
                zero[part[dead]] = True
                going &= ~dead
                part, xa, grad, margin = part[going], xa[going], grad[going], margin[going]
                dist = margin.clamp_min(0) / dual[going]
                step = linear_step(
                    torch.minimum(dist, radius[part]), grad, self.norm, self.overshoot
                )
                x_new = bounds.clip(xa + step)
                x_adv[part] = x_new
                iterations[part] += 1
                last_margin[part] = margin
                predicted[part] = (grad * (x_new - xa)).flatten(1).sum(1)
                kept.append(part)
            idx = torch.cat(kept)
        return RunOutput(x_adv, iterations, grad_evals, zero)
