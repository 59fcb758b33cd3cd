"""The units of a grid: (threat, attack) pairs, BPDA surrogate prefixes and the adaptive suites."""

from __future__ import annotations

from typing import TYPE_CHECKING

from jumprelu.activation import check_gradient
from jumprelu.errors import ConfigError
from jumprelu.evaluation.threats import GRADIENT_FREE

if TYPE_CHECKING:
    from jumprelu.evaluation.config import EvalConfig

__all__ = [
    "BPDA_PREFIXES",
    "EXHAUSTIVE_SUITES",
    "NOISE_SUFFIX",
    "SUITES",
    "SUITE_SETTINGS",
    "SUITE_STAGES",
    "SUITE_SURROGATES",
    "check_surrogate",
    "split_unit",
    "surrogate_prefix",
    "units",
]


#: Unit-name prefixes of adaptive gradient attacks and the JumpReLU gradient each uses; any
#: other surrogate S is written ``bpda-S:NAME`` (e.g. ``bpda-smooth-0.1:apgd-ce-linf``).
BPDA_PREFIXES = {"bpda:": "relu", "bpda-smooth:": "smooth"}


#: Adaptive suites: name -> the norms whose cascade runs (one ``suite-NORM`` unit each).
SUITES: dict[str, tuple[str, ...]] = {
    "default": ("linf", "l2"),
    "linf": ("linf",),
    "l2": ("l2",),
    "exhaustive": ("linf", "l2"),
}


#: Suites that run every gradient stage through every surrogate (no surrogate selection).
EXHAUSTIVE_SUITES = ("exhaustive",)


#: The cascade's stages per norm, in order (AutoAttack's order, FMN in FAB's place); each
#: gradient stage runs once per surrogate, each only on the points still robust.
SUITE_STAGES: dict[str, tuple[str, ...]] = {
    "linf": ("apgd-ce-linf", "apgd-t-linf", "fmn-linf", "square-linf"),
    "l2": ("apgd-ce-l2", "apgd-t-l2", "fmn-l2", "square-l2"),
}


#: The suite's own defaults for its stages (``--set`` overrides them): APGD-T attacks the top 3
#: classes by logit rather than 9 (MALT's order, ``targets=malt``, broke fewer points than the
#: logit order on the authors' LeNets), and Square stops points whose margin is not moving
#: (A3's discarding, Liu et al., CVPR 2022) until it breaks a point, when it runs the stopped
#: ones to the full budget. docs/benchmarks.md measures both against AutoAttack's settings.
SUITE_SETTINGS: dict[str, dict[str, object]] = {
    **{f"apgd-t-{n}": {"n_targets": 3} for n in ("linf", "l2")},
    **{f"square-{n}": {"discard": 2.0} for n in ("linf", "l2")},
}


#: The BPDA surrogates a suite runs by default: straight-through and four smooth widths.
SUITE_SURROGATES = ("relu", "smooth-0.1", "smooth-0.25", "smooth-0.5", "smooth-1")


#: Suffix of a surrogate whose gradient is averaged over Gaussian input noise.
NOISE_SUFFIX = "+noise"


def surrogate_prefix(surrogate: str) -> str:
    """The unit-name prefix of an adaptive gradient attack using ``surrogate``."""
    for prefix, gradient in BPDA_PREFIXES.items():
        if gradient == surrogate:
            return prefix
    return f"bpda-{surrogate}:"


def split_unit(name: str) -> tuple[str, str | None]:
    """``("pgd-linf", "smooth")`` for ``"bpda-smooth:pgd-linf"``; ``(name, None)`` without BPDA."""
    head, sep, attack = name.partition(":")
    if not sep or not head.startswith("bpda"):
        return name, None
    if head == "bpda":
        return attack, "relu"
    return attack, head.removeprefix("bpda-")


def check_surrogate(name: str) -> str:
    """Validate a BPDA surrogate: a JumpReLU gradient other than "exact", optionally "+noise"."""
    base = name.removesuffix(NOISE_SUFFIX)
    if base == "exact" or ":" in name:
        raise ConfigError(f"surrogate {name!r}: use relu, smooth or smooth-WIDTH (+noise)")
    check_gradient(base)
    return name


def units(config: EvalConfig) -> list[tuple[str, str]]:
    """The (threat, attack) pairs of the grid, in run order (adaptive: BPDA + gradient-free)."""
    units = []
    for threat in config.threats:
        names = config.attacks
        if threat == "adaptive":
            prefixes = [surrogate_prefix(g) for g in config.gradient_surrogates()]
            grad = [f"{p}{a}" for p in prefixes for a in config.attacks if a not in GRADIENT_FREE]
            free = [a for a in config.attacks if a in GRADIENT_FREE]
            extra = [a for a in config.adaptive_extra if a not in free] if config.attacks else []
            suite = [f"suite-{norm}" for norm in SUITES[config.suite]] if config.suite else []
            names = grad + free + extra + suite
        units += [(threat, a) for a in names]
    return units
