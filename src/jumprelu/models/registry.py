"""The architecture registry as plain data: a dict from name to ``ArchSpec``, and look-ups."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from torch import nn

from jumprelu.errors import ConfigError
from jumprelu.models._common import check_int
from jumprelu.models.mobilenet import MobileNetV2
from jumprelu.models.paper_mobilenet import PaperMobileNetV2
from jumprelu.models.paper_wrn import PaperWideResNet
from jumprelu.models.resnet import CifarResNet
from jumprelu.models.small import AlexLike, DigitsNet, LeNet
from jumprelu.models.wide_resnet import WideResNet

__all__ = ["ARCHS", "ArchSpec", "check_arch_fits", "get_arch"]


@dataclass(frozen=True)
class ArchSpec:
    """One registered architecture.

    Attributes:
        name: registry name.
        builder: ``builder(num_classes=..., in_channels=..., **kwargs) -> nn.Module``.
        input_shape: (C, H, W) the architecture expects.
        datasets: names of the datasets it is meant for.
    """

    name: str
    builder: Callable[..., nn.Module]
    input_shape: tuple[int, int, int]
    datasets: tuple[str, ...]


ARCHS: dict[str, ArchSpec] = {
    spec.name: spec
    for spec in (
        ArchSpec("lenet", LeNet, (1, 28, 28), ("mnist",)),
        ArchSpec("alexlike", AlexLike, (3, 32, 32), ("cifar10",)),
        ArchSpec("resnet20", CifarResNet, (3, 32, 32), ("cifar10",)),
        ArchSpec("wrn", WideResNet, (3, 32, 32), ("cifar10",)),
        ArchSpec("mobilenetv2", MobileNetV2, (3, 32, 32), ("cifar10",)),
        ArchSpec("digitsnet", DigitsNet, (1, 8, 8), ("digits",)),
        # The authors' layouts and parameter names (their released checkpoints load as they are).
        ArchSpec("wrn-paper", PaperWideResNet, (3, 32, 32), ("cifar10",)),
        ArchSpec("mobilenetv2-paper", PaperMobileNetV2, (3, 32, 32), ("cifar10",)),
    )
}


def get_arch(arch: str) -> ArchSpec:
    """Look an architecture up.

    Args:
        arch: registry name.

    Returns:
        Its ``ArchSpec``.

    Raises:
        ConfigError: for an unknown name, listing the known ones.
    """
    spec = ARCHS.get(arch) if isinstance(arch, str) else None
    if spec is None:
        raise ConfigError(f"unknown arch {arch!r}; known: {', '.join(sorted(ARCHS))}")
    return spec


def _fmt(shape: Sequence[int]) -> str:
    return "x".join(str(s) for s in shape)


def check_arch_fits(arch: str, shape: tuple[int, int, int], num_classes: int) -> None:
    """Check that an architecture fits a dataset's image shape and class count.

    Args:
        arch: registry name.
        shape: the dataset's (C, H, W).
        num_classes: the dataset's number of classes.

    Raises:
        ConfigError: unknown arch, a channel or size mismatch (e.g. lenet on 3x32x32), or a
            class count below 2.
    """
    spec = get_arch(arch)
    got = tuple(shape)
    if got != spec.input_shape:
        fitting = [name for name, s in ARCHS.items() if s.input_shape == got] or ["none"]
        raise ConfigError(
            f"arch {arch!r} expects {_fmt(spec.input_shape)} inputs but the data is "
            f"{_fmt(got)}; archs for {_fmt(got)}: {', '.join(fitting)}"
        )
    check_int("num_classes", num_classes, 2)
