"""``torch.load`` that never unpickles arbitrary objects (``weights_only=True``), with its
failures told apart in one line: a refused pickled object named, a truncated or corrupt file
said so."""

from __future__ import annotations

import pickle
import re
import sys
import warnings
from pathlib import Path
from typing import Any

import torch

from jumprelu.errors import CheckpointError

__all__ = ["error_reason", "torch_load"]


def error_reason(exc: BaseException) -> str:
    """A loading error as one short line (the unpickler's reason without torch's advice)."""
    text = str(exc)
    if "WeightsUnpickler error:" in text:
        text = text.split("WeightsUnpickler error:", 1)[1]
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    name = type(exc).__name__
    reason = lines[0] if lines else name
    if not isinstance(exc, pickle.UnpicklingError) and lines:
        reason = f"{name}: {reason}"
    return reason if len(reason) <= 120 else reason[:117] + "..."


def _missing_torch_global(name: str) -> bool:
    """True for a ``torch.*`` name that does not exist (a truncated file, not a real object)."""
    if not name.startswith("torch."):
        return False
    parts = name.split(".")
    for i in range(len(parts) - 1, 0, -1):
        obj: Any = sys.modules.get(".".join(parts[:i]))
        if obj is not None:
            for attr in parts[i:]:
                obj = getattr(obj, attr, None)
            return obj is None
    return False


#: How ``torch.load(weights_only=True)`` names a refused global, across torch versions:
#: "Unsupported global: GLOBAL a.b was not an allowed global by default" and "Trying to load
#: unsupported GLOBAL a.b whose module a is blocked".
_REFUSED_GLOBAL = re.compile(r"unsupported (?:global: )?GLOBAL ([\w.]+)", re.IGNORECASE)


def torch_load(path: Path, device: torch.device) -> Any:
    """``torch.load(path, weights_only=True)`` onto ``device``.

    Raises:
        CheckpointError: naming the pickled object a file needs (refused, never unpickled), or
            saying the file is corrupt, truncated or not a PyTorch checkpoint.
    """
    try:
        with warnings.catch_warnings():  # torch's advice on pickle protocols: not the user's
            warnings.simplefilter("ignore", UserWarning)
            return torch.load(path, map_location=device, weights_only=True)
    except Exception as exc:
        found = _REFUSED_GLOBAL.search(str(exc))
        if found and not _missing_torch_global(found.group(1)):
            blocked = " (a blocked module)" if "is blocked" in str(exc) else ""
            raise CheckpointError(
                f"refusing {path}: it pickles the Python object {found.group(1)}{blocked}, "
                "which torch.load(weights_only=True) will not load; save a plain state_dict "
                "instead"
            ) from exc
        reason = f"unknown name {found.group(1)}" if found else error_reason(exc)
        raise CheckpointError(
            f"cannot read {path}: corrupt, truncated or not a PyTorch checkpoint ({reason})"
        ) from exc
