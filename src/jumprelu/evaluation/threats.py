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

``run_attack`` also measures the per-sample indicators of attack failure on a run's own output
(Pintor et al., "Indicators of Attack Failure", NeurIPS 2022): the objective still improving at
the end, or adversarial inputs unstable under tiny noise.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable

import torch
from torch import nn

from jumprelu._util import eval_mode, model_device
from jumprelu.attacks.base import Attack, FixedBudgetAttack, RunOutput
from jumprelu.attacks.noise import NoiseAveragedGradient
from jumprelu.attacks.norms import perturbation_norms
from jumprelu.attacks.rng import SampleRandom
from jumprelu.errors import ConfigError
from jumprelu.evaluation.clean import predict
from jumprelu.evaluation.outcome import Outcome, gather, rank_world, shard
from jumprelu.models import NormalizedModel
from jumprelu.retrofit import bpda as through

__all__ = [
    "IMPROVING_SHARE",
    "PROTOCOLS",
    "THREATS",
    "UNSTABLE_DRAWS",
    "UNSTABLE_SCALE",
    "Outcome",
    "attack_space",
    "run_attack",
    "still_improving",
    "unstable_points",
]

THREATS = ("white", "gray", "adaptive")
PROTOCOLS = ("standard", "paper")


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
    split: bool = True,
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
            with "+noise" (gradient averaged over Gaussian input noise); the model's previous
            gradient is restored afterwards.
        index: (N,) global index of each sample (default ``0..N-1``): the key of its noise.
        noise: ``(sigma, samples, seed)`` of a "+noise" surrogate.
        on_batch: called with the batch size after each batch (progress bars).
        split: under torchrun, share the points between the processes (the default); False:
            this process attacks them all (the caller spreads whole runs, ``outcome.spread``).

    Returns:
        The ``Outcome``. Under torchrun every process calls this with all the points; each
        attacks its share and every process gets the whole outcome.
    """
    index = torch.arange(len(x)) if index is None else index.cpu()
    part = shard(len(x)) if split else slice(None)  # this process's share under torchrun
    x, y, index = x[part], y[part], index[part]
    world = rank_world()[1] if split else 1
    if on_batch is not None and world > 1:  # a bar counts every process's points
        report = on_batch
        on_batch = lambda k: report(k * world)  # noqa: E731
    dev = model_device(model)
    parts: list[RunOutput] = []
    fooled: list[torch.Tensor] = []
    attacked = model
    gradient = None if bpda is None else bpda.removesuffix("+noise")
    if gradient is not None and gradient != bpda:
        attacked = NoiseAveragedGradient(model, noise[0], noise[1], noise[2])
    start = time.perf_counter()
    with through(model, gradient) if gradient is not None else contextlib.nullcontext(model):
        for i in range(0, len(x), batch_size):
            xb, yb = x[i : i + batch_size].to(dev), y[i : i + batch_size].to(dev)
            out = attack.run(attacked, xb, yb, index=index[i : i + batch_size])
            with eval_mode(attacked), torch.no_grad():  # the one measuring pass
                fooled.append((attacked(out.x_adv).argmax(1) != yb).cpu())
            parts.append(out)
            if on_batch is not None:
                on_batch(len(yb))
    seconds = time.perf_counter() - start
    n = len(x)
    x_adv = torch.cat([p.x_adv.cpu() for p in parts]) if parts else x.clone()
    success = torch.cat(fooled) if fooled else torch.zeros(0, dtype=torch.bool)
    if evaluate_on is None:
        adv_correct = ~success
    else:
        adv_correct = predict(evaluate_on, x_adv, batch_size=batch_size) == y

    def cat(name: str, missing: torch.Tensor) -> torch.Tensor:
        vals = [getattr(p, name) for p in parts]
        if not vals or any(v is None for v in vals):
            return missing
        return torch.cat([v.cpu() for v in vals])

    found = cat("found", success) | success
    outcome = Outcome(
        adv_correct=adv_correct,
        **perturbation_norms(x, x_adv),
        zero_grad=cat("zero_grad", torch.zeros(n, dtype=torch.bool)),
        grad_evals=int(sum(int(p.grad_evals.sum()) for p in parts)),
        seconds=seconds,
        x_adv=x_adv,
        zero_grad_steps=cat("zero_grad_steps", torch.full((n,), -1, dtype=torch.long)),
        silent=found & ~success,
        improving=still_improving([(len(p.x_adv), p.trace) for p in parts], success),
        unstable=unstable_points(attack, model, x, x_adv, y, success, index, batch_size),
        stopped=cat("stopped", torch.zeros(n, dtype=torch.bool)),
        missed=cat("missed", torch.zeros(n, dtype=torch.bool)),
    )
    return gather(outcome) if split else outcome


#: Noise draws and scale (relative to the budget) of the unstable-prediction indicator.
UNSTABLE_DRAWS, UNSTABLE_SCALE = 8, 0.01


#: The incomplete-optimisation indicator: the best objective still rose by more than this
#: share of its total rise during the last tenth of the iterations.
IMPROVING_SHARE = 0.05


def still_improving(
    traces: list[tuple[int, torch.Tensor | None]], success: torch.Tensor
) -> torch.Tensor:
    """Points not fooled whose best objective still rose in the last tenth of the run.

    Args:
        traces: per batch, in order, its size and its (n, T) objective per iteration
            (``RunOutput.trace``), or None where the attack does not record one.
        success: (N,) the points fooled.
    """
    out = torch.zeros(len(success), dtype=torch.bool)
    at = 0
    for n, trace in traces:
        if trace is not None and trace.shape[1] >= 10:
            t = trace.float().cpu().nan_to_num(nan=-torch.inf)
            best = t.cummax(1).values
            first = best[:, 0]
            first = torch.where(torch.isfinite(first), first, best[:, -1])
            late = best[:, -1] - best[:, int(0.9 * t.shape[1]) - 1]
            total = (best[:, -1] - first).clamp_min(1e-12)
            rising = torch.isfinite(late) & (late > IMPROVING_SHARE * total) & (late > 1e-6)
            out[at : at + n] = rising & ~success[at : at + n]
        at += n
    return out


def unstable_points(
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
