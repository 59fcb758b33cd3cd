"""What an evaluation runs: ``EvalConfig``, per-protocol attack settings, the grid's units."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from .attacks import ATTACKS, make_attack
from .clean import parse_jumps
from .data import DATASETS
from .errors import ConfigError
from .threats import GRADIENT_FREE, PROTOCOLS, THREATS

__all__ = [
    "BPDA_PREFIXES",
    "DEFAULT_EPS",
    "PAPER_STEPS",
    "EvalConfig",
    "attack_settings",
    "budgets",
    "split_unit",
    "units",
]

#: Unit-name prefixes of adaptive gradient attacks and the JumpReLU gradient each uses.
BPDA_PREFIXES = {"bpda:": "relu", "bpda-smooth:": "smooth"}


def split_unit(name: str) -> tuple[str, str | None]:
    """``("pgd-linf", "smooth")`` for ``"bpda-smooth:pgd-linf"``; ``(name, None)`` without BPDA."""
    for prefix, gradient in BPDA_PREFIXES.items():
        if name.startswith(prefix):
            return name.removeprefix(prefix), gradient
    return name, None


#: Default budgets per dataset in [0, 1] pixel units: (linf, l2).
DEFAULT_EPS = {"mnist": (0.3, 2.0), "cifar10": (8 / 255, 0.5), "digits": (0.1, 1.0)}
#: The paper's iteration counts per dataset (40 on MNIST, 7 on CIFAR-10).
PAPER_STEPS = {"mnist": 40, "cifar10": 7, "digits": 40}


@dataclass
class EvalConfig:
    """What ``evaluate`` runs (every field is recorded in the results).

    Attributes:
        dataset: dataset name.
        jumps: jump grid (jump 0 is the original ReLU model).
        attacks: attack names (see ``jumprelu.attacks.ATTACKS``).
        threats: subset of "white", "gray", "adaptive".
        protocol: "standard" ([0, 1] pixels) or "paper" (normalised space, batch bounds).
        split: data split evaluated.
        n: first n examples of the split (None: all).
        eps: L-infinity budget of fixed-budget attacks, in pixel units (None: dataset default).
        eps_l2: L2 budget of fixed-budget L2 attacks, in pixel units.
        adaptive_extra: gradient-free attacks added under the adaptive threat.
        settings: per-attack overrides, e.g. ``{"pgd-linf": {"steps": 100}}``.
        seed: seed of randomised attacks.
        batch_size: examples per attack call.
        arch, checkpoint, data_dir: where the model and data came from (for the record).
        device: "cpu" or "cuda".
        bpda_gradient: the adaptive threat's backward pass through JumpReLU for gradient
            attacks: "relu" (straight-through, units ``bpda:NAME``), "smooth" (through a
            sigmoid-smoothed jump, units ``bpda-smooth:NAME``) or "both" (default).
    """

    dataset: str
    jumps: list[float]
    attacks: list[str]
    threats: list[str] = field(default_factory=lambda: ["white", "gray", "adaptive"])
    protocol: str = "standard"
    split: str = "test"
    n: int | None = None
    eps: float | None = None
    eps_l2: float | None = None
    adaptive_extra: list[str] = field(default_factory=lambda: list(GRADIENT_FREE))
    settings: dict[str, dict[str, Any]] = field(default_factory=dict)
    seed: int = 0
    batch_size: int = 500
    arch: str | None = None
    checkpoint: str | None = None
    data_dir: str | None = None
    device: str = "cpu"
    bpda_gradient: str = "both"

    def validate(self) -> None:
        """Raise ConfigError for unknown names and out-of-range values."""
        self.jumps = parse_jumps(self.jumps)
        if self.dataset not in DATASETS:
            raise ConfigError(f"unknown dataset {self.dataset!r}; known: {', '.join(DATASETS)}")
        for name in [*self.attacks, *self.adaptive_extra, *self.settings]:
            if name not in ATTACKS:
                raise ConfigError(f"unknown attack {name!r}; known: {', '.join(ATTACKS)}")
        if not self.attacks:
            raise ConfigError("no attack given")
        bad = sorted(set(self.threats) - set(THREATS))
        if bad or not self.threats:
            raise ConfigError(f"unknown threat(s) {bad or '[]'}; known: {', '.join(THREATS)}")
        if self.protocol not in PROTOCOLS:
            raise ConfigError(f"unknown protocol {self.protocol!r}; known: {', '.join(PROTOCOLS)}")
        if self.n is not None and self.n < 1:
            raise ConfigError(f"n must be >= 1, got {self.n}")
        if self.batch_size < 1:
            raise ConfigError(f"batch size must be >= 1, got {self.batch_size}")
        if self.bpda_gradient not in ("relu", "smooth", "both"):
            raise ConfigError(
                f"bpda gradient must be relu, smooth or both, got {self.bpda_gradient!r}"
            )
        for name in self.attacks + self.adaptive_extra:
            make_attack(name, **attack_settings(name, self, std=1.0))  # validates settings

    def identity(self) -> dict[str, Any]:
        """The fields that define the results (a resumed run must match them)."""
        d = dataclasses.asdict(self)
        for volatile in ("device", "batch_size", "data_dir"):
            d.pop(volatile)
        if d["bpda_gradient"] == "relu":  # what runs before the option did: digests stay valid
            d.pop("bpda_gradient")
        return d

    def digest(self) -> str:
        """Hash of ``identity()``."""
        return hashlib.sha256(json.dumps(self.identity(), sort_keys=True).encode()).hexdigest()


def budgets(config: EvalConfig, *, std: float) -> dict[str, tuple[float, float]]:
    """The L-inf and L2 budgets: ``{norm: (pixels, attacked-space units)}``.

    Args:
        config: the evaluation config (``eps``/``eps_l2`` or the dataset's defaults).
        std: mean normalisation std (the paper protocol attacks normalised inputs).
    """
    linf, l2 = DEFAULT_EPS.get(config.dataset, (0.1, 1.0))
    scale = 1 / std if config.protocol == "paper" else 1.0
    pixels = {"linf": config.eps or linf, "l2": config.eps_l2 or l2}
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
    if name in ("fgsm", "pgd-linf", "square-linf"):
        s["eps"] = eps["linf"][1]
    elif name == "pgd-l2":
        s["eps"] = eps["l2"][1]
    if name.startswith(("pgd", "square")):
        s["seed"] = config.seed
    if paper and name.startswith(("ifgsm", "deepfool", "tr-")):
        s["steps"] = PAPER_STEPS.get(config.dataset, 40)
    return {**s, **config.settings.get(name, {})}


def units(config: EvalConfig) -> list[tuple[str, str]]:
    """The (threat, attack) pairs of the grid, in run order (adaptive: BPDA + gradient-free)."""
    units = []
    for threat in config.threats:
        names = config.attacks
        if threat == "adaptive":
            prefixes = [p for p, g in BPDA_PREFIXES.items() if config.bpda_gradient in (g, "both")]
            grad = [f"{p}{a}" for p in prefixes for a in config.attacks if a not in GRADIENT_FREE]
            names = grad + [a for a in config.adaptive_extra if a not in grad]
        units += [(threat, a) for a in names]
    return units
