"""Device selection shared by the library and the CLI."""

from __future__ import annotations

import torch

from .errors import ConfigError

__all__ = ["resolve_device"]


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
