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
import json
import logging
from pathlib import Path
from typing import Any

import torch
from torch import nn

from jumprelu._util import NULL_PROGRESS, Progress
from jumprelu.attacks import make_attack
from jumprelu.datasets.core import Split
from jumprelu.errors import ConfigError
from jumprelu.evaluation.cells import cell_path, load_cell, save_cell
from jumprelu.evaluation.clean import predict
from jumprelu.evaluation.config import (
    DEFAULT_EPS,
    EXHAUSTIVE_SUITES,
    PAPER_STEPS,
    SUITE_STAGES,
    EvalConfig,
    attack_settings,
    budgets,
    split_unit,
    units,
)
from jumprelu.evaluation.document import assemble
from jumprelu.evaluation.indicators import cell_checks
from jumprelu.evaluation.jump_grid import Point, apply_point, check_sites, point_label, point_level
from jumprelu.evaluation.results import write_json
from jumprelu.evaluation.suite import run_suite
from jumprelu.evaluation.threats import Outcome, attack_space, run_attack
from jumprelu.models.normalize import mean_std_of
from jumprelu.retrofit import jump_sites, retrofit, set_jump

__all__ = ["DEFAULT_EPS", "PAPER_STEPS", "EvalConfig", "attack_settings", "evaluate"]

log = logging.getLogger(__name__)


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
    dev = torch.device(config.device)
    base = model.to(dev).eval()
    jm = retrofit(base, 0.0)
    check_sites(config.jumps, jump_sites(jm))  # before anything is written
    if rank == 0:
        _prepare_out(out, config)
    if world > 1:
        torch.distributed.barrier()
    with torch.no_grad():
        probe = data.x[: config.batch_size].to(dev)
        jump0_ok = bool(torch.equal(jm(probe), base(probe)))
    std = mean_std_of(jm)  # the model's own Normalize layer, never the dataset's statistics
    x, y = data.x, data.y
    mine = [u for i, u in enumerate(units(config)) if i % world == rank]
    cells = [cell_path(out, t, a, j) for t, a in mine for j in config.jumps]
    progress.plan(len(cells), done=sum(load_cell(c) is not None for c in cells))
    for threat, name in mine:
        _run_unit(config, threat, name, jm, x, y, std, out, progress)
    if world > 1:
        torch.distributed.barrier()
    extra = {**(extra or {}), "jump0_bitwise": jump0_ok}
    return assemble(config, jm, data, out, extra, write=rank == 0)


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
    target, xs = attack_space(jm, x, config.protocol)
    noise = (config.noise_sigma, config.noise_samples, config.seed)
    if name.startswith("suite-"):
        for jump in todo:
            apply_point(jm, jump)
            outcome = _run_suite(
                config, name.removeprefix("suite-"), target, xs, y, std, point_level(jump)
            )
            _save(config, out, threat, name, jump, outcome, progress)
        return
    attack_name, gradient = split_unit(name)
    settings = attack_settings(attack_name, config, std=std)
    attack = make_attack(attack_name, **settings)
    crafted: Outcome | None = None
    if threat == "gray":
        set_jump(jm, 0.0)
        progress.start(f"{threat}/{name} crafting at jump 0", len(xs))
        crafted = run_attack(
            attack, target, xs, y, batch_size=config.batch_size, on_batch=progress.advance
        )
    for jump in todo:
        apply_point(jm, jump)
        if crafted is not None:
            adv_ok = predict(target, crafted.x_adv, batch_size=config.batch_size) == y
            outcome = dataclasses.replace(crafted, adv_correct=adv_ok)
        else:
            progress.start(f"{threat}/{name} jump {point_label(jump)}", len(xs))
            outcome = run_attack(
                attack,
                target,
                xs,
                y,
                batch_size=config.batch_size,
                bpda=gradient,
                noise=noise,
                on_batch=progress.advance,
            )
            if config.check_n and attack.family == "fixed-budget":
                outcome.checks = cell_checks(
                    attack_name,
                    settings,
                    target,
                    xs,
                    y,
                    outcome.adv_correct,
                    surrogates=[gradient],
                    check_n=config.check_n,
                    batch_size=config.batch_size,
                    noise=noise,
                )
        _save(config, out, threat, name, jump, outcome, progress)


def _run_suite(
    config: EvalConfig,
    norm: str,
    target: nn.Module,
    xs: torch.Tensor,
    y: torch.Tensor,
    std: float,
    jump: float,
) -> Outcome:
    """One suite cell: the cascade, then its indicators (re-runs of its first stage)."""
    eps = budgets(config, std=std)[norm][1]
    surrogates = config.suite_surrogates()
    noise = (config.noise_sigma, config.noise_samples, config.seed)

    def settings(name: str) -> dict[str, Any]:
        return attack_settings(name, config, std=std)

    outcome = run_suite(
        norm,
        target,
        xs,
        y,
        eps=eps,
        jump=jump,
        surrogates=surrogates,
        settings=settings,
        batch_size=config.batch_size,
        noise=noise,
        select=config.suite not in EXHAUSTIVE_SUITES,
    )
    if config.check_n:
        first = SUITE_STAGES[norm][0]
        outcome.checks = cell_checks(
            first,
            {**settings(first), "eps": eps},
            target,
            xs,
            y,
            outcome.adv_correct,
            surrogates=list(surrogates[:1] if jump == 0 else surrogates),
            check_n=config.check_n,
            batch_size=config.batch_size,
            noise=noise,
        )
    return outcome


def _save(
    config: EvalConfig,
    out: Path,
    threat: str,
    name: str,
    jump: Point,
    outcome: Outcome,
    progress: Progress,
) -> None:
    save_cell(cell_path(out, threat, name, jump), outcome)
    acc = float(outcome.adv_correct.float().mean())
    log.info("%s %s jump %s: accuracy %.4f", threat, name, point_label(jump), acc)
    progress.finish(f"{threat}/{name}/{point_label(jump)}")
