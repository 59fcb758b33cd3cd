"""Threat models: who the attacker attacks, and where the adversarial inputs are evaluated.

- ``white``: the attack sees the JumpReLU model with its native gradient 1[x > jump] (the paper).
- ``gray``: adversarial inputs crafted once on the original ReLU model (jump 0), evaluated on
  each JumpReLU model (the paper).
- ``adaptive``: the attacker knows the defence: gradient attacks use BPDA (forward through
  JumpReLU, backward as the ReLU it replaced: straight-through), and gradient-free attacks
  (Square) query the JumpReLU model directly, exposing gradient masking.

Protocols: ``standard`` attacks the whole model on [0, 1] pixels inside the [0, 1] box;
``paper`` attacks the bare network in normalised space, clipped to each batch's global min and
max, as the JumpReLU paper's code does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from jumprelu.attacks.base import Attack, AttackResult, FixedBudgetAttack, lp_norm
from jumprelu.attacks.noise import NoiseAveragedGradient
from jumprelu.attacks.rng import SampleRandom
from jumprelu.errors import ConfigError
from jumprelu.evaluation.clean import predict
from jumprelu.models import NormalizedModel
from jumprelu.retrofit import set_gradient

__all__ = ["GRADIENT_FREE", "PROTOCOLS", "THREATS", "Outcome", "attack_space", "run_attack"]

THREATS = ("white", "gray", "adaptive")
PROTOCOLS = ("standard", "paper")
#: Attacks that never use gradients (run as they are under the adaptive threat).
GRADIENT_FREE = ("square-linf", "square-l2")
#: Noise draws and scale (relative to the budget) of the unstable-prediction indicator.
UNSTABLE_DRAWS, UNSTABLE_SCALE = 8, 0.01
#: The incomplete-optimisation indicator: the best objective still rose by more than this
#: share of its total rise during the last tenth of the iterations.
IMPROVING_SHARE = 0.05
#: Adversarial examples kept per cell for the report (what it shows).
N_EXAMPLES = 6


@dataclass
class Outcome:
    """Per-sample outcome of one attack on one model (tensors of shape (N,) on the CPU).

    Attributes:
        adv_correct: the evaluated model still classifies the adversarial input correctly.
        l2, linf, l2_rel, linf_rel: perturbation norms (absolute and relative to x).
        zero_grad: the attack gave up on an exactly zero gradient.
        grad_evals: input-gradient computations in total.
        seconds: wall time of crafting.
        x_adv: the adversarial inputs (attack space), kept for transfer and examples.
        zero_grad_steps: exactly-zero input gradients met at any iterate (-1: not counted).
        silent: an iterate was adversarial but the returned input is not (silent success).
        improving: not fooled, and the attack's objective was still improving at the end.
        unstable: fooled, but the prediction returns to the label under tiny input noise.
        stages: per-stage counts of a cascade (suites), else empty.
        checks: the re-run indicators of ``indicators.cell_checks``, else empty.
    """

    adv_correct: torch.Tensor
    l2: torch.Tensor
    linf: torch.Tensor
    l2_rel: torch.Tensor
    linf_rel: torch.Tensor
    zero_grad: torch.Tensor
    grad_evals: int
    seconds: float
    x_adv: torch.Tensor
    zero_grad_steps: torch.Tensor | None = None
    silent: torch.Tensor | None = None
    improving: torch.Tensor | None = None
    unstable: torch.Tensor | None = None
    stages: list[dict[str, Any]] = field(default_factory=list)
    checks: dict[str, Any] = field(default_factory=dict)


def attack_space(
    model: nn.Module, x: torch.Tensor, protocol: str
) -> tuple[nn.Module, torch.Tensor]:
    """The module the attacker differentiates and the inputs it perturbs.

    Args:
        model: a (retrofitted) model taking [0, 1] images.
        x: [0, 1] images.
        protocol: "standard" or "paper".

    Returns:
        ``(model, x)`` for standard; ``(model.net, normalised x)`` for paper.
    """
    if protocol == "standard":
        return model, x
    if protocol != "paper":
        raise ConfigError(f"unknown protocol {protocol!r}; known: {', '.join(PROTOCOLS)}")
    if not isinstance(model, NormalizedModel):
        raise ConfigError("the paper protocol needs a model with a Normalize layer in front")
    with torch.no_grad():
        xn = model.normalize(x.to(model.normalize.mean.device)).cpu()
    return model.net, xn


def run_attack(
    attack: Attack,
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    batch_size: int,
    evaluate_on: nn.Module | None = None,
    bpda: str | None = None,
    index: torch.Tensor | None = None,
    noise: tuple[float, int, int] = (0.0, 1, 0),
    on_batch: Callable[[int], None] | None = None,
) -> Outcome:
    """Run ``attack`` batch by batch, evaluate its inputs and its indicators of failure.

    Args:
        attack: a configured attack.
        model: the module attacked (in attack space).
        x: inputs in attack space (CPU); batches are moved to the model's device.
        y: labels.
        batch_size: examples per attack call (the paper protocol's bounds are per batch).
        evaluate_on: the module whose predictions count (default: ``model``).
        bpda: attack with this JumpReLU gradient instead of the exact one (BPDA): "relu"
            (straight-through), "smooth" or "smooth-W" (sigmoid surrogates), each optionally
            with "+noise" (gradient averaged over Gaussian input noise); restored afterwards.
        index: (N,) global index of each sample (default ``0..N-1``): the key of its noise.
        noise: ``(sigma, samples, seed)`` of a "+noise" surrogate.
        on_batch: called with the batch size after each batch (progress bars).

    Returns:
        The ``Outcome``.
    """
    dev = next(model.parameters()).device
    index = torch.arange(len(x)) if index is None else index.cpu()
    parts: list[AttackResult] = []
    attacked = model
    if bpda is not None:
        gradient = bpda.removesuffix("+noise")
        set_gradient(model, gradient)
        if gradient != bpda:
            attacked = NoiseAveragedGradient(model, noise[0], noise[1], noise[2])
    try:
        for i in range(0, len(x), batch_size):
            xb, yb = x[i : i + batch_size].to(dev), y[i : i + batch_size].to(dev)
            parts.append(attack(attacked, xb, yb, index=index[i : i + batch_size]))
            if on_batch is not None:
                on_batch(len(parts[-1].success))
    finally:
        if bpda is not None:
            set_gradient(model, "exact")
    x_adv = torch.cat([p.x_adv.cpu() for p in parts]) if parts else x.clone()
    success = torch.cat([p.success for p in parts]) if parts else torch.zeros(0, dtype=torch.bool)
    if evaluate_on is None:
        adv_correct = ~success
    else:
        adv_correct = predict(evaluate_on, x_adv, batch_size=batch_size) == y
    delta = x_adv - x

    def cat(name: str, empty: torch.dtype) -> torch.Tensor:
        vals = [getattr(p, name) for p in parts]
        return torch.cat(vals) if vals else torch.zeros(0, dtype=empty)

    found = cat("found", torch.bool)
    return Outcome(
        adv_correct=adv_correct,
        l2=lp_norm(delta, "l2"),
        linf=lp_norm(delta, "linf"),
        l2_rel=cat("l2_rel", torch.float32),
        linf_rel=cat("linf_rel", torch.float32),
        zero_grad=cat("zero_grad", torch.bool),
        grad_evals=int(sum(int(p.grad_evals.sum()) for p in parts)),
        seconds=sum(p.seconds for p in parts),
        x_adv=x_adv,
        zero_grad_steps=cat("zero_grad_steps", torch.long),
        silent=found & ~success,
        improving=_improving(parts, success),
        unstable=_unstable(attack, model, x, x_adv, y, success, index, batch_size),
    )


def _improving(parts: list[AttackResult], success: torch.Tensor) -> torch.Tensor:
    """Points not fooled whose best objective still rose in the last tenth of the run."""
    out = torch.zeros(len(success), dtype=torch.bool)
    at = 0
    for p in parts:
        n = len(p.success)
        if p.trace is not None and p.trace.shape[1] >= 10:
            t = p.trace.float().nan_to_num(nan=-torch.inf)
            best = t.cummax(1).values
            first = best[:, 0]
            first = torch.where(torch.isfinite(first), first, best[:, -1])
            late = best[:, -1] - best[:, int(0.9 * t.shape[1]) - 1]
            total = (best[:, -1] - first).clamp_min(1e-12)
            rising = torch.isfinite(late) & (late > IMPROVING_SHARE * total) & (late > 1e-6)
            out[at : at + n] = rising & ~p.success
        at += n
    return out


def _unstable(
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
