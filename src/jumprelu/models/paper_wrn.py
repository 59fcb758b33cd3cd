"""The authors' CIFAR-10 WideResNet layout, with their parameter names.

Erichson et al. released WideResNet-34-4 checkpoints whose layers differ from the project's
``wrn``: biases in every conv, the stride on the second conv of a block, a conv shortcut taken
from the block's input, ``bn1``/``linear`` names. ``PaperWideResNet`` rebuilds that layout from
the published model definition (names and shapes only) so the released state_dicts load as
they are. Every activation site is its own ``nn.ReLU`` instance.
"""

from __future__ import annotations

import torch
from torch import nn

from jumprelu.models._common import check_common_args, check_dropout, stage
from jumprelu.models.wide_resnet import wrn_layout

__all__ = ["PaperWideResNet"]


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
        self.layer1 = stage(_WideBlock, widths[0], widths[1], n, 1, p)
        self.layer2 = stage(_WideBlock, widths[1], widths[2], n, 2, p)
        self.layer3 = stage(_WideBlock, widths[2], widths[3], n, 2, p)
        self.bn1 = nn.BatchNorm2d(widths[3], momentum=0.9)
        self.relu = nn.ReLU()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.linear = nn.Linear(widths[3], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.layer3(self.layer2(self.layer1(self.conv1(x))))
        out = self.relu(self.bn1(out))
        result: torch.Tensor = self.linear(self.flatten(self.avgpool(out)))
        return result
