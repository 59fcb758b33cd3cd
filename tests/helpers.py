"""Small models and data shared by several test files (import as ``from helpers import ...``)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def fitted_mlp(n: int = 64) -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """A small two-hidden-layer ReLU MLP fitted to ``n`` random 1x8x8 images, with its data."""
    g = torch.Generator().manual_seed(0)
    x = torch.rand(n, 1, 8, 8, generator=g)
    y = ((x.flatten(1) - 0.5) @ torch.randn(64, 4, generator=g)).argmax(1)
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 4)
    )
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    for _ in range(100):
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    for p in model.parameters():
        p.grad = None
    return model.eval(), x, y
