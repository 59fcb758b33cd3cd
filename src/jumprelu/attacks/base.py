"""Attack interface: settings at construction, model and budget at call, and results.

An attack is configured once (keyword-only arguments) and called with ``(model, x, y)`` and,
when it has a budget, ``eps`` (given at call it overrides the one given at construction, so one
attack serves several budgets). ``run`` checks the inputs before any work, puts the model in
eval mode and restores its mode afterwards, computes input gradients with
``torch.autograd.grad`` (so parameters never receive ``.grad``), enforces the box and the
budget, and returns the adversarial inputs with what only the attack knows (``RunOutput``);
calling the attack also measures them (``AttackResult``). Each attack file holds only its
algorithm (``_run``); norms, budgets and the box live in ``norms``.
"""

from __future__ import annotations

import copy
import time
from abc import ABC, abstractmethod
from typing import Any, ClassVar, TypeVar

import torch
from torch import nn

from jumprelu._util import eval_mode
from jumprelu.attacks.norms import (
    NORMS,
    Bounds,
    Budget,
    check_batch,
    check_budget,
    check_count,
    check_norm,
    check_positive,
    clip_to_ball,
    lp_norm,
    outside,
    per_sample,
    project,
)
from jumprelu.attacks.result import AttackResult, RunOutput, measure, plain
from jumprelu.errors import ConfigError

__all__ = [
    "NORMS",
    "Attack",
    "AttackResult",
    "Bounds",
    "Budget",
    "FixedBudgetAttack",
    "MinimalAttack",
    "RunOutput",
    "check_count",
    "check_norm",
    "check_positive",
    "eval_mode",
    "lp_norm",
    "plain",
    "project",
]

_A = TypeVar("_A", bound="Attack")


def _replace(attack: _A, **changes: Any) -> _A:
    """A shallow copy of ``attack`` with some attributes changed (the call's settings)."""
    new = copy.copy(attack)
    vars(new).update(changes)
    return new


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

    def check_classes(self, classes: int) -> None:
        """Refuse settings a model with ``classes`` outputs cannot honour (before any run;
        e.g. more APGD-T targets than other classes). None by default.

        Raises:
            ConfigError: naming the setting.
        """
        return None  # no setting depends on the number of classes

    def config(self) -> dict[str, Any]:
        """The attack's settings as plain values."""
        out = {k: plain(v) for k, v in vars(self).items() if not k.startswith("_")}
        return {"name": self.name, "family": self.family, **out}

    def bounds_for(self, x: torch.Tensor) -> Bounds:
        """The box the attack keeps ``x``'s perturbations in (the paper's: ``x``'s range)."""
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

        ``model`` is in eval mode, ``x`` and ``y`` are checked; ``index`` (N,) holds each
        sample's global index: randomised attacks key their random numbers on it
        (``rng.SampleRandom``) so results do not depend on the batching.
        """

    def _finish(self, x: torch.Tensor, x_adv: torch.Tensor, bounds: Bounds) -> torch.Tensor:
        """Enforce the box (subclasses add their budget)."""
        return bounds.clip(x_adv)

    def _for_call(self, eps: Budget | None, x: torch.Tensor) -> Attack:
        """This attack with the call's budget (a copy when the budget changes a setting)."""
        if eps is not None:
            raise ConfigError(f"attack {self.name!r} takes no budget (eps) at call time")
        return self

    def _attack(
        self,
        model: nn.Module,
        x: torch.Tensor,
        y: torch.Tensor,
        eps: Budget | None,
        index: torch.Tensor | None,
        *,
        clean: bool,
    ) -> tuple[Attack, RunOutput, torch.Tensor | None]:
        """Check the call, then craft (model in eval mode): ``(attack for the call, output,
        clean logits when ``clean``, which also checks the labels against the classes)``."""
        attack = self._for_call(eps, x)
        bounds = attack.bounds_for(x)
        index = check_batch(x, y, bounds, index)
        logits = None
        if clean:
            with torch.no_grad():
                logits = model(x)
            k = logits.shape[1]
            if len(y) and (int(y.min()) < 0 or int(y.max()) >= k):
                lo, hi = int(y.min()), int(y.max())
                raise ConfigError(f"labels must lie in [0, {k - 1}], got [{lo}, {hi}]")
        with torch.enable_grad():
            out = attack._run(model, x, y, bounds, index)
        out.x_adv = attack._finish(x, out.x_adv.detach(), bounds)
        return attack, out, logits

    def run(
        self,
        model: nn.Module,
        x: torch.Tensor,
        y: torch.Tensor,
        *,
        eps: Budget | None = None,
        index: torch.Tensor | None = None,
    ) -> RunOutput:
        """Craft adversarial inputs without measuring them (no forward pass beyond the attack's).

        Args: as for calling the attack; labels outside the model's classes are not checked
        here (the model's loss refuses them).

        Returns:
            A ``RunOutput`` whose ``x_adv`` lies in the box and the budget.
        """
        with eval_mode(model):
            return self._attack(model, x.detach(), y.detach(), eps, index, clean=False)[1]

    def __call__(
        self,
        model: nn.Module,
        x: torch.Tensor,
        y: torch.Tensor,
        *,
        eps: Budget | None = None,
        index: torch.Tensor | None = None,
    ) -> AttackResult:
        """Attack ``model`` on ``(x, y)`` and measure the result.

        Args:
            model: a classifier returning logits; run in eval mode, its mode restored.
            x: inputs (N, ...) on the model's device, finite and within the bounds.
            y: int labels (N,).
            eps: the budget of this call, overriding the one given at construction: the
                radius of a fixed-budget attack, the ``max_norm`` cap of a minimal one; a
                float, or for L-infinity a tensor of per-channel radii (C,) where the attack
                supports it. Attacks without a budget refuse it.
            index: (N,) global indices of the samples (default ``0..N-1``); a randomised
                attack draws each sample's noise from its index, so a sample gets the same
                result in any batch.

        Returns:
            An ``AttackResult``.

        Raises:
            ConfigError: non-finite inputs, labels out of range or of the wrong shape, inputs
                outside the bounds, or an invalid or missing budget (before any work is done).
        """
        start = time.perf_counter()
        x, y = x.detach(), y.detach()
        with eval_mode(model):
            attack, out, clean_logits = self._attack(model, x, y, eps, index, clean=True)
            with torch.no_grad():
                adv_pred = model(out.x_adv).argmax(1)
        assert clean_logits is not None
        seconds = time.perf_counter() - start
        return measure(attack.name, attack.config(), x, y, out, clean_logits, adv_pred, seconds)


