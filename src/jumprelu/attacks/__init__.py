"""Adversarial attacks, configured once and called with ``(model, x, y)``.

``ATTACKS`` maps the names used by the CLI and in results to constructors; ``make_attack``
builds one by name and ``describe_attacks`` lists them with their defaults.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from functools import partial
from typing import Any

from jumprelu.attacks.apgd import APGD
from jumprelu.attacks.base import Attack, AttackResult, Bounds, FixedBudgetAttack, MinimalAttack
from jumprelu.attacks.cw import CarliniWagnerL2
from jumprelu.attacks.deepfool import DeepFool
from jumprelu.attacks.fgsm import FGSM
from jumprelu.attacks.fmn import FMN
from jumprelu.attacks.ifgsm import IterativeFGSM
from jumprelu.attacks.pgd import PGD
from jumprelu.attacks.square import SquareAttack
from jumprelu.attacks.trust_region import TrustRegion
from jumprelu.errors import ConfigError

__all__ = [
    "APGD",
    "ATTACKS",
    "FGSM",
    "FMN",
    "PGD",
    "Attack",
    "AttackResult",
    "Bounds",
    "CarliniWagnerL2",
    "DeepFool",
    "FixedBudgetAttack",
    "IterativeFGSM",
    "MinimalAttack",
    "SquareAttack",
    "TrustRegion",
    "describe_attacks",
    "make_attack",
]

#: Attack names (as used by the CLI and in results) -> constructors.
ATTACKS: dict[str, Callable[..., Attack]] = {
    "fgsm": partial(FGSM, norm="linf"),
    "ifgsm": IterativeFGSM,
    "pgd-linf": partial(PGD, norm="linf"),
    "pgd-l2": partial(PGD, norm="l2"),
    "deepfool-linf": partial(DeepFool, norm="linf"),
    "deepfool-l2": partial(DeepFool, norm="l2"),
    "tr-linf": partial(TrustRegion, norm="linf"),
    "tr-l2": partial(TrustRegion, norm="l2"),
    "tr-adaptive-linf": partial(TrustRegion, norm="linf", adaptive=True),
    "tr-adaptive-l2": partial(TrustRegion, norm="l2", adaptive=True),
    "cw-l2": CarliniWagnerL2,
    "square-linf": partial(SquareAttack, norm="linf"),
    "square-l2": partial(SquareAttack, norm="l2"),
    "apgd-ce-linf": partial(APGD, norm="linf", loss="ce", targeted=False),
    "apgd-ce-l2": partial(APGD, norm="l2", loss="ce", targeted=False),
    "apgd-dlr-linf": partial(APGD, norm="linf", loss="dlr", targeted=False),
    "apgd-dlr-l2": partial(APGD, norm="l2", loss="dlr", targeted=False),
    "apgd-t-linf": partial(APGD, norm="linf", loss="dlr", targeted=True),
    "apgd-t-l2": partial(APGD, norm="l2", loss="dlr", targeted=True),
    "fmn-linf": partial(FMN, norm="linf"),
    "fmn-l2": partial(FMN, norm="l2"),
}


def _target(factory: Callable[..., Attack]) -> tuple[Callable[..., Attack], dict[str, Any]]:
    if isinstance(factory, partial):
        return factory.func, dict(factory.keywords)
    return factory, {}


def make_attack(name: str, **settings: Any) -> Attack:
    """Build an attack by name.

    Args:
        name: a key of ``ATTACKS``.
        **settings: keyword arguments of the attack (e.g. ``eps``, ``steps``, ``bounds``).

    Returns:
        The configured attack.

    Raises:
        ConfigError: an unknown name, an unknown or missing setting, or an invalid value.
    """
    factory = ATTACKS.get(name)
    if factory is None:
        raise ConfigError(f"unknown attack {name!r}; known: {', '.join(ATTACKS)}")
    cls, fixed = _target(factory)
    params = inspect.signature(cls).parameters
    unknown = sorted(set(settings) - set(params) | set(settings) & set(fixed))
    if unknown:
        allowed = [p for p in params if p not in fixed]
        raise ConfigError(
            f"attack {name!r} has no setting {', '.join(unknown)}; settings: {', '.join(allowed)}"
        )
    missing = [
        p
        for p, v in params.items()
        if v.default is inspect.Parameter.empty
        and p not in settings
        and p not in fixed
        and v.kind is inspect.Parameter.KEYWORD_ONLY
    ]
    if missing:
        raise ConfigError(f"attack {name!r} needs {', '.join(missing)}")
    return factory(**settings)


def describe_attacks() -> list[tuple[str, str, dict[str, Any]]]:
    """List every attack: ``(name, one-line description, default settings)``.

    Returns:
        One tuple per registered name, in registry order; required settings show as None.
    """
    rows = []
    for name, factory in ATTACKS.items():
        cls, fixed = _target(factory)
        doc = (inspect.getdoc(cls) or "").splitlines()
        defaults = {
            p: (None if v.default is inspect.Parameter.empty else v.default)
            for p, v in inspect.signature(cls).parameters.items()
            if p not in fixed and v.kind is inspect.Parameter.KEYWORD_ONLY
        }
        rows.append((name, doc[0] if doc else name, defaults))
    return rows
