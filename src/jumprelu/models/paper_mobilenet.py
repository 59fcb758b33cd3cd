"""The authors' CIFAR-10 MobileNetV2 layout, with their parameter names.

Erichson et al. released MobileNetV2 checkpoints whose layers differ from the project's
``mobilenetv2``: ``conv1``..``bn3`` blocks and a conv shortcut whenever the stride is 1 and the
channels change. ``PaperMobileNetV2`` rebuilds that layout from the published model definition
(names and shapes only; the stages are the project's CIFAR settings) so the released
state_dicts load as they are. Every activation site is its own ``nn.ReLU`` instance.
"""

from __future__ import annotations

import torch
from torch import nn

from jumprelu.models._common import check_common_args
from jumprelu.models.mobilenet import CIFAR_SETTINGS

__all__ = ["PaperMobileNetV2"]


class _MobileBlock(nn.Module):
    """Expand (conv1) - depthwise (conv2) - project (conv3); shortcut added when stride is 1."""

    def __init__(self, in_planes: int, out_planes: int, expansion: int, stride: int) -> None:
        super().__init__()
        self.stride = stride
        planes = expansion * in_planes
        self.conv1 = nn.Conv2d(in_planes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, groups=planes, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu2 = nn.ReLU()
        self.conv3 = nn.Conv2d(planes, out_planes, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_planes)
        self.shortcut = nn.Sequential()
        if stride == 1 and in_planes != out_planes:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, out_planes, 1, bias=False), nn.BatchNorm2d(out_planes)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu1(self.bn1(self.conv1(x)))
        out = self.relu2(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        result: torch.Tensor = out + self.shortcut(x) if self.stride == 1 else out
        return result


class PaperMobileNetV2(nn.Module):
    """The authors' CIFAR MobileNetV2 (``models/MobileNetV2.py`` of erichson/JumpReLU).

    Args:
        num_classes: number of logits.
        in_channels: input channels.
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 3) -> None:
        super().__init__()
        check_common_args(num_classes, in_channels)
        self.conv1 = nn.Conv2d(in_channels, 32, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(32)
        self.relu1 = nn.ReLU()
        blocks: list[nn.Module] = []
        in_planes = 32
        for expansion, out_planes, count, stride in CIFAR_SETTINGS:
            for i in range(count):
                blocks.append(
                    _MobileBlock(in_planes, out_planes, expansion, stride if i == 0 else 1)
                )
                in_planes = out_planes
        self.layers = nn.Sequential(*blocks)
        self.conv2 = nn.Conv2d(320, 1280, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(1280)
        self.relu2 = nn.ReLU()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.linear = nn.Linear(1280, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.layers(self.relu1(self.bn1(self.conv1(x))))
        out = self.relu2(self.bn2(self.conv2(out)))
        result: torch.Tensor = self.linear(self.flatten(self.avgpool(out)))
        return result
