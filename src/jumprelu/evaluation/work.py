"""The work of one evaluation: each run of the plan computed once, then the gray-box transfers."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

import torch
from torch import nn

from jumprelu._util import Progress
from jumprelu.attacks import make_attack
from jumprelu.evaluation.cells import save_cell
from jumprelu.evaluation.clean import predict
from jumprelu.evaluation.config import EvalConfig
from jumprelu.evaluation.indicators import cell_checks
from jumprelu.evaluation.jump_grid import apply_point, point_label, point_level
from jumprelu.evaluation.outcome import Outcome
from jumprelu.evaluation.plan import EXACT, Cell, Run, runs_of
from jumprelu.evaluation.protocol import attack_settings, budgets, stage_settings
from jumprelu.evaluation.suite import suite_cell
from jumprelu.evaluation.threats import run_attack
from jumprelu.evaluation.units import EXHAUSTIVE_SUITES

__all__ = ["Work"]

log = logging.getLogger(__name__)


class Work:
    """Computes the runs of one attack's cells, each once, and saves every cell file.

    ``done`` tells, per file, whether it was already finished (read once, by the runner);
    ``write`` is False on every process of a torchrun but the first (they compute alike).
    """

    def __init__(
        self,
        config: EvalConfig,
        jm: nn.Module,
        target: nn.Module,
        xs: torch.Tensor,
        y: torch.Tensor,
        std: float,
        out: Path,
        progress: Progress,
        done: dict[Path, bool],
        *,
        write: bool = True,
    ) -> None:
        self.config, self.jm, self.target, self.xs, self.y = config, jm, target, xs, y
        self.std, self.out, self.progress, self.done = std, out, progress, done
        self.noise = (config.noise_sigma, config.noise_samples, config.seed)
        self.write = write

    def group(self, cells: list[Cell]) -> None:
        """Compute what ``cells`` (one attack's) still miss: each run once, then transfers."""
        pending = [c for c in cells if not self.done[c.file(self.out)]]
        if not pending:
            return
        crafted: dict[Run, Outcome] = {}
        for run in runs_of(pending):
            outcome = self.compute(run)
            mine = [c for c in pending if c.run == run]
            if any(not c.transfer for c in mine):
                self.save(next(c for c in mine if not c.transfer), outcome)
            if any(c.transfer for c in mine):
                crafted[run] = outcome
        for c in pending:
            if c.transfer:
                apply_point(self.jm, c.point)
                adv_ok = predict(
                    self.target, crafted[c.run].x_adv, batch_size=self.config.batch_size
                )
                self.save(
                    c, dataclasses.replace(crafted[c.run], adv_correct=adv_ok == self.y, checks={})
                )

    def compute(self, run: Run) -> Outcome:
        """One run on the whole split (its indicators of attack failure included)."""
        config = self.config
        apply_point(self.jm, run.point)
        label = f"{run.attack} ({run.gradient}) jump {point_label(run.point)}"
        self.progress.start(label, len(self.xs))
        if run.gradient == "suite":
            return self._suite(run.attack.removeprefix("suite-"), point_level(run.point))
        settings = attack_settings(run.attack, config, std=self.std)
        attack = make_attack(run.attack, **settings)
        gradient = None if run.gradient == EXACT else run.gradient
        outcome = run_attack(
            attack,
            self.target,
            self.xs,
            self.y,
            batch_size=config.batch_size,
            bpda=gradient,
            noise=self.noise,
            on_batch=self.progress.advance,
        )
        if config.check_n and attack.family == "fixed-budget":
            outcome.checks = cell_checks(
                run.attack,
                settings,
                self.target,
                self.xs,
                self.y,
                outcome.adv_correct,
                surrogates=[gradient],
                check_n=config.check_n,
                batch_size=config.batch_size,
                noise=self.noise,
            )
        return outcome

    def _suite(self, norm: str, jump: float) -> Outcome:
        """One suite run: the cascade, then its indicators (re-runs of its first stage)."""
        config = self.config

        def settings(name: str) -> dict[str, Any]:
            return stage_settings(name, config, std=self.std)

        return suite_cell(
            norm,
            self.target,
            self.xs,
            self.y,
            eps=budgets(config, std=self.std)[norm][1],
            jump=jump,
            surrogates=config.suite_surrogates(),
            settings=settings,
            batch_size=config.batch_size,
            check_n=config.check_n,
            noise=self.noise,
            select=config.suite not in EXHAUSTIVE_SUITES,
        )

    def save(self, cell: Cell, outcome: Outcome) -> None:
        """Write ``cell``'s file (every cell of the same run reads it)."""
        if self.write:
            save_cell(cell.file(self.out), outcome)
        acc = float(outcome.adv_correct.float().mean())
        label = f"{cell.threat}/{cell.unit}/{point_label(cell.point)}"
        log.info("%s: accuracy %.4f", label, acc)
        self.progress.finish(label)
