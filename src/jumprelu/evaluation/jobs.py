"""Whole jobs behind the CLI: load the model and data named in a config, evaluate or tune.

The model is a registered architecture with a checkpoint (a file, a ``paper:NAME`` of the zoo,
or the shipped digits model), or any ``nn.Module`` a ``MODULE:CALLABLE`` returns (``--model``),
with optional weights; either way it sits behind a ``Normalize`` layer whose statistics are
``--mean/--std``, else the checkpoint's own, else the dataset's. The data is a built-in
dataset or the user's (``npz:PATH``, ``folder:DIR``). Everything is checked (one batch through
the model, output (N, classes)) before anything is written.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from torch import nn

from jumprelu._util import NULL_PROGRESS, Progress
from jumprelu.datasets.core import Split, carve_val, load_data_spec, load_split
from jumprelu.errors import ConfigError
from jumprelu.evaluation.clean import CleanSweep, clean_accuracy_sweep
from jumprelu.evaluation.demo import default_model_path
from jumprelu.evaluation.jump_grid import has_maps
from jumprelu.evaluation.results import file_sha256, write_json
from jumprelu.evaluation.runner import EvalConfig, evaluate
from jumprelu.models import NormalizedModel, check_arch_fits
from jumprelu.models.checkpoints import load_checkpoint, read_weights
from jumprelu.models.custom import build_custom, check_output, load_weights
from jumprelu.models.zoo_files import resolve_checkpoint
from jumprelu.retrofit import retrofit_with_report
from jumprelu.tuning import tune

__all__ = ["load_data", "load_model", "run_accuracy", "run_evaluate", "run_tune"]


def _take(config: EvalConfig, data: Split) -> Split:
    if config.n is not None:
        if config.n > len(data):
            raise ConfigError(f"n={config.n} is larger than the {data.split} split ({len(data)})")
        data = data.take(config.n)
    return data


def _fetch(config: EvalConfig) -> None:
    """Make a ``paper:NAME`` checkpoint available (cache, local copy or download) first."""
    if config.checkpoint is not None and config.checkpoint.startswith("paper:"):
        resolve_checkpoint(config.checkpoint)


def load_data(config: EvalConfig, split: str | None = None) -> Split:
    """The evaluation examples: ``config.split`` (or ``split``), first ``config.n`` of them."""
    if config.data is not None:
        data = load_data_spec(config.data, name=config.dataset, num_classes=config.num_classes)
    else:
        data = load_split(config.dataset, split or config.split, data_dir=config.data_dir)
    return _take(config, data)


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


def load_model(config: EvalConfig, data: Split | None = None) -> tuple[nn.Module, dict[str, Any]]:
    """The model named by ``config``, checked on one batch of ``data``.

    Args:
        config: names the model (``arch``/``checkpoint`` or ``model``) and normalisation.
        data: the evaluation data (loaded from ``config`` when None).

    Returns:
        ``(model, provenance)``: the model (a ``NormalizedModel``) and where it came from
        (checkpoint, SHA-256, metadata, the ReLU sites a retrofit replaces).

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
            if config.dataset != "digits" or config.data is not None:
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
        config.arch = meta.arch
        prov = {
            "checkpoint": spec if spec.startswith("paper:") else str(path),
            "checkpoint_file": str(path),
            "checkpoint_sha256": file_sha256(path),
            "checkpoint_meta": dataclasses.asdict(meta),
        }
    check_output(model, data.x[:2], classes)
    _, report = retrofit_with_report(model)
    prov["retrofit"] = {
        "sites": [s.name for s in report.sites],
        "origins": [s.origin for s in report.sites],
        "untraced": list(report.untraced),
    }
    return model, prov


def run_accuracy(config: EvalConfig) -> tuple[CleanSweep, dict[str, Any]]:
    """Clean accuracy of the configured model per jump (jump at inference, as in the paper).

    Returns:
        The sweep and the model's provenance (see ``load_model``).
    """
    config.validate_source()
    jumps = _scalar_jumps(config, "accuracy")
    _fetch(config)
    data = load_data(config)
    model, prov = load_model(config, data)
    meta = {"arch": config.arch or config.model, "checkpoint": config.checkpoint}
    sweep = clean_accuracy_sweep(
        model, data, jumps, meta={k: v for k, v in meta.items() if v is not None}
    )
    return sweep, prov


def _scalar_jumps(config: EvalConfig, command: str) -> list[float]:
    """The grid as numbers; a per-layer mapping is refused (evaluate takes them)."""
    if has_maps(config.jumps):
        raise ConfigError(
            f"{command} takes numbers as --jumps; evaluate a per-layer mapping with "
            "jumprelu evaluate --jumps @FILE (tune per layer: jumprelu tune --per-layer)"
        )
    return [float(j) for j in config.jumps if not isinstance(j, dict)]


def run_evaluate(
    config: EvalConfig, out_dir: str | Path, progress: Progress = NULL_PROGRESS
) -> dict[str, Any]:
    """Evaluate the configured model over the grid; write ``out_dir/results.json``."""
    config.validate()
    _fetch(config)
    data = load_data(config)
    model, extra = load_model(config, data)
    return evaluate(config, model, data, out_dir, progress=progress, extra=extra)


def run_tune(
    config: EvalConfig,
    out_dir: str | Path,
    *,
    max_drop: float = 0.01,
    val_size: int | float | None = None,
    per_layer_quantiles: list[float] | None = None,
    progress: Progress = NULL_PROGRESS,
) -> dict[str, Any]:
    """Choose the jump on a validation split, then evaluate jump 0 and the choice on test.

    ``config.jumps`` are the candidates; the test evaluation runs only after the choice. With
    the user's data (``config.data``), validation data is ``config.val_data``, else a seeded
    part of ``config.data`` carved off before the test examples are taken from the rest.
    With ``per_layer_quantiles``, each site's jump is instead tuned as one quantile of its
    positive activations (``tuning.tune``), the chosen mapping evaluated as one grid point and
    written to ``out_dir/jumps.json`` (``{"site": jump}``) once the evaluation is done.
    """
    config.validate()
    candidates = _scalar_jumps(config, "tune")
    _fetch(config)
    if config.data is None:
        test = load_data(config)
        val = load_split(
            config.dataset, "val", data_dir=config.data_dir, val_size=val_size, seed=config.seed
        )
    elif config.val_data is not None:
        test = load_data(config)
        val = load_data_spec(config.val_data, name=config.dataset, num_classes=config.num_classes)
    else:
        full = load_data_spec(config.data, name=config.dataset, num_classes=config.num_classes)
        val, rest = carve_val(full, 0.2 if val_size is None else val_size, config.seed)
        test = _take(config, rest)
    model, extra = load_model(config, test)
    result = tune(
        model, val, candidates, max_drop=max_drop, per_layer_quantiles=per_layer_quantiles
    )
    grid: list[Any] = [0.0, result.site_jumps] if result.site_jumps else [0.0]
    if result.jump is not None:
        grid = sorted({0.0, result.jump})
    test_config = dataclasses.replace(config, jumps=grid)
    extra["tuning"] = result.to_dict()
    if config.data is not None and config.val_data is None:
        extra["tuning"]["validation"] = f"carved from {config.data} (seed {config.seed})"
    doc = evaluate(test_config, model, test, out_dir, progress=progress, extra=extra)
    if result.site_jumps:
        write_json(Path(out_dir) / "jumps.json", result.site_jumps)
    return doc
