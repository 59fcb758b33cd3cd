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

import time
from collections.abc import Callable

import torch
from torch import nn

from jumprelu._util import eval_mode
from jumprelu.attacks.base import Attack, RunOutput, lp_norm
from jumprelu.attacks.noise import NoiseAveragedGradient
from jumprelu.errors import ConfigError
from jumprelu.evaluation.clean import predict
from jumprelu.evaluation.failure import still_improving, unstable_points
from jumprelu.evaluation.outcome import Outcome, gather, rank_world, shard
from jumprelu.models import NormalizedModel
from jumprelu.retrofit import set_gradient

__all__ = ["GRADIENT_FREE", "PROTOCOLS", "THREATS", "Outcome", "attack_space", "run_attack"]

THREATS = ("white", "gray", "adaptive")
PROTOCOLS = ("standard", "paper")
#: Attacks that never use gradients (run as they are under the adaptive threat).
GRADIENT_FREE = ("square-linf", "square-l2")


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
        The ``Outcome``. Under torchrun every process calls this with all the points; each
        attacks its share and every process gets the whole outcome.
    """
    index = torch.arange(len(x)) if index is None else index.cpu()
    part = shard(len(x))  # under torchrun this process attacks its share only
    x, y, index = x[part], y[part], index[part]
    world = rank_world()[1]
    if on_batch is not None and world > 1:  # a bar counts every process's points
        report = on_batch
        on_batch = lambda k: report(k * world)  # noqa: E731
    dev = next(model.parameters()).device
    parts: list[RunOutput] = []
    fooled: list[torch.Tensor] = []
    attacked = model
    if bpda is not None:
        gradient = bpda.removesuffix("+noise")
        set_gradient(model, gradient)
        if gradient != bpda:
            attacked = NoiseAveragedGradient(model, noise[0], noise[1], noise[2])
    start = time.perf_counter()
    try:
        for i in range(0, len(x), batch_size):
            xb, yb = x[i : i + batch_size].to(dev), y[i : i + batch_size].to(dev)
            out = attack.run(attacked, xb, yb, index=index[i : i + batch_size])
            with eval_mode(attacked), torch.no_grad():  # the one measuring pass
                fooled.append((attacked(out.x_adv).argmax(1) != yb).cpu())
            parts.append(out)
            if on_batch is not None:
                on_batch(len(yb))
    finally:
        if bpda is not None:
            set_gradient(model, "exact")
    seconds = time.perf_counter() - start
    n = len(x)
    x_adv = torch.cat([p.x_adv.cpu() for p in parts]) if parts else x.clone()
    success = torch.cat(fooled) if fooled else torch.zeros(0, dtype=torch.bool)
    if evaluate_on is None:
        adv_correct = ~success
    else:
        adv_correct = predict(evaluate_on, x_adv, batch_size=batch_size) == y
    delta = x_adv - x
    l2, linf = lp_norm(delta, "l2"), lp_norm(delta, "linf")

    def cat(name: str, missing: torch.Tensor) -> torch.Tensor:
        vals = [getattr(p, name) for p in parts]
        if not vals or any(v is None for v in vals):
            return missing
        return torch.cat([v.cpu() for v in vals])

    found = cat("found", success) | success
    return gather(
        Outcome(
            adv_correct=adv_correct,
            l2=l2,
            linf=linf,
            l2_rel=l2 / lp_norm(x, "l2").clamp_min(1e-12),
            linf_rel=linf / lp_norm(x, "linf").clamp_min(1e-12),
            zero_grad=cat("zero_grad", torch.zeros(n, dtype=torch.bool)),
            grad_evals=int(sum(int(p.grad_evals.sum()) for p in parts)),
            seconds=seconds,
            x_adv=x_adv,
            zero_grad_steps=cat("zero_grad_steps", torch.full((n,), -1, dtype=torch.long)),
            silent=found & ~success,
            improving=still_improving([(len(p.x_adv), p.trace) for p in parts], success),
            unstable=unstable_points(attack, model, x, x_adv, y, success, index, batch_size),
            stopped=cat("stopped", torch.zeros(n, dtype=torch.bool)),
        )
    )
