"""Shared helpers: atomic file writes, device selection, progress hooks.

The library calls the ``Progress`` hooks; the CLI draws bars with them, so the library never
prints.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from jumprelu.errors import ConfigError, JumpReLUError

__all__ = ["NULL_PROGRESS", "Progress", "atomic_write", "fast_layout", "resolve_device"]


def atomic_write(
    path: Path, write: Callable[[str], None], error: type[JumpReLUError] = JumpReLUError
) -> None:
    """Write ``path`` atomically: readers see the old file or the complete new one.

    Args:
        path: destination; parent directories are created.
        write: called with a temporary file name to fill.
        error: exception class raised (with a one-line message) when writing fails; the
            temporary file is removed and an existing file at ``path`` is left untouched.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
    except OSError as exc:
        raise error(f"cannot write {path}: {exc.strerror or exc}") from exc
    try:
        write(tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, Exception) and not isinstance(exc, JumpReLUError):
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise error(f"cannot write {path}: {first}") from exc
        raise


def resolve_device(device: str | torch.device) -> torch.device:
    """Turn a device name into a ``torch.device``, refusing CUDA when it is absent.

    Args:
        device: e.g. ``"cpu"``, ``"cuda"``, ``"cuda:1"``.

    Returns:
        The device.

    Raises:
        ConfigError: an invalid name, or CUDA requested on a machine without it.
    """
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ConfigError(f"invalid device {device!r}") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {device!r} requested but CUDA is not available")
    return dev


def fast_layout(model: nn.Module, x: torch.Tensor) -> tuple[nn.Module, torch.Tensor]:
    """Put a model and a batch of images in the memory layout that runs fastest here.

    On the CPU, 4-D image batches run in ``channels_last`` (NHWC): oneDNN's convolutions and
    pooling then take about half the time of NCHW (measured in benchmarks/bench_speed.py).
    Values are unchanged; only the summation order inside convolutions may differ (float
    rounding). The model is converted in place.

    Args:
        model: the network (its 4-D parameters are re-laid out).
        x: inputs (N, ...).

    Returns:
        ``(model, x)``, both in the chosen layout (unchanged for non-image inputs or CUDA).
    """
    if x.dim() != 4 or x.device.type != "cpu":
        return model, x
    fmt = torch.channels_last
    model.to(memory_format=fmt)  # type: ignore[call-overload]
    return model, x.contiguous(memory_format=fmt)


class Progress:
    """Receives progress of a job made of units (cells, epochs), each made of steps.

    Subclass it and override what you need; every method here does nothing.
    """

    def plan(self, units: int, done: int = 0) -> None:
        """The job has ``units`` units in total, ``done`` of them already finished (resume).

        Args:
            units: total number of units.
            done: units finished before this run started.
        """

    def start(self, label: str, total: int) -> None:
        """A unit (or a stage of one) starts.

        Args:
            label: what is running, e.g. ``"white/pgd-linf jump 0.5"``.
            total: its number of steps (examples or batches).
        """

    def advance(self, steps: int) -> None:
        """``steps`` more steps of the current unit are finished."""

    def finish(self, label: str) -> None:
        """The unit ``label`` is finished."""

    def close(self) -> None:
        """The job is over (or failed): release whatever displays progress."""


#: The do-nothing progress object used when none is given.
NULL_PROGRESS = Progress()
