"""The units of a grid: (threat, attack) pairs, BPDA surrogate prefixes and the adaptive suites."""

from __future__ import annotations

from typing import TYPE_CHECKING

from jumprelu.activation import check_gradient
from jumprelu.attacks import ATTACKS, suite_stages
from jumprelu.errors import ConfigError

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


#: The cascade's stages per norm, in order (read from the attack registry's ``suite_stage``);
#: each gradient stage runs once per surrogate, each only on the points still robust.
SUITE_STAGES: dict[str, tuple[str, ...]] = {norm: suite_stages(norm) for norm in ("linf", "l2")}


#: The suite's own defaults for its stages (the registry's ``suite_settings``; ``--set``
#: overrides them). docs/benchmarks.md measures them against AutoAttack's settings.
SUITE_SETTINGS: dict[str, dict[str, object]] = {
    name: dict(spec.suite_settings) for name, spec in ATTACKS.items() if spec.suite_settings
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
    """Validate a BPDA surrogate: a JumpReLU gradient, optionally "+noise". "exact" is the
    defence's own gradient (zero below the jump): what a plain AutoAttack run attacks through,
    the number to put beside the sweep's (units ``bpda-exact:NAME``)."""
    if not isinstance(name, str):
        raise ConfigError(f"a surrogate is a name, got {name!r}")
    base = name.removesuffix(NOISE_SUFFIX)
    if ":" in name or (base == "exact" and base != name):
        raise ConfigError(f"surrogate {name!r}: use exact, relu, smooth or smooth-WIDTH (+noise)")
    check_gradient(base)
    return name


def units(config: EvalConfig) -> list[tuple[str, str]]:
    """The (threat, attack) pairs of the grid, in run order (adaptive: BPDA + gradient-free)."""
    units = []
    for threat in config.threats:
        names = config.attacks
        if threat == "adaptive":
            prefixes = [surrogate_prefix(g) for g in config.gradient_surrogates()]
            grad = [
                f"{p}{a}" for p in prefixes for a in config.attacks if not ATTACKS[a].gradient_free
            ]
            free = [a for a in config.attacks if ATTACKS[a].gradient_free]
            extra = [a for a in config.adaptive_extra if a not in free] if config.attacks else []
            suite = [f"suite-{norm}" for norm in SUITES[config.suite]] if config.suite else []
            names = grad + free + extra + suite
        units += [(threat, a) for a in names]
    return units
