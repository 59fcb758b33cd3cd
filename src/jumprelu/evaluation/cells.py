"""Storage of one run's outcome (shared by the cells it serves) as an atomic ``.npz`` file.

Each cell is written at once when it finishes, so an interrupted sweep (even ``kill -9``)
loses no finished cell; an unreadable (half-written) file counts as missing and is redone.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from jumprelu._util import atomic_write
from jumprelu.evaluation.outcome import N_EXAMPLES, Outcome

__all__ = ["INDICATORS", "OPTIONAL", "PER_SAMPLE", "load_cell", "outcome_arrays", "save_cell"]

#: Per-sample arrays stored for every cell.
PER_SAMPLE = ("adv_correct", "l2", "linf", "l2_rel", "linf_rel", "zero_grad")
#: Per-sample indicator arrays (absent from cells written before they existed).
INDICATORS = ("zero_grad_steps", "silent", "improving", "unstable")
#: Per-sample arrays only some cells have (``own_robust``: a suite's own-gradient pass).
OPTIONAL = (*INDICATORS, "own_robust")


def outcome_arrays(outcome: Outcome) -> dict[str, Any]:
    """The per-sample arrays of ``outcome`` as a cell file stores them (indicators if known)."""
    arrays = {k: getattr(outcome, k).numpy() for k in PER_SAMPLE}
    for k in OPTIONAL:
        value = getattr(outcome, k)
        if value is not None and len(value) == len(outcome.adv_correct):
            arrays[k] = value.numpy()
    return arrays


def save_cell(path: Path, outcome: Outcome) -> None:
    """Write ``outcome`` (per-sample arrays, the first adversarial inputs, timings) atomically."""
    arrays = outcome_arrays(outcome)
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


def load_cell(path: Path, n: int | None = None) -> dict[str, Any] | None:
    """The arrays of a finished cell, or None when absent, unreadable or incomplete.

    Args:
        path: the cell file.
        n: the run's number of points: a cell whose per-sample arrays hold another number (a
            tampered or foreign file) is incomplete too, so the runner computes it again.
    """
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        info = json.loads(str(arrays["info"]))
    except (OSError, ValueError, EOFError, KeyError, RuntimeError, zipfile.BadZipFile):
        return None
    if not isinstance(info, dict) or not {"grad_evals", "seconds"} <= info.keys():
        return None
    size = n if n is not None else len(np.atleast_1d(arrays.get("adv_correct", ())))
    per_sample = [*PER_SAMPLE, *(k for k in OPTIONAL if k in arrays)]
    if any(k not in arrays or arrays[k].shape != (size,) for k in per_sample):
        return None
    return arrays
