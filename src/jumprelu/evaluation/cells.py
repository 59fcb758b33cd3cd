"""Storage of one evaluation cell: a (threat, attack, jump) outcome as an atomic ``.npz`` file.

Each cell is written at once when it finishes, so an interrupted sweep (even ``kill -9``)
loses no finished cell; an unreadable (half-written) file counts as missing and is redone.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from jumprelu._util import atomic_write
from jumprelu.evaluation.jump_grid import Point, point_label
from jumprelu.evaluation.threats import N_EXAMPLES, Outcome

__all__ = ["INDICATORS", "PER_SAMPLE", "cell_path", "load_cell", "save_cell"]

#: Per-sample arrays stored for every cell.
PER_SAMPLE = ("adv_correct", "l2", "linf", "l2_rel", "linf_rel", "zero_grad")
#: Per-sample indicator arrays (absent from cells written before they existed).
INDICATORS = ("zero_grad_steps", "silent", "improving", "unstable")


def cell_path(out: Path, threat: str, attack: str, jump: Point) -> Path:
    """File of one cell under the run directory ``out`` (a mapping point: its label)."""
    return out / "cells" / f"{threat}__{attack.replace(':', '-')}__{point_label(jump)}.npz"


def save_cell(path: Path, outcome: Outcome) -> None:
    """Write ``outcome`` (per-sample arrays, the first adversarial inputs, timings) atomically."""
    arrays = {k: getattr(outcome, k).numpy() for k in PER_SAMPLE}
    for k in INDICATORS:
        value = getattr(outcome, k)
        if value is not None and len(value) == len(outcome.adv_correct):
            arrays[k] = value.numpy()
    arrays["examples"] = outcome.x_adv[:N_EXAMPLES].numpy()
    arrays["info"] = np.array(
        json.dumps(
            {
                "grad_evals": outcome.grad_evals,
                "seconds": outcome.seconds,
                "stages": outcome.stages,
                "checks": outcome.checks,
            }
        )
    )

    def write(tmp: str) -> None:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)

    atomic_write(path, write)


def load_cell(path: Path) -> dict[str, Any] | None:
    """The arrays of a finished cell, or None when absent or unreadable."""
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError):
        return None
