"""MeanSparse as a post-training retrofit: per-channel statistics, then the operator at every
ReLU site.

Amini, Teymoorianfard, Ma and Houmansadr, "MeanSparse: Post-Training Robustness Enhancement
Through Mean-Centered Feature Sparsification" (2024, arXiv 2406.05927; code at
github.com/SPIN-UMass/MeanSparse) insert, before each activation of an adversarially trained
model, an operator replacing a feature by its channel's training mean whenever it lies within
alpha standard deviations of it (``jumprelu.activation.MeanSparse``).

Statistics (the authors' choice, as their code computes them): over the calibration images in
batches, each channel's mean of the per-batch means and mean of the per-batch (population)
variances of the site's input, over every dimension but the channel one; std = sqrt(variance).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from jumprelu._util import check_model, model_device
from jumprelu.activation import JumpReLU, MeanSparse
from jumprelu.attacks.norms import check_count
from jumprelu.errors import ConfigError
from jumprelu.retrofit import jump_sites, retrofit

__all__ = ["calibrate", "retrofit_meansparse", "set_alpha"]


@torch.no_grad()
def calibrate(
    model: nn.Module, x: torch.Tensor, *, batch_size: int = 500
) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Per-channel statistics of the input of every JumpReLU site on ``x``.

    Args:
        model: a retrofitted model (its sites at jump 0: the original ReLU network).
        x: calibration images (N, C, H, W) in [0, 1], e.g. the training split.
        batch_size: images per forward pass (the per-batch statistics are averaged).

    Returns:
        ``{site: (mean (C,), std (C,))}``.

    Raises:
        ConfigError: no images, or a site whose channels vary in size between batches.
    """
    check_count("batch size", batch_size)
    if not isinstance(x, torch.Tensor) or len(x) == 0:
        raise ConfigError("calibration needs a non-empty tensor of images")
    sites = jump_sites(model)
    sums: dict[str, list[torch.Tensor]] = {name: [] for name in sites}

    def hook(name: str) -> Callable[[nn.Module, tuple[torch.Tensor, ...]], None]:
        def record(_: nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
            a = inputs[0].detach().double()
            dims = [d for d in range(a.dim()) if d != 1]
            sums[name].append(torch.stack([a.mean(dims), a.var(dims, unbiased=False)]))

        return record

    handles = [site.register_forward_pre_hook(hook(name)) for name, site in sites.items()]
    dev = model_device(model)
    was = model.training
    model.eval()
    try:
        for i in range(0, len(x), batch_size):
            model(x[i : i + batch_size].to(dev))
    finally:
        model.train(was)
        for h in handles:
            h.remove()
    out = {}
    for name, rows in sums.items():
        if len({r.shape for r in rows}) != 1:
            raise ConfigError(f"site {name!r}: its channels change between batches")
        mean, var = torch.stack(rows).mean(0)
        out[name] = (mean.float(), var.sqrt().clamp_min(1e-12).float())
    return out


def retrofit_meansparse(
    model: nn.Module,
    alpha: float,
    calibration: torch.Tensor,
    *,
    gradient: str = "exact",
    batch_size: int = 500,
) -> nn.Module:
    """A copy of ``model`` with a MeanSparse operator before every ReLU site.

    The sites are those ``retrofit`` finds (``nn.ReLU`` modules and functional calls), kept as
    JumpReLU at jump 0 (the ReLU exactly) after their operator; at ``alpha`` 0 the copy
    computes the original logits bit for bit.

    Args:
        model: a trained ReLU model taking [0, 1] images; not modified.
        alpha: the band's half-width in standard deviations (>= 0).
        calibration: the images whose statistics the operators use (the training split).
        gradient: the operators' backward variant ("exact", "relu" or "smooth-W").
        batch_size: images per calibration pass.

    Returns:
        The retrofitted copy.

    Example:
        >>> import torch, jumprelu
        >>> _ = torch.manual_seed(0)
        >>> net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
        >>> ms = jumprelu.retrofit(net, 0.0, kind="meansparse", calibration=torch.rand(64, 4))
        >>> x = torch.rand(5, 4)
        >>> torch.equal(ms(x), net(x)), ms[1]  # alpha 0: the original network, bit for bit
        (True, Sequential(
          (0): MeanSparse(channels=8, alpha=0)
          (1): JumpReLU(jump=0)
        ))
    """
    check_model(model)
    copy = retrofit(model, 0.0)
    stats = calibrate(copy, calibration, batch_size=batch_size)
    for name, site in jump_sites(copy).items():
        mean, std = stats[name]
        op = MeanSparse(mean, std, alpha, gradient=gradient).to(mean.device)
        _replace(copy, name, nn.Sequential(op, site))
    return copy


def set_alpha(model: nn.Module, alpha: float) -> None:
    """Set the band of every MeanSparse operator of ``model`` in place."""
    ops = [m for m in check_model(model).modules() if isinstance(m, MeanSparse)]
    if not ops:
        raise ConfigError("the model has no MeanSparse operator (retrofit kind='meansparse')")
    for op in ops:
        op.set_alpha(alpha)


def _replace(model: nn.Module, name: str, new: nn.Module) -> None:
    """Put ``new`` where the submodule ``name`` is (a JumpReLU site)."""
    parent_name, _, attr = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    if not isinstance(getattr(parent, attr), JumpReLU):
        raise ConfigError(f"site {name!r} is not a JumpReLU module")
    setattr(parent, attr, new)
