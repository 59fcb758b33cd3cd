"""What the architecture builders share: argument checks, stages of blocks, weight init."""

from __future__ import annotations

from typing import Any

from torch import nn

from jumprelu.errors import ConfigError
from jumprelu.models.checkpoint_meta import MAX_CLASSES

__all__ = ["check_common_args", "check_dropout", "check_int", "init_weights", "stage"]


def check_int(name: str, value: Any, low: int, high: int | None = None) -> None:
    """Raise ConfigError unless ``value`` is an int (not a bool) in ``[low, high]``.

    Args:
        name: the argument, for the message.
        value: its value.
        low: the smallest value allowed.
        high: the largest value allowed (no bound when None).
    """
    if isinstance(value, bool) or not isinstance(value, int):
        ok = False
    else:
        ok = low <= value and (high is None or value <= high)
    if not ok:
        bound = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise ConfigError(f"{name} must be an int {bound}, got {value!r}")


def check_common_args(num_classes: int, in_channels: int) -> None:
    """Validate the arguments every builder takes.

    Args:
        num_classes: number of output logits, in [2, ``MAX_CLASSES``].
        in_channels: number of input channels (>= 1).

    Raises:
        ConfigError: when either is not an int in range.
    """
    check_int("num_classes", num_classes, 2, MAX_CLASSES)
    check_int("in_channels", in_channels, 1)


def check_dropout(dropout: float) -> float:
    """Validate a dropout probability.

    Args:
        dropout: the probability.

    Returns:
        The probability as a float.

    Raises:
        ConfigError: unless ``0 <= dropout < 1``.
    """
    try:
        value = float(dropout)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"dropout must be a number in [0, 1), got {dropout!r}") from exc
    if not 0.0 <= value < 1.0:
        raise ConfigError(f"dropout must be in [0, 1), got {dropout!r}")
    return value


def stage(
    block: type[nn.Module], in_planes: int, planes: int, blocks: int, stride: int, *extra: Any
) -> nn.Sequential:
    """``blocks`` residual blocks: the first maps ``in_planes`` to ``planes`` with ``stride``.

    Args:
        block: the block class, called as ``block(in_planes, planes, stride, *extra)``.
        in_planes: input channels of the stage.
        planes: channels of every block's output.
        blocks: number of blocks (>= 1).
        stride: stride of the first block (the others have stride 1).
        *extra: further arguments of every block (e.g. the dropout probability).

    Returns:
        The blocks in an ``nn.Sequential`` (their parameter names are ``0.``, ``1.``, ...).
    """
    layers = [block(in_planes, planes, stride, *extra)]
    layers += [block(planes, planes, 1, *extra) for _ in range(blocks - 1)]
    return nn.Sequential(*layers)


def init_weights(model: nn.Module, *, linear_std: float | None = None) -> None:
    """He-normal convs (fan out), unit BatchNorm scales, zero biases of BatchNorm and Linear.

    Args:
        model: the freshly built network, initialised in place.
        linear_std: when given, Linear weights are drawn from N(0, linear_std**2) as well.
    """
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            if linear_std is not None:
                nn.init.normal_(m.weight, 0.0, linear_std)
            nn.init.zeros_(m.bias)
