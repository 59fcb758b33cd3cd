"""The honest number in one call: ``adaptive_suite(model, x, y, eps=...)``.

For a user's own model and tensors, as AutoAttack's ``run_standard_evaluation(x, y)`` is:
the adaptive suite (APGD-CE, APGD-T, FMN and Square as a cascade, every gradient stage through
each BPDA surrogate; ``jumprelu.evaluation.suite``) at one norm and budget, with its indicators
of attack failure and the flags they raise. With ``jumps`` it retrofits a copy of the model at
each jump; with the CLI's defaults it gives the numbers of ``jumprelu evaluate --threats
adaptive --suite NORM`` on the same points and seed (the same functions run).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from jumprelu._util import check_model, fast_layout, model_device, real, resolve_device
from jumprelu.activation import MeanSparse, check_jump
from jumprelu.attacks import make_attack
from jumprelu.attacks.norms import NORMS, check_count
from jumprelu.errors import ConfigError
from jumprelu.evaluation.cells import outcome_arrays
from jumprelu.evaluation.checks import sanity_flags
from jumprelu.evaluation.clean import check_tensors
from jumprelu.evaluation.config import MAX_EPS
from jumprelu.evaluation.metrics import summarize
from jumprelu.evaluation.protocol import suite_stage_settings
from jumprelu.evaluation.suite import suite_cell
from jumprelu.evaluation.summaries import indicator_counts
from jumprelu.evaluation.units import SUITE_STAGES, SUITE_SURROGATES, check_surrogate
from jumprelu.retrofit import jump_sites, retrofit, set_jump

__all__ = ["SuiteResult", "adaptive_suite"]


@dataclass
class SuiteResult:
    """What ``adaptive_suite`` found. With ``jumps`` every field but ``norm``, ``eps`` and
    ``n`` is a dict keyed by jump; without, the value for the model as given.

    Attributes:
        norm: "linf" or "l2".
        eps: the budget.
        n: points attacked.
        robust_accuracy: fraction of the n points still classified correctly after every
            stage (a point misclassified without attack counts as broken).
        clean_accuracy: fraction classified correctly without attack.
        robust: (n,) bool per point: robust.
        x_adv: (n, ...) the first adversarial input found for each point (the input itself
            where none was found).
        stages: per stage, in order: ``{"stage": "ATTACK@SURROGATE", "attacked", "broken",
            "seconds"}``.
        flags: the indicators of attack failure that fired: ``{"code", "where", "message",
            "explanation"}``.
        checks: the indicators' re-runs (2 eps, the whole box, 4x the steps) on the first
            ``check_n`` robust points.
        own_robust_accuracy: with ``"exact"`` among the surrogates, the robust accuracy after
            the cascade's pass through the defence's own gradient (what a plain AutoAttack
            run reports; ``suite.run_suite``), else None.

    Example:
        >>> import torch, jumprelu
        >>> r = jumprelu.SuiteResult("linf", 0.1, 2, 0.5, 1.0, torch.tensor([True, False]),
        ...                          torch.zeros(2, 1), [], [])
        >>> r.robust_accuracy, int(r.robust.sum()), sorted(r.to_dict())[:3]
        (0.5, 1, ['checks', 'clean_accuracy', 'eps'])
    """

    norm: str
    eps: float
    n: int
    robust_accuracy: Any
    clean_accuracy: Any
    robust: Any
    x_adv: Any
    stages: Any
    flags: Any
    checks: Any = field(default_factory=dict)
    own_robust_accuracy: Any = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable summary (per-point booleans as lists; no ``x_adv``).

        Example:
            >>> import json, torch, jumprelu
            >>> r = jumprelu.SuiteResult("linf", 0.1, 2, 0.5, 1.0, torch.tensor([True, False]),
            ...                          torch.zeros(2, 1), [], [])
            >>> json.dumps(r.to_dict())[:40]
            '{"norm": "linf", "eps": 0.1, "n": 2, "ro'
        """

        def plain(v: Any) -> Any:
            if isinstance(v, dict):
                return {str(k): plain(w) for k, w in v.items()}
            if isinstance(v, torch.Tensor):
                return v.tolist()
            return v

        keys = (
            "robust_accuracy",
            "clean_accuracy",
            "robust",
            "stages",
            "flags",
            "checks",
            "own_robust_accuracy",
        )
        return {"norm": self.norm, "eps": self.eps, "n": self.n} | {
            k: plain(getattr(self, k)) for k in keys
        }


