"""Build a registered architecture: the bare network, or behind its ``Normalize`` layer.

``build_net`` gives the bare network (normalised inputs); ``build_model`` wraps it in a
``NormalizedModel`` that takes images in [0, 1]. Options are checked against the builder's
signature and annotations before it is called.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any

from torch import nn

from jumprelu.errors import ConfigError
from jumprelu.models.normalize import NormalizedModel
from jumprelu.models.registry import ArchSpec, get_arch
from jumprelu.models.stats import check_mean_std

__all__ = ["build_model", "build_net"]


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
