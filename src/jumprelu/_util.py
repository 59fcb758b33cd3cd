"""Shared helpers: atomic file writes, run-directory locks, device selection, progress hooks.

The library calls the ``Progress`` hooks; the CLI draws bars with them, so the library never
prints.
"""

from __future__ import annotations

import contextlib
import math
import numbers
import os
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import torch
from torch import nn

from jumprelu.errors import ConfigError, JumpReLUError

__all__ = [
    "LOCK_NAME",
    "NULL_PROGRESS",
    "Progress",
    "atomic_write",
    "check_model",
    "eval_mode",
    "fast_layout",
    "model_device",
    "real",
    "resolve_device",
    "run_lock",
]


#: The smallest magnitude a nonzero float option may have: float32 carries it (its normal
#: range starts at 1.2e-38), so what runs is what was given.
TINY = 1e-30


def real(name: str, value: object, *, low: float, high: float, open_low: bool = False) -> float:
    """Validate a float option: a real number, finite, in ``[low, high]`` (``(low, high]``
    with ``open_low``), and 0 or at least ``TINY`` in magnitude (float32 carries it as given).

    Args:
        name: the option's name, for the message.
        value: what was given.
        low, high: the sane range (also what float32 carries without overflow).
        open_low: exclude ``low`` itself.

    Returns:
        The value as a float.

    Raises:
        ConfigError: naming the option, the value and the range.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ConfigError(f"{name} must be a number, got {value!r}")
    v = float(value)
    bracket = "(" if open_low else "["
    if not math.isfinite(v) or v < low or v > high or (open_low and v == low):
        raise ConfigError(f"{name} must be a number in {bracket}{low:g}, {high:g}], got {value!r}")
    if v != 0 and abs(v) < TINY:
        raise ConfigError(f"{name} {value!r} is too small for float32 (0, or at least {TINY:g})")
    return v


def check_model(model: object, name: str = "model") -> nn.Module:
    """Validate a model argument: an ``nn.Module`` instance (not its class, not a path).

    Args:
        model: what was given.
        name: the argument's name, for the message.

    Returns:
        The model.

    Raises:
        ConfigError: naming the argument and what it got.
    """
    if isinstance(model, nn.Module):
        return model
    if isinstance(model, type):
        got = f"the class {model.__name__} (build an instance first)"
    else:
        got = f"a {type(model).__name__}"
    raise ConfigError(f"{name} must be a torch.nn.Module instance, got {got}")


def model_device(model: nn.Module) -> torch.device:
    """Where a model's weights live (its first parameter's or buffer's device; the CPU when it
    has none).

    Raises:
        ConfigError: the model is on the meta device (it has no weights to run).
    """
    tensors = [*model.parameters(), *model.buffers()]
    dev = tensors[0].device if tensors else torch.device("cpu")
    if dev.type == "meta" or any(t.device.type == "meta" for t in tensors):
        raise ConfigError("the model is on the meta device: it has no weights to run")
    return dev


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


#: The lock file of a run directory (see ``run_lock``).
LOCK_NAME = ".lock"
#: A lock file still empty after this many seconds was left by a writer that died.
_EMPTY_LOCK_GRACE_S = 5.0
_held: dict[Path, int] = {}  # directories this process holds -> nesting depth
_held_guard = threading.Lock()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _holder(lock: Path) -> tuple[int, str] | None:
    """The ``(pid, host)`` recorded in a lock file; None when it is gone or unreadable."""
    try:
        pid, host = lock.read_text().split()
        return int(pid), host
    except (OSError, ValueError):
        return None


def _stale(lock: Path, holder: tuple[int, str] | None) -> bool:
    """True for a lock left by a dead process on this host (or half-written long ago)."""
    if holder is None:
        try:
            return time.time() - lock.stat().st_mtime > _EMPTY_LOCK_GRACE_S
        except FileNotFoundError:
            return True
    pid, host = holder
    return host == socket.gethostname() and (pid == os.getpid() or not _pid_alive(pid))


def _acquire(lock: Path, me: str) -> None:
    for _ in range(5):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            holder = _holder(lock)
            if not _stale(lock, holder):
                who = f"pid {holder[0]} on {holder[1]}" if holder else "another process"
                raise ConfigError(
                    f"{lock.parent} is in use by {who} (lock file {lock}; remove it if that "
                    "process is gone)"
                ) from None
            if _holder(lock) == holder:  # still the stale one: take it over
                with contextlib.suppress(FileNotFoundError):
                    lock.unlink()
            continue
        except OSError as exc:
            raise ConfigError(f"cannot lock {lock.parent}: {exc.strerror or exc}") from exc
        with os.fdopen(fd, "w") as fh:
            fh.write(me)
        return
    raise ConfigError(f"cannot lock {lock.parent}: its lock file {lock} keeps changing")


@contextlib.contextmanager
def run_lock(directory: str | Path) -> Iterator[Path]:
    """Hold a run directory for this process: ``DIR/.lock`` records the holder's pid and host.

    The lock file is created atomically (``O_CREAT | O_EXCL``). A lock left by a process that
    is no longer alive on this host is taken over; nested use in one process is allowed. On
    exit the lock file is removed, and the directories this call created too when empty.

    Args:
        directory: the run directory (created when missing).

    Yields:
        The directory.

    Raises:
        ConfigError: another live process holds the directory ("DIR is in use by pid N on
            HOST"), or it cannot be created or locked.
    """
    path = Path(directory)
    key = path.resolve()
    with _held_guard:
        if key in _held:
            _held[key] += 1
            nested = True
        else:
            nested = False
    if nested:
        try:
            yield path
        finally:
            with _held_guard:
                _held[key] -= 1
        return
    created = [p for p in (path, *path.parents) if not p.exists()]  # deepest first
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create {path}: {exc.strerror or exc}") from exc
    lock, me = path / LOCK_NAME, f"{os.getpid()} {socket.gethostname()}\n"
    try:
        _acquire(lock, me)
    except BaseException:
        _remove_empty(created)
        raise
    with _held_guard:
        _held[key] = 1
    try:
        yield path
    finally:
        with _held_guard:
            del _held[key]
        with contextlib.suppress(OSError):
            if lock.read_text() == me:
                lock.unlink()
        _remove_empty(created)


def _remove_empty(directories: list[Path]) -> None:
    """Remove the directories (deepest first) that are empty; stop at the first that is not."""
    for d in directories:
        try:
            d.rmdir()
        except OSError:
            return


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


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[None]:
    """The model in eval mode inside the block, its previous mode restored after."""
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


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
