"""Robustness evaluation over a grid of jumps x attacks x threat models.

Each (threat, attack, jump) cell is computed on the whole evaluation split and saved at once
(atomically) under ``OUT/cells/``, so an interrupted run (even ``kill -9``) resumes without
recomputing finished cells. Under ``torch.distributed`` (``torchrun``), the (threat, attack)
units are shared out across processes; every cell is computed exactly as in a single process,
so the results are identical. ``OUT/results.json`` (schema in docs/results-schema.md) and
``OUT/results.csv`` are written at the end.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .attacks import ATTACKS, make_attack
from .cells import PER_SAMPLE, cell_path, load_cell, save_cell
from .checks import sanity_flags
from .clean import parse_jumps, predict
from .data import DATASETS, Split
from .errors import ConfigError
from .metrics import robust_accuracy_curve, summarize
from .progress import NULL_PROGRESS, Progress
from .results import SCHEMA, SCHEMA_VERSION, provenance, tensor_sha256, write_json, write_results
from .retrofit import retrofit, set_jump
from .threats import (
    GRADIENT_FREE,
    N_EXAMPLES,
    PROTOCOLS,
    THREATS,
    Outcome,
    attack_space,
    run_attack,
)

__all__ = ["DEFAULT_EPS", "EvalConfig", "attack_settings", "evaluate"]

log = logging.getLogger(__name__)

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
        for name in self.attacks + self.adaptive_extra:
            make_attack(name, **attack_settings(name, self, std=1.0))  # validates settings

    def identity(self) -> dict[str, Any]:
        """The fields that define the results (a resumed run must match them)."""
        d = dataclasses.asdict(self)
        for volatile in ("device", "batch_size", "data_dir"):
            d.pop(volatile)
        return d

    def digest(self) -> str:
        """Hash of ``identity()``."""
        return hashlib.sha256(json.dumps(self.identity(), sort_keys=True).encode()).hexdigest()


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
    scale = 1 / std if paper else 1.0
    linf, l2 = DEFAULT_EPS.get(config.dataset, (0.1, 1.0))
    s: dict[str, Any] = {"bounds": "paper"} if paper else {}
    if name in ("fgsm", "pgd-linf", "square-linf"):
        s["eps"] = (config.eps or linf) * scale
    elif name == "pgd-l2":
        s["eps"] = (config.eps_l2 or l2) * scale
    if name.startswith(("pgd", "square")):
        s["seed"] = config.seed
    if paper and name.startswith(("ifgsm", "deepfool", "tr-")):
        s["steps"] = PAPER_STEPS.get(config.dataset, 40)
    return {**s, **config.settings.get(name, {})}


def _units(config: EvalConfig) -> list[tuple[str, str]]:
    units = []
    for threat in config.threats:
        names = config.attacks
        if threat == "adaptive":
            grad = [f"bpda:{a}" for a in config.attacks if a not in GRADIENT_FREE]
            names = grad + [a for a in config.adaptive_extra if a not in grad]
        units += [(threat, a) for a in names]
    return units


def _dist() -> tuple[int, int]:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def _prepare_out(out: Path, config: EvalConfig) -> None:
    cfg_path = out / "config.json"
    if cfg_path.is_file():
        saved = json.loads(cfg_path.read_text())
        if saved.get("digest") != config.digest():
            raise ConfigError(
                f"{out} holds results of a different configuration; choose another --out or "
                "remove it (nothing was overwritten)"
            )
        return
    if out.exists() and any(out.iterdir()):
        raise ConfigError(f"{out} is not empty and holds no jumprelu evaluation; refusing to write")
    write_json(cfg_path, {"digest": config.digest(), "config": config.identity()})


def evaluate(
    config: EvalConfig,
    model: nn.Module,
    data: Split,
    out_dir: str | Path,
    *,
    progress: Progress = NULL_PROGRESS,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Run the grid, resuming finished cells, and write the results.

    Args:
        config: what to run.
        model: the trained ReLU model taking [0, 1] images (not modified).
        data: the evaluation examples (``config.n`` applied by the caller).
        out_dir: run directory (created; refused when it holds another config's results).
        progress: told about every cell and batch (progress bars; see ``progress.py``).
        extra: additional provenance (checkpoint hash, tuning, ...).

    Returns:
        The results document (also written to ``out_dir/results.json``).
    """
    config.validate()
    out, (rank, world) = Path(out_dir), _dist()
    if rank == 0:
        _prepare_out(out, config)
    if world > 1:
        torch.distributed.barrier()
    dev = torch.device(config.device)
    base = model.to(dev).eval()
    jm = retrofit(base, 0.0)
    with torch.no_grad():
        probe = data.x[: config.batch_size].to(dev)
        jump0_ok = bool(torch.equal(jm(probe), base(probe)))
    std = float(np.mean(data.info.std))
    x, y = data.x, data.y
    mine = [u for i, u in enumerate(_units(config)) if i % world == rank]
    cells = [cell_path(out, t, a, j) for t, a in mine for j in config.jumps]
    progress.plan(len(cells), done=sum(load_cell(c) is not None for c in cells))
    for threat, name in mine:
        _run_unit(config, threat, name, jm, x, y, std, out, progress)
    if world > 1:
        torch.distributed.barrier()
    extra = {**(extra or {}), "jump0_bitwise": jump0_ok}
    return _assemble(config, jm, data, out, extra, write=rank == 0)


