"""Input gradients shared by the attacks; never touching parameters' ``.grad``."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["loss_gradient"]


def loss_gradient(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Gradient of the summed cross-entropy loss with respect to the inputs.

    Args:
        model: a classifier returning logits.
        x: inputs (N, ...).
        y: labels (N,).

    Returns:
        ``(grad, logits)``: the gradient (N, ...) and the logits (N, K), both detached.
    """
    x = x.detach().requires_grad_(True)
    logits = model(x)
    loss = F.cross_entropy(logits, y, reduction="sum")
    (grad,) = torch.autograd.grad(loss, x)
    return grad.detach(), logits.detach()
