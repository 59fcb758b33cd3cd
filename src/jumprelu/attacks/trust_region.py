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

Adaptive radius (``adaptive=True``): a true trust-region loop on the hinge objective, in
``trust_region_adaptive``.

A sample whose margin gradient is exactly zero (JumpReLU masking) stops where it is and is
flagged in ``zero_grad``.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from jumprelu.attacks.base import MinimalAttack, RunOutput
from jumprelu.attacks.deepfool import (
    batch_for,
    closest_class,
    forward_graph,
    linear_step,
    still_correct,
)
from jumprelu.attacks.grad import logit_gradients
from jumprelu.attacks.norms import (
    Bounds,
    check_count,
    check_nonnegative,
    check_optional_count,
    check_positive,
)
from jumprelu.attacks.trust_region_adaptive import run_adaptive, trust_update
from jumprelu.errors import ConfigError

__all__ = ["TrustRegion", "trust_update"]  # trust_update: from trust_region_adaptive


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
        self.overshoot = check_nonnegative("overshoot", overshoot)
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
            return run_adaptive(self, model, x, y, bounds)
        return self._run_fixed(model, x, y, bounds)

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
                    t, grad, _, k = closest_class(logits, leaf, ya, self.norm, self.candidates)
                    target[part] = t
                    grad_evals[part] += k
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
