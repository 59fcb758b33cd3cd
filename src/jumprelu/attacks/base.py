"""Attack interface: configuration, input checks, bounds, budget, norms and results.

An attack is configured once (keyword-only arguments) and called with ``(model, x, y)``. The
base class checks the inputs before any work, puts the model in eval mode and restores its
mode afterwards, computes input gradients with ``torch.autograd.grad`` (so parameters never
receive ``.grad``), enforces the box and, for fixed-budget attacks, the epsilon-ball, and
measures the result. Each attack file holds only its algorithm (``_run``).
"""

from __future__ import annotations

import math
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import torch
from torch import nn

from jumprelu.errors import ConfigError

__all__ = [
    "NORMS",
    "Attack",
    "AttackResult",
    "Bounds",
    "FixedBudgetAttack",
    "MinimalAttack",
    "RunOutput",
    "check_norm",
    "lp_norm",
    "project",
]

Norm = Literal["l2", "linf"]
NORMS: tuple[str, ...] = ("l2", "linf")
_TOL = 1e-6


def check_norm(norm: str) -> Norm:
    """Validate a norm name ("l2" or "linf")."""
    if norm not in NORMS:
        raise ConfigError(f"unknown norm {norm!r}; known: {', '.join(NORMS)}")
    return norm  # type: ignore[return-value]


def check_positive(name: str, value: float) -> float:
    """Validate a finite, strictly positive setting such as epsilon or a step size."""
    v = float(value)
    if not math.isfinite(v) or v <= 0:
        raise ConfigError(f"{name} must be a finite number > 0, got {value!r}")
    return v


def check_count(name: str, value: int, minimum: int = 1) -> int:
    """Validate an integer setting such as a number of steps."""
    if isinstance(value, bool) or int(value) != value or value < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def lp_norm(t: torch.Tensor, norm: str) -> torch.Tensor:
    """Per-sample norm of a batch (N, ...) -> (N,)."""
    flat = t.flatten(1)
    out: torch.Tensor = flat.norm(p=2, dim=1) if norm == "l2" else flat.abs().amax(dim=1)
    return out


def project(delta: torch.Tensor, eps: float, norm: str) -> torch.Tensor:
    """Project perturbations onto the ``norm`` ball of radius ``eps``."""
    if norm == "linf":
        return delta.clamp(-eps, eps)
    n = lp_norm(delta, "l2").clamp_min(1e-12)
    factor = (eps / n).clamp(max=1.0)
    return delta * factor.view(-1, *([1] * (delta.dim() - 1)))


@dataclass(frozen=True)
class Bounds:
    """The valid input range: a box [low, high] applied to every element.

    Attributes:
        low: smallest valid value.
        high: largest valid value.
    """

    low: float = 0.0
    high: float = 1.0

    @classmethod
    def of_batch(cls, x: torch.Tensor) -> Bounds:
        """The paper's convention: the global min and max of the clean batch."""
        return cls(float(x.min()), float(x.max()))

    def clip(self, x: torch.Tensor) -> torch.Tensor:
        """Clip ``x`` into the box."""
        return x.clamp(self.low, self.high)

    def check(self, x: torch.Tensor) -> None:
        """Raise ConfigError when ``x`` lies outside the box."""
        lo, hi = float(x.min()), float(x.max())
        if lo < self.low - _TOL or hi > self.high + _TOL:
            raise ConfigError(
                f"inputs range over [{lo:g}, {hi:g}], outside the declared bounds "
                f"[{self.low:g}, {self.high:g}]"
            )


@dataclass
class RunOutput:
    """What an attack's algorithm returns to the base class.

    Attributes:
        x_adv: candidate adversarial inputs (the base clips and projects them).
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
    """

    x_adv: torch.Tensor
    iterations: torch.Tensor
    grad_evals: torch.Tensor
    zero_grad: torch.Tensor | None = None
    zero_grad_steps: torch.Tensor | None = None
    trace: torch.Tensor | None = None
    found: torch.Tensor | None = None


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
        config: the attack's settings.
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


