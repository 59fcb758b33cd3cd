"""Small convolutional networks: the paper's MNIST LeNet, a CIFAR AlexNet-like net, digitsnet.

Every activation site is its own ``nn.ReLU`` instance so a retrofit can swap each one.
"""

from __future__ import annotations

import torch
from torch import nn

from jumprelu.models._common import check_common_args, check_dropout

__all__ = ["AlexLike", "DigitsNet", "LeNet"]


class LeNet(nn.Module):
    """The LeNet-like MNIST network of Erichson et al. (inputs 1x28x28).

    Parameter names match the authors' released checkpoints (after removing ``module.``).

    Args:
        num_classes: number of logits.
        in_channels: input channels.
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 1) -> None:
        super().__init__()
        check_common_args(num_classes, in_channels)
        self.conv1 = nn.Conv2d(in_channels, 10, 5)
        self.pool1 = nn.MaxPool2d(2)
        self.act1 = nn.ReLU()
        self.conv2 = nn.Conv2d(10, 20, 5)
        self.pool2 = nn.MaxPool2d(2)
        self.act2 = nn.ReLU()
        self.flatten = nn.Flatten()
        self.dropout = nn.Dropout(0.5)
        self.fc1 = nn.Linear(320, 120)
        self.act3 = nn.ReLU()
        self.fc2 = nn.Linear(120, 90)
        self.act4 = nn.ReLU()
        self.fc3 = nn.Linear(90, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act1(self.pool1(self.conv1(x)))
        x = self.act2(self.pool2(self.conv2(x)))
        x = self.dropout(self.flatten(x))
        x = self.act3(self.fc1(x))
        x = self.act4(self.fc2(x))
        out: torch.Tensor = self.fc3(x)
        return out


class AlexLike(nn.Module):
    """AlexNet-like CIFAR-10 network (inputs 3x32x32): four 3x3 convs, three linear layers.

    Args:
        num_classes: number of logits.
        in_channels: input channels.
        dropout: dropout probability before ``fc1`` and ``fc2`` (training only; 0 disables).
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 3, dropout: float = 0.0) -> None:
        super().__init__()
        check_common_args(num_classes, in_channels)
        p = check_dropout(dropout)
        self.conv1 = nn.Conv2d(in_channels, 64, 3)
        self.act1 = nn.ReLU()
        self.conv2 = nn.Conv2d(64, 64, 3)
        self.act2 = nn.ReLU()
        self.pool1 = nn.MaxPool2d(2)
        self.conv3 = nn.Conv2d(64, 128, 3)
        self.act3 = nn.ReLU()
        self.conv4 = nn.Conv2d(128, 128, 3)
        self.act4 = nn.ReLU()
        self.pool2 = nn.MaxPool2d(2)
        self.flatten = nn.Flatten()
        self.drop1 = nn.Dropout(p)
        self.fc1 = nn.Linear(5 * 5 * 128, 256)
        self.act5 = nn.ReLU()
        self.drop2 = nn.Dropout(p)
        self.fc2 = nn.Linear(256, 256)
        self.act6 = nn.ReLU()
        self.fc3 = nn.Linear(256, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act2(self.conv2(self.act1(self.conv1(x))))
        x = self.pool1(x)
        x = self.act4(self.conv4(self.act3(self.conv3(x))))
        x = self.flatten(self.pool2(x))
        x = self.act5(self.fc1(self.drop1(x)))
        x = self.act6(self.fc2(self.drop2(x)))
        out: torch.Tensor = self.fc3(x)
        return out


class DigitsNet(nn.Module):
    """Small CNN for the embedded 8x8 ``digits`` dataset; trains in seconds on a CPU.

    Args:
        num_classes: number of logits.
        in_channels: input channels.
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 1) -> None:
        super().__init__()
        check_common_args(num_classes, in_channels)
        self.conv1 = nn.Conv2d(in_channels, 16, 3, padding=1)
        self.act1 = nn.ReLU()
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.act2 = nn.ReLU()
        self.pool = nn.MaxPool2d(2)
        self.flatten = nn.Flatten()
        self.fc1 = nn.Linear(32 * 4 * 4, 64)
        self.act3 = nn.ReLU()
        self.fc2 = nn.Linear(64, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act2(self.conv2(self.act1(self.conv1(x))))
        x = self.flatten(self.pool(x))
        x = self.act3(self.fc1(x))
        out: torch.Tensor = self.fc2(x)
        return out
