"""Adversarial attacks, configured once and called with ``(model, x, y)`` and a budget.

``ATTACKS`` maps the names used by the CLI and in results to a plain record of each attack
(its class and fixed settings, norm, family and a one-line description); ``make_attack``
builds one by name and ``describe_attacks`` lists them with their defaults.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from jumprelu.attacks.apgd import APGD
from jumprelu.attacks.base import Attack, AttackResult, Bounds, FixedBudgetAttack, MinimalAttack
from jumprelu.attacks.cw import CarliniWagnerL2
from jumprelu.attacks.deepfool import DeepFool
from jumprelu.attacks.fgsm import FGSM
from jumprelu.attacks.fmn import FMN
from jumprelu.attacks.ifgsm import IterativeFGSM
from jumprelu.attacks.pgd import PGD
from jumprelu.attacks.result import RunOutput
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
    "AttackSpec",
    "Bounds",
    "CarliniWagnerL2",
    "DeepFool",
    "FixedBudgetAttack",
    "IterativeFGSM",
    "MinimalAttack",
    "RunOutput",
    "SquareAttack",
    "TrustRegion",
    "describe_attacks",
    "make_attack",
    "suite_stages",
]


@dataclass(frozen=True)
class AttackSpec:
    """One registered attack.

    Attributes:
        cls: the attack's class.
        norm: the norm it perturbs in ("linf" or "l2").
        family: "fixed-budget" (``eps`` is a budget), "minimal" (smallest perturbation; ``eps``
            caps it) or "iterative" (no budget).
        description: one line: what it is and its paper.
        fixed: settings the name fixes (e.g. the norm); not accepted by ``make_attack``.
        gradient_free: it only queries the model's outputs (the adaptive threat runs it as
            it is, with no BPDA surrogate; the check for gradient masking).
        suite_stage: its place in the adaptive suite's cascade for its norm (0 first), or
            None when the suite does not run it. A gradient stage runs through every BPDA
            surrogate; the first stage's results choose the surrogates of the later ones.
        suite_settings: the suite's defaults for it (``--set`` overrides them).

    Example:
        >>> import jumprelu
        >>> spec = jumprelu.ATTACKS["apgd-ce-linf"]
        >>> spec.cls.__name__, spec.norm, spec.family, spec.suite_stage
        ('APGD', 'linf', 'fixed-budget', 0)
        >>> dict(spec.fixed)
        {'norm': 'linf', 'loss': 'ce', 'targeted': False}
    """

    cls: type[Attack]
    norm: str
    family: str
    description: str
    fixed: Mapping[str, Any] = field(default_factory=dict)
    gradient_free: bool = False
    suite_stage: int | None = None
    suite_settings: Mapping[str, Any] = field(default_factory=dict)

    def __call__(self, **settings: Any) -> Attack:
        """The factory: the attack with these settings (and the fixed ones), unchecked."""
        return self.cls(**self.fixed, **settings)

    @property
    def __signature__(self) -> inspect.Signature:
        """The factory's signature: the class's keyword settings but the fixed ones."""
        sig = inspect.signature(self.cls, eval_str=True)
        return sig.replace(parameters=[p for n, p in sig.parameters.items() if n not in self.fixed])


def _spec(
    cls: type[Attack],
    norm: str,
    description: str,
    *,
    suite: int | None = None,
    suite_settings: Mapping[str, Any] | None = None,
    gradient_free: bool = False,
    **fixed: Any,
) -> AttackSpec:
    """The record of an attack whose name fixes its norm (and maybe other settings)."""
    return AttackSpec(
        cls,
        norm,
        cls.family,
        description,
        {"norm": norm, **fixed},
        gradient_free=gradient_free,
        suite_stage=suite,
        suite_settings=suite_settings or {},
    )


_MADRY = "Madry et al., ICLR 2018"
_APGD = "Croce and Hein, ICML 2020"
_TR = "Yao et al., CVPR 2019"
_SQUARE = "Andriushchenko et al., ECCV 2020"
_FMN = "Pintor et al., NeurIPS 2021"
_DF = "Moosavi-Dezfooli et al., CVPR 2016"

#: The suite's APGD-T attacks the top 3 classes by logit rather than 9 (MALT's order,
#: ``targets="malt"``, broke fewer points than the logit order on the authors' LeNets); its
#: APGD stages stop, at their first two checkpoints, points not closing in on the boundary, and
#: its Square stops points whose margin is not moving (both after A3's discarding, Liu et al.,
#: CVPR 2022); once Square breaks a point it runs the stopped ones to the full budget.
#: docs/benchmarks.md measures each against AutoAttack's settings.
_APGD_DISCARD: Mapping[str, Any] = {"discard": 0.6}
_TOP3: Mapping[str, Any] = {"n_targets": 3, **_APGD_DISCARD}
_DISCARD: Mapping[str, Any] = {"discard": 2.0}

#: Attack names (as used by the CLI and in results) -> what they are. The adaptive suite's
#: cascade per norm is read from ``suite_stage`` (AutoAttack's order, FMN in FAB's place).
ATTACKS: dict[str, AttackSpec] = {
    "fgsm": _spec(FGSM, "linf", "fast gradient sign method (Goodfellow et al., ICLR 2015)"),
    "ifgsm": AttackSpec(
        IterativeFGSM,
        "linf",
        IterativeFGSM.family,
        "iterative FGSM with early stop, no eps-ball (Erichson et al., ICPRAM 2020)",
    ),
    "pgd-linf": _spec(PGD, "linf", f"projected gradient descent, L-inf ({_MADRY})"),
    "pgd-l2": _spec(PGD, "l2", f"projected gradient descent, L2 ({_MADRY})"),
    "deepfool-linf": _spec(DeepFool, "linf", f"DeepFool, L-inf ({_DF})"),
    "deepfool-l2": _spec(DeepFool, "l2", f"DeepFool, L2 ({_DF})"),
    "tr-linf": _spec(TrustRegion, "linf", f"trust region, fixed radius, L-inf ({_TR})"),
    "tr-l2": _spec(TrustRegion, "l2", f"trust region, fixed radius, L2 ({_TR})"),
    "tr-adaptive-linf": _spec(
        TrustRegion, "linf", f"trust region, adaptive radius, L-inf ({_TR})", adaptive=True
    ),
    "tr-adaptive-l2": _spec(
        TrustRegion, "l2", f"trust region, adaptive radius, L2 ({_TR})", adaptive=True
    ),
    "cw-l2": AttackSpec(
        CarliniWagnerL2,
        "l2",
        CarliniWagnerL2.family,
        "Carlini-Wagner L2 (Carlini and Wagner, S&P 2017)",
    ),
    "square-linf": _spec(
        SquareAttack,
        "linf",
        f"Square Attack, gradient-free, L-inf ({_SQUARE})",
        gradient_free=True,
        suite=3,
        suite_settings=_DISCARD,
    ),
    "square-l2": _spec(
        SquareAttack,
        "l2",
        f"Square Attack, gradient-free, L2 ({_SQUARE})",
        gradient_free=True,
        suite=3,
        suite_settings=_DISCARD,
    ),
    "apgd-ce-linf": _spec(
        APGD,
        "linf",
        f"Auto-PGD, cross-entropy, L-inf ({_APGD})",
        suite=0,
        suite_settings=_APGD_DISCARD,
        loss="ce",
        targeted=False,
    ),
    "apgd-ce-l2": _spec(
        APGD,
        "l2",
        f"Auto-PGD, cross-entropy, L2 ({_APGD})",
        suite=0,
        suite_settings=_APGD_DISCARD,
        loss="ce",
        targeted=False,
    ),
    "apgd-dlr-linf": _spec(
        APGD, "linf", f"Auto-PGD, DLR loss, L-inf ({_APGD})", loss="dlr", targeted=False
    ),
    "apgd-dlr-l2": _spec(
        APGD, "l2", f"Auto-PGD, DLR loss, L2 ({_APGD})", loss="dlr", targeted=False
    ),
    "apgd-t-linf": _spec(
        APGD,
        "linf",
        f"Auto-PGD, targeted DLR, L-inf ({_APGD})",
        suite=1,
        suite_settings=_TOP3,
        loss="dlr",
        targeted=True,
    ),
    "apgd-t-l2": _spec(
        APGD,
        "l2",
        f"Auto-PGD, targeted DLR, L2 ({_APGD})",
        suite=1,
        suite_settings=_TOP3,
        loss="dlr",
        targeted=True,
    ),
    "fmn-linf": _spec(FMN, "linf", f"fast minimum-norm, L-inf ({_FMN})", suite=2),
    "fmn-l2": _spec(FMN, "l2", f"fast minimum-norm, L2 ({_FMN})", suite=2),
}


def suite_stages(norm: str) -> tuple[str, ...]:
    """The adaptive suite's cascade for ``norm``: the attacks with a ``suite_stage``, in order.

    Example:
        >>> suite_stages("linf")
        ('apgd-ce-linf', 'apgd-t-linf', 'fmn-linf', 'square-linf')
    """
    staged = [(s.suite_stage, n) for n, s in ATTACKS.items() if s.norm == norm]
    return tuple(n for stage, n in sorted((st, n) for st, n in staged if st is not None))


def _settings(spec: AttackSpec) -> dict[str, inspect.Parameter]:
    """The keyword settings ``make_attack`` accepts for ``spec``."""
    return {p: v for p, v in inspect.signature(spec).parameters.items() if v.kind is v.KEYWORD_ONLY}


def make_attack(name: str, **settings: Any) -> Attack:
    """Build an attack by name.

    Args:
        name: a key of ``ATTACKS``.
        **settings: keyword arguments of the attack (e.g. ``eps``, ``steps``, ``bounds``).

    Returns:
        The configured attack.

    Raises:
        ConfigError: an unknown name, an unknown or missing setting, or an invalid value.

    Example:
        >>> import jumprelu
        >>> model, _ = jumprelu.load_checkpoint(jumprelu.default_model_path())
        >>> test = jumprelu.load_split("digits", "test")
        >>> fgsm = jumprelu.make_attack("fgsm", eps=0.1)
        >>> result = fgsm(model, test.x[:8], test.y[:8])
        >>> result.x_adv.shape, bool((result.linf <= 0.1 + 1e-6).all())
        (torch.Size([8, 1, 8, 8]), True)
        >>> jumprelu.make_attack("fgsm", steps=3)
        Traceback (most recent call last):
        ...
        jumprelu.errors.ConfigError: attack 'fgsm' has no setting steps; settings: eps, loss, bounds
    """
    spec = ATTACKS.get(name) if isinstance(name, str) else None
    if spec is None:
        raise ConfigError(f"unknown attack {name!r}; known: {', '.join(ATTACKS)}")
    allowed = _settings(spec)
    unknown = sorted(set(settings) - set(allowed))
    if unknown:
        raise ConfigError(
            f"attack {name!r} has no setting {', '.join(unknown)}; settings: {', '.join(allowed)}"
        )
    missing = [p for p, v in allowed.items() if v.default is v.empty and p not in settings]
    if missing:
        raise ConfigError(f"attack {name!r} needs {', '.join(missing)}")
    return spec(**settings)


def describe_attacks() -> list[tuple[str, str, dict[str, Any]]]:
    """List every attack: ``(name, one-line description, default settings)``.

    Returns:
        One tuple per registered name, in registry order; the description ends with the
        family and norm; settings without a default (none today) show as None.
    """
    return [
        (
            name,
            f"{spec.description}; {spec.family}, {spec.norm}",
            {p: None if v.default is v.empty else v.default for p, v in _settings(spec).items()},
        )
        for name, spec in ATTACKS.items()
    ]
