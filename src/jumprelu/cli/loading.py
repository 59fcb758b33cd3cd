"""Loading what a config names: the data (built-in, npz or folder) and the model, normalised."""

from __future__ import annotations

import dataclasses
from typing import Any

from torch import nn

from jumprelu.datasets.core import Split, load_data_spec, load_split
from jumprelu.errors import ConfigError
from jumprelu.evaluation.config import EvalConfig
from jumprelu.evaluation.results import file_sha256
from jumprelu.models import NormalizedModel, check_arch_fits
from jumprelu.models.checkpoints import default_model_path, load_checkpoint, read_weights
from jumprelu.models.custom import build_custom, check_output, load_weights
from jumprelu.models.zoo_files import resolve_checkpoint
from jumprelu.retrofit import retrofit_with_report

__all__ = ["fetch_data", "load_data", "load_model", "take_n"]


def take_n(config: EvalConfig, data: Split) -> Split:
    if config.n is not None:
        if config.n > len(data):
            raise ConfigError(f"n={config.n} is larger than the {data.split} split ({len(data)})")
        data = data.take(config.n)
    return data


def fetch_data(config: EvalConfig) -> None:
    """Make a ``paper:NAME`` checkpoint available (cache, local copy or download) first."""
    if config.checkpoint is not None and config.checkpoint.startswith("paper:"):
        resolve_checkpoint(config.checkpoint)


def load_data(config: EvalConfig, split: str | None = None) -> Split:
    """The evaluation examples: ``config.split`` (or ``split``), first ``config.n`` of them."""
    if config.data is not None:
        data = load_data_spec(config.data, name=config.dataset, num_classes=config.num_classes)
    else:
        data = load_split(config.dataset, split or config.split, data_dir=config.data_dir)
    return take_n(config, data)


def _checked_stats(config: EvalConfig, data: Split) -> tuple[list[float], list[float]] | None:
    channels = data.info.shape[0]
    if config.mean is None or config.std is None:
        return None
    if len(config.mean) != channels:
        raise ConfigError(
            f"--mean/--std have {len(config.mean)} value(s) but the data has {channels} "
            "channel(s): give one per channel"
        )
    return config.mean, config.std


def _custom_model(
    config: EvalConfig, data: Split, stats: tuple[list[float], list[float]] | None
) -> tuple[nn.Module, dict[str, Any]]:
    assert config.model is not None
    net = build_custom(config.model, config.num_classes)
    prov: dict[str, Any] = {"model": config.model}
    saved = None
    if config.checkpoint is not None:
        state, saved, path = read_weights(config.checkpoint)
        load_weights(net, state, f"checkpoint {path}")
        prov.update(checkpoint=str(path), checkpoint_sha256=file_sha256(path))
    mean, std = stats or saved or (data.info.mean, data.info.std)
    model = NormalizedModel(net, mean, std).to(config.device).eval()
    prov["normalization"] = {"mean": list(model.mean), "std": list(model.std)}
    return model, prov


def load_model(
    config: EvalConfig, data: Split | None = None
) -> tuple[nn.Module, dict[str, Any], EvalConfig]:
    """The model named by ``config``, checked on one batch of ``data``.

    Args:
        config: names the model (``arch``/``checkpoint`` or ``model``) and normalisation.
        data: the evaluation data (loaded from ``config`` when None).

    Returns:
        ``(model, provenance, config)``: the model (a ``NormalizedModel``), where it came
        from (checkpoint, SHA-256, metadata, the ReLU sites a retrofit replaces) and the
        config with the checkpoint's architecture recorded.

    Raises:
        ConfigError, CheckpointError, DataError, RetrofitError: bad input, before any output.
    """
    data = load_data(config) if data is None else data
    info = data.info
    stats = _checked_stats(config, data)
    classes = config.num_classes or info.num_classes
    if config.data is None and classes != info.num_classes:
        raise ConfigError(f"{info.name} has {info.num_classes} classes, not {classes}")
    if config.model is not None:
        model, prov = _custom_model(config, data, stats)
    else:
        spec = config.checkpoint
        if spec is None:
            if not info.ships_model or config.data is not None:
                raise ConfigError(
                    f"--checkpoint (or --model) is needed for {config.dataset} (only digits "
                    "ships a model)"
                )
            spec = str(default_model_path())
        path, _ = resolve_checkpoint(spec)
        model, meta = load_checkpoint(
            path,
            arch=config.arch,
            mean=stats[0] if stats else None,
            std=stats[1] if stats else None,
            num_classes=config.num_classes,
            device=config.device,
            default_stats=(info.mean, info.std),
        )
        check_arch_fits(meta.arch, info.shape, classes)
        config = dataclasses.replace(config, arch=meta.arch)
        prov = {
            "checkpoint": spec if spec.startswith("paper:") else str(path),
            "checkpoint_file": str(path),
            "checkpoint_sha256": file_sha256(path),
            "checkpoint_meta": dataclasses.asdict(meta),
        }
    check_output(model, data.x[: config.batch_size], classes)  # the run's batch size
    _, report = retrofit_with_report(model)
    prov["retrofit"] = {
        "sites": [s.name for s in report.sites],
        "origins": [s.origin for s in report.sites],
        "untraced": list(report.untraced),
    }
    return model, prov, config