def adaptive_suite(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    norm: str = "linf",
    eps: float,
    jumps: Sequence[float] | None = None,
    surrogates: Sequence[str] | None = None,
    seed: int = 0,
    batch_size: int | None = None,
    device: str | None = None,
    check_n: int = 100,
    settings: Mapping[str, Mapping[str, Any]] | None = None,
) -> SuiteResult:
    """Attack ``model`` with the adaptive suite and return its robust accuracy.

    Args:
        model: any ``nn.Module`` taking images in [0, 1] (its normalisation inside) and
            returning logits (N, classes).
        x: (N, C, H, W) images in [0, 1].
        y: (N,) integer labels.
        norm: "linf" or "l2".
        eps: the budget in the units of ``x`` (pixels in [0, 1]).
        jumps: retrofit a copy of the model with JumpReLU at each jump and attack each
            (jump 0 is the original ReLU network). None: attack the model as given, through
            its own gradient, or through the surrogates if it already has JumpReLU sites.
        surrogates: BPDA surrogates of the gradient stages (default: straight-through and
            four smooth widths, ``SUITE_SURROGATES``).
        seed: seed of the randomised stages (per-sample random numbers: the result does not
            depend on ``batch_size``).
        batch_size: examples per attack call (default 500, the CLI's).
        device: "cpu" or "cuda" (default: where the model's parameters are).
        check_n: points re-attacked by the indicators of attack failure (0: none).
        settings: per-stage overrides, e.g. ``{"square-linf": {"queries": 1000}}``.

    Returns:
        A ``SuiteResult``.

    Raises:
        ConfigError: bad tensors, labels outside the model's classes, an unknown norm or
            surrogate, a budget that is not a positive number, a negative jump.

    Example:
        >>> import jumprelu
        >>> model, _ = jumprelu.load_checkpoint(jumprelu.default_model_path())
        >>> test = jumprelu.load_split("digits", "test")
        >>> r = jumprelu.adaptive_suite(model, test.x[:10], test.y[:10], eps=0.1, jumps=[0.0],
        ...                             settings={"square-linf": {"queries": 50}})
        >>> sorted(r.robust_accuracy)
        [0.0]
    """
    check_model(model)
    if not isinstance(norm, str) or norm not in NORMS:
        raise ConfigError(f"unknown norm {norm!r}; known: {', '.join(NORMS)}")
    budget = real("eps", eps, low=0.0, high=MAX_EPS, open_low=True)
    if not isinstance(x, torch.Tensor) or x.dim() != 4:
        what = tuple(x.shape) if isinstance(x, torch.Tensor) else f"a {type(x).__name__}"
        raise ConfigError(f"x must be an (N, C, H, W) tensor, got {what}")
    if not isinstance(y, torch.Tensor):
        raise ConfigError(f"y must be an (N,) tensor of labels, got a {type(y).__name__}")
    if device is not None and not isinstance(device, (str, torch.device)):
        raise ConfigError(f"device must be a name such as 'cpu' or 'cuda', got {device!r}")
    if jumps is not None and (isinstance(jumps, str) or not isinstance(jumps, Sequence)):
        raise ConfigError(f"jumps must be a list of numbers, got {jumps!r}")
    if surrogates is not None and (
        isinstance(surrogates, str)
        or not isinstance(surrogates, Sequence)
        or not all(isinstance(s, str) for s in surrogates)
    ):
        raise ConfigError(f"surrogates must be a list of names (strings), got {surrogates!r}")
    if settings is not None and not (
        isinstance(settings, Mapping)
        and all(isinstance(k, str) and isinstance(v, Mapping) for k, v in settings.items())
    ):
        raise ConfigError(
            f"settings must be a dict of dicts, e.g. {{'square-linf': {{'queries': 1000}}}}, "
            f"got {settings!r}"
        )
    size = 500 if batch_size is None else check_count("batch size", batch_size)
    check_count("seed", seed, minimum=0, maximum=2**63 - 1)
    check_count("check n", check_n, minimum=0)
    chosen = [check_surrogate(s) for s in (surrogates or SUITE_SURROGATES)]
    if any(s.endswith("+noise") for s in chosen):
        raise ConfigError("+noise surrogates need a noise sigma: use `jumprelu evaluate`")
    grid = None if jumps is None else [check_jump(j) for j in jumps]
    if grid is not None and not grid:
        raise ConfigError("jumps: give at least one (or None for the model as given)")
    overrides = {k: dict(v) for k, v in (settings or {}).items()}
    unknown = sorted(set(overrides) - set(SUITE_STAGES[norm]))
    if unknown:
        raise ConfigError(f"no suite stage {unknown[0]!r}; stages: {', '.join(SUITE_STAGES[norm])}")
    if any("eps" in v for v in overrides.values()):
        raise ConfigError("settings: the budget of every stage is eps; give it there")
    stage = {  # built (and so validated) once, before any attack runs
        a: suite_stage_settings(a, eps=budget, seed=seed, overrides=overrides)
        for a in SUITE_STAGES[norm]
    }
    dev = resolve_device(device) if device else model_device(model)
    if x.dtype.is_floating_point:
        x = x.detach().cpu().float()
    y = y.detach().cpu()
    classes = check_tensors(model, x, y, dev, batch_size=size)
    for name, chosen_settings in stage.items():
        make_attack(name, **chosen_settings).check_classes(classes)
    y = y.long()
    base = model.to(dev).eval()
    jm = retrofit(base, 0.0) if grid is not None else base
    has_sites = bool(_sites(jm))
    jm, _ = fast_layout(jm, x[:size].to(dev))

    def one(jump: float | None) -> dict[str, Any]:
        if jump is not None:
            set_jump(jm, jump)
        level = _level(jm) if jump is None else jump
        grads: list[str | None] = list(chosen) if has_sites else [None]
        outcome = suite_cell(
            norm,
            jm,
            x,
            y,
            eps=budget,
            jump=level,
            surrogates=grads,
            settings=lambda name: stage[name],
            batch_size=size,
            check_n=check_n,
        )
        correct = _correct(jm, x, y, size)
        adv_ok = outcome.adv_correct & correct
        metrics = summarize(
            clean_correct=correct,
            adv_correct=adv_ok,
            l2_rel=outcome.l2_rel,
            linf_rel=outcome.linf_rel,
            l2=outcome.l2,
            linf=outcome.linf,
            zero_grad=outcome.zero_grad,
            grad_evals=outcome.grad_evals,
            seconds=outcome.seconds,
        )
        cell = {
            "threat": "adaptive",
            "attack": f"suite-{norm}",
            "jump": level,
            "settings": {"eps": budget, "norm": norm},
            "family": "fixed-budget",
            "metrics": metrics.to_dict(),
            "indicators": indicator_counts(outcome_arrays(outcome), correct, adv_ok),
            "checks": outcome.checks,
        }
        return {  # exact fractions (the document's float32 means print the same)
            "robust_accuracy": int(adv_ok.sum()) / len(x),
            "clean_accuracy": int(correct.sum()) / len(x),
            "robust": adv_ok,
            "x_adv": outcome.x_adv,
            "stages": outcome.stages,
            "flags": sanity_flags({"cells": [cell]}),
            "checks": outcome.checks,
            "own_robust_accuracy": None
            if outcome.own_robust is None
            else int((outcome.own_robust & correct).sum()) / len(x),
        }

    if grid is None:
        got = one(None)
        per = {k: got[k] for k in got if k != "plan"}
    else:
        runs = {j: one(j) for j in grid}
        per = {
            k: {j: r[k] for j, r in runs.items()} for k in next(iter(runs.values())) if k != "plan"
        }
    return SuiteResult(norm=norm, eps=budget, n=len(x), **per)


def _sites(model: nn.Module) -> dict[str, Any]:
    """The model's JumpReLU sites (none for a plain network)."""
    try:
        return dict(jump_sites(model))
    except ConfigError:
        return {}


def _level(model: nn.Module) -> float:
    """The defence's strength: the largest jump of its sites, or MeanSparse band (0: none,
    when every surrogate is the original gradient and one stands for all)."""
    bands = [float(m.alpha) for m in model.modules() if isinstance(m, MeanSparse)]
    return max([*(float(s.jump.max()) for s in _sites(model).values()), *bands], default=0.0)


def _correct(model: nn.Module, x: torch.Tensor, y: torch.Tensor, size: int) -> torch.Tensor:
    from jumprelu.evaluation.clean import predict

    return predict(model, x, batch_size=size) == y
