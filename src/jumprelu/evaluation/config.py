"""What an evaluation runs: ``EvalConfig``, per-protocol attack settings, the grid's units."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from jumprelu._util import real, resolve_device
from jumprelu.attacks import ATTACKS, make_attack
from jumprelu.attacks.base import check_count
from jumprelu.datasets.custom import parse_spec
from jumprelu.defences import check_defence
from jumprelu.errors import ConfigError
from jumprelu.evaluation.jump_grid import Point, parse_grid
from jumprelu.evaluation.protocol import attack_settings, budgets
from jumprelu.evaluation.threats import PROTOCOLS, THREATS
from jumprelu.evaluation.units import (
    BPDA_PREFIXES,
    EXHAUSTIVE_SUITES,
    NOISE_SUFFIX,
    SUITE_SETTINGS,
    SUITE_STAGES,
    SUITE_SURROGATES,
    SUITES,
    check_surrogate,
    split_unit,
    surrogate_prefix,
    units,
)
from jumprelu.models.normalize import check_mean_std
from jumprelu.models.zoo_files import PREFIX, get_entry

__all__ = [
    "BPDA_PREFIXES",
    "EXHAUSTIVE_SUITES",
    "SUITES",
    "SUITE_STAGES",
    "SUITE_SURROGATES",
    "EvalConfig",
    "attack_settings",
    "budgets",
    "split_unit",
    "surrogate_prefix",
    "units",
]


#: Sane bounds of the budgets (pixel units of [0, 1] images; also what float32 carries) and
#: of the "+noise" surrogates' noise.
MAX_EPS, MAX_NOISE, MAX_NOISE_SAMPLES = 1e6, 1e6, 10_000


@dataclass(frozen=True)
class EvalConfig:
    """What ``evaluate`` runs (every field is recorded in the results); frozen, and validated
    when built (``ConfigError`` for unknown names and out-of-range values).

    Attributes:
        dataset: a built-in dataset's name (``DATASETS``: its default budgets and paper
            settings apply), or any name for your own data (then give ``eps``/``eps_l2``).
        jumps: jump grid (jump 0 is the original ReLU model); a point may be a per-site
            mapping ``{site: jump}`` (see ``evaluation.jump_grid``; a string is parsed there).
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
        surrogates: the BPDA surrogates of the adaptive threat (overrides ``bpda_gradient``):
            "relu", "smooth", "smooth-W" (sigmoid width W times the jump), each optionally
            "+noise" (gradient averaged over Gaussian input noise, ``noise_sigma``). The
            suite uses ``SUITE_SURROGATES`` when None.
        suite: an adaptive suite of ``SUITES`` run as a cascade (units ``suite-NORM``).
        noise_sigma: std of the Gaussian input noise of "+noise" surrogates (attack space).
        noise_samples: noise draws averaged per gradient.
        check_n: points re-attacked by the indicators of attack failure (0: none).
        model: ``MODULE:CALLABLE`` returning the nn.Module to evaluate (instead of ``arch``).
        data: the user's data, ``npz:PATH`` or ``folder:DIR`` (``dataset`` is then its name).
        val_data: validation data for tuning with ``data`` (default: carved from ``data``).
        mean: per-channel normalisation means (override the checkpoint's and the dataset's).
        std: per-channel normalisation standard deviations (given with ``mean``).
        num_classes: number of classes (default: the dataset's).
        retrofit: the defence: "jumprelu" (``jumps`` are jumps kappa) or "meansparse"
            (``jumps`` are MeanSparse bands alpha, in standard deviations; the operators'
            statistics come from the dataset's training split).
        calib_n: MeanSparse's calibration images: the first ``calib_n`` of the training split
            (None: all of it).

    Example:
        >>> import jumprelu
        >>> cfg = jumprelu.EvalConfig(dataset="digits", jumps=[0.0, 1.0], attacks=["fgsm"],
        ...                           threats=["white"], n=10)
        >>> cfg.jumps, cfg.protocol, cfg.split
        ([0.0, 1.0], 'standard', 'test')
    """

    dataset: str
    jumps: Sequence[Point]
    attacks: list[str]
    threats: list[str] = field(default_factory=lambda: ["white", "gray", "adaptive"])
    protocol: str = "standard"
    split: str = "test"
    n: int | None = None
    eps: float | None = None
    eps_l2: float | None = None
    adaptive_extra: list[str] = field(default_factory=lambda: ["square-linf"])
    settings: dict[str, dict[str, Any]] = field(default_factory=dict)
    seed: int = 0
    batch_size: int = 500
    arch: str | None = None
    checkpoint: str | None = None
    data_dir: str | None = None
    device: str = "cpu"
    bpda_gradient: str = "both"
    surrogates: list[str] | None = None
    suite: str | None = None
    noise_sigma: float = 0.0
    noise_samples: int = 8
    check_n: int = 100
    model: str | None = None
    data: str | None = None
    val_data: str | None = None
    mean: list[float] | None = None
    std: list[float] | None = None
    num_classes: int | None = None
    retrofit: str = "jumprelu"
    calib_n: int | None = None

    def __post_init__(self) -> None:
        self.validate()

    def _check_types(self) -> None:
        """Raise ConfigError for a field of the wrong type (``validate_source`` calls it first):
        names are strings, lists of names lists of strings, settings a dict of dicts."""
        for label, value in (
            ("dataset", self.dataset),
            ("protocol", self.protocol),
            ("split", self.split),
            ("device", self.device),
            ("bpda gradient", self.bpda_gradient),
        ):
            if not isinstance(value, str):
                raise ConfigError(f"{label} must be a string, got {value!r}")
        for label, optional in (
            ("arch", self.arch),
            ("checkpoint", self.checkpoint),
            ("suite", self.suite),
            ("model", self.model),
            ("data", self.data),
            ("val data", self.val_data),
        ):
            if optional is not None and not isinstance(optional, str):
                raise ConfigError(f"{label} must be a string or None, got {optional!r}")
        if self.data_dir is not None and not isinstance(self.data_dir, (str, os.PathLike)):
            raise ConfigError(f"data dir must be a path or None, got {self.data_dir!r}")
        for label, names in (
            ("attacks", self.attacks),
            ("threats", self.threats),
            ("adaptive extra", self.adaptive_extra),
            ("surrogates", self.surrogates),
        ):
            if names is None and label == "surrogates":
                continue
            if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) for n in names):
                raise ConfigError(f"{label} must be a list of names (strings), got {names!r}")
        if not isinstance(self.settings, Mapping) or not all(
            isinstance(k, str) and isinstance(v, Mapping) for k, v in self.settings.items()
        ):
            raise ConfigError(
                f"settings must be a dict of dicts, e.g. {{'pgd-linf': {{'steps': 100}}}}, "
                f"got {self.settings!r}"
            )
        if not isinstance(self.jumps, (str, list, tuple)):
            raise ConfigError(
                f"jumps must be a list of jumps or a comma-separated string, got {self.jumps!r}"
            )

    def validate_source(self) -> None:
        """Validate the jumps and what names the model and data (``validate`` calls it)."""
        self._check_types()
        object.__setattr__(self, "jumps", parse_grid(self.jumps))
        resolve_device(self.device)  # CUDA asked for and absent: one line, before anything
        if self.model is not None and self.arch is not None:
            raise ConfigError("--arch goes with --checkpoint; --model builds its own network")
        if self.data is not None and self.split != "test":
            raise ConfigError("--split picks a built-in dataset's split; --data is read whole")
        defence = check_defence(self.retrofit)
        if not defence.calibrated and self.calib_n is not None:
            raise ConfigError(f"--calib-n goes with a calibrated --retrofit, not {defence.name}")
        if self.calib_n is not None:
            check_count("calib n", self.calib_n, maximum=10**9)
        if defence.calibrated and self.data is not None:
            raise ConfigError(
                f"--retrofit {defence.name} calibrates on a built-in training split, not --data"
            )
        if not defence.per_site and any(isinstance(p, dict) for p in self.jumps):
            raise ConfigError(
                f"--retrofit {defence.name} takes numbers ({defence.meaning}) as --jumps"
            )
        if self.data is not None and self.data_dir is not None:
            raise ConfigError("--data-dir locates built-in datasets; --data names its own files")
        for spec in (self.data, self.val_data):
            if spec is not None:
                parse_spec(spec)
        if self.checkpoint is not None and self.checkpoint.startswith(PREFIX):
            get_entry(self.checkpoint)
        if self.val_data is not None and self.data is None:
            raise ConfigError("--val-data goes with --data")
        if not self.dataset:
            raise ConfigError("the dataset name is empty")
        if (self.mean is None) != (self.std is None):
            raise ConfigError("--mean and --std must be given together")
        if self.mean is not None and self.std is not None:
            mean, std = check_mean_std(self.mean, self.std)
            object.__setattr__(self, "mean", list(mean))
            object.__setattr__(self, "std", list(std))
        n = self.num_classes
        if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 2):
            raise ConfigError(f"num classes must be an int >= 2, got {n!r}")
        if self.n is not None:
            check_count("n", self.n, maximum=10**9)
        check_count("seed", self.seed, minimum=0, maximum=2**63 - 1)

    def validate(self) -> None:
        """Raise ConfigError for unknown names, out-of-range values and options that would
        do nothing (run when built).

        Only the attacks that will run (``running_attacks``) are built to check their
        settings; a setting for one that does not run is refused, as is a budget in
        ``settings`` (it comes from ``eps``/``eps_l2``).
        """
        self.validate_source()
        for name in [*self.attacks, *self.adaptive_extra, *self.settings]:
            if name not in ATTACKS:
                raise ConfigError(f"unknown attack {name!r}; known: {', '.join(ATTACKS)}")
        for name, values in self.settings.items():
            unset = [k for k, v in values.items() if v is None]
            if unset:
                raise ConfigError(f"setting {name}.{unset[0]} needs a value, got null")
        if self.suite is not None and self.suite not in SUITES:
            raise ConfigError(f"unknown suite {self.suite!r}; known: {', '.join(SUITES)}")
        bad = sorted(set(self.threats) - set(THREATS))
        if bad or not self.threats:
            raise ConfigError(f"unknown threat(s) {bad or '[]'}; known: {', '.join(THREATS)}")
        adaptive = "adaptive" in self.threats
        if self.suite is not None and not adaptive:
            raise ConfigError("a suite runs under the adaptive threat; add adaptive to threats")
        for name in self.surrogates or []:
            check_surrogate(name)
        if self.surrogates is not None and not self.surrogates:
            raise ConfigError("surrogates: give at least one")
        if not adaptive and (self.surrogates is not None or self.bpda_gradient != "both"):
            raise ConfigError("--surrogates and --bpda-gradient apply to the adaptive threat only")
        real("noise sigma", self.noise_sigma, low=0.0, high=MAX_NOISE)
        check_count("noise samples", self.noise_samples, maximum=MAX_NOISE_SAMPLES)
        noisy = any(s.endswith(NOISE_SUFFIX) for s in self.all_surrogates())
        if noisy and self.noise_sigma <= 0:
            raise ConfigError("a +noise surrogate needs a noise sigma > 0")
        if not noisy and (self.noise_sigma != 0 or self.noise_samples != 8):
            raise ConfigError("--noise-sigma and --noise-samples apply to +noise surrogates only")
        for flag, eps in (("--eps", self.eps), ("--eps-l2", self.eps_l2)):
            if eps is not None:
                real(flag, eps, low=0.0, high=MAX_EPS, open_low=True)
        check_count("check n", self.check_n, minimum=0)
        check_count("batch size", self.batch_size)
        if self.protocol not in PROTOCOLS:
            raise ConfigError(f"unknown protocol {self.protocol!r}; known: {', '.join(PROTOCOLS)}")
        if self.bpda_gradient not in ("relu", "smooth", "both"):
            raise ConfigError(
                f"bpda gradient must be relu, smooth or both, got {self.bpda_gradient!r}"
            )
        running = self.running_attacks()
        idle = [name for name in self.settings if name not in running]
        if idle:
            raise ConfigError(
                f"--set {idle[0]}.…: {idle[0]} does not run here (runs: {', '.join(running)})"
            )
        for name, values in self.settings.items():
            spec = ATTACKS[name]
            if "eps" in values and spec.family == "fixed-budget":
                option = "--eps" if spec.norm == "linf" else "--eps-l2"
                raise ConfigError(
                    f"--set {name}.eps: the budget comes from {option}; give it there"
                )
        if self.eps_l2 is not None and running and all(ATTACKS[a].norm != "l2" for a in running):
            raise ConfigError("--eps-l2 sets the budget of L2 attacks, and none runs here")
        for name in running:
            make_attack(name, **attack_settings(name, self, std=1.0))  # validates settings

    def running_attacks(self) -> list[str]:
        """The attacks the grid runs: its own, the adaptive extras (when the adaptive threat
        runs attacks) and the suite's stages."""
        extra = self.adaptive_extra if self.attacks and "adaptive" in self.threats else []
        stages = [a for n in SUITES[self.suite] for a in SUITE_STAGES[n]] if self.suite else []
        return list(dict.fromkeys([*self.attacks, *extra, *stages]))

    def all_surrogates(self) -> list[str]:
        """Every BPDA surrogate the grid may attack through (adaptive attacks and suite)."""
        if "adaptive" not in self.threats:
            return []
        suite = self.suite_surrogates() if self.suite else []
        return list(dict.fromkeys([*self.gradient_surrogates(), *suite]))

    def identity(self) -> dict[str, Any]:
        """The fields that define the results (a resumed run must match them)."""
        d = dataclasses.asdict(self)
        for volatile in ("device", "batch_size", "data_dir"):
            d.pop(volatile)
        new: dict[str, Any] = {
            "surrogates": None,
            "suite": None,
            "noise_sigma": 0.0,
            "noise_samples": 8,
            **dict.fromkeys(("model", "data", "val_data", "mean", "std", "num_classes")),
            "retrofit": "jumprelu",
            "calib_n": None,
        }
        for key, default in new.items():  # added later: at their defaults digests stay valid
            if d[key] == default:
                d.pop(key)
        if d["bpda_gradient"] == "relu":  # what runs before the option did: digests stay valid
            d.pop("bpda_gradient")
        if self.suite:  # the suite's own stage defaults define its results too
            d["suite_settings"] = SUITE_SETTINGS
        return d

    def gradient_surrogates(self) -> list[str]:
        """The BPDA surrogates of adaptive gradient attacks, in run order."""
        if self.surrogates is not None:
            return list(self.surrogates)
        both = self.bpda_gradient == "both"
        return [g for g in ("relu", "smooth") if both or self.bpda_gradient == g]

    def suite_surrogates(self) -> list[str]:
        """The surrogates the suite's gradient stages run over."""
        return list(self.surrogates) if self.surrogates is not None else list(SUITE_SURROGATES)

    def digest(self) -> str:
        """Hash of ``identity()``."""
        return hashlib.sha256(json.dumps(self.identity(), sort_keys=True).encode()).hexdigest()
