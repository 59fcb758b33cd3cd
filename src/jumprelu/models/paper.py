"""The authors' CIFAR-10 WideResNet and MobileNetV2 layouts, with their parameter names.

Erichson et al. released WideResNet-34-4 and MobileNetV2 checkpoints whose layers differ from
the project's ``wrn`` and ``mobilenetv2`` (biases in every WideResNet conv, the stride on the
second conv of a block, a conv shortcut taken from the block's input, ``bn1``/``linear`` names;
a MobileNetV2 with ``conv1``..``bn3`` blocks and a conv shortcut whenever the stride is 1).
These classes rebuild those layouts from the published model definitions (names and shapes
only) so the released state_dicts load as they are. ``AlexLike``, ``LeNet`` and ``CifarResNet``
already carry the authors' names. Every activation site is its own ``nn.ReLU`` instance.
"""

from __future__ import annotations

import torch
from torch import nn

from jumprelu.models.resnet import wrn_layout
from jumprelu.models.small import check_common_args, check_dropout

__all__ = ["PaperMobileNetV2", "PaperWideResNet"]


class _WideBlock(nn.Module):
    """bn1-relu-conv1-(dropout)-bn2-relu-conv2(stride), plus the (conv) shortcut of the input."""

    def __init__(self, in_planes: int, planes: int, stride: int, dropout: float) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.relu1 = nn.ReLU()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, padding=1, bias=True)
        self.dropout = nn.Dropout(dropout)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu2 = nn.ReLU()
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=True)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(nn.Conv2d(in_planes, planes, 1, stride=stride))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.dropout(self.conv1(self.relu1(self.bn1(x))))
        out = self.conv2(self.relu2(self.bn2(out)))
        result: torch.Tensor = out + self.shortcut(x)
        return result


class PaperWideResNet(nn.Module):
    """The authors' WideResNet-depth-k (``models/WideResNet.py`` of erichson/JumpReLU).

    Args:
        depth: total depth, ``6n + 4`` (the released files: 34).
        widen_factor: channel multiplier k (the released files: 4).
        dropout: dropout probability inside each block (training only).
        num_classes: number of logits.
        in_channels: input channels.
    """

    def __init__(
        self,
        depth: int = 34,
        widen_factor: int = 4,
        dropout: float = 0.0,
        num_classes: int = 10,
        in_channels: int = 3,
    ) -> None:
        super().__init__()
        check_common_args(num_classes, in_channels)
        p = check_dropout(dropout)
        n, widths = wrn_layout(depth, widen_factor)
        self.conv1 = nn.Conv2d(in_channels, widths[0], 3, padding=1, bias=True)
        self.layer1 = self._stage(widths[0], widths[1], n, 1, p)
        self.layer2 = self._stage(widths[1], widths[2], n, 2, p)
        self.layer3 = self._stage(widths[2], widths[3], n, 2, p)
        self.bn1 = nn.BatchNorm2d(widths[3], momentum=0.9)
        self.relu = nn.ReLU()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.linear = nn.Linear(widths[3], num_classes)

    @staticmethod
    def _stage(
        in_planes: int, planes: int, blocks: int, stride: int, dropout: float
    ) -> nn.Sequential:
        layers = [_WideBlock(in_planes, planes, stride, dropout)]
        layers += [_WideBlock(planes, planes, 1, dropout) for _ in range(blocks - 1)]
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.layer3(self.layer2(self.layer1(self.conv1(x))))
        out = self.relu(self.bn1(out))
        result: torch.Tensor = self.linear(self.flatten(self.avgpool(out)))
        return result


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


#: (expansion, output channels, blocks, first stride), CIFAR strides as in the authors' file.
_MOBILE_CFG: tuple[tuple[int, int, int, int], ...] = (
    (1, 16, 1, 1),
    (6, 24, 2, 1),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)


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
        for expansion, out_planes, count, stride in _MOBILE_CFG:
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
