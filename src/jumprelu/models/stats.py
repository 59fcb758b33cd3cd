"""Per-channel normalisation statistics: validated where they enter (``check_mean_std``) and
read back from float32 buffers as the decimals they were given (``tensor_to_stats``)."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from jumprelu._util import real
from jumprelu.errors import ConfigError

__all__ = ["check_mean_std", "tensor_to_stats"]


#: Sane bounds of normalisation statistics of [0, 1] pixels: (x - mean) / std stays far
#: inside float32 (a std of 1e-300 is 0 there, a mean of 1e39 infinite).
MAX_STAT, MIN_STD = 1e6, 1e-6


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
        ConfigError: when they are empty, of different lengths, or a value is outside the
            sane range (|mean| <= 1e6, 1e-6 <= std <= 1e6).
    """
    try:
        mean_t = tuple(real("mean", m, low=-MAX_STAT, high=MAX_STAT) for m in mean)
        std_t = tuple(real("std", s, low=MIN_STD, high=MAX_STAT) for s in std)
    except TypeError as exc:
        raise ConfigError(f"mean and std must be sequences of numbers: {exc}") from exc
    if not mean_t or len(mean_t) != len(std_t):
        raise ConfigError(
            f"mean and std must be non-empty and of equal length, got {len(mean_t)} and "
            f"{len(std_t)} values"
        )
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
