"""Resuming a training run: read its state, check it was made with the same settings and
not past the run's epochs, and put it back into a fresh model, optimizer and generators."""

from __future__ import annotations

import collections
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from jumprelu.errors import CheckpointError, ConfigError
from jumprelu.models.checkpoint_meta import to_plain
from jumprelu.models.safe_load import error_reason
from jumprelu.training.state import STATE_FORMAT, STATE_VERSION, TrainState

__all__ = ["check_resumable", "load_train_state", "open_resume", "restore_train_state"]

_FIELDS = ("epoch", "key", "model", "optimizer", "scheduler", "generators", "rng", "history")


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
