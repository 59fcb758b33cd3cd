"""He et al.'s CIFAR ResNet (ResNet-20 and its 6n+2 family) for 32x32 inputs.

Every activation site is its own ``nn.ReLU`` instance so a retrofit can swap each one.
"""

from __future__ import annotations

import torch
from torch import nn

from jumprelu.errors import ConfigError
from jumprelu.models._common import check_common_args, init_weights, stage

__all__ = ["BasicBlock", "CifarResNet"]


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
        self.layer1 = stage(BasicBlock, 16, 16, n, 1)
        self.layer2 = stage(BasicBlock, 16, 32, n, 2)
        self.layer3 = stage(BasicBlock, 32, 64, n, 2)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(64, num_classes)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        out: torch.Tensor = self.fc(self.flatten(self.avgpool(x)))
        return out
