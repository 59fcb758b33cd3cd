"""Budgets and attack settings per protocol: dataset defaults and the paper's iteration counts."""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any

from jumprelu.attacks import ATTACKS
from jumprelu.evaluation.units import SUITE_SETTINGS

if TYPE_CHECKING:
    from jumprelu.evaluation.config import EvalConfig

__all__ = [
    "DEFAULT_EPS",
    "PAPER_JUMPS",
    "PAPER_KIND",
    "PAPER_STEPS",
    "attack_settings",
    "budgets",
    "stage_settings",
]


#: Default budgets per dataset in [0, 1] pixel units: (linf, l2).
DEFAULT_EPS = {"mnist": (0.3, 2.0), "cifar10": (8 / 255, 0.5), "digits": (0.1, 1.0)}


#: The paper's attacks and the iteration count of ``PAPER_STEPS`` each takes.
PAPER_KIND = {
    "ifgsm": "ifgsm",
    "deepfool-linf": "deepfool",
    "deepfool-l2": "deepfool",
    **{f"tr-{v}{n}": "tr" for v in ("", "adaptive-") for n in ("linf", "l2")},
}


#: The paper's iteration counts per dataset and attack family, as the authors ran them
#: (train_protocol.md: ``--iter`` for IFGSM, ``--iter_df`` for DeepFool, the default
#: ``--iter_tr`` 40 for Trust Region); other datasets get 40.
PAPER_STEPS: dict[str, dict[str, int]] = {
    "mnist": {"ifgsm": 40, "deepfool": 40, "tr": 40},
    "cifar10": {"ifgsm": 7, "deepfool": 7, "tr": 40},
    "digits": {"ifgsm": 40, "deepfool": 40, "tr": 40},
}


#: The jump grids of the authors' attack commands (CIFAR-10: ResNet, WideResNet, MobileNetV2;
#: their AlexLike used 0 to 0.8, see ``jumprelu.models.zoo``); the paper protocol's default.
PAPER_JUMPS: dict[str, tuple[float, ...]] = {
    "mnist": (0.0, 0.5, 1.0, 1.5),
    "cifar10": tuple(round(0.01 * i, 2) for i in range(10)),
}


def budgets(config: EvalConfig, *, std: float) -> dict[str, tuple[float, float]]:
    """The L-inf and L2 budgets: ``{norm: (pixels, attacked-space units)}``.

    Args:
        config: the evaluation config (``eps``/``eps_l2`` or the dataset's defaults).
        std: mean normalisation std (the paper protocol attacks normalised inputs).
    """
    linf, l2 = DEFAULT_EPS.get(config.dataset, (0.1, 1.0))
    scale = 1 / std if config.protocol == "paper" else 1.0
    pixels = {
        "linf": linf if config.eps is None else config.eps,
        "l2": l2 if config.eps_l2 is None else config.eps_l2,
    }
    return {norm: (eps, eps * scale) for norm, eps in pixels.items()}


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
    eps = budgets(config, std=std)
    s: dict[str, Any] = {"bounds": "paper"} if paper else {}
    spec = ATTACKS[name]
    if spec.family == "fixed-budget":
        s["eps"] = eps[spec.norm][1]
    if "seed" in inspect.signature(spec).parameters:
        s["seed"] = config.seed
    kind = PAPER_KIND.get(name)
    if paper and kind is not None:
        s["steps"] = PAPER_STEPS.get(config.dataset, {}).get(kind, 40)
    return {**s, **config.settings.get(name, {})}


def stage_settings(name: str, config: EvalConfig, *, std: float) -> dict[str, Any]:
    """The settings a stage of the adaptive suite runs with: the suite's defaults for it
    (``units.SUITE_SETTINGS``) under ``attack_settings`` (so ``--set`` overrides them)."""
    return {**SUITE_SETTINGS.get(name, {}), **attack_settings(name, config, std=std)}
