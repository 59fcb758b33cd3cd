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

from jumprelu._util import NULL_PROGRESS, Progress
from jumprelu.cli.loading import (
    fetch_data,
    load_data,
    load_model,
    take_n,
)
from jumprelu.datasets.core import Split, carve_val, load_data_spec, load_split
from jumprelu.defences import DEFENCES
from jumprelu.errors import ConfigError, DataError
from jumprelu.evaluation.clean import CleanSweep, clean_accuracy_sweep
from jumprelu.evaluation.config import EvalConfig
from jumprelu.evaluation.jump_grid import has_maps, point_label
from jumprelu.evaluation.protocol import budgets
from jumprelu.evaluation.results import write_json
from jumprelu.evaluation.runner import evaluate
from jumprelu.learn import learn_thresholds
from jumprelu.tuning import tune

__all__ = ["load_data", "load_model", "run_accuracy", "run_evaluate", "run_tune"]


def run_accuracy(config: EvalConfig) -> tuple[CleanSweep, dict[str, Any]]:
    """Clean accuracy of the configured model per jump (jump at inference, as in the paper).

    Returns:
        The sweep and the model's provenance (see ``load_model``).
    """
    jumps = _scalar_jumps(config, "accuracy")
    fetch_data(config)
    data = load_data(config)
    model, prov, config = load_model(config, data)
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
    fetch_data(config)
    data = load_data(config)
    model, extra, config = load_model(config, data)
    calibration = _calibration(config, extra)
    return evaluate(
        config, model, data, out_dir, progress=progress, extra=extra, calibration=calibration
    )


def _calibration(config: EvalConfig, extra: dict[str, Any]) -> Any:
    """MeanSparse's calibration images (the training split), recorded in ``extra``; or None."""
    if not DEFENCES[config.retrofit].calibrated:
        return None
    train = load_split(config.dataset, "train", data_dir=config.data_dir, seed=config.seed)
    calibration = train.x[: config.calib_n]
    extra["calibration"] = {"split": "train", "n": len(calibration), "seed": config.seed}
    return calibration


def run_tune(
    config: EvalConfig,
    out_dir: str | Path,
    *,
    max_drop: float = 0.01,
    val_size: int | float | None = None,
    per_layer_quantiles: list[float] | None = None,
    learn_steps: int | None = None,
    progress: Progress = NULL_PROGRESS,
) -> dict[str, Any]:
    """Choose the jump on a validation split, then evaluate jump 0 and the choice on test.

    ``config.jumps`` are the candidates; the test evaluation runs only after the choice. With
    the user's data (``config.data``), validation data is ``config.val_data``, else a seeded
    part of ``config.data`` carved off before the test examples are taken from the rest.
    With ``per_layer_quantiles``, each site's jump is instead tuned as one quantile of its
    positive activations (``tuning.tune``), the chosen mapping evaluated as one grid point and
    written to ``out_dir/jumps.json`` (``{"site": jump}``) once the evaluation is done. With
    ``learn_steps``, per-channel jumps are learned on the training split instead
    (``learn.learn_thresholds``, at the config's L-inf budget) and written there the same way.
    """
    candidates = _scalar_jumps(config, "tune")
    fetch_data(config)
    if config.data is None:
        test = load_data(config)
        val = load_split(
            config.dataset, "val", data_dir=config.data_dir, val_size=val_size, seed=config.seed
        )
    elif config.val_data is not None:
        test = load_data(config)
        val = load_data_spec(config.val_data, name=config.dataset, num_classes=config.num_classes)
        if val.info.shape != test.info.shape:
            raise DataError(
                f"--val-data images are {'x'.join(map(str, val.info.shape))} but --data images "
                f"are {'x'.join(map(str, test.info.shape))}: both must have the same shape"
            )
    else:
        full = load_data_spec(config.data, name=config.dataset, num_classes=config.num_classes)
        val, rest = carve_val(full, 0.2 if val_size is None else val_size, config.seed)
        test = take_n(config, rest)
    model, extra, config = load_model(config, test)
    if learn_steps is not None:
        return _learn(config, model, val, test, extra, out_dir, max_drop, learn_steps, progress)
    calibration = _calibration(config, extra)
    result = tune(
        model,
        val,
        candidates,
        max_drop=max_drop,
        per_layer_quantiles=per_layer_quantiles,
        calibration=calibration,
    )
    grid: list[Any] = [0.0, result.site_jumps] if result.site_jumps else [0.0]
    if result.jump is not None:
        grid = sorted({0.0, result.jump})
    test_config = dataclasses.replace(config, jumps=grid)
    extra["tuning"] = result.to_dict()
    if config.data is not None and config.val_data is None:
        extra["tuning"]["validation"] = f"carved from {config.data} (seed {config.seed})"
    doc = evaluate(
        test_config, model, test, out_dir, progress=progress, extra=extra, calibration=calibration
    )
    if result.site_jumps:
        write_json(Path(out_dir) / "jumps.json", result.site_jumps)
    return doc


def _learn(
    config: EvalConfig,
    model: Any,
    val: Split,
    test: Split,
    extra: dict[str, Any],
    out_dir: str | Path,
    max_drop: float,
    steps: int,
    progress: Progress,
) -> dict[str, Any]:
    """``tune --learn-thresholds``: learn per-channel jumps, evaluate 0 and them on test."""
    train = load_split(config.dataset, "train", data_dir=config.data_dir, seed=config.seed)
    eps = budgets(config, std=1.0)["linf"][0]  # pixels
    result = learn_thresholds(
        model, train, val, eps=eps, max_drop=max_drop, steps=steps, seed=config.seed
    )
    record = {k: v for k, v in result.to_dict().items() if k != "site_jumps"}
    label = point_label(result.site_jumps)
    extra["tuning"] = {
        "jump": None,
        "learned": True,
        "label": label,
        "file": "jumps.json",
        **record,
    }
    grid: list[Any] = [0.0, result.site_jumps]
    doc = evaluate(
        dataclasses.replace(config, jumps=grid),
        model,
        test,
        out_dir,
        progress=progress,
        extra=extra,
    )
    write_json(Path(out_dir) / "jumps.json", result.site_jumps)
    return doc