def _run_unit(
    config: EvalConfig,
    threat: str,
    name: str,
    jm: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    std: float,
    out: Path,
    progress: Progress,
) -> None:
    todo = [j for j in config.jumps if load_cell(cell_path(out, threat, name, j)) is None]
    if not todo:
        return
    attack_name = name.removeprefix("bpda:")
    attack = make_attack(attack_name, **attack_settings(attack_name, config, std=std))
    target, xs = attack_space(jm, x, config.protocol)
    crafted: Outcome | None = None
    if threat == "gray":
        set_jump(jm, 0.0)
        progress.start(f"{threat}/{name} crafting at jump 0", len(xs))
        crafted = run_attack(
            attack, target, xs, y, batch_size=config.batch_size, on_batch=progress.advance
        )
    for jump in todo:
        set_jump(jm, jump)
        if crafted is not None:
            adv_ok = predict(target, crafted.x_adv, batch_size=config.batch_size) == y
            outcome = dataclasses.replace(crafted, adv_correct=adv_ok)
        else:
            progress.start(f"{threat}/{name} jump {jump:g}", len(xs))
            outcome = run_attack(
                attack,
                target,
                xs,
                y,
                batch_size=config.batch_size,
                bpda=name.startswith("bpda:"),
                on_batch=progress.advance,
            )
        save_cell(cell_path(out, threat, name, jump), outcome)
        log.info(
            "%s %s jump %g: accuracy %.4f",
            threat,
            name,
            jump,
            float(outcome.adv_correct.float().mean()),
        )
        progress.finish(f"{threat}/{name}/{jump:g}")


def _assemble(
    config: EvalConfig, jm: nn.Module, data: Split, out: Path, extra: dict[str, Any], write: bool
) -> dict[str, Any]:
    clean, cells, ensemble = [], [], []
    std = float(np.mean(data.info.std))
    shown = data.x[:N_EXAMPLES]
    for jump in config.jumps:
        set_jump(jm, jump)
        correct = predict(jm, data.x, batch_size=config.batch_size) == data.y
        target, _ = attack_space(jm, shown, config.protocol)
        clean.append(
            {
                "jump": jump,
                "accuracy": float(correct.float().mean()),
                "n": len(data),
                "correct": correct,
                "examples_pred": predict(jm, shown).tolist(),
            }
        )
        all_ok = correct.clone()
        names = []
        for threat, name in _units(config):
            c = load_cell(cell_path(out, threat, name, jump))
            if c is None:
                raise ConfigError(f"cell {threat}/{name}/{jump:g} is missing from {out}")
            t = {k: torch.from_numpy(c[k]) for k in PER_SAMPLE}
            info = json.loads(str(c["info"]))
            adv_ok = t["adv_correct"] & correct
            metrics = summarize(
                clean_correct=correct,
                adv_correct=adv_ok,
                l2_rel=t["l2_rel"],
                linf_rel=t["linf_rel"],
                l2=t["l2"],
                linf=t["linf"],
                zero_grad=t["zero_grad"],
                grad_evals=info["grad_evals"],
                seconds=info["seconds"],
            )
            attack_name = name.removeprefix("bpda:")
            settings = attack_settings(attack_name, config, std=std)
            cell = {
                "threat": threat,
                "attack": name,
                "jump": jump,
                "settings": settings,
                "family": make_attack(attack_name, **settings).family,
                "metrics": metrics.to_dict(),
                "examples": c["examples"].tolist(),
                "examples_pred": predict(target, torch.from_numpy(c["examples"])).tolist(),
            }
            if cell["family"] == "minimal":
                norm = "linf" if attack_name.endswith("linf") else "l2"
                grid = np.quantile(t[norm].numpy(), np.linspace(0, 1, 11)).tolist()
                cell["curve"] = {
                    "norm": norm,
                    "points": robust_accuracy_curve(t[norm], correct, adv_ok, sorted(set(grid))),
                }
            cells.append(cell)
            all_ok &= adv_ok
            names.append(f"{threat}/{name}")
        ensemble.append(
            {
                "jump": jump,
                "adv_accuracy": float(all_ok.float().mean()),
                "n": len(data),
                "over": names,
            }
        )
    doc = {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "config": {**config.identity(), "device": config.device, "batch_size": config.batch_size},
        "config_digest": config.digest(),
        "provenance": {
            **provenance(config.seed),
            "data_sha256": tensor_sha256(data.x, data.y),
            **extra,
        },
        "conventions": {
            "adv_accuracy": "fraction of all n points classified correctly on the attack's "
            "output (a point misclassified without attack counts as wrong)",
            "rho_all": "mean over all n points of ||x_adv - x||_p / ||x||_p, unchanged points "
            "count as 0 (the paper's rho)",
            "rho_success": "the same mean over originally correct points the attack fooled "
            "(ART/torchattacks convention)",
            "space": "normalised inputs" if config.protocol == "paper" else "[0,1] pixels",
        },
        "clean": [{k: v for k, v in c.items() if k != "correct"} for c in clean],
        "examples": _examples(jm, data),
        "cells": cells,
        "ensemble": ensemble,
    }
    doc["flags"] = sanity_flags(doc, jump0_matches=extra.get("jump0_bitwise", True))
    if write:
        write_results(out, doc)
    return doc


def _examples(model: nn.Module, data: Split) -> dict[str, Any]:
    """The clean inputs behind every cell's ``examples``, with what maps them to pixels."""
    mean, std = getattr(model, "mean", data.info.mean), getattr(model, "std", data.info.std)
    return {
        "x": data.x[:N_EXAMPLES].tolist(),
        "labels": data.y[:N_EXAMPLES].tolist(),
        "mean": [float(v) for v in mean],
        "std": [float(v) for v in std],
    }
