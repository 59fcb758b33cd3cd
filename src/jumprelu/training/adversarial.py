"""Adversarial training batches: FGSM mixing (the JumpReLU paper) and PGD (Madry et al.).

The paper's recipe replaces a fraction ``adv_ratio`` of every training batch by FGSM examples
of size eps (MNIST: ratio 0.3, eps 0.3; CIFAR-10: ratio 0.6, eps 0.031), eps being in the
*normalised* input space the paper's networks took. Here models take [0, 1] pixels behind a
``Normalize`` layer, so a normalised-space eps becomes ``eps * std_c`` pixels in channel c (an
L-infinity ball of per-channel radius), and the result is clipped to the [0, 1] pixel box
(the paper clipped to the batch's global min/max in normalised space). With ``units="pixel"``
eps is taken as pixels in every channel instead (the usual convention for PGD, e.g. 8/255).

PGD training (Madry et al., arXiv 1706.06083) takes ``steps`` signed-gradient steps of
``step_size`` from a uniform random start in the ball, projecting onto the ball and the box
after each; it replaces the whole batch with ``adv_ratio=1`` or a fraction of it otherwise.

The first ``round(adv_ratio * B)`` examples of each (already shuffled) batch are replaced,
keeping their labels. The examples come from ``attacks.FGSM`` and ``attacks.PGD`` (L-infinity,
the per-channel pixel radius given as the call's budget), through ``Attack.run``: crafted with
the model in eval mode (BatchNorm uses and keeps its running statistics, dropout is off, the
mode is restored after), input gradients only (parameters never get ``.grad``), and no forward
pass for measuring. PGD returns its last iterate and draws its random start from the training
loop's generator, so a resumed run draws the same numbers.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from jumprelu.attacks.fgsm import FGSM
from jumprelu.attacks.pgd import PGD
from jumprelu.errors import ConfigError
from jumprelu.models import NormalizedModel

__all__ = [
    "ADV_METHODS",
    "EPS_UNITS",
    "adversarial_mix",
    "fgsm_examples",
    "pgd_examples",
    "pixel_radius",
]

#: Adversarial-training methods ("none" trains on clean batches).
ADV_METHODS: tuple[str, ...] = ("none", "fgsm", "pgd")
#: How an adversarial-training eps is read: normalised-space units (the paper) or pixels.
EPS_UNITS: tuple[str, ...] = ("normalized", "pixel")


def pixel_radius(model: nn.Module, value: float, units: str, device: torch.device) -> torch.Tensor:
    """Turn an eps (or step size) into per-channel pixel units.

    Args:
        model: the model being trained; a ``NormalizedModel`` when ``units="normalized"``.
        value: the size in ``units``.
        units: "normalized" (multiplied by the model's per-channel std) or "pixel".
        device: where to put the result.

    Returns:
        A (1, C, 1, 1) tensor for normalised units, (1, 1, 1, 1) for pixels.

    Raises:
        ConfigError: unknown units, or normalised units with a model that has no ``Normalize``.
    """
    if units not in EPS_UNITS:
        raise ConfigError(f"unknown eps units {units!r}; choose one of {', '.join(EPS_UNITS)}")
    if units == "pixel":
        return torch.full((1, 1, 1, 1), float(value), device=device)
    if not isinstance(model, NormalizedModel):
        raise ConfigError(
            "an eps in normalized units needs a NormalizedModel (to read its std); "
            "use eps units 'pixel' for other models"
        )
    std: Sequence[float] = model.std
    return (torch.tensor(std, dtype=torch.float32) * float(value)).view(1, -1, 1, 1).to(device)


def fgsm_examples(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: torch.Tensor
) -> torch.Tensor:
    """One FGSM step ``clip(x + eps * sign(grad), 0, 1)``, crafted in eval mode.

    Args:
        model: classifier on [0, 1] inputs; its train/eval mode is restored.
        x: clean inputs (N, C, H, W) in [0, 1].
        y: labels (N,).
        eps: per-channel pixel radius, (1, C, 1, 1) or one value (see ``pixel_radius``).

    Returns:
        Detached adversarial inputs in [0, 1].
    """
    return FGSM(norm="linf").run(model, x, y, eps=eps.flatten()).x_adv


def pgd_examples(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: torch.Tensor,
    *,
    steps: int,
    step_size: torch.Tensor,
    random_start: bool,
    gen: torch.Generator,
) -> torch.Tensor:
    """L-infinity PGD with a per-channel radius, crafted in eval mode; the last iterate.

    Args:
        model, x, y, eps: as for ``fgsm_examples``.
        steps: signed-gradient steps (>= 1).
        step_size: per-channel pixel step, shaped like ``eps``.
        random_start: start from a uniform point of the ball (drawn from ``gen``).
        gen: CPU generator for the random start (advanced only when ``random_start``).

    Returns:
        Detached adversarial inputs within the ball around ``x`` and the [0, 1] box.
    """
    attack = PGD(
        norm="linf",
        steps=steps,
        step_size=step_size.flatten(),
        random_start=random_start,
        seed=gen,
        last_iterate=True,
    )
    return attack.run(model, x, y, eps=eps.flatten()).x_adv


def adversarial_mix(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    method: str,
    ratio: float,
    eps: torch.Tensor,
    steps: int = 1,
    step_size: torch.Tensor | None = None,
    random_start: bool = True,
    gen: torch.Generator | None = None,
) -> tuple[torch.Tensor, int]:
    """Replace the first ``round(ratio * N)`` examples of a batch by adversarial ones.

    Args:
        model: the model being trained (in train mode; crafting runs in eval mode).
        x: the batch (N, C, H, W) in [0, 1]; not modified.
        y: its labels (N,), kept for the replaced examples.
        method: "fgsm" or "pgd" ("none" returns the batch unchanged).
        ratio: fraction of the batch to replace, in [0, 1].
        eps: per-channel pixel radius (see ``pixel_radius``).
        steps: PGD steps.
        step_size: PGD per-channel pixel step (default ``2.5 * eps / steps``).
        random_start: PGD random start.
        gen: CPU generator for the PGD random start.

    Returns:
        ``(batch, k)``: the mixed batch (a new tensor when ``k > 0``) and how many were replaced.

    Raises:
        ConfigError: an unknown method or a ratio outside [0, 1].
    """
    if method not in ADV_METHODS:
        raise ConfigError(f"unknown adversarial method {method!r}; known: {', '.join(ADV_METHODS)}")
    if not 0.0 <= ratio <= 1.0:
        raise ConfigError(f"adv_ratio must be in [0, 1], got {ratio}")
    k = round(ratio * len(x))
    if method == "none" or k == 0:
        return x, 0
    xa, ya = x[:k], y[:k]
    if method == "fgsm":
        adv = fgsm_examples(model, xa, ya, eps)
    else:
        adv = pgd_examples(
            model,
            xa,
            ya,
            eps,
            steps=steps,
            step_size=2.5 * eps / steps if step_size is None else step_size,
            random_start=random_start,
            gen=gen if gen is not None else torch.Generator().manual_seed(0),
        )
    return torch.cat([adv, x[k:].detach()]), k
