"""Architecture registry: a plain dict from name to ``ArchSpec``, and builders.

``build_net`` gives the bare network (normalised inputs); ``build_model`` wraps it in a
``NormalizedModel`` that takes images in [0, 1].
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from torch import nn

from jumprelu.errors import ConfigError
from jumprelu.models._common import check_int
from jumprelu.models.mobilenet import MobileNetV2
from jumprelu.models.normalize import Normalize, NormalizedModel, check_mean_std
from jumprelu.models.paper_mobilenet import PaperMobileNetV2
from jumprelu.models.paper_wrn import PaperWideResNet
from jumprelu.models.resnet import CifarResNet
from jumprelu.models.small import AlexLike, DigitsNet, LeNet
from jumprelu.models.wide_resnet import WideResNet

__all__ = [
    "ARCHS",
    "AlexLike",
    "ArchSpec",
    "CifarResNet",
    "DigitsNet",
    "LeNet",
    "MobileNetV2",
    "Normalize",
    "NormalizedModel",
    "PaperMobileNetV2",
    "PaperWideResNet",
    "WideResNet",
    "build_model",
    "build_net",
    "check_arch_fits",
    "check_mean_std",
    "get_arch",
]


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


#: What a builder's annotated option accepts (float options take ints too).
_OPTION_TYPES: dict[Any, tuple[str, Callable[[Any], bool]]] = {
    int: ("an int", lambda v: isinstance(v, int) and not isinstance(v, bool)),
    float: ("a number", lambda v: isinstance(v, int | float) and not isinstance(v, bool)),
    bool: ("a boolean", lambda v: isinstance(v, bool)),
    str: ("a string", lambda v: isinstance(v, str)),
}


def _check_kwargs(spec: ArchSpec, kwargs: dict[str, Any]) -> None:
    """Options must be parameters of the builder, of the types it annotates."""
    params = inspect.signature(spec.builder).parameters
    allowed = {n for n in params if n not in ("num_classes", "in_channels")}
    unknown = sorted(set(kwargs) - allowed)
    if unknown:
        options = ", ".join(sorted(allowed)) or "none"
        raise ConfigError(
            f"unknown option(s) for arch {spec.name!r}: {', '.join(unknown)} (accepted: {options})"
        )
    hints = inspect.signature(spec.builder, eval_str=True).parameters
    for name, value in kwargs.items():
        want = _OPTION_TYPES.get(hints[name].annotation)
        if want is not None and not want[1](value):
            raise ConfigError(f"arch {spec.name!r} option {name} must be {want[0]}, got {value!r}")


def build_net(
    arch: str, *, num_classes: int = 10, in_channels: int | None = None, **kwargs: Any
) -> nn.Module:
    """Build a bare network (it expects normalised inputs).

    Args:
        arch: registry name.
        num_classes: number of logits.
        in_channels: input channels; the architecture's default when None.
        **kwargs: architecture options (e.g. ``depth``, ``widen_factor``, ``width_mult``).

    Returns:
        A freshly initialised network in training mode.

    Raises:
        ConfigError: unknown arch, unknown option, or an option out of range.
    """
    spec = get_arch(arch)
    _check_kwargs(spec, kwargs)
    channels = spec.input_shape[0] if in_channels is None else in_channels
    return spec.builder(num_classes=num_classes, in_channels=channels, **kwargs)


def build_model(
    arch: str,
    *,
    mean: Sequence[float],
    std: Sequence[float],
    num_classes: int = 10,
    **kwargs: Any,
) -> NormalizedModel:
    """Build a network behind its ``Normalize`` layer, taking images in [0, 1].

    Args:
        arch: registry name.
        mean: per-channel means, one per input channel.
        std: per-channel standard deviations, one per input channel.
        num_classes: number of logits.
        **kwargs: ``in_channels`` and architecture options, passed to ``build_net``.

    Returns:
        ``NormalizedModel(net, mean, std)``.

    Raises:
        ConfigError: as ``build_net``, or when mean/std are invalid or do not have one value per
            input channel.
    """
    mean_t, std_t = check_mean_std(mean, std)
    spec = get_arch(arch)
    channels = kwargs.get("in_channels")
    if channels is None:
        channels = spec.input_shape[0]
        kwargs["in_channels"] = channels
    if len(mean_t) != channels:
        raise ConfigError(
            f"arch {arch!r} takes {channels} input channel(s) but mean/std have "
            f"{len(mean_t)} values"
        )
    net = build_net(arch, num_classes=num_classes, **kwargs)
    return NormalizedModel(net, mean_t, std_t)


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
