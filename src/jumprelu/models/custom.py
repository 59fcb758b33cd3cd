"""Any model: ``MODULE:CALLABLE`` (an importable module or a ``.py`` file) returning an nn.Module.

The callable is called without arguments, or with ``num_classes=`` when one is given and it
accepts that keyword (torchvision and timm builders do). Weights, when given, are a state_dict
(any format ``read_state_dict`` reads, always with ``weights_only=True``) loaded strictly.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from jumprelu._util import model_device
from jumprelu.errors import CheckpointError, ConfigError
from jumprelu.models.weights import non_float, short_list

__all__ = ["build_custom", "check_output", "import_callable", "load_weights"]


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__


def _import_module(target: str) -> Any:
    """Import the user's module without writing ``__pycache__`` beside their files."""
    before = sys.dont_write_bytecode
    sys.dont_write_bytecode = True
    try:
        return _import(target)
    finally:
        sys.dont_write_bytecode = before


def _import(target: str) -> Any:
    path = Path(target).expanduser()
    if target.endswith(".py") or path.is_file():
        if not path.is_file():
            raise ConfigError(f"--model: file {path} not found")
        name = f"jumprelu_user_{path.stem}"
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise ConfigError(f"--model: cannot import {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        return module
    return importlib.import_module(target)


def import_callable(spec: str) -> Callable[..., Any]:
    """Resolve ``MODULE:CALLABLE`` (``MODULE`` a dotted name or a ``.py`` path).

    Raises:
        ConfigError: a malformed spec, a module that cannot be imported, or a missing or
            non-callable attribute.
    """
    target, sep, attr = spec.rpartition(":")
    if not sep or not target or not attr:
        raise ConfigError(f"--model expects MODULE:CALLABLE or FILE.py:CALLABLE, got {spec!r}")
    try:
        module = _import_module(target)
    except ConfigError:
        raise
    except (Exception, SystemExit) as exc:  # an import runs arbitrary code: one line
        raise ConfigError(f"--model: cannot import {target!r}: {_first_line(exc)}") from exc
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ConfigError(f"--model: {target!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise ConfigError(f"--model: {spec!r} is not callable")
    return obj  # type: ignore[no-any-return]


def _takes_num_classes(fn: Callable[..., Any]) -> bool:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == "num_classes" or p.kind is p.VAR_KEYWORD for p in params)


def build_custom(spec: str, num_classes: int | None = None) -> nn.Module:
    """Call the ``MODULE:CALLABLE`` of ``spec`` and check that it returns an nn.Module.

    Args:
        spec: ``MODULE:CALLABLE``.
        num_classes: passed as ``num_classes=`` when given and the callable accepts it.

    Returns:
        The module, in eval mode.

    Raises:
        ConfigError: import failures, a failing call, or a result that is not an nn.Module.
    """
    fn = import_callable(spec)
    kwargs = {"num_classes": num_classes} if num_classes and _takes_num_classes(fn) else {}
    try:
        model = fn(**kwargs)
    except (Exception, SystemExit) as exc:  # user code: report any failure as one line
        raise ConfigError(f"--model: calling {spec} failed: {_first_line(exc)}") from exc
    if not isinstance(model, nn.Module):
        raise ConfigError(
            f"--model: {spec} returned an object of type {type(model).__name__}, not an nn.Module"
        )
    model_device(model)  # weights on the meta device cannot run (nor be moved)
    return model.eval()


def load_weights(model: nn.Module, state: dict[str, torch.Tensor], what: str) -> None:
    """Load a state_dict strictly, naming missing, unexpected and mis-shaped keys.

    Raises:
        CheckpointError: when the weights do not fit the model, or are not floating point
            where the model's are (they would be cast silently).
    """
    if bad := non_float(model.state_dict(), state):
        raise CheckpointError(
            f"{what} holds weights that are not floating point: {short_list(bad, 4)}"
        )
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
        reason = " ".join(lines[1:3]) if len(lines) > 1 else (lines[0] if lines else "")
        if len(reason) > 300:
            reason = reason[:297] + "..."
        raise CheckpointError(f"{what} does not fit the --model: {reason}") from exc


def check_output(model: nn.Module, x: torch.Tensor, num_classes: int) -> None:
    """Run one small batch and check the output is logits of shape (N, num_classes).

    Args:
        model: the model, taking [0, 1] images of the data's shape.
        x: a batch of the size the run will use.
        num_classes: the data's number of classes.

    Raises:
        ConfigError: the model is on the meta device, the forward pass fails (data that does
            not fit the model), or the output is not finite float logits (N, num_classes).
    """
    shape = "x".join(str(s) for s in x.shape[1:])
    dev = model_device(model)
    try:
        with torch.no_grad():
            out = model.eval()(x.to(dev))
    except (Exception, SystemExit) as exc:  # any failure of a user's forward on the data
        raise ConfigError(
            f"data of shape {shape} does not fit the model: {_first_line(exc)}"
        ) from exc
    got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
    if got != (len(x), num_classes):
        raise ConfigError(
            f"the model's output for {len(x)} images of shape {shape} is {got}, expected "
            f"({len(x)}, {num_classes}) logits (--num-classes)"
        )
    if not out.dtype.is_floating_point:
        raise ConfigError(f"the model's logits must be floating point, got {out.dtype}")
    if not bool(torch.isfinite(out).all()):
        raise ConfigError("the model returns NaN or infinite logits")
