"""Plain supervised training with SGD and a step learning-rate schedule.

A minimal trainer used to build the embedded default model; adversarial training and
checkpoint-per-epoch resume build on it.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from .data import Split
from .errors import ConfigError

__all__ = ["TrainConfig", "TrainResult", "train"]

log = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    """Settings of ``train``.

    Attributes:
        epochs: passes over the training split (> 0).
        lr: initial learning rate (> 0).
        momentum: SGD momentum.
        weight_decay: L2 penalty.
        batch_size: examples per step.
        milestones: epochs at which the learning rate is multiplied by ``gamma``.
        gamma: learning-rate decay factor.
        seed: seeds initialisation-independent randomness (data order, dropout).
    """

    epochs: int = 10
    lr: float = 0.02
    momentum: float = 0.9
    weight_decay: float = 5e-4
    batch_size: int = 128
    milestones: tuple[int, ...] = ()
    gamma: float = 0.2
    seed: int = 0

    def validate(self) -> None:
        """Raise ConfigError for out-of-range settings."""
        if self.epochs <= 0:
            raise ConfigError(f"epochs must be > 0, got {self.epochs}")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ConfigError(f"learning rate must be > 0, got {self.lr}")
        if self.batch_size <= 0:
            raise ConfigError(f"batch size must be > 0, got {self.batch_size}")


@dataclass
class TrainResult:
    """What ``train`` measured, one entry per epoch."""

    train_loss: list[float] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)
    seconds: float = 0.0


@torch.no_grad()
def _accuracy(model: nn.Module, split: Split, device: torch.device, batch_size: int) -> float:
    model.eval()
    correct = 0
    for start in range(0, len(split), batch_size):
        x = split.x[start : start + batch_size].to(device)
        y = split.y[start : start + batch_size].to(device)
        correct += int((model(x).argmax(1) == y).sum())
    return correct / max(len(split), 1)


def train(
    model: nn.Module,
    train_split: Split,
    val_split: Split | None = None,
    config: TrainConfig | None = None,
    *,
    device: str | torch.device = "cpu",
) -> TrainResult:
    """Train ``model`` in place with SGD and cross-entropy.

    Args:
        model: the network (taking [0,1] images); moved to ``device``.
        train_split: training data.
        val_split: validation data, evaluated after every epoch when given.
        config: training settings (defaults to ``TrainConfig()``).
        device: where to train.

    Returns:
        Per-epoch mean training loss and validation accuracy.
    """
    config = config or TrainConfig()
    config.validate()
    dev = torch.device(device)
    model.to(dev)
    opt = torch.optim.SGD(
        model.parameters(),
        lr=config.lr,
        momentum=config.momentum,
        weight_decay=config.weight_decay,
    )
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, list(config.milestones), config.gamma)
    gen = torch.Generator().manual_seed(config.seed)
    result, start = TrainResult(), time.perf_counter()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)  # dropout and other global randomness, restored after
        for epoch in range(config.epochs):
            _epoch(model, train_split, opt, gen, config.batch_size, dev, result)
            sched.step()
            if val_split is not None:
                result.val_accuracy.append(_accuracy(model, val_split, dev, 1000))
            log.info("epoch %d loss %.4f", epoch + 1, result.train_loss[-1])
    model.eval()
    result.seconds = time.perf_counter() - start
    return result


def _epoch(
    model: nn.Module,
    split: Split,
    opt: torch.optim.Optimizer,
    gen: torch.Generator,
    batch_size: int,
    dev: torch.device,
    result: TrainResult,
) -> None:
    model.train()
    order = torch.randperm(len(split), generator=gen)
    total, seen = 0.0, 0
    for i in range(0, len(order), batch_size):
        idx = order[i : i + batch_size]
        x, y = split.x[idx].to(dev), split.y[idx].to(dev)
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        opt.step()
        total, seen = total + float(loss.detach()) * len(idx), seen + len(idx)
    result.train_loss.append(total / seen)
