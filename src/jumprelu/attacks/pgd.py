"""Projected Gradient Descent (L-infinity and L2).

Madry, Makelov, Schmidt, Tsipras and Vladu, "Towards Deep Learning Models Resistant to
Adversarial Attacks", ICLR 2018 (arXiv 1706.06083).

From a random point of the epsilon-ball (or from x), repeat a steepest-ascent step on the
cross-entropy loss (the gradient's sign for L-infinity, the normalised gradient for L2),
project back onto the ball and clip to the box. Every step is taken (no early stop); each
sample returns its last iterate if that is adversarial, else the last adversarial iterate
seen, else its last iterate (with ``last_iterate``: its last iterate, as Madry et al.'s
training takes it). Restarts run only on the samples not yet fooled. An L-infinity budget may
be per channel (adversarial training's ball in pixel space); the step size then is too.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from jumprelu.attacks.base import FixedBudgetAttack, RunOutput, plain
from jumprelu.attacks.grad import (
    check_loss,
    gradient_step,
    loss_gradient,
    sample_loss,
    zero_gradient,
)
from jumprelu.attacks.norms import (
    Bounds,
    Budget,
    check_budget,
    check_count,
    check_radius,
    clip_to_ball,
    per_sample,
)
from jumprelu.attacks.rng import GeneratorRandom, Random, SampleRandom
from jumprelu.errors import ConfigError

__all__ = ["PGD", "ball_noise"]


def ball_noise(shape: torch.Size, eps: Budget, norm: str, rng: Random, stream: int) -> torch.Tensor:
    """Uniform samples from the ``norm`` ball of radius ``eps`` (on the CPU), one per sample.

    Args:
        shape: (N, ...) the batch's shape.
        eps: the ball's radius (L-infinity: or per-channel radii shaped (1, C, 1, ...)).
        norm: "linf" or "l2".
        rng: the batch's per-sample random numbers.
        stream: which draw (e.g. the restart).
    """
    dims = tuple(shape[1:])
    if norm == "linf":
        return (rng.uniform(stream, *dims) * 2 - 1) * (
            eps.cpu() if isinstance(eps, torch.Tensor) else eps
        )
    assert not isinstance(eps, torch.Tensor)
    direction = rng.normal(stream, *dims).flatten(1)
    direction = direction / direction.norm(dim=1, keepdim=True).clamp_min(1e-12)
    radius = eps * rng.uniform(stream, 1) ** (1.0 / direction.shape[1])
    out: torch.Tensor = (direction * radius).view(shape)
    return out


class PGD(FixedBudgetAttack):
    """PGD with optional random start and restarts. Named ``"pgd-linf"`` or ``"pgd-l2"``.

    Args:
        eps: the budget (> 0), in the units of the space attacked (or given at call; an
            L-infinity budget given at call may be per channel).
        norm: "linf" or "l2".
        steps: gradient steps per restart (default 40).
        step_size: length of each step (default 2.5 * eps / steps); for L-infinity, a tensor
            (C,) gives one per channel.
        random_start: start from a uniform random point of the ball (default True).
        restarts: number of runs (default 1); later runs attack only the samples not yet
            fooled and need ``random_start``.
        seed: seed of the random start; each sample's noise is keyed on its global index
            (``rng.SampleRandom``), so results do not depend on the batching. A
            ``torch.Generator`` instead draws it from that generator (``rng.GeneratorRandom``,
            batch-dependent: a training loop's random stream).
        loss: "ce" (cross-entropy, default) or "margin" (Carlini-Wagner margin).
        last_iterate: return every sample's last iterate, adversarial or not (Madry et al.'s
            training; default False); needs ``restarts=1``.
        bounds: see ``Attack``.
    """

    per_channel = True

    def __init__(
        self,
        *,
        eps: float | None = None,
        norm: str = "linf",
        steps: int = 40,
        step_size: Budget | None = None,
        random_start: bool = True,
        restarts: int = 1,
        seed: int | torch.Generator = 0,
        loss: str = "ce",
        last_iterate: bool = False,
        bounds: str | Bounds = "box",
    ) -> None:
        super().__init__(eps=eps, norm=norm, bounds=bounds)
        self.name = f"pgd-{self.norm}"
        self.loss = check_loss(loss)
        self.steps = check_count("steps", steps)
        self.step_size = None if step_size is None else check_radius("step_size", step_size)
        if isinstance(self.step_size, torch.Tensor) and self.norm != "linf":
            raise ConfigError("a step_size per channel needs norm 'linf'")
        self.random_start = bool(random_start)
        self.restarts = check_count("restarts", restarts)
        if self.restarts > 1 and not self.random_start:
            raise ConfigError("restarts > 1 needs random_start=True (runs would be identical)")
        self.seed = seed if isinstance(seed, torch.Generator) else check_count("seed", seed, 0)
        self.last_iterate = bool(last_iterate)
        if self.last_iterate and self.restarts > 1:
            raise ConfigError("last_iterate needs restarts=1")

    def _step(self) -> Budget:
        """The step size: as given, else 2.5 * eps / steps."""
        return 2.5 * self.budget / self.steps if self.step_size is None else self.step_size

    def config(self) -> dict[str, Any]:
        """The settings as plain values, with the step size used (given eps)."""
        step = self.step_size if self._eps is None else self._step()
        return {**super().config(), "step_size": plain(step)}

    def _run(
        self,
        model: nn.Module,
        x: torch.Tensor,
        y: torch.Tensor,
        bounds: Bounds,
        index: torch.Tensor,
    ) -> RunOutput:
        """Every restart on the samples not yet fooled; ``zero_grad`` flags samples whose every
        input gradient was exactly zero (no signal to follow)."""
        if isinstance(self.seed, torch.Generator):
            rng: Random = GeneratorRandom(self.seed, len(x))
        else:
            rng = SampleRandom(self.seed, index)
        n, dev, eps = len(x), x.device, self.budget
        step_size = (
            self._step()  # 2.5 * eps / steps, laid out like eps
            if self.step_size is None
            else check_budget("step_size", self.step_size, self.norm, x, per_channel=True)
        )
        x_out = x.clone()
        iterations = torch.zeros(n, dtype=torch.long, device=dev)
        grad_evals = torch.zeros(n, dtype=torch.long, device=dev)
        signal = torch.zeros(n, dtype=torch.bool, device=dev)
        zsteps = torch.zeros(n, dtype=torch.long, device=dev)
        trace = torch.full((n, self.steps), float("nan"))
        todo = torch.arange(n, device=dev)
        for restart in range(self.restarts):
            if todo.numel() == 0:
                break
            x0, y0 = x[todo], y[todo]
            cur = x0.clone()
            if self.random_start:
                noise = ball_noise(x0.shape, eps, self.norm, rng.take(todo), restart)
                cur = bounds.clip(x0 + noise.to(dev, x.dtype))
            best, fooled = cur.clone(), torch.zeros(len(todo), dtype=torch.bool, device=dev)
            live = torch.arange(len(todo), device=dev)  # samples whose gradient is not zero
            for it in range(self.steps):
                if live.numel() == 0:
                    break
                grad, logits = loss_gradient(model, cur[live], y0[live], self.loss)
                trace[todo[live].cpu(), it] = sample_loss(logits, y0[live], self.loss).cpu()
                grad_evals[todo[live]] += 1
                adv = live[logits.argmax(1) != y0[live]]
                best[adv], fooled[adv] = cur[adv], True
                moving = ~zero_gradient(grad)
                signal[todo[live[moving]]] = True
                zsteps[todo[live[~moving]]] += 1
                live, grad = live[moving], grad[moving]
                step = cur[live] + gradient_step(grad, step_size, self.norm)
                cur[live] = clip_to_ball(x0[live], step, eps, self.norm, bounds)
                iterations[todo[live]] += 1
            if self.last_iterate:
                x_out[todo] = cur
                break
            if live.numel():
                with torch.no_grad():
                    last_adv = model(cur[live]).argmax(1) != y0[live]
                fooled[live[last_adv]] = True
                best[live[last_adv]] = cur[live[last_adv]]
            x_out[todo] = torch.where(per_sample(fooled, x), best, cur)
            todo = todo[~fooled]
        return RunOutput(
            x_out,
            iterations.cpu(),
            grad_evals.cpu(),
            ~signal.cpu(),
            zero_grad_steps=zsteps.cpu(),
            trace=trace,
        )
