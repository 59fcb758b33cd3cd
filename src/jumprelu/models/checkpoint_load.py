"""Load a checkpoint file into a freshly built ``NormalizedModel``, or read its bare weights.

Reading the file formats lives in ``checkpoint_files``; this module finds the file (a path or
``paper:NAME``), settles the architecture and normalisation from the arguments, the file's
metadata or the zoo, and checks that the weights fit before loading them.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from jumprelu._util import resolve_device
from jumprelu.errors import CheckpointError, ConfigError
from jumprelu.models import NormalizedModel, build_model
from jumprelu.models.checkpoint_files import read_state_dict, strip_module
from jumprelu.models.checkpoint_meta import CheckpointMeta
from jumprelu.models.safe_load import error_reason
from jumprelu.models.stats import check_mean_std, tensor_to_stats
from jumprelu.models.weights import check_finite, check_fits
from jumprelu.models.zoo import ZooEntry
from jumprelu.models.zoo_files import PREFIX, resolve_checkpoint

__all__ = ["check_path", "load_checkpoint", "read_weights"]

#: Per-channel ``(mean, std)``.
Stats = tuple[tuple[float, ...], tuple[float, ...]]


def _split_normalized(
    state: dict[str, torch.Tensor], path: Path
) -> tuple[dict[str, torch.Tensor], Stats | None]:
    """Turn a NormalizedModel's state_dict into the bare net's, plus its statistics."""
    norm = {k for k in state if k.startswith("normalize.")}
    rest = [k for k in state if k not in norm]
    if norm - {"normalize.mean", "normalize.std"} or not all(k.startswith("net.") for k in rest):
        return state, None
    net_state = strip_module({k.removeprefix("net."): state[k] for k in rest}, path)
    if norm != {"normalize.mean", "normalize.std"}:
        return net_state, None
    try:
        stats = check_mean_std(
            tensor_to_stats(state["normalize.mean"]), tensor_to_stats(state["normalize.std"])
        )
    except ConfigError as exc:
        raise CheckpointError(f"invalid normalize.mean/std in {path}: {exc}") from exc
    return net_state, stats


def check_path(path: object, name: str = "path") -> None:
    """Raise ConfigError unless ``path`` is a file path: a ``str`` or an ``os.PathLike``."""
    if not isinstance(path, (str, os.PathLike)):
        raise ConfigError(f"{name} must be a file path (str or Path), got {path!r}")


def load_checkpoint(
    path: str | Path,
    *,
    arch: str | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    num_classes: int | None = None,
    device: str | torch.device = "cpu",
    default_stats: tuple[Sequence[float], Sequence[float]] | None = None,
    **arch_kwargs: Any,
) -> tuple[NormalizedModel, CheckpointMeta]:
    """Load a checkpoint into a freshly built ``NormalizedModel``.

    Args:
        path: checkpoint file (any format ``read_state_dict`` reads), or ``paper:NAME`` for a
            file of the zoo (``jumprelu.models.zoo``); a file the zoo knows by its hash gets
            its architecture, normalisation and training record from there.
        arch: architecture; required for foreign files the zoo does not know, must agree with
            the project's metadata.
        mean: normalisation means; override the metadata's.
        std: normalisation standard deviations; override the metadata's.
        num_classes: number of logits (default: metadata, else 10).
        device: where to put the model.
        default_stats: ``(mean, std)`` used only when neither the arguments nor the file
            record a normalisation (e.g. the dataset's statistics for a foreign state_dict).
        **arch_kwargs: architecture options; override the metadata's.

    Returns:
        ``(model, meta)``: the model in eval mode on ``device`` and the metadata it was built
        from (with the normalisation actually used).

    Raises:
        CheckpointError: unreadable file, missing arch or normalisation, metadata conflicts,
            non-finite weights, or weights that do not fit the architecture.
        ConfigError: a path that is not a str or Path, an unknown arch or option, or invalid
            mean/std.

    Example:
        >>> import torch, jumprelu
        >>> model, meta = jumprelu.load_checkpoint(jumprelu.default_model_path())
        >>> meta.arch, meta.dataset, meta.num_classes, model.training
        ('digitsnet', 'digits', 10, False)
        >>> model(torch.zeros(1, 1, 8, 8)).shape
        torch.Size([1, 10])
    """
    check_path(path)
    p, entry = resolve_checkpoint(path)
    dev = resolve_device(device)
    state, meta = read_state_dict(p, device="cpu")
    state, file_stats = _split_normalized(state, p)
    if meta is None and entry is not None:
        meta = _zoo_meta(entry, arch)
    if meta is not None:
        if arch is not None and arch != meta.arch:
            raise CheckpointError(f"{p} holds a {meta.arch!r} checkpoint, not {arch!r}")
        if num_classes is not None and num_classes != meta.num_classes:
            raise CheckpointError(
                f"{p} has num_classes={meta.num_classes}, but num_classes={num_classes} was asked"
            )
        meta = dataclasses.replace(meta, arch_kwargs={**meta.arch_kwargs, **arch_kwargs})
    elif arch is None:
        raise CheckpointError(f"{p} has no jumprelu metadata: its architecture (--arch) is needed")
    else:
        n = 10 if num_classes is None else num_classes
        meta = CheckpointMeta(
            arch, arch_kwargs=dict(arch_kwargs), num_classes=n, source="state_dict"
        )
    if (mean is None) != (std is None):
        raise ConfigError("mean and std must be given together")
    if mean is not None and std is not None:
        stats = check_mean_std(mean, std)
    elif meta.mean is not None and meta.std is not None:
        stats = (meta.mean, meta.std)
    elif file_stats is not None:
        stats = file_stats
    elif default_stats is not None:
        stats = check_mean_std(*default_stats)
    else:
        raise CheckpointError(f"{p} has no normalisation statistics: pass mean and std")
    meta = dataclasses.replace(meta, mean=stats[0], std=stats[1])
    check_finite(state, f"checkpoint {p}")
    model = build_model(
        meta.arch, mean=stats[0], std=stats[1], num_classes=meta.num_classes, **meta.arch_kwargs
    )
    check_fits(model.net, state, meta.arch, f"checkpoint {p}")
    try:
        model.net.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise CheckpointError(f"checkpoint {p} does not load: {error_reason(exc)}") from exc
    return model.to(dev).eval(), meta


def read_weights(
    path: str | Path,
) -> tuple[dict[str, torch.Tensor], Stats | None, Path]:
    """A checkpoint's bare-network weights and the normalisation it records, for any model.

    Args:
        path: a checkpoint file or ``paper:NAME`` (see ``load_checkpoint``).

    Returns:
        ``(state, stats, file)``: the weights (without ``module.``, ``net.`` or
        ``normalize.``), ``(mean, std)`` from the project's metadata, a NormalizedModel's
        buffers or the zoo (None when the file records none), and the file read.

    Raises:
        CheckpointError: as ``read_state_dict``, or non-finite weights.
    """
    p, entry = resolve_checkpoint(path)
    state, meta = read_state_dict(p, device="cpu")
    state, stats = _split_normalized(state, p)
    if meta is not None and meta.mean is not None and meta.std is not None:
        stats = (meta.mean, meta.std)
    elif stats is None and entry is not None:
        stats = (entry.mean, entry.std)
    check_finite(state, f"checkpoint {p}")
    return state, stats, p


def _zoo_meta(entry: ZooEntry, arch: str | None) -> CheckpointMeta:
    """The metadata of a released file (an explicit ``arch`` replaces the zoo's)."""
    kwargs = dict(entry.arch_kwargs) if arch in (None, entry.arch) else {}
    return CheckpointMeta(
        arch if arch is not None else entry.arch,
        dataset=entry.dataset,
        arch_kwargs=kwargs,
        mean=entry.mean,
        std=entry.std,
        training=entry.describe(),
        source=f"{PREFIX}{entry.name}",
    )
