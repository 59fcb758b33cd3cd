"""Budgets and attack settings per protocol: dataset defaults and the paper's iteration counts.

A dataset's default budgets, paper iteration counts and paper jump grid are on its
``DatasetInfo`` (``jumprelu.datasets.core.DATASETS``).
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any

from jumprelu.attacks import ATTACKS, make_attack
from jumprelu.datasets.core import DATASETS
from jumprelu.errors import ConfigError

if TYPE_CHECKING:
    from jumprelu.evaluation.config import EvalConfig

__all__ = [
    "PAPER_KIND",
    "Budgets",
    "attack_settings",
    "budgets",
    "stage_settings",
    "suite_stage_settings",
]


#: The paper's attacks and the iteration count of ``DatasetInfo.paper_steps`` each takes.
PAPER_KIND = {
    "ifgsm": "ifgsm",
    "deepfool-linf": "deepfool",
    "deepfool-l2": "deepfool",
    **{f"tr-{v}{n}": "tr" for v in ("", "adaptive-") for n in ("linf", "l2")},
}


#: What to give for a norm without a budget.
_EPS_HINT = {"linf": "--eps (and --eps-l2 for L2 attacks)", "l2": "--eps-l2"}


class Budgets(dict[str, tuple[float, float]]):
    """``{norm: (pixels, attacked-space units)}`` of the norms that have a budget; looking up
    one without (the user's data, no option given) is a ConfigError naming the option."""

    def __init__(self, dataset: str, budgets: dict[str, tuple[float, float]]) -> None:
        super().__init__(budgets)
        self.dataset = dataset

    def __missing__(self, norm: str) -> tuple[float, float]:
        if norm not in _EPS_HINT:
            raise KeyError(norm)
        raise ConfigError(f"data {self.dataset!r} has no default budgets: give {_EPS_HINT[norm]}")


def budgets(config: EvalConfig, *, std: float) -> Budgets:
    """The L-inf and L2 budgets: ``{norm: (pixels, attacked-space units)}``.

    A budget is ``eps``/``eps_l2`` when given, else the dataset's default
    (``DatasetInfo.eps``). Data without defaults (the user's ``--data``) has only the
    budgets given; looking up another raises ConfigError, so only attacks that need it fail.

    Args:
        config: the evaluation config (``eps``/``eps_l2`` or the dataset's defaults).
        std: mean normalisation std (the paper protocol attacks normalised inputs).
    """
    info = DATASETS.get(config.dataset)
    linf, l2 = (None, None) if info is None or info.eps is None else info.eps
    scale = 1 / std if config.protocol == "paper" else 1.0
    pixels = {
        "linf": linf if config.eps is None else config.eps,
        "l2": l2 if config.eps_l2 is None else config.eps_l2,
    }
    known = {norm: (eps, eps * scale) for norm, eps in pixels.items() if eps is not None}
    return Budgets(config.dataset, known)


def attack_settings(name: str, config: EvalConfig, *, std: float) -> dict[str, Any]:
    """The settings an attack runs with under ``config``'s protocol.

    Args:
        name: attack name.
        config: the evaluation config.
        std: mean normalisation std, converting pixel budgets to normalised units (paper).

    Returns:
        Keyword arguments for ``make_attack``.
    """
    paper = config.protocol == "paper"
    spec = ATTACKS[name]
    eps = budgets(config, std=std)[spec.norm][1] if spec.family == "fixed-budget" else None
    s: dict[str, Any] = {"bounds": "paper"} if paper else {}
    s.update(_budget_and_seed(name, eps, config.seed))
    kind = PAPER_KIND.get(name)
    if paper and kind is not None:
        info = DATASETS.get(config.dataset)
        steps = None if info is None else info.paper_steps.get(kind)
        if steps is not None:  # no paper count (the user's data): the attack's own default
            s["steps"] = steps
    return {**s, **config.settings.get(name, {})}


def stage_settings(name: str, config: EvalConfig, *, std: float) -> dict[str, Any]:
    """The settings a stage of the adaptive suite runs with: the suite's defaults for it
    (the registry's ``suite_settings``) under ``attack_settings`` (so ``--set`` overrides them)."""
    return {**ATTACKS[name].suite_settings, **attack_settings(name, config, std=std)}


def suite_stage_settings(
    name: str, *, eps: float, seed: int, overrides: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    """``stage_settings`` for tensors in [0, 1] (the standard protocol), without a config.

    Args:
        name: a suite stage.
        eps: the budget of the stage's norm.
        seed: seed of randomised stages.
        overrides: per-attack settings over the defaults (validated here).

    Raises:
        ConfigError: an unknown setting or invalid value.
    """
    spec = ATTACKS[name]
    budget = eps if spec.family == "fixed-budget" else None
    s = {**spec.suite_settings, **_budget_and_seed(name, budget, seed), **overrides.get(name, {})}
    make_attack(name, **s)  # validates the settings
    return s


def _budget_and_seed(name: str, eps: float | None, seed: int) -> dict[str, Any]:
    """The budget (for a fixed-budget attack) and seed (for a randomised one) it is given."""
    s: dict[str, Any] = {} if eps is None else {"eps": eps}
    if "seed" in inspect.signature(ATTACKS[name]).parameters:
        s["seed"] = seed
    return s
