"""Training settings (``TrainConfig``), their validation, and the paper's recipes."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from jumprelu.datasets.core import DATASETS
from jumprelu.errors import ConfigError
from jumprelu.training.adversarial import ADV_METHODS, EPS_UNITS

__all__ = ["TrainConfig", "paper_recipe"]


#: Largest seed (64-bit generators; ``seed + 1`` seeds the augmentation generator).
MAX_SEED = 2**63 - 1


def _int(name: str, value: Any, minimum: int, maximum: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if maximum is not None and value > maximum:
        raise ConfigError(f"{name} must be an integer <= {maximum}, got {value!r}")


def _real(name: str, value: Any, *, positive: bool, at_most: float | None = None) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if ok and (value <= 0 if positive else value < 0):
        ok = False
    if ok and at_most is not None and value > at_most:
        ok = False
    if not ok:
        bound = "> 0" if positive else ">= 0"
        rng = f"in [0, {at_most:g}]" if at_most is not None else f"finite and {bound}"
        raise ConfigError(f"{name} must be {rng}, got {value!r}")


@dataclass
class TrainConfig:
    """Settings of ``train``: SGD with momentum, a step learning-rate schedule, and optional
    augmentation and adversarial training.

    Attributes:
        epochs: passes over the training split (> 0).
        lr: initial learning rate (> 0).
        momentum: SGD momentum (>= 0).
        weight_decay: L2 penalty (>= 0).
        batch_size: examples per step (> 0).
        milestones: epochs after which the learning rate is multiplied by ``gamma``.
        gamma: learning-rate decay factor (> 0).
        seed: in [0, 2**63 - 1]; seeds the data order, dropout (the global generator,
            restored afterwards), and augmentation and PGD random starts (a generator seeded
            with ``seed + 1``).
        augment: random crop (zero padding 4) and horizontal flip (``augment.random_crop_flip``).
        adv: adversarial training: "none", "fgsm" (the paper's) or "pgd" (Madry et al.).
        adv_ratio: fraction of every batch replaced by adversarial examples, in [0, 1].
        adv_eps: the L-infinity radius (finite, >= 0; > 0 when ``adv`` is not "none").
        eps_units: "normalized" (the paper's: ``adv_eps * std_c`` pixels in channel c) or
            "pixel"; applies to ``adv_eps`` and ``pgd_step_size``.
        pgd_steps: PGD steps (>= 1).
        pgd_step_size: PGD step size (default ``2.5 * adv_eps / pgd_steps``).
        pgd_random_start: start PGD from a uniform random point of the ball.

    Example:
        >>> import jumprelu
        >>> cfg = jumprelu.TrainConfig(epochs=2, lr=0.05, milestones=(1,))
        >>> cfg.validate()
        >>> cfg.to_dict()["milestones"], cfg.batch_size
        ([1], 128)
        >>> jumprelu.TrainConfig(epochs=0).validate()
        Traceback (most recent call last):
        ...
        jumprelu.errors.ConfigError: epochs must be an integer >= 1, got 0
    """

    epochs: int = 10
    lr: float = 0.02
    momentum: float = 0.9
    weight_decay: float = 5e-4
    batch_size: int = 128
    milestones: tuple[int, ...] = ()
    gamma: float = 0.2
    seed: int = 0
    augment: bool = False
    adv: str = "none"
    adv_ratio: float = 0.5
    adv_eps: float = 0.0
    eps_units: str = "normalized"
    pgd_steps: int = 7
    pgd_step_size: float | None = None
    pgd_random_start: bool = True

    def validate(self) -> None:
        """Raise ConfigError for out-of-range settings, naming the setting and its value."""
        _int("epochs", self.epochs, 1)
        _real("learning rate", self.lr, positive=True)
        _real("momentum", self.momentum, positive=False)
        _real("weight_decay", self.weight_decay, positive=False)
        _int("batch size", self.batch_size, 1)
        for m in self.milestones:
            _int("every milestone", m, 1)
        _real("gamma", self.gamma, positive=True)
        _int("seed", self.seed, 0, MAX_SEED)
        if self.adv not in ADV_METHODS:
            raise ConfigError(
                f"unknown adversarial training method {self.adv!r}; known: {', '.join(ADV_METHODS)}"
            )
        _real("adv_ratio", self.adv_ratio, positive=False, at_most=1.0)
        _real("adv_eps", self.adv_eps, positive=self.adv != "none")
        if self.eps_units not in EPS_UNITS:
            raise ConfigError(
                f"unknown eps units {self.eps_units!r}; choose one of {', '.join(EPS_UNITS)}"
            )
        _int("pgd_steps", self.pgd_steps, 1)
        if self.pgd_step_size is not None:
            _real("pgd_step_size", self.pgd_step_size, positive=True)

    def to_dict(self) -> dict[str, Any]:
        """The settings as plain values (milestones as a list), for metadata."""
        out = dataclasses.asdict(self)
        out["milestones"] = list(self.milestones)
        return out

    def resume_key(self) -> dict[str, Any]:
        """The settings a resumed run must share with the saved one: all but ``epochs``."""
        out = self.to_dict()
        del out["epochs"]
        return out


def paper_recipe(dataset: str, *, adversarial: bool = False) -> TrainConfig:
    """The JumpReLU paper's training settings for a dataset (its ``DatasetInfo.recipe``).

    Each dataset's module states its recipe (e.g. MNIST's LeNet: lr 0.02, x0.2 after epochs
    30/60/80 of 90; adversarial: FGSM on 30% of each batch, eps 0.3 in normalised units).

    Args:
        dataset: a registered dataset with a recipe ("mnist", "cifar10", "digits").
        adversarial: the paper's FGSM adversarial training instead of plain training.

    Returns:
        A fresh ``TrainConfig`` (seed 0).

    Raises:
        ConfigError: for a dataset without a recipe.
    """
    info = DATASETS.get(dataset)
    recipe = None if info is None else info.recipe
    if recipe is None:
        known = ", ".join(name for name, i in DATASETS.items() if i.recipe is not None)
        raise ConfigError(f"no paper recipe for dataset {dataset!r}; known: {known}")
    cfg = TrainConfig(**recipe.settings)
    if adversarial:
        cfg = dataclasses.replace(
            cfg, adv="fgsm", adv_ratio=recipe.adv_ratio, adv_eps=recipe.adv_eps
        )
    return cfg
