"""Learned thresholds: per-channel JumpReLU jumps trained with the weights frozen.

The jumps of every site are trained, one per channel, as in JumpReLU sparse autoencoders
(Rajamanoharan et al. 2024, arXiv 2407.14435): the forward pass is JumpReLU exactly, the
input's derivative its own 1[z > theta], and the threshold's a straight-through pseudo-
derivative, d/dtheta J(z) := -(theta / eps) K((z - theta) / eps) with K the rectangle
kernel 1[|u| < 1/2] and eps a bandwidth (here ``bandwidth`` times the site's mean positive
activation). The network's weights never change.

Objective (stated, not prescribed by the papers): the mean of the clean cross-entropy and the
cross-entropy on PGD examples crafted at the current thresholds through the smooth BPDA
surrogate (``surrogate``, default ``smooth-0.1``). Every ``eval_every`` steps the clean
accuracy on validation data is measured; training stops at the first check that costs more
than ``max_drop`` of the plain network's validation accuracy, and the last thresholds within
the budget are returned (zero, the plain network, when none were).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from jumprelu._util import check_model, model_device, real
from jumprelu.attacks.norms import check_count
from jumprelu.attacks.pgd import PGD
from jumprelu.datasets.core import Split
from jumprelu.errors import ConfigError
from jumprelu.evaluation.clean import accuracy, check_split, check_tensors
from jumprelu.evaluation.jump_grid import channels_of, site_inputs
from jumprelu.retrofit import bpda, jump_sites, retrofit, set_jump

__all__ = ["LearnResult", "learn_thresholds"]

log = logging.getLogger(__name__)


@dataclass
class LearnResult:
    """The learned thresholds and the evidence.

    Attributes:
        site_jumps: ``{site: [jump per channel]}`` (``--jumps @FILE`` evaluates it).
        baseline_accuracy: validation accuracy of the plain network (all jumps 0).
        accuracy: validation accuracy at ``site_jumps``.
        max_drop: the clean-accuracy budget (fraction).
        rows: per check ``{"step", "accuracy", "drop", "loss", "mean_jump", "admissible"}``.
        n: validation examples; n_train: training examples.
        settings: the training settings (objective, eps, steps, ...).
    """

    site_jumps: dict[str, list[float]]
    baseline_accuracy: float
    accuracy: float
    max_drop: float
    rows: list[dict[str, Any]]
    n: int
    n_train: int
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict."""
        return asdict(self)


class _LearnedJump(torch.autograd.Function):
    """Forward: z 1[z > theta]. Backward: 1[z > theta] for z; the JumpReLU-SAE
    pseudo-derivative -(theta / eps) K((z - theta) / eps) for theta (summed over all but
    the channel dimension)."""

    @staticmethod
    def forward(ctx: Any, z: torch.Tensor, theta: torch.Tensor, eps: float) -> torch.Tensor:
        ctx.save_for_backward(z, theta)
        ctx.eps = eps
        return torch.where(z > theta, z, torch.zeros((), dtype=z.dtype))

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, None]:
        z, theta = ctx.saved_tensors
        above = z > theta
        kernel = ((z - theta).abs() < ctx.eps / 2).to(grad.dtype)
        g_theta = grad * kernel * (-theta / ctx.eps)
        dims = [d for d in range(g_theta.dim()) if d != 1]
        g_theta = g_theta.sum(dim=dims, keepdim=True)
        return torch.where(above, grad, torch.zeros((), dtype=grad.dtype)), g_theta, None


def _channels_and_scale(z: torch.Tensor) -> tuple[int, float]:
    """A site input's channels and mean positive value (the unit of its thresholds)."""
    positive = z[z > 0]
    return channels_of(z), float(positive.mean()) if positive.numel() else 1.0


