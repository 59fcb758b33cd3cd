"""Supervised training: SGD with momentum, a step schedule, augmentation, adversarial batches.

``train`` trains a model in place on tensors, optionally writing a resume state after every
epoch (``state``) and continuing from one bit-identically: the same seed gives the same
data order, augmentation, dropout masks and PGD starts whether or not the run was interrupted.
``run_training`` (in ``job``) builds the model and data and writes checkpoints around it.
The library never prints; progress goes to an optional callback (``events``) and to ``logging``.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from jumprelu._util import resolve_device
from jumprelu.datasets.core import Split
from jumprelu.errors import ConfigError
from jumprelu.evaluation.clean import predict
from jumprelu.training.adversarial import adversarial_mix, pixel_radius
from jumprelu.training.augment import random_crop_flip
from jumprelu.training.config import TrainConfig, paper_recipe
from jumprelu.training.events import Progress, TrainProgress, TrainResult
from jumprelu.training.resume import open_resume, restore_train_state
from jumprelu.training.state import save_train_state

__all__ = ["TrainConfig", "TrainProgress", "TrainResult", "paper_recipe", "train"]

log = logging.getLogger(__name__)


def split_accuracy(model: nn.Module, split: Split, batch_size: int = 1000) -> float:
    """Top-1 accuracy of ``model`` (evaluated in eval mode) on a split."""
    if len(split) == 0:
        return 0.0
    return int((predict(model, split.x, batch_size=batch_size) == split.y).sum()) / len(split)


def train(
    model: nn.Module,
    train_split: Split,
    val_split: Split | None = None,
    config: TrainConfig | None = None,
    *,
    device: str | torch.device = "cpu",
    progress: Progress | None = None,
    state_file: str | Path | None = None,
    resume: bool = False,
    identity: Mapping[str, Any] | None = None,
    on_epoch: Callable[[int, TrainResult], None] | None = None,
) -> TrainResult:
    """Train ``model`` in place with SGD and cross-entropy; it ends in eval mode.

    Every setting is checked before the first step. Per batch: shuffle (seeded), augment
    (if asked), replace a fraction by adversarial examples (if asked), one SGD step; per epoch:
    the learning-rate schedule, validation, ``on_epoch``, then the resume state.

    Args:
        model: the network, taking [0, 1] images (a ``NormalizedModel`` for eps in normalised
            units); moved to ``device``.
        train_split: training data.
        val_split: validation data, evaluated after every epoch when given.
        config: training settings (defaults to ``TrainConfig()``).
        device: where to train.
        progress: called with a ``TrainProgress`` after every batch and every epoch.
        state_file: where to write the resume state after every epoch (atomically).
        resume: continue from ``state_file`` (which must exist and match the settings).
        identity: extra settings a resume must match (e.g. arch and dataset; plain values).
        on_epoch: called with ``(epoch, result)`` after each epoch, before the resume state is
            written (``run_training`` writes its per-epoch checkpoint here).

    Returns:
        The per-epoch history (restored epochs included) and this call's wall time.

    Raises:
        ConfigError: invalid settings, an empty training split, normalised eps units without a
            ``NormalizedModel``, ``resume`` without a state, a state made with other settings
            (naming them) or already past ``config.epochs``.
        CheckpointError: an unreadable or unfitting resume state, or a failed write.

    Example:
        >>> import torch, jumprelu
        >>> _ = torch.manual_seed(0)
        >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10))
        >>> data = jumprelu.load_split("digits", "train").take(32)
        >>> result = jumprelu.train(net, data, config=jumprelu.TrainConfig(epochs=1, batch_size=16))
        >>> len(result.train_loss), result.val_accuracy, net.training
        (1, [], False)
    """
    config = config or TrainConfig()
    config.validate()
    dev = resolve_device(device)
    if len(train_split) == 0:
        raise ConfigError("the training split is empty")
    key = {**config.resume_key(), **(identity or {})}
    saved = open_resume(state_file, key, config.epochs) if resume else None
    if not resume and state_file is not None and Path(state_file).exists():
        log.warning("starting afresh: %s will be overwritten", state_file)
    eps = step = None
    if config.adv != "none":
        eps = pixel_radius(model, config.adv_eps, config.eps_units, dev)
        if config.pgd_step_size is not None:
            step = pixel_radius(model, config.pgd_step_size, config.eps_units, dev)
    model.to(dev)
    opt = torch.optim.SGD(
        model.parameters(), lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay
    )
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, list(config.milestones), config.gamma)
    gens = {
        "data": torch.Generator().manual_seed(config.seed),
        "aug": torch.Generator().manual_seed(config.seed + 1),
    }
    result, start = TrainResult(), time.perf_counter()
    with torch.random.fork_rng(devices=_cuda_devices(dev)):
        torch.manual_seed(config.seed)  # dropout and other global randomness, restored after
        if saved is not None:
            restore_train_state(
                saved, model=model, optimizer=opt, scheduler=sched, generators=gens, device=dev
            )
            for name, values in result.history().items():
                values.extend(saved.history.get(name, []))
            result.start_epoch = saved.epoch
            log.info("resuming from %s after epoch %d", state_file, saved.epoch)
        xs, ys = train_split.x.to(dev), train_split.y.to(dev)
        for epoch in range(result.start_epoch, config.epochs):
            t0 = time.perf_counter()
            lr = float(opt.param_groups[0]["lr"])
            loss, n_adv = _epoch(model, xs, ys, opt, gens, config, eps, step, epoch, progress, t0)
            sched.step()
            result.train_loss.append(loss)
            if val_split is not None:
                result.val_accuracy.append(split_accuracy(model, val_split))
            result.epoch_seconds.append(time.perf_counter() - t0)
            if on_epoch is not None:
                on_epoch(epoch + 1, result)
            if state_file is not None:
                save_train_state(
                    state_file,
                    epoch=epoch + 1,
                    key=key,
                    model=model,
                    optimizer=opt,
                    scheduler=sched,
                    generators=gens,
                    history=result.history(),
                    device=dev,
                )
            val = result.val_accuracy[-1] if val_split is not None else None
            log.info("epoch %d/%d loss %.4f val %s", epoch + 1, config.epochs, loss, val)
            if progress is not None:
                nb = -(-len(xs) // config.batch_size)
                event = TrainProgress("epoch", epoch + 1, config.epochs, nb, nb, loss, lr)
                progress(_with(event, n_adv, val, result.epoch_seconds[-1]))
    model.eval()
    result.seconds = time.perf_counter() - start
    return result


def _cuda_devices(dev: torch.device) -> list[int]:
    if dev.type != "cuda":
        return []
    return [dev.index if dev.index is not None else torch.cuda.current_device()]


def _with(event: TrainProgress, adv: int, val: float | None, seconds: float) -> TrainProgress:
    return dataclasses.replace(event, adv_examples=adv, val_accuracy=val, seconds=seconds)


def _epoch(
    model: nn.Module,
    xs: torch.Tensor,
    ys: torch.Tensor,
    opt: torch.optim.Optimizer,
    gens: dict[str, torch.Generator],
    config: TrainConfig,
    eps: torch.Tensor | None,
    step: torch.Tensor | None,
    epoch: int,
    progress: Progress | None,
    t0: float,
) -> tuple[float, int]:
    """One pass over the data; returns the mean loss and the adversarial examples used."""
    model.train()
    order = torch.randperm(len(ys), generator=gens["data"])
    total, seen, n_adv = 0.0, 0, 0
    batches, lr = -(-len(order) // config.batch_size), float(opt.param_groups[0]["lr"])
    for b, i in enumerate(range(0, len(order), config.batch_size)):
        idx = order[i : i + config.batch_size].to(xs.device)
        x, y = xs[idx], ys[idx]
        if config.augment:
            x = random_crop_flip(x, gens["aug"])
        k = 0
        if eps is not None:
            x, k = adversarial_mix(
                model,
                x,
                y,
                method=config.adv,
                ratio=config.adv_ratio,
                eps=eps,
                steps=config.pgd_steps,
                step_size=step,
                random_start=config.pgd_random_start,
                gen=gens["aug"],
            )
            n_adv += k
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        opt.step()
        value = float(loss.detach())
        total, seen = total + value * len(idx), seen + len(idx)
        if progress is not None:
            event = TrainProgress("batch", epoch + 1, config.epochs, b + 1, batches, value, lr)
            progress(_with(event, k, None, time.perf_counter() - t0))
    return total / seen, n_adv
