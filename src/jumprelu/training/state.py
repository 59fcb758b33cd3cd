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
``cuda_rng`` (the device's generator, or None) and ``history`` (per-epoch lists).
"""

from __future__ import annotations

import collections
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from jumprelu._util import atomic_write
from jumprelu.errors import CheckpointError, ConfigError
from jumprelu.models.checkpoint_files import error_reason
from jumprelu.models.checkpoint_meta import to_plain

__all__ = [
    "STATE_FORMAT",
    "STATE_VERSION",
    "TrainState",
    "check_resumable",
    "epoch_checkpoint_path",
    "epoch_dir",
    "load_train_state",
    "open_resume",
    "restore_train_state",
    "save_train_state",
    "state_path",
]

STATE_FORMAT = "jumprelu.train_state"
STATE_VERSION = 1
_FIELDS = ("epoch", "key", "model", "optimizer", "scheduler", "generators", "rng", "history")


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


def load_train_state(path: str | Path) -> TrainState:
    """Read a resume state with ``torch.load(weights_only=True)``.

    Args:
        path: the file written by ``save_train_state``.

    Returns:
        The state, tensors on the CPU.

    Raises:
        ConfigError: no file at ``path`` (nothing to resume from).
        CheckpointError: unreadable, not a resume state, or another version.
    """
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"nothing to resume from: no training state at {p}")
    try:
        obj = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError(f"cannot read training state {p}: {error_reason(exc)}") from exc
    if not isinstance(obj, dict) or obj.get("format") != STATE_FORMAT:
        raise CheckpointError(f"{p} is not a jumprelu training state")
    if obj.get("version") != STATE_VERSION:
        raise CheckpointError(
            f"{p} is training state version {obj.get('version')!r}; this library reads "
            f"version {STATE_VERSION}"
        )
    missing = [f for f in _FIELDS if f not in obj]
    if missing or not isinstance(obj["epoch"], int) or not isinstance(obj["key"], dict):
        raise CheckpointError(f"malformed training state {p}: missing {', '.join(missing)}")
    return TrainState(**{f: obj[f] for f in _FIELDS}, cuda_rng=obj.get("cuda_rng"))


def check_resumable(state: TrainState, key: Mapping[str, Any], path: str | Path) -> None:
    """Refuse to resume a run made with other settings.

    Args:
        state: the loaded state.
        key: the current run's settings (plain values, as given to ``save_train_state``).
        path: the state's file, for the message.

    Raises:
        ConfigError: naming every differing setting with its saved and current value.
    """
    now = to_plain(dict(key), "key")
    missing = "<unset>"
    diff = [
        f"{k} (saved {state.key.get(k, missing)!r}, now {now.get(k, missing)!r})"
        for k in sorted(set(state.key) | set(now))
        if state.key.get(k, missing) != now.get(k, missing)
    ]
    if diff:
        raise ConfigError(
            f"cannot resume from {path}: it was made with different settings: {'; '.join(diff)}"
        )


def open_resume(path: str | Path | None, key: Mapping[str, Any], epochs: int) -> TrainState:
    """Load the state a run resumes from, checking it before any training.

    Args:
        path: the state file (None: nothing to resume from).
        key: the current run's settings (see ``check_resumable``).
        epochs: the run's total epochs; the state must not be past them.

    Returns:
        The loaded state.

    Raises:
        ConfigError: no state, a state made with other settings, or one past ``epochs``.
        CheckpointError: an unreadable state.
    """
    if path is None:
        raise ConfigError("nothing to resume from: no state file was given")
    state = load_train_state(path)
    check_resumable(state, key, path)
    if state.epoch > epochs:
        raise ConfigError(
            f"cannot resume from {path}: it has {state.epoch} epochs done, more than "
            f"epochs={epochs}"
        )
    return state


def restore_train_state(
    state: TrainState,
    *,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    generators: Mapping[str, torch.Generator],
    device: torch.device,
) -> None:
    """Put a saved state back into a freshly built model, optimizer, scheduler and generators.

    Also restores the global CPU generator (and the device's CUDA generator when saved).

    Args:
        state: the loaded state.
        model: the model, built as for the saved run and already on ``device``.
        optimizer: its optimizer (fresh).
        scheduler: its scheduler (fresh).
        generators: the run's named CPU generators.
        device: the training device.

    Raises:
        CheckpointError: the saved weights or optimizer state do not fit, or a generator is
            missing.
    """
    try:
        model.load_state_dict(state.model)
        optimizer.load_state_dict(state.optimizer)
    except (RuntimeError, ValueError, KeyError) as exc:
        reason = error_reason(exc)
        raise CheckpointError(f"the training state does not fit the model: {reason}") from exc
    sched = dict(state.scheduler)
    sched["milestones"] = collections.Counter(sched.get("milestones", {}))
    scheduler.load_state_dict(sched)
    for name, gen in generators.items():
        if name not in state.generators:
            raise CheckpointError(f"the training state has no {name!r} generator")
        gen.set_state(state.generators[name])
    torch.set_rng_state(state.rng)
    if device.type == "cuda" and state.cuda_rng is not None:
        torch.cuda.set_rng_state(state.cuda_rng, device)
