"""Resume state of a training run, and where a run's files go.

A run writing the final checkpoint ``OUT`` (e.g. ``models/lenet.pt``) keeps its per-epoch files
in the sibling directory ``OUT.epochs/`` (``models/lenet.pt.epochs/``):

- ``epochNNN<suffix>``: the model after epoch NNN (1-based, at least 3 digits, ``OUT``'s suffix,
  ``.pt`` when it has none), in the project's checkpoint format (``save_checkpoint``);
- ``resume.pt``: the resume state after the latest finished epoch.

The resume state is a ``torch.save`` dict of tensors and plain values only (it loads with
``torch.load(weights_only=True)``), written atomically after every epoch: ``format``
(``"jumprelu.train_state"``), ``version``, ``epoch`` (epochs finished), ``key`` (the settings
that must match to resume: every training setting but ``epochs``, plus the caller's identity such
as arch and dataset), ``model`` (the full state_dict), ``optimizer`` (with SGD's momentum
buffers), ``scheduler`` (its milestones as a plain dict), ``generators`` (data order and
augmentation/attack generator states), ``rng`` (the global CPU generator, for dropout),
``cuda_rng`` (the device's generator, or None) and ``history`` (per-epoch lists). Reading it
back, checking it and restoring a run from it live in ``resume``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from jumprelu._util import atomic_write
from jumprelu.errors import CheckpointError
from jumprelu.models.checkpoint_meta import to_plain

__all__ = [
    "STATE_FORMAT",
    "STATE_VERSION",
    "TrainState",
    "epoch_checkpoint_path",
    "epoch_dir",
    "save_train_state",
    "state_path",
]

STATE_FORMAT = "jumprelu.train_state"
STATE_VERSION = 1


def epoch_dir(out: str | Path) -> Path:
    """The directory of a run's per-epoch files: ``OUT.epochs`` next to ``OUT``."""
    p = Path(out)
    return p.parent / f"{p.name}.epochs"


def epoch_checkpoint_path(out: str | Path, epoch: int) -> Path:
    """Where the checkpoint after ``epoch`` (1-based) goes: ``OUT.epochs/epochNNN<suffix>``."""
    return epoch_dir(out) / f"epoch{epoch:03d}{Path(out).suffix or '.pt'}"


def state_path(out: str | Path) -> Path:
    """Where a run's resume state goes: ``OUT.epochs/resume.pt``."""
    return epoch_dir(out) / "resume.pt"


@dataclass
class TrainState:
    """A loaded resume state (see the module docstring for the fields)."""

    epoch: int
    key: dict[str, Any]
    model: dict[str, torch.Tensor]
    optimizer: dict[str, Any]
    scheduler: dict[str, Any]
    generators: dict[str, torch.Tensor]
    rng: torch.Tensor
    cuda_rng: torch.Tensor | None
    history: dict[str, list[float]]


def save_train_state(
    path: str | Path,
    *,
    epoch: int,
    key: Mapping[str, Any],
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    generators: Mapping[str, torch.Generator],
    history: Mapping[str, list[float]],
    device: torch.device,
) -> None:
    """Write a resume state atomically.

    Args:
        path: destination (``state_path(OUT)`` for ``run_training``).
        epoch: epochs finished.
        key: the settings that must match to resume (plain values).
        model: the model being trained.
        optimizer: its optimizer.
        scheduler: its learning-rate scheduler.
        generators: named CPU generators of the run.
        history: per-epoch lists (loss, accuracy, seconds).
        device: the training device (its CUDA generator is saved when it is a GPU).

    Raises:
        CheckpointError: the file could not be written (an existing one is left untouched).
    """
    sched = dict(scheduler.state_dict())
    sched["milestones"] = {int(k): int(v) for k, v in sched.get("milestones", {}).items()}
    cuda_rng = torch.cuda.get_rng_state(device) if device.type == "cuda" else None
    payload = {
        "format": STATE_FORMAT,
        "version": STATE_VERSION,
        "epoch": int(epoch),
        "key": to_plain(dict(key), "key"),
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": sched,
        "generators": {name: g.get_state() for name, g in generators.items()},
        "rng": torch.get_rng_state(),
        "cuda_rng": cuda_rng,
        "history": {k: [float(v) for v in vals] for k, vals in history.items()},
    }
    atomic_write(Path(path), lambda tmp: torch.save(payload, tmp), CheckpointError)