class Attack(ABC):
    """Base of every attack.

    Args:
        bounds: "box" (the default [0, 1] pixels), "paper" (the global min and max of the clean
            batch, as in the JumpReLU paper's normalised-space protocol) or a ``Bounds``.
    """

    name: str = "attack"  # subclasses with norm variants set it per instance
    family: ClassVar[str] = "iterative"

    def __init__(self, *, bounds: str | Bounds = "box") -> None:
        if not (isinstance(bounds, Bounds) or bounds in ("box", "paper")):
            raise ConfigError(f"bounds must be 'box', 'paper' or a Bounds, got {bounds!r}")
        self.bounds = bounds

    def config(self) -> dict[str, Any]:
        """The attack's settings as plain values."""
        out = {k: v for k, v in vars(self).items() if not k.startswith("_")}
        if isinstance(self.bounds, Bounds):
            out["bounds"] = [self.bounds.low, self.bounds.high]
        return {"name": self.name, "family": self.family, **out}

    def bounds_for(self, x: torch.Tensor) -> Bounds:
        """The box the attack keeps ``x``'s perturbations in (the paper's: ``x``'s range)."""
        return self._bounds_for(x)

    def _bounds_for(self, x: torch.Tensor) -> Bounds:
        if isinstance(self.bounds, Bounds):
            return self.bounds
        return Bounds.of_batch(x) if self.bounds == "paper" else Bounds()

    @abstractmethod
    def _run(
        self,
        model: nn.Module,
        x: torch.Tensor,
        y: torch.Tensor,
        bounds: Bounds,
        index: torch.Tensor,
    ) -> RunOutput:
        """The algorithm: return candidate adversarial inputs for every sample.

        ``index`` (N,) holds each sample's global index: randomised attacks key their random
        numbers on it (``rng.SampleRandom``) so results do not depend on the batching.
        """

    def _finish(self, x: torch.Tensor, x_adv: torch.Tensor, bounds: Bounds) -> torch.Tensor:
        """Enforce the box (subclasses add their budget)."""
        return bounds.clip(x_adv)

    def __call__(
        self,
        model: nn.Module,
        x: torch.Tensor,
        y: torch.Tensor,
        *,
        index: torch.Tensor | None = None,
    ) -> AttackResult:
        """Attack ``model`` on ``(x, y)``.

        Args:
            model: a classifier returning logits; run in eval mode, its mode restored.
            x: inputs (N, ...) on the model's device, finite and within the bounds.
            y: int labels (N,).
            index: (N,) global indices of the samples (default ``0..N-1``); a randomised
                attack draws each sample's noise from its index, so a sample gets the same
                result in any batch.

        Returns:
            An ``AttackResult``.

        Raises:
            ConfigError: non-finite inputs, labels out of range or of the wrong shape, or
                inputs outside the bounds (before any work is done).
        """
        start = time.perf_counter()
        was_training = model.training
        model.eval()
        try:
            x, y = x.detach(), y.detach()
            bounds = self._bounds_for(x)
            with torch.no_grad():
                clean_logits = _check_inputs(model, x, y, bounds)
            with torch.enable_grad():
                if index is None:
                    index = torch.arange(len(x))
                elif index.shape != (len(x),):
                    raise ConfigError(
                        f"index must have shape ({len(x)},), got {tuple(index.shape)}"
                    )
                out = self._run(model, x, y, bounds, index.cpu())
            x_adv = self._finish(x, out.x_adv.detach(), bounds)
            with torch.no_grad():
                adv_pred = model(x_adv).argmax(1)
        finally:
            model.train(was_training)
        delta = x_adv - x
        l2, linf = lp_norm(delta, "l2"), lp_norm(delta, "linf")
        n = len(x)
        zero = out.zero_grad if out.zero_grad is not None else torch.zeros(n, dtype=torch.bool)
        return AttackResult(
            attack=self.name,
            x_adv=x_adv,
            success=(adv_pred != y).cpu(),
            clean_correct=(clean_logits.argmax(1) == y).cpu(),
            l2=l2.cpu(),
            linf=linf.cpu(),
            l2_rel=(l2 / lp_norm(x, "l2").clamp_min(1e-12)).cpu(),
            linf_rel=(linf / lp_norm(x, "linf").clamp_min(1e-12)).cpu(),
            iterations=out.iterations.cpu(),
            grad_evals=out.grad_evals.cpu(),
            zero_grad=zero.cpu(),
            seconds=time.perf_counter() - start,
            config=self.config(),
            zero_grad_steps=(
                torch.full((n,), -1, dtype=torch.long)
                if out.zero_grad_steps is None
                else out.zero_grad_steps.cpu()
            ),
            trace=None if out.trace is None else out.trace.cpu(),
            found=(adv_pred != y).cpu()
            if out.found is None
            else out.found.cpu() | (adv_pred != y).cpu(),
        )


def _check_inputs(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, bounds: Bounds
) -> torch.Tensor:
    if not torch.isfinite(x).all():
        raise ConfigError("inputs contain NaN or infinite values")
    if y.dim() != 1 or len(y) != len(x):
        raise ConfigError(f"labels must have shape ({len(x)},), got {tuple(y.shape)}")
    if y.dtype.is_floating_point:
        raise ConfigError(f"labels must be integers, got {y.dtype}")
    bounds.check(x)
    logits: torch.Tensor = model(x)
    k = logits.shape[1]
    if len(y) and (int(y.min()) < 0 or int(y.max()) >= k):
        raise ConfigError(f"labels must lie in [0, {k - 1}], got [{int(y.min())}, {int(y.max())}]")
    return logits


class FixedBudgetAttack(Attack):
    """An attack with a perturbation budget: ``||x_adv - x||_norm <= eps`` is enforced.

    Args:
        eps: the budget (> 0), in the units of the space the attack runs in.
        norm: "linf" or "l2".
        bounds: see ``Attack``.
    """

    family: ClassVar[str] = "fixed-budget"

    def __init__(self, *, eps: float, norm: str = "linf", bounds: str | Bounds = "box") -> None:
        super().__init__(bounds=bounds)
        self.eps = check_positive("eps", eps)
        self.norm: str = check_norm(norm)

    def _finish(self, x: torch.Tensor, x_adv: torch.Tensor, bounds: Bounds) -> torch.Tensor:
        return bounds.clip(x + project(x_adv - x, self.eps, self.norm))


class MinimalAttack(Attack):
    """An attack looking for the smallest adversarial perturbation.

    Args:
        norm: "l2" or "linf", the norm being minimised.
        max_norm: optional cap; samples whose perturbation exceeds it are returned unchanged
            (unsuccessful).
        bounds: see ``Attack``.
    """

    family: ClassVar[str] = "minimal"

    def __init__(
        self, *, norm: str = "l2", max_norm: float | None = None, bounds: str | Bounds = "box"
    ) -> None:
        super().__init__(bounds=bounds)
        self.norm = check_norm(norm)
        self.max_norm = None if max_norm is None else check_positive("max_norm", max_norm)

    def _finish(self, x: torch.Tensor, x_adv: torch.Tensor, bounds: Bounds) -> torch.Tensor:
        x_adv = bounds.clip(x_adv)
        if self.max_norm is not None:
            over = lp_norm(x_adv - x, self.norm) > self.max_norm
            x_adv = torch.where(over.view(-1, *([1] * (x.dim() - 1))), x, x_adv)
        return x_adv
