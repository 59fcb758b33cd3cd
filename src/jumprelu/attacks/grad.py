"""Input gradients shared by the attacks; never touching parameters' ``.grad``."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from jumprelu.attacks.norms import Bounds, Budget, per_sample
from jumprelu.errors import ConfigError

__all__ = [
    "LOSSES",
    "check_loss",
    "free_gradient",
    "gradient_step",
    "logit_gradients",
    "loss_gradient",
    "margin_loss",
    "sample_loss",
    "zero_gradient",
]

#: Losses an attack can ascend: cross-entropy, or the margin max_{k != y} f_k - f_y of Carlini
#: and Wagner (S&P 2017), which does not saturate when the softmax does.
LOSSES = ("ce", "margin")


def check_loss(loss: str) -> str:
    """Validate a loss name (one of ``LOSSES``)."""
    if loss not in LOSSES:
        raise ConfigError(f"unknown loss {loss!r}; known: {', '.join(LOSSES)}")
    return loss


def margin_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``max_{k != y} z_k - z_y`` per sample: positive exactly when a wrong class wins."""
    true = logits.gather(1, y[:, None]).squeeze(1)
    other = logits.scatter(1, y[:, None], float("-inf")).amax(1)
    out: torch.Tensor = other - true
    return out


def sample_loss(logits: torch.Tensor, y: torch.Tensor, loss: str = "ce") -> torch.Tensor:
    """Per-sample loss (N,) the attacker maximises: "ce" or "margin"."""
    if loss == "ce":
        return F.cross_entropy(logits, y, reduction="none")
    return margin_loss(logits, y)


def loss_gradient(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss: str = "ce"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Gradient of the summed loss with respect to the inputs.

    Args:
        model: a classifier returning logits.
        x: inputs (N, ...).
        y: labels (N,).
        loss: "ce" (cross-entropy) or "margin" (see ``LOSSES``).

    Returns:
        ``(grad, logits)``: the gradient (N, ...) and the logits (N, K), both detached.
    """
    x = x.detach().requires_grad_(True)
    logits = model(x)
    loss_value = sample_loss(logits, y, loss).sum()
    (grad,) = torch.autograd.grad(loss_value, x)
    return grad.detach(), logits.detach()


def zero_gradient(grad: torch.Tensor) -> torch.Tensor:
    """Which samples have an input gradient that is exactly zero everywhere.

    Args:
        grad: input gradients (N, ...).

    Returns:
        (N,) bool, on the gradient's device.
    """
    out: torch.Tensor = grad.flatten(1).eq(0).all(dim=1)
    return out


def free_gradient(grad: torch.Tensor, x: torch.Tensor, bounds: Bounds) -> torch.Tensor:
    """``grad`` without the components that would push a pixel at a bound out of the box."""
    blocked = ((x <= bounds.low) & (grad < 0)) | ((x >= bounds.high) & (grad > 0))
    return grad.masked_fill(blocked, 0.0)


def gradient_step(grad: torch.Tensor, size: Budget, norm: str) -> torch.Tensor:
    """The steepest-ascent step of length ``size`` in ``norm`` for a linearised loss.

    Args:
        grad: input gradients (N, ...).
        size: the step's length (linf: per element, a float or per-channel sizes shaped
            (1, C, 1, ...); l2: per sample, a float).
        norm: "linf" (the sign of the gradient) or "l2" (the gradient scaled to length size).

    Returns:
        The step (N, ...); zero for a sample whose gradient is exactly zero.
    """
    if norm == "linf":
        return size * grad.sign()
    n = grad.flatten(1).norm(p=2, dim=1).clamp_min(1e-12)
    out: torch.Tensor = grad * per_sample(size / n, grad)
    return out


def logit_gradients(
    logits: torch.Tensor,
    x: torch.Tensor,
    classes: torch.Tensor,
    reference: torch.Tensor | None = None,
) -> torch.Tensor:
    """Input gradients of chosen logits (or logit differences) for a whole batch.

    One backward pass per column of ``classes``, each over the whole batch (the graph is
    retained between them); only ``x`` receives gradients, never the parameters. On the
    authors' LeNet on a CPU this was as fast as vectorising the K passes with ``vmap``
    (``is_grads_batched``) and about twice as fast as one backward over a K-times expanded
    batch, and it needs no batching rule for any operation of the model.

    Args:
        logits: ``model(x)`` (N, C), computed with ``x`` requiring grad.
        x: the inputs (N, ...) the logits were computed from.
        classes: (N, K) int, the classes whose logits to differentiate, per sample.
        reference: optional (N,) int; when given, the gradients are of
            ``logits[n, classes[n, k]] - logits[n, reference[n]]``.

    Returns:
        (N, K, ...) detached gradients; ``out[n, k]`` is the gradient for sample ``n``.
    """
    eye = torch.eye(logits.shape[1], dtype=logits.dtype, device=logits.device)
    cotangents = eye[classes]
    if reference is not None:
        cotangents = cotangents - eye[reference].unsqueeze(1)
    grads = [
        torch.autograd.grad(logits, x, cotangents[:, k], retain_graph=True)[0]
        for k in range(classes.shape[1])
    ]
    return torch.stack(grads, 1).detach()
