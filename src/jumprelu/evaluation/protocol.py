"""Budgets and attack settings per protocol: dataset defaults and the paper's iteration counts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jumprelu.evaluation.config import EvalConfig

__all__ = [
    "ATTACK_NORMS",
    "DEFAULT_EPS",
    "PAPER_JUMPS",
    "PAPER_STEPS",
    "attack_settings",
    "budgets",
]


#: Default budgets per dataset in [0, 1] pixel units: (linf, l2).
DEFAULT_EPS = {"mnist": (0.3, 2.0), "cifar10": (8 / 255, 0.5), "digits": (0.1, 1.0)}


#: Norm and family of the attacks that take a budget: name -> (norm, family).
ATTACK_NORMS: dict[str, tuple[str, str]] = {
    "fgsm": ("linf", "fixed-budget"),
    "pgd-linf": ("linf", "fixed-budget"),
    "pgd-l2": ("l2", "fixed-budget"),
    "square-linf": ("linf", "fixed-budget"),
    "square-l2": ("l2", "fixed-budget"),
    "apgd-ce-linf": ("linf", "fixed-budget"),
    "apgd-ce-l2": ("l2", "fixed-budget"),
    "apgd-dlr-linf": ("linf", "fixed-budget"),
    "apgd-dlr-l2": ("l2", "fixed-budget"),
    "apgd-t-linf": ("linf", "fixed-budget"),
    "apgd-t-l2": ("l2", "fixed-budget"),
    "fmn-linf": ("linf", "minimal"),
    "fmn-l2": ("l2", "minimal"),
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
    family = ATTACK_NORMS.get(name)
    if family is not None and family[1] == "fixed-budget":
        s["eps"] = eps[family[0]][1]
    if name.startswith(("pgd", "square", "apgd")):
        s["seed"] = config.seed
    kind = next((k for k in ("ifgsm", "deepfool", "tr") if name.startswith(k)), None)
    if paper and kind is not None and (kind != "tr" or name.startswith("tr-")):
        s["steps"] = PAPER_STEPS.get(config.dataset, {}).get(kind, 40)
    return {**s, **config.settings.get(name, {})}
