"""CIFAR-style data augmentation on tensors: random crop with zero padding and horizontal flip.

The standard CIFAR-10 recipe (and the JumpReLU paper's): pad every image by 4 pixels of zeros,
cut a random crop of the original size, and flip it left-right with probability 1/2. Done on
whole batches of tensors with an explicit ``torch.Generator`` (on the CPU), so it is seeded,
resumable and needs no torchvision.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from jumprelu.errors import ConfigError

__all__ = ["random_crop_flip"]


def random_crop_flip(
    x: torch.Tensor, gen: torch.Generator, *, padding: int = 4, flip: bool = True
) -> torch.Tensor:
    """Randomly crop (after zero padding) and horizontally flip every image of a batch.

    Each image draws its own crop offset (uniform in ``[0, 2 * padding]`` along each axis) and,
    when ``flip``, its own coin; the random numbers come from ``gen`` (a CPU generator) in a
    fixed order, so the same generator state gives the same batch on any device.

    Args:
        x: images (N, C, H, W), on any device; not modified.
        gen: CPU generator the offsets and coins are drawn from (advanced by the call).
        padding: zero pixels added on every side before cropping (>= 0).
        flip: also flip left-right with probability 1/2.

    Returns:
        A new tensor of the same shape, dtype and device as ``x``.

    Raises:
        ConfigError: a negative padding or an input that is not a 4-d batch.
    """
    if isinstance(padding, bool) or not isinstance(padding, int) or padding < 0:
        raise ConfigError(f"padding must be an integer >= 0, got {padding!r}")
    if x.dim() != 4:
        raise ConfigError(f"augmentation needs a batch (N, C, H, W), got shape {tuple(x.shape)}")
    n, c, h, w = x.shape
    dev = x.device
    offsets = torch.randint(0, 2 * padding + 1, (n, 2), generator=gen)
    coins = torch.rand(n, generator=gen) < 0.5 if flip else torch.zeros(n, dtype=torch.bool)
    padded = F.pad(x, (padding, padding, padding, padding))
    rows = (offsets[:, :1] + torch.arange(h)).to(dev).view(n, 1, h, 1)
    cols = (offsets[:, 1:] + torch.arange(w)).to(dev).view(n, 1, 1, w)
    batch = torch.arange(n, device=dev).view(n, 1, 1, 1)
    chans = torch.arange(c, device=dev).view(1, c, 1, 1)
    out = padded[batch, chans, rows, cols]
    return torch.where(coins.to(dev).view(n, 1, 1, 1), out.flip(3), out)