class FixedBudgetAttack(Attack):
    """An attack with a perturbation budget: ``||x_adv - x||_norm <= eps`` is enforced.

    Args:
        eps: the budget (> 0), in the units of the space the attack runs in; optional when
            every call gives one (a budget given at call overrides it).
        norm: "linf" or "l2".
        bounds: see ``Attack``.
    """

    family: ClassVar[str] = "fixed-budget"
    #: Whether the attack takes per-channel L-infinity radii at call time.
    per_channel: ClassVar[bool] = False

    def __init__(
        self, *, eps: float | None = None, norm: str = "linf", bounds: str | Bounds = "box"
    ) -> None:
        super().__init__(bounds=bounds)
        self._eps: Budget | None = None if eps is None else check_positive("eps", eps)
        self.norm: str = check_norm(norm)

    @property
    def budget(self) -> Budget:
        """The budget: a float, or (given at call) per-channel radii shaped (1, C, 1, ...)."""
        if self._eps is None:
            raise ConfigError(f"attack {self.name!r} needs eps, at construction or call")
        return self._eps

    @property
    def eps(self) -> float:
        """The budget as one number (ConfigError for per-channel radii)."""
        budget = self.budget
        if isinstance(budget, torch.Tensor):
            raise ConfigError(f"attack {self.name!r} has per-channel radii, not one eps")
        return budget

    def config(self) -> dict[str, Any]:
        """The attack's settings as plain values, with the budget as ``eps``."""
        return {**super().config(), "eps": plain(self._eps)}

    def _for_call(self, eps: Budget | None, x: torch.Tensor) -> Attack:
        if eps is None:
            self.budget  # noqa: B018 (raises without a budget)
            return self
        budget = check_budget("eps", eps, self.norm, x, per_channel=self.per_channel)
        return _replace(self, _eps=budget)

    def _finish(self, x: torch.Tensor, x_adv: torch.Tensor, bounds: Bounds) -> torch.Tensor:
        return clip_to_ball(x, x_adv, self.budget, self.norm, bounds)


class MinimalAttack(Attack):
    """An attack looking for the smallest adversarial perturbation.

    Args:
        norm: "l2" or "linf", the norm being minimised.
        max_norm: optional cap; samples whose perturbation exceeds it are returned unchanged
            (unsuccessful). A budget ``eps`` given at call replaces it for that call (so one
            run gives the robust accuracy against eps).
        bounds: see ``Attack``.
    """

    family: ClassVar[str] = "minimal"

    def __init__(
        self, *, norm: str = "l2", max_norm: float | None = None, bounds: str | Bounds = "box"
    ) -> None:
        super().__init__(bounds=bounds)
        self.norm = check_norm(norm)
        self.max_norm: Budget | None = (
            None if max_norm is None else check_positive("max_norm", max_norm)
        )

    def _for_call(self, eps: Budget | None, x: torch.Tensor) -> Attack:
        if eps is None:
            return self
        return _replace(self, max_norm=check_budget("eps", eps, self.norm, x, per_channel=True))

    def _finish(self, x: torch.Tensor, x_adv: torch.Tensor, bounds: Bounds) -> torch.Tensor:
        x_adv = bounds.clip(x_adv)
        if self.max_norm is not None:
            over = outside(x_adv - x, self.max_norm, self.norm)
            x_adv = torch.where(per_sample(over, x), x, x_adv)
        return x_adv
