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
from dataclasses import dataclass

import torch
from torch import nn

from .attacks.base import Attack, lp_norm
from .clean import predict
from .errors import ConfigError
from .models import NormalizedModel
from .retrofit import set_gradient

__all__ = ["GRADIENT_FREE", "PROTOCOLS", "THREATS", "Outcome", "attack_space", "run_attack"]

THREATS = ("white", "gray", "adaptive")
PROTOCOLS = ("standard", "paper")
#: Attacks that never use gradients (run as they are under the adaptive threat).
GRADIENT_FREE = ("square-linf",)
#: Adversarial examples kept per cell for the report.
N_EXAMPLES = 8


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
    on_batch: Callable[[int], None] | None = None,
) -> Outcome:
    """Run ``attack`` batch by batch and evaluate its inputs.

    Args:
        attack: a configured attack.
        model: the module attacked (in attack space).
        x: inputs in attack space (CPU); batches are moved to the model's device.
        y: labels.
        batch_size: examples per attack call (the paper protocol's bounds are per batch).
        evaluate_on: the module whose predictions count (default: ``model``).
        bpda: attack with this JumpReLU gradient instead of the exact one (BPDA): "relu"
            (straight-through) or "smooth" (sigmoid surrogate); restored afterwards.
        on_batch: called with the batch size after each batch (progress bars).

    Returns:
        The ``Outcome``.
    """
    dev = next(model.parameters()).device
    parts = []
    if bpda is not None:
        set_gradient(model, bpda)
    try:
        for i in range(0, len(x), batch_size):
            xb, yb = x[i : i + batch_size].to(dev), y[i : i + batch_size].to(dev)
            parts.append(attack(model, xb, yb, index=torch.arange(i, i + len(xb))))
            if on_batch is not None:
                on_batch(len(parts[-1].success))
    finally:
        if bpda is not None:
            set_gradient(model, "exact")
    x_adv = torch.cat([p.x_adv.cpu() for p in parts])
    if evaluate_on is None:
        adv_correct = ~torch.cat([p.success for p in parts])
    else:
        adv_correct = predict(evaluate_on, x_adv, batch_size=batch_size) == y
    delta = x_adv - x
    return Outcome(
        adv_correct=adv_correct,
        l2=lp_norm(delta, "l2"),
        linf=lp_norm(delta, "linf"),
        l2_rel=torch.cat([p.l2_rel for p in parts]),
        linf_rel=torch.cat([p.linf_rel for p in parts]),
        zero_grad=torch.cat([p.zero_grad for p in parts]),
        grad_evals=int(sum(int(p.grad_evals.sum()) for p in parts)),
        seconds=sum(p.seconds for p in parts),
        x_adv=x_adv,
    )
