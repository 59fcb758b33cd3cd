"""The plan of an evaluation: every grid cell mapped to the distinct computation behind it.

A grid of threats x attacks x jumps holds many cells that are the same computation:
- at jump 0 the model is the original ReLU network, and every BPDA surrogate of the jump is, by
  construction, the ReLU's own gradient (a sigmoid of width W x 0 is a step): white-box,
  gray-box and every adaptive ``bpda-S:A`` cell at jump 0 attack the same model the same way
  (noise-averaged surrogates average the ReLU's gradient: one run for all of them);
- the gray-box threat crafts its inputs once, at jump 0 (that same run), and only evaluates
  them at the other jumps;
- a gradient-free attack (Square) is the same computation under the white-box and adaptive
  threats.
``plan(config)`` lists the cells with their ``Run`` (what is computed) and whether the cell only
evaluates a run's inputs at its own jump (``transfer``); the runner computes each run once and
the results document reads each cell from its run's file.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from jumprelu.evaluation.config import EvalConfig
from jumprelu.evaluation.jump_grid import Point, point_label
from jumprelu.evaluation.units import NOISE_SUFFIX, split_unit, units

__all__ = ["Cell", "Run", "plan", "runs_of"]

#: The gradient of a run that attacks the model as it is (no surrogate).
EXACT = "exact"


def _is_relu(point: Point) -> bool:
    return not isinstance(point, Mapping) and point == 0


@dataclass(frozen=True, eq=False)
class Run:
    """One distinct computation: an attack (or suite) on the model at one grid point.

    Attributes:
        attack: attack name, or ``suite-NORM``.
        gradient: ``"exact"`` (the model's own gradient), a BPDA surrogate (e.g. ``"smooth"``,
            ``"relu+noise"``) or ``"suite"`` (the suite picks its surrogates).
        point: the grid point (a jump or a per-site mapping).
    """

    attack: str
    gradient: str
    point: Point

    @property
    def key(self) -> str:
        """Its file stem under ``OUT/cells/``: ``ATTACK__GRADIENT__LABEL``."""
        return f"{self.attack}__{self.gradient}__{point_label(self.point)}".replace(":", "-")

    def __hash__(self) -> int:
        return hash(self.key)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Run) and self.key == other.key


@dataclass(frozen=True)
class Cell:
    """One cell of the grid and where its outcome comes from.

    Attributes:
        threat: "white", "gray" or "adaptive".
        unit: the unit name (``ATTACK``, ``bpda-S:ATTACK`` or ``suite-NORM``).
        point: the grid point.
        run: the computation that crafted its inputs.
        transfer: the inputs of ``run`` are only evaluated at ``point`` (gray box, jump != 0).
    """

    threat: str
    unit: str
    point: Point
    run: Run
    transfer: bool

    def file(self, out: Path) -> Path:
        """The file holding this cell's outcome (shared by every cell of the same run)."""
        if self.transfer:
            stem = f"transfer__{self.run.key}__to__{point_label(self.point)}"
        else:
            stem = self.run.key
        return out / "cells" / f"{stem}.npz"


def _run(threat: str, unit: str, point: Point) -> Run:
    if unit.startswith("suite-"):
        return Run(unit, "suite", point)
    attack, surrogate = split_unit(unit)
    if threat == "gray":
        return Run(attack, EXACT, 0.0)
    gradient = surrogate or EXACT
    if _is_relu(point) and gradient != EXACT:
        gradient = "relu" + NOISE_SUFFIX if gradient.endswith(NOISE_SUFFIX) else EXACT
    return Run(attack, gradient, point)


def plan(config: EvalConfig) -> list[Cell]:
    """Every cell of ``config``'s grid (jumps outermost, then units in run order).

    Args:
        config: a validated evaluation config.

    Returns:
        The cells, each with its run.
    """
    cells = []
    for point in config.jumps:
        for threat, unit in units(config):
            run = _run(threat, unit, point)
            transfer = threat == "gray" and not _is_relu(point)
            cells.append(Cell(threat, unit, point, run, transfer))
    return cells


def runs_of(cells: list[Cell]) -> list[Run]:
    """The distinct runs behind ``cells``, in first-use order (a transfer's run included)."""
    return list(dict.fromkeys(c.run for c in cells))
