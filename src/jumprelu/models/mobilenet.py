"""MobileNetV2 adapted to 32x32 inputs (CIFAR).

Differences from the ImageNet MobileNetV2 of Sandler et al.:

* the stem conv has stride 1 and the second stage (24 channels) stride 1, so the feature map is
  4x4 (not 1x1) before global pooling;
* activations are ``nn.ReLU`` instead of ``ReLU6``: JumpReLU retrofits ReLU sites, and a
  clipped ReLU6 would not be replaced. Each site is its own ``nn.ReLU`` instance.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from jumprelu.errors import ConfigError
from jumprelu.models._common import check_common_args, check_dropout, init_weights

__all__ = ["CIFAR_SETTINGS", "InvertedResidual", "MobileNetV2"]

#: (expansion t, output channels c, repeats n, first stride s); strides adapted to 32x32
#: (the authors' CIFAR MobileNetV2 uses the same stages).
CIFAR_SETTINGS: tuple[tuple[int, int, int, int], ...] = (
    (1, 16, 1, 1),
    (6, 24, 2, 1),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)


def _make_divisible(value: float, divisor: int = 8) -> int:
    """Round a channel count to a multiple of ``divisor``, never dropping below 90%."""
    new = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if new < 0.9 * value:
        new += divisor
    return new


def _conv_bn_relu(in_ch: int, out_ch: int, kernel: int, stride: int, groups: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_ch, out_ch, kernel, stride, kernel // 2, groups=groups, bias=False),
        nn.BatchNorm2d(out_ch),
        nn.ReLU(),
    )


class InvertedResidual(nn.Module):
    """Expand (1x1) - depthwise (3x3) - linear project (1x1), residual when shapes match.

    Args:
        in_ch: input channels.
        out_ch: output channels.
        stride: depthwise stride.
        expand_ratio: hidden width as a multiple of ``in_ch``.
    """

    def __init__(self, in_ch: int, out_ch: int, stride: int, expand_ratio: int) -> None:
        super().__init__()
        hidden = in_ch * expand_ratio
        self.use_residual = stride == 1 and in_ch == out_ch
        layers: list[nn.Module] = []
        if expand_ratio != 1:
            layers.append(_conv_bn_relu(in_ch, hidden, 1, 1, 1))
        layers += [
            _conv_bn_relu(hidden, hidden, 3, stride, hidden),
            nn.Conv2d(hidden, out_ch, 1, bias=False),
            nn.BatchNorm2d(out_ch),
        ]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.conv(x)
        return x + out if self.use_residual else out


class MobileNetV2(nn.Module):
    """CIFAR MobileNetV2 (see the module docstring for the changes).

    Args:
        num_classes: number of logits.
        in_channels: input channels.
        width_mult: channel multiplier (> 0).
        dropout: dropout probability before the classifier.
    """

    def __init__(
        self,
        num_classes: int = 10,
        in_channels: int = 3,
        width_mult: float = 1.0,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        check_common_args(num_classes, in_channels)
        p = check_dropout(dropout)
        try:
            width = float(width_mult)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"width_mult must be a number > 0, got {width_mult!r}") from exc
        if not math.isfinite(width) or width <= 0:
            raise ConfigError(f"width_mult must be a finite number > 0, got {width_mult!r}")
        in_ch = _make_divisible(32 * width)
        last_ch = _make_divisible(1280 * max(1.0, width))
        self.stem = _conv_bn_relu(in_channels, in_ch, 3, 1, 1)
        blocks: list[nn.Module] = []
        for t, c, n, s in CIFAR_SETTINGS:
            out_ch = _make_divisible(c * width)
            for i in range(n):
                blocks.append(InvertedResidual(in_ch, out_ch, s if i == 0 else 1, t))
                in_ch = out_ch
        self.features = nn.Sequential(*blocks)
        self.head = _conv_bn_relu(in_ch, last_ch, 1, 1, 1)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.dropout = nn.Dropout(p)
        self.classifier = nn.Linear(last_ch, num_classes)
        init_weights(self, linear_std=0.01)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.head(self.features(self.stem(x)))
        x = self.dropout(self.flatten(self.avgpool(x)))
        out: torch.Tensor = self.classifier(x)
        return out
