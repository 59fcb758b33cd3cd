"""Robustness evaluation over a grid of jumps x attacks x threat models.

The grid's cells are first mapped to the distinct computations behind them (``plan``): jump 0
is one model for every threat, attacked once per (attack, surrogate); gray-box inputs are that
run's, only evaluated at the other jumps. Each run is computed on the whole evaluation split
and saved at once (atomically) under ``OUT/cells/``, so an interrupted run (even ``kill -9``)
resumes without recomputing finished ones. Under ``torch.distributed`` (``torchrun``), every
process walks the same runs and each attack call splits its points across the processes (the
suite's stages included; ``outcome.shard``); every point is computed as in a single process
(its random numbers come from its index), so the results are the same, and the first process
writes them. ``OUT/results.json`` (schema in docs/results-schema.md) and
``OUT/results.csv`` are written at the end.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from jumprelu._util import (
    LOCK_NAME,
    NULL_PROGRESS,
    Progress,
    check_model,
    fast_layout,
    resolve_device,
    run_lock,
)
from jumprelu.attacks import make_attack
from jumprelu.datasets.core import Split
from jumprelu.defences import DEFENCES
from jumprelu.errors import ConfigError
from jumprelu.evaluation.cells import load_cell
from jumprelu.evaluation.clean import check_split, check_tensors
from jumprelu.evaluation.config import EvalConfig
from jumprelu.evaluation.document import assemble
from jumprelu.evaluation.jump_grid import check_sites, site_channels
from jumprelu.evaluation.outcome import rank_world
from jumprelu.evaluation.plan import Cell, plan
from jumprelu.evaluation.protocol import attack_settings, stage_settings
from jumprelu.evaluation.results import write_json
from jumprelu.evaluation.threats import attack_space
from jumprelu.evaluation.work import Work
from jumprelu.models.normalize import mean_std_of
from jumprelu.retrofit import jump_sites, retrofit

__all__ = ["check_data", "evaluate"]


def _prepare_out(out: Path, config: EvalConfig) -> None:
    """Resume a run of ``config`` in ``out``, or start one there (write its ``config.json``).

    Raises:
        ConfigError: ``out`` holds another configuration's run, an unreadable ``config.json``
            (not JSON, or no object), or files of no jumprelu evaluation; nothing is written.
    """
    cfg_path = out / "config.json"
    if cfg_path.is_file():
        try:
            saved = json.loads(cfg_path.read_text())
            found = None if isinstance(saved, dict) else "not a JSON object"
        except OSError as exc:
            found = f"unreadable: {exc.strerror or exc}"
        except (ValueError, RecursionError):  # not UTF-8, not JSON, or nested too deep
            found = "not valid JSON"
        if found is not None:
            raise ConfigError(
                f"{cfg_path} holds no jumprelu run configuration ({found}); choose another --out "
                "or remove it (nothing was overwritten)"
            )
        if saved.get("digest") != config.digest():
            raise ConfigError(
                f"{out} holds results of a different configuration; choose another --out or "
                "remove it (nothing was overwritten)"
            )
        return
    if out.exists() and any(p.name != LOCK_NAME for p in out.iterdir()):
        raise ConfigError(f"{out} is not empty and holds no jumprelu evaluation; refusing to write")
    write_json(cfg_path, {"digest": config.digest(), "config": config.identity()})


def evaluate(
    config: EvalConfig,
    model: nn.Module,
    data: Split,
    out_dir: str | Path,
    *,
    progress: Progress = NULL_PROGRESS,
    extra: dict[str, Any] | None = None,
    calibration: torch.Tensor | None = None,
) -> dict[str, Any]:
    """Run the grid, resuming finished runs, and write the results.

    Args:
        config: what to run.
        model: the trained ReLU model taking [0, 1] images (not modified).
        data: the evaluation examples (the first ``config.n`` are evaluated).
        out_dir: run directory (created; refused when it holds another config's results).
        progress: told about every run and batch (progress bars; see ``_util.Progress``).
        extra: additional provenance (checkpoint hash, tuning, ...).
        calibration: the images MeanSparse's statistics come from (``config.retrofit``
            "meansparse" only: its dataset's training split).

    Returns:
        The results document (also written to ``out_dir/results.json``).

    Raises:
        ConfigError: an invalid config, data that does not fit the model, or a run directory
            holding another configuration (before anything is written).

    Example:
        >>> import tempfile, jumprelu
        >>> model, _ = jumprelu.load_checkpoint(jumprelu.default_model_path())
        >>> test = jumprelu.load_split("digits", "test")
        >>> cfg = jumprelu.EvalConfig(dataset="digits", jumps=[0.0], attacks=["fgsm"],
        ...                           threats=["white"], n=10, check_n=0)
        >>> with tempfile.TemporaryDirectory() as out:
        ...     doc = jumprelu.evaluate(cfg, model, test, out)
        >>> doc["schema"], doc["config"]["attacks"]
        ('jumprelu.results', ['fgsm'])
    """
    if not isinstance(config, EvalConfig):
        raise ConfigError(f"config must be an EvalConfig, got a {type(config).__name__}")
    check_model(model)
    check_split(data)
    if not isinstance(out_dir, (str, os.PathLike)):
        raise ConfigError(f"out_dir must be a path (str or Path), got {out_dir!r}")
    if not config.attacks and config.suite is None:
        raise ConfigError("no attack given")
    out, (rank, world) = Path(out_dir), rank_world()
    dev = resolve_device(config.device)
    data, classes = check_data(model, data, config.n, dev, batch_size=config.batch_size)
    stages = set(config.running_attacks()) - set(config.attacks) - set(config.adaptive_extra)
    for name in config.running_attacks():  # settings the model's classes cannot honour
        settings = (stage_settings if name in stages else attack_settings)(name, config, std=1.0)
        make_attack(name, **settings).check_classes(classes)
    base = model.to(dev).eval()
    if DEFENCES[config.retrofit].calibrated != (calibration is not None):
        raise ConfigError("calibration images go with a calibrated retrofit, and it needs them")
    jm = retrofit(base, 0.0, kind=config.retrofit, calibration=calibration)  # a copy
    with torch.no_grad():
        probe = data.x[: config.batch_size].to(dev)
        check_sites(config.jumps, jump_sites(jm), site_channels(jm, probe[:1]))
        jump0_ok = bool(torch.equal(jm(probe), base(probe)))
    jm, _ = fast_layout(jm, probe)
    with run_lock(out) if rank == 0 else contextlib.nullcontext(out):
        if rank == 0:
            _prepare_out(out, config)  # nothing is written before everything is validated
        if world > 1:
            torch.distributed.barrier()
        cells = plan(config)
        groups: dict[str, list[Cell]] = {}
        for c in cells:
            groups.setdefault(c.run.attack, []).append(c)
        files = {c.file(out) for c in cells}
        done = {f: load_cell(f, len(data)) is not None for f in files} if rank == 0 else {}
        if world > 1:  # the first process's files decide (nodes need not share a disk)
            shared = [done]
            torch.distributed.broadcast_object_list(shared, src=0)
            done = shared[0]
        progress.plan(len(done), done=sum(done.values()))
        target, xs = attack_space(jm, data.x, config.protocol)
        std = mean_std_of(jm)  # the model's own Normalize layer, never the dataset's
        work = Work(config, jm, target, xs, data.y, std, out, progress, done, write=rank == 0)
        for group in groups.values():
            work.group(group)
        if world > 1:
            torch.distributed.barrier()
        extra = {**(extra or {}), "jump0_bitwise": jump0_ok}
        if world == 1:
            return assemble(config, jm, data, out, cells, extra, write=True)
        doc: list[Any] = (
            [assemble(config, jm, data, out, cells, extra, write=True)] if rank == 0 else [None]
        )
        torch.distributed.broadcast_object_list(doc, src=0)  # other nodes may not see OUT
        result: dict[str, Any] = doc[0]
        return result


def check_data(
    model: nn.Module, data: Split, n: int | None, dev: torch.device, *, batch_size: int = 500
) -> tuple[Split, int]:
    """The first ``n`` examples of ``data``, checked against the model before any work, and
    the model's number of classes.

    Raises:
        ConfigError: no examples, NaN or out-of-range pixels, labels of the wrong shape or
            outside the model's classes, or images the model cannot take.
    """
    if n is not None and n > len(data):
        raise ConfigError(f"n={n} is larger than the {len(data)} examples given")
    if n is not None:
        data = data.take(n)
    return data, check_tensors(model, data.x, data.y, dev, batch_size=batch_size)
