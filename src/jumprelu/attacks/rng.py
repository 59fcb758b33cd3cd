"""Counter-based random numbers per sample, so results do not depend on the batching.

Every random number an attack draws is a pure function of ``(seed, sample index, stream,
position)``: a sample gets the same noise whether it is attacked alone, in a batch of 7 or of
500, and whatever other samples are still active. The hash is SplitMix64's finaliser
(Steele, Lea and Flood, "Fast splittable pseudorandom number generators", OOPSLA 2014),
computed on int64 tensors (multiplication wraps modulo 2**64), so drawing is vectorised.

``GeneratorRandom`` offers the same draws from a ``torch.Generator`` instead: they depend on
the batch and on the generator's state, as a training loop's random stream does.
"""

from __future__ import annotations

from typing import Protocol

import torch

__all__ = ["GeneratorRandom", "Random", "SampleRandom"]


class Random(Protocol):
    """Per-sample random numbers: ``SampleRandom`` or ``GeneratorRandom``."""

    def take(self, rows: torch.Tensor) -> Random:
        """The source of a subset of the samples (``rows`` index this batch)."""
        ...

    def uniform(self, stream: int, *shape: int) -> torch.Tensor:
        """Uniform numbers in [0, 1), float32, shape (N, *shape), on the CPU."""
        ...

    def normal(self, stream: int, *shape: int) -> torch.Tensor:
        """Standard normal numbers, float32, shape (N, *shape), on the CPU."""
        ...


_GOLDEN = -7046029254386353131  # 0x9E3779B97F4A7C15 as a signed int64
_M1 = -4658895280553007687  # 0xBF58476D1CE4E5B9
_M2 = -7723592293110705685  # 0x94D049BB133111EB


def _shr(x: torch.Tensor, k: int) -> torch.Tensor:
    """Logical right shift of int64 values."""
    return (x >> k) & ((1 << (64 - k)) - 1)


def _mix(x: torch.Tensor) -> torch.Tensor:
    """SplitMix64's finaliser: a bijective avalanche hash of int64 values."""
    x = (x ^ _shr(x, 30)) * _M1
    x = (x ^ _shr(x, 27)) * _M2
    return x ^ _shr(x, 31)


class SampleRandom:
    """Random numbers keyed by each sample's global index.

    Args:
        seed: the attack's seed (an int >= 0).
        index: (N,) int, the global index of each sample of the batch (e.g. its position in
            the evaluated split); defaults to ``0..N-1`` when built with ``for_batch``.

    Every draw takes a ``stream`` (an int naming what the numbers are for, e.g. the iteration
    and purpose) and returns a tensor (N, *shape) on the CPU; the same (seed, index, stream,
    position) always gives the same number.
    """

    def __init__(self, seed: int, index: torch.Tensor) -> None:
        idx = index.detach().to("cpu", torch.int64)
        self.seed = int(seed)
        self.index = idx
        self._keys = _mix(_mix(torch.full_like(idx, self.seed) * _GOLDEN + 1) ^ (idx * _GOLDEN))

    def take(self, rows: torch.Tensor) -> SampleRandom:
        """The generator of a subset of the samples (``rows`` index this batch)."""
        return SampleRandom(self.seed, self.index[rows.cpu()])

    def _bits(self, stream: int, shape: tuple[int, ...]) -> torch.Tensor:
        count = 1
        for s in shape:
            count *= s
        pos = torch.arange(count, dtype=torch.int64) + 1
        salt = _mix(torch.tensor(int(stream) & ((1 << 63) - 1), dtype=torch.int64) * _GOLDEN)
        bits = _mix(self._keys[:, None] ^ _mix(pos[None, :] * _GOLDEN ^ salt))
        return bits.view(len(self._keys), *shape)

    def uniform(self, stream: int, *shape: int) -> torch.Tensor:
        """Uniform numbers in [0, 1), float32, shape (N, *shape)."""
        bits = _shr(self._bits(stream, shape), 40)  # 24 random bits
        return bits.to(torch.float32) * (1.0 / (1 << 24))

    def normal(self, stream: int, *shape: int) -> torch.Tensor:
        """Standard normal numbers (Box-Muller), float32, shape (N, *shape)."""
        u1 = self.uniform(stream | (1 << 61), *shape).clamp_min(2.0**-25)
        u2 = self.uniform(stream | (1 << 62), *shape)
        return torch.sqrt(-2 * torch.log(u1)) * torch.cos(2 * torch.pi * u2)

    def randint(self, stream: int, high: int | torch.Tensor, *shape: int) -> torch.Tensor:
        """Integers in [0, high) (``high`` an int or an (N,) tensor), int64, shape (N, *shape)."""
        u = self.uniform(stream, *shape).to(torch.float64)
        h = torch.as_tensor(high, dtype=torch.float64)
        if h.dim() == 1:
            h = h.view(-1, *([1] * len(shape)))
        return (u * h).floor().to(torch.int64).clamp_max((h - 1).clamp_min(0).to(torch.int64))

    def signs(self, stream: int, *shape: int) -> torch.Tensor:
        """Random +1/-1 as float32, shape (N, *shape)."""
        return (self.uniform(stream, *shape) < 0.5).to(torch.float32) * 2 - 1


class GeneratorRandom:
    """The draws of ``SampleRandom`` from a CPU ``torch.Generator`` (streams are ignored).

    Args:
        generator: the generator; every draw advances it.
        n: the number of samples drawn for.
    """

    def __init__(self, generator: torch.Generator, n: int) -> None:
        self.generator, self.n = generator, n

    def take(self, rows: torch.Tensor) -> GeneratorRandom:
        """The source of ``len(rows)`` of the samples (the same generator)."""
        return GeneratorRandom(self.generator, len(rows))

    def uniform(self, stream: int, *shape: int) -> torch.Tensor:
        """``torch.rand((N, *shape))`` from the generator."""
        return torch.rand((self.n, *shape), generator=self.generator)

    def normal(self, stream: int, *shape: int) -> torch.Tensor:
        """``torch.randn((N, *shape))`` from the generator."""
        return torch.randn((self.n, *shape), generator=self.generator)
