"""Zagoruyko and Komodakis' pre-activation WideResNet-depth-k for 32x32 inputs.

Every activation site is its own ``nn.ReLU`` instance so a retrofit can swap each one.
"""

from __future__ import annotations

import torch
from torch import nn

from jumprelu.errors import ConfigError
from jumprelu.models._common import check_common_args, check_dropout, check_int, init_weights, stage

__all__ = ["WideBasicBlock", "WideResNet", "wrn_layout"]


class WideBasicBlock(nn.Module):
    """Pre-activation wide block: bn-relu-conv-bn-relu-(dropout)-conv, plus shortcut.

    Args:
        in_planes: input channels.
        planes: output channels.
        stride: stride of the first conv.
        dropout: dropout probability between the two convs.
    """

    def __init__(self, in_planes: int, planes: int, stride: int, dropout: float) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.relu1 = nn.ReLU()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu2 = nn.ReLU()
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.shortcut: nn.Conv2d | None = None
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        o = self.relu1(self.bn1(x))
        shortcut = x if self.shortcut is None else self.shortcut(o)
        out = self.conv1(o)
        out = self.conv2(self.dropout(self.relu2(self.bn2(out))))
        result: torch.Tensor = out + shortcut
        return result


def wrn_layout(depth: int, widen_factor: int) -> tuple[int, list[int]]:
    """Blocks per stage and channel widths of a WideResNet-depth-k, validated.

    Args:
        depth: total depth, ``6n + 4`` with n >= 1.
        widen_factor: channel multiplier k >= 1.

    Returns:
        ``(n, [16, 16k, 32k, 64k])``.
    """
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 10 or (depth - 4) % 6:
        raise ConfigError(f"WideResNet depth must be 6n+4 with n >= 1, got {depth!r}")
    check_int("widen_factor", widen_factor, 1)
    return (depth - 4) // 6, [16, 16 * widen_factor, 32 * widen_factor, 64 * widen_factor]


class WideResNet(nn.Module):
    """Zagoruyko and Komodakis' pre-activation WideResNet-depth-k for 32x32 inputs.

    Args:
        depth: total depth, ``6n + 4`` (16, 22, 28, ...).
        widen_factor: channel multiplier k.
        dropout: dropout probability inside each block.
        num_classes: number of logits.
        in_channels: input channels.
    """

    def __init__(
        self,
        depth: int = 16,
        widen_factor: int = 4,
        dropout: float = 0.0,
        num_classes: int = 10,
        in_channels: int = 3,
    ) -> None:
        super().__init__()
        check_common_args(num_classes, in_channels)
        p = check_dropout(dropout)
        n, widths = wrn_layout(depth, widen_factor)
        self.conv1 = nn.Conv2d(in_channels, widths[0], 3, padding=1, bias=False)
        self.layer1 = stage(WideBasicBlock, widths[0], widths[1], n, 1, p)
        self.layer2 = stage(WideBasicBlock, widths[1], widths[2], n, 2, p)
        self.layer3 = stage(WideBasicBlock, widths[2], widths[3], n, 2, p)
        self.bn = nn.BatchNorm2d(widths[3])
        self.relu = nn.ReLU()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(widths[3], num_classes)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layer3(self.layer2(self.layer1(self.conv1(x))))
        x = self.relu(self.bn(x))
        out: torch.Tensor = self.fc(self.flatten(self.avgpool(x)))
        return out
