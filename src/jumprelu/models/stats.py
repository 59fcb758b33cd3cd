"""Per-channel normalisation statistics: validated where they enter (``check_mean_std``) and
read back from float32 buffers as the decimals they were given (``tensor_to_stats``)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from jumprelu.errors import ConfigError

__all__ = ["check_mean_std", "tensor_to_stats"]


def check_mean_std(
    mean: Sequence[float], std: Sequence[float]
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Validate per-channel normalisation statistics.

    Args:
        mean: per-channel means.
        std: per-channel standard deviations.

    Returns:
        ``(mean, std)`` as tuples of floats.

    Raises:
        ConfigError: when they are empty, of different lengths, not finite, or ``std <= 0``.
    """
    try:
        mean_t = tuple(float(m) for m in mean)
        std_t = tuple(float(s) for s in std)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"mean and std must be sequences of numbers: {exc}") from exc
    if not mean_t or len(mean_t) != len(std_t):
        raise ConfigError(
            f"mean and std must be non-empty and of equal length, got {len(mean_t)} and "
            f"{len(std_t)} values"
        )
    if not all(math.isfinite(v) for v in mean_t + std_t):
        raise ConfigError(f"mean and std must be finite, got mean={mean_t} std={std_t}")
    if min(std_t) <= 0:
        raise ConfigError(f"std must be > 0 for every channel, got {std_t}")
    return mean_t, std_t


def tensor_to_stats(values: torch.Tensor) -> tuple[float, ...]:
    """Convert a float32 statistics tensor to the shortest decimals that round-trip.

    Args:
        values: tensor of any shape.

    Returns:
        Its values, flattened, as a tuple of floats.
    """
    flat = values.detach().to("cpu", torch.float32).flatten().numpy()
    return tuple(float(str(v)) for v in flat)