def learn_thresholds(
    model: nn.Module,
    train: Split,
    val: Split,
    *,
    eps: float,
    norm: str = "linf",
    max_drop: float = 0.01,
    steps: int = 200,
    batch_size: int = 64,
    lr: float = 0.02,
    init: float = 0.1,
    bandwidth: float = 0.5,
    pgd_steps: int = 10,
    surrogate: str = "smooth-0.1",
    eval_every: int = 20,
    seed: int = 0,
) -> LearnResult:
    """Train per-channel JumpReLU thresholds of ``model`` (weights frozen).

    Args:
        model: the trained ReLU model taking [0, 1] images (not modified).
        train: images the thresholds are trained on (the training split).
        val: validation split deciding when to stop (never test data).
        eps: the PGD budget of the adversarial term (pixels).
        norm: "linf" or "l2" (the PGD of the adversarial term).
        max_drop: allowed clean-accuracy drop on ``val`` (fraction, in [0, 1)).
        steps: optimisation steps (Adam on thresholds in units of each site's mean
            positive activation).
        batch_size: training examples per step.
        lr: Adam's learning rate.
        init: starting thresholds, in units of each site's mean positive activation (> 0:
            the pseudo-derivative vanishes at 0).
        bandwidth: the kernel's width eps, in the same units.
        pgd_steps: steps of the PGD crafting the adversarial term's examples.
        surrogate: the BPDA gradient that PGD attacks through.
        eval_every: steps between validation checks.
        seed: seeds the batch order and PGD's random start.

    Returns:
        A ``LearnResult``; ``site_jumps`` is what ``--jumps @FILE`` evaluates.

    Raises:
        ConfigError: bad settings or data the model cannot take.

    Example:
        >>> import jumprelu
        >>> model, _ = jumprelu.load_checkpoint(jumprelu.default_model_path())
        >>> train = jumprelu.load_split("digits", "train")
        >>> val = jumprelu.load_split("digits", "val")
        >>> r = jumprelu.learn_thresholds(model, train, val, eps=0.1, steps=5, eval_every=5)
        >>> {site: len(jumps) for site, jumps in r.site_jumps.items()}  # one per channel
        {'net.act1': 16, 'net.act2': 32, 'net.act3': 64}
        >>> r.baseline_accuracy - r.accuracy <= r.max_drop
        True
    """
    check_model(model)
    check_split(train, "train")
    check_split(val, "val")
    if len(train) == 0 or len(val) == 0:
        raise ConfigError("learning thresholds needs training and validation examples")
    if norm not in ("linf", "l2"):
        raise ConfigError(f"norm must be 'linf' or 'l2', got {norm!r}")
    eps = real("eps", eps, low=0.0, high=1e6, open_low=True)
    max_drop = real("max drop", max_drop, low=0.0, high=1.0)
    if max_drop >= 1:
        raise ConfigError(f"max drop must lie in [0, 1), got {max_drop}")
    lr = real("lr", lr, low=0.0, high=1e6, open_low=True)
    init = real("init", init, low=0.0, high=1e6, open_low=True)
    bandwidth = real("bandwidth", bandwidth, low=0.0, high=1e6, open_low=True)
    for name, value in (("steps", steps), ("batch size", batch_size), ("pgd steps", pgd_steps)):
        check_count(name, value)
    check_count("eval every", eval_every)
    dev = model_device(model)
    jm = retrofit(model, 0.0).eval()
    for p in jm.parameters():
        p.requires_grad_(False)
    check_tensors(jm, val.x, val.y, dev)
    check_tensors(jm, train.x[:batch_size], train.y[:batch_size], dev)
    base = accuracy(jm, val)
    probe = train.x[:batch_size].to(dev)
    facts = site_inputs(jm, probe, _channels_and_scale)  # one forward pass
    channels = {n: c for n, (c, _) in facts.items()}
    scales = {n: scale for n, (_, scale) in facts.items()}
    sites = jump_sites(jm)
    phi = {
        name: torch.full((channels[name],), init, device=dev, requires_grad=True)
        for name in sites
        if channels.get(name)
    }
    if not phi:
        raise ConfigError("the model has no JumpReLU site with channels to learn")
    opt = torch.optim.Adam(list(phi.values()), lr=lr)

    def thresholds() -> dict[str, list[float]]:
        return {n: (p.detach().clamp_min(0) * scales[n]).tolist() for n, p in phi.items()}

    def hook(name: str) -> Any:
        def replace(_m: nn.Module, inp: tuple[torch.Tensor, ...], _out: torch.Tensor) -> Any:
            z = inp[0]
            theta = (phi[name].clamp_min(0) * scales[name]).view(1, -1, *([1] * (z.dim() - 2)))
            width = bandwidth * scales[name]
            return _LearnedJump.apply(z, theta.to(z.dtype), width)  # type: ignore[no-untyped-call]

        return replace

    gen = torch.Generator().manual_seed(seed)
    pgd = PGD(norm=norm, steps=pgd_steps, seed=gen, last_iterate=True)
    best, best_acc = {n: [0.0] * channels[n] for n in phi}, base
    rows: list[dict[str, Any]] = []
    order = torch.randperm(len(train), generator=gen)
    for step in range(1, steps + 1):
        at = ((step - 1) * batch_size) % len(train)
        idx = order[at : at + batch_size]
        x, y = train.x[idx].to(dev), train.y[idx].to(dev)
        set_jump(jm, thresholds())
        with bpda(jm, surrogate):
            x_adv = pgd.run(jm, x, y, eps=eps).x_adv
        handles = [sites[n].register_forward_hook(hook(n)) for n in phi]
        try:
            loss = 0.5 * (F.cross_entropy(jm(x), y) + F.cross_entropy(jm(x_adv), y))
            opt.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            opt.step()
        finally:
            for h in handles:
                h.remove()
        if step % eval_every and step != steps:
            continue
        current = thresholds()
        set_jump(jm, current)
        acc = accuracy(jm, val)
        ok = base - acc <= max_drop + 1e-12
        mean_jump = float(torch.cat([p.detach().clamp_min(0) for p in phi.values()]).mean())
        rows.append(
            {
                "step": step,
                "accuracy": acc,
                "drop": base - acc,
                "loss": float(loss.detach()),
                "mean_jump": mean_jump,
                "admissible": ok,
            }
        )
        log.info("learn step %d: val accuracy %.4f, loss %.4f", step, acc, rows[-1]["loss"])
        if not ok:
            break
        best, best_acc = current, acc
    settings = {
        "objective": "mean of clean CE and CE on PGD examples through " + surrogate,
        "eps": eps,
        "norm": norm,
        "steps": steps,
        "batch_size": batch_size,
        "lr": lr,
        "init": init,
        "bandwidth": bandwidth,
        "pgd_steps": pgd_steps,
        "surrogate": surrogate,
        "eval_every": eval_every,
        "seed": seed,
        "scales": scales,
    }
    return LearnResult(best, base, best_acc, max_drop, rows, len(val), len(train), settings)
