"""Whole jobs behind the CLI: load the model and data named in a config, evaluate or tune."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from torch import nn

from .checkpoints import load_checkpoint
from .data import DATASETS, Split, load_split
from .demo import default_model_path
from .errors import ConfigError
from .evaluate import EvalConfig, evaluate
from .models import check_arch_fits
from .progress import NULL_PROGRESS, Progress
from .results import file_sha256
from .tuning import tune

__all__ = ["load_data", "load_model", "run_evaluate", "run_tune"]


def load_model(config: EvalConfig) -> tuple[nn.Module, dict[str, Any]]:
    """The model named by ``config`` (the shipped default when no checkpoint is given).

    Returns:
        ``(model, provenance)`` with the checkpoint path, its SHA-256 and metadata.
    """
    info = DATASETS[config.dataset]
    path = config.checkpoint
    if path is None:
        if config.dataset != "digits":
            raise ConfigError(
                f"--checkpoint is needed for {config.dataset} (only digits ships a model)"
            )
        path = default_model_path()
    model, meta = load_checkpoint(
        path, arch=config.arch, device=config.device, default_stats=(info.mean, info.std)
    )
    check_arch_fits(meta.arch, info.shape, info.num_classes)
    config.arch = meta.arch
    return model, {
        "checkpoint": str(path),
        "checkpoint_sha256": file_sha256(path),
        "checkpoint_meta": dataclasses.asdict(meta),
    }


def load_data(config: EvalConfig, split: str | None = None) -> Split:
    """The evaluation examples: ``config.split`` (or ``split``), first ``config.n`` of them."""
    data = load_split(config.dataset, split or config.split, data_dir=config.data_dir)
    if config.n is not None:
        if config.n > len(data):
            raise ConfigError(f"n={config.n} is larger than the {data.split} split ({len(data)})")
        data = data.take(config.n)
    return data


def run_evaluate(
    config: EvalConfig, out_dir: str | Path, progress: Progress = NULL_PROGRESS
) -> dict[str, Any]:
    """Evaluate the configured model over the grid; write ``out_dir/results.json``."""
    config.validate()
    model, extra = load_model(config)
    data = load_data(config)
    return evaluate(config, model, data, out_dir, progress=progress, extra=extra)


def run_tune(
    config: EvalConfig,
    out_dir: str | Path,
    *,
    max_drop: float = 0.01,
    val_size: int | float | None = None,
    progress: Progress = NULL_PROGRESS,
) -> dict[str, Any]:
    """Choose the jump on a validation split, then evaluate jump 0 and the choice on test.

    ``config.jumps`` are the candidates; the test evaluation runs only after the choice.
    """
    config.validate()
    model, extra = load_model(config)
    val = load_split(
        config.dataset, "val", data_dir=config.data_dir, val_size=val_size, seed=config.seed
    )
    result = tune(model, val, config.jumps, max_drop=max_drop)
    assert result.jump is not None
    test_config = dataclasses.replace(config, jumps=sorted({0.0, result.jump}))
    extra["tuning"] = result.to_dict()
    return evaluate(
        test_config, model, load_data(test_config), out_dir, progress=progress, extra=extra
    )
