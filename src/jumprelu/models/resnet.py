"""Residual networks for 32x32 inputs: CIFAR ResNet-20 and pre-activation WideResNet.

Every activation site is its own ``nn.ReLU`` instance so a retrofit can swap each one.
"""

from __future__ import annotations

import torch
from torch import nn

from jumprelu.errors import ConfigError
from jumprelu.models.small import check_common_args, check_dropout

__all__ = ["BasicBlock", "CifarResNet", "WideBasicBlock", "WideResNet"]


def _init_weights(model: nn.Module) -> None:
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.zeros_(m.bias)


class BasicBlock(nn.Module):
    """Post-activation residual block: conv-bn-relu-conv-bn, add shortcut, relu.

    Args:
        in_planes: input channels.
        planes: output channels.
        stride: stride of the first conv; a 1x1 conv shortcut (``downsample``) is used
            whenever the shape changes.
    """

    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample: nn.Sequential | None = None
        if stride != 1 or in_planes != planes:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False),
                nn.BatchNorm2d(planes),
            )
        self.relu2 = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        shortcut = x if self.downsample is None else self.downsample(x)
        result: torch.Tensor = self.relu2(out + shortcut)
        return result


class CifarResNet(nn.Module):
    """He et al.'s CIFAR ResNet (depth 6n+2): 3 stages of 16/32/64 channels, global pooling.

    Args:
        depth: total depth, ``6n + 2`` (20 gives ResNet-20).
        num_classes: number of logits.
        in_channels: input channels.
    """

    def __init__(self, depth: int = 20, num_classes: int = 10, in_channels: int = 3) -> None:
        super().__init__()
        check_common_args(num_classes, in_channels)
        if depth < 8 or (depth - 2) % 6:
            raise ConfigError(f"ResNet depth must be 6n+2 with n >= 1, got {depth}")
        n = (depth - 2) // 6
        self.conv1 = nn.Conv2d(in_channels, 16, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.relu = nn.ReLU()
        self.layer1 = self._stage(16, 16, n, stride=1)
        self.layer2 = self._stage(16, 32, n, stride=2)
        self.layer3 = self._stage(32, 64, n, stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(64, num_classes)
        _init_weights(self)

    @staticmethod
    def _stage(in_planes: int, planes: int, blocks: int, stride: int) -> nn.Sequential:
        layers = [BasicBlock(in_planes, planes, stride)]
        layers += [BasicBlock(planes, planes) for _ in range(blocks - 1)]
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        out: torch.Tensor = self.fc(self.flatten(self.avgpool(x)))
        return out


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
    if isinstance(widen_factor, bool) or not isinstance(widen_factor, int) or widen_factor < 1:
        raise ConfigError(f"widen_factor must be an int >= 1, got {widen_factor!r}")
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
        self.layer1 = self._stage(widths[0], widths[1], n, 1, p)
        self.layer2 = self._stage(widths[1], widths[2], n, 2, p)
        self.layer3 = self._stage(widths[2], widths[3], n, 2, p)
        self.bn = nn.BatchNorm2d(widths[3])
        self.relu = nn.ReLU()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(widths[3], num_classes)
        _init_weights(self)

    @staticmethod
    def _stage(
        in_planes: int, planes: int, blocks: int, stride: int, dropout: float
    ) -> nn.Sequential:
        layers = [WideBasicBlock(in_planes, planes, stride, dropout)]
        layers += [WideBasicBlock(planes, planes, 1, dropout) for _ in range(blocks - 1)]
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layer3(self.layer2(self.layer1(self.conv1(x))))
        x = self.relu(self.bn(x))
        out: torch.Tensor = self.fc(self.flatten(self.avgpool(x)))
        return out
