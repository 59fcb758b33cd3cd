"""What an attack returns (``RunOutput``) and what a call measures from it (``AttackResult``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from jumprelu.attacks.norms import Bounds, perturbation_norms

__all__ = ["AttackResult", "RunOutput", "measure", "plain"]


@dataclass
class RunOutput:
    """What an attack returns: its adversarial inputs and what only the attack knows.

    Attributes:
        x_adv: adversarial inputs (from ``_run``: candidates; ``Attack.run`` clips them to the
            box and the budget).
        iterations: (N,) iterations each sample used.
        grad_evals: (N,) input-gradient computations spent on each sample (one per class
            gradient for multi-class methods).
        zero_grad: (N,) bool, samples the method gave up on because their gradient was
            exactly zero (gradient masking), or None.
        zero_grad_steps: (N,) int, how many of the sample's input gradients were exactly zero
            at any iterate (not only at the start), or None when the attack does not count.
        trace: (N, T) float, the objective the attack optimised at each iteration (higher is
            better for the attacker; NaN where the sample was not updated), or None.
        found: (N,) bool, some iterate was adversarial (the runner compares it with the
            returned input: a success found and lost is "silent success"), or None.
        stopped: (N,) bool, samples the attack stopped before their budget without success
            (e.g. Square's ``discard``), or None.
        missed: (N,) bool, samples a stopping rule would have stopped but kept running (its
            sentinels, e.g. APGD's ``discard``) and that were fooled later: evidence that the
            rule stops breakable points; or None.
    """

    x_adv: torch.Tensor
    iterations: torch.Tensor
    grad_evals: torch.Tensor
    zero_grad: torch.Tensor | None = None
    zero_grad_steps: torch.Tensor | None = None
    trace: torch.Tensor | None = None
    found: torch.Tensor | None = None
    stopped: torch.Tensor | None = None
    missed: torch.Tensor | None = None


@dataclass
class AttackResult:
    """The outcome of one attack on a batch.

    Norms are of ``x_adv - x`` in the space the attack ran in; relative norms divide by the
    same norm of ``x`` (the paper's rho_p). Success means the model's prediction on ``x_adv``
    differs from the label.

    Attributes:
        attack: attack name.
        x_adv: adversarial inputs (N, ...), within the bounds (and budget).
        success: (N,) bool, prediction on ``x_adv`` != label.
        clean_correct: (N,) bool, prediction on ``x`` == label.
        l2, linf: (N,) absolute perturbation norms.
        l2_rel, linf_rel: (N,) norms relative to ``||x||_2`` and ``||x||_inf``.
        iterations: (N,) iterations used per sample.
        grad_evals: (N,) input-gradient computations per sample.
        zero_grad: (N,) bool, samples abandoned on an exactly zero gradient.
        seconds: wall time of the call.
        config: the attack's settings for this call (with the budget it used).
        zero_grad_steps: (N,) int, exactly-zero input gradients met at any iterate (-1: the
            attack does not count them).
        trace: (N, T) objective per iteration, or None (see ``RunOutput``).
        found: (N,) bool, some iterate was adversarial (defaults to ``success``).
    """

    attack: str
    x_adv: torch.Tensor
    success: torch.Tensor
    clean_correct: torch.Tensor
    l2: torch.Tensor
    linf: torch.Tensor
    l2_rel: torch.Tensor
    linf_rel: torch.Tensor
    iterations: torch.Tensor
    grad_evals: torch.Tensor
    zero_grad: torch.Tensor
    seconds: float
    config: dict[str, Any]
    zero_grad_steps: torch.Tensor | None = None
    trace: torch.Tensor | None = None
    found: torch.Tensor | None = None

    @property
    def accuracy(self) -> float:
        """Accuracy on the adversarial inputs (fraction not successfully attacked)."""
        return float((~self.success).float().mean()) if len(self.success) else 0.0


def plain(value: Any) -> Any:
    """A setting as a plain value for ``AttackResult.config`` (bounds and tensors as lists)."""
    if isinstance(value, Bounds):
        return [value.low, value.high]
    if isinstance(value, torch.Tensor):
        return value.flatten().tolist()
    if isinstance(value, torch.Generator):
        return "torch.Generator"
    return value


def measure(
    name: str,
    config: dict[str, Any],
    x: torch.Tensor,
    y: torch.Tensor,
    out: RunOutput,
    clean_logits: torch.Tensor,
    adv_pred: torch.Tensor,
    seconds: float,
) -> AttackResult:
    """The ``AttackResult`` of a run: norms, success and the attack's own counts, on the CPU.

    Args:
        name: the attack's name.
        config: its settings for the call.
        x: clean inputs (N, ...).
        y: labels (N,).
        out: the run's output (``x_adv`` within the box and the budget).
        clean_logits: the model's logits on ``x``.
        adv_pred: the model's predictions on ``out.x_adv``.
        seconds: wall time of the call.
    """
    x_adv = out.x_adv
    n, success = len(x), (adv_pred != y).cpu()
    zero = out.zero_grad if out.zero_grad is not None else torch.zeros(n, dtype=torch.bool)
    return AttackResult(
        attack=name,
        x_adv=x_adv,
        success=success,
        clean_correct=(clean_logits.argmax(1) == y).cpu(),
        **perturbation_norms(x.cpu(), x_adv.cpu()),
        iterations=out.iterations.cpu(),
        grad_evals=out.grad_evals.cpu(),
        zero_grad=zero.cpu(),
        seconds=seconds,
        config=config,
        zero_grad_steps=(
            torch.full((n,), -1, dtype=torch.long)
            if out.zero_grad_steps is None
            else out.zero_grad_steps.cpu()
        ),
        trace=None if out.trace is None else out.trace.cpu(),
        found=success if out.found is None else out.found.cpu() | success,
    )
