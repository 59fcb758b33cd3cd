"""The results document of an evaluation, assembled from its finished cells."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from jumprelu.attacks import ATTACKS
from jumprelu.datasets.core import Split
from jumprelu.defences import DEFENCES
from jumprelu.errors import ConfigError
from jumprelu.evaluation.cells import PER_SAMPLE, load_cell
from jumprelu.evaluation.checks import grid_flags
from jumprelu.evaluation.clean import predict
from jumprelu.evaluation.config import EvalConfig
from jumprelu.evaluation.jump_grid import apply_point, map_summary, point_label, point_value
from jumprelu.evaluation.metrics import robust_accuracy_curve, summarize
from jumprelu.evaluation.outcome import N_EXAMPLES as N_SHOWN
from jumprelu.evaluation.plan import Cell
from jumprelu.evaluation.results import (
    SCHEMA,
    SCHEMA_VERSION,
    provenance,
    tensor_sha256,
    write_results,
)
from jumprelu.evaluation.summaries import (
    CONVENTIONS,
    budget_accuracy,
    cell_settings,
    example_info,
    indicator_counts,
    suite_stages,
)
from jumprelu.evaluation.threats import attack_space
from jumprelu.models.normalize import mean_std_of

__all__ = ["assemble"]


def assemble(
    config: EvalConfig,
    jm: nn.Module,
    data: Split,
    out: Path,
    cells: list[Cell],
    extra: dict[str, Any],
    write: bool,
) -> dict[str, Any]:
    """Build (and with ``write``, save) the results document from the files under ``out``.

    Args:
        config: the evaluation config.
        jm: the retrofitted model (its jump is changed).
        data: the evaluated examples.
        out: run directory holding every run's file.
        cells: the grid's cells (``plan.plan``), each read from its run's file.
        extra: additional provenance.
        write: write ``results.json``, ``examples.npz`` and ``results.csv``.

    Returns:
        The document (schema in docs/results-schema.md); its example images are in
        ``examples.npz`` (``load_results`` puts them back in).
    """
    clean: list[dict[str, Any]] = []
    docs: list[dict[str, Any]] = []
    ensemble: list[dict[str, Any]] = []
    std = mean_std_of(jm)  # the model's own Normalize layer, as the attacks used
    shown = data.x[:N_SHOWN]
    pictures: dict[str, np.ndarray] = {"clean": shown.numpy()}
    settings = {name: cell_settings(config, name, std) for name in {c.run.attack for c in cells}}
    files: dict[Path, dict[str, Any]] = {}
    for point in config.jumps:
        apply_point(jm, point)
        jump = point_value(point)
        mapped = map_summary(point) if isinstance(point, dict) else {}
        correct = predict(jm, data.x, batch_size=config.batch_size) == data.y
        target, _ = attack_space(jm, shown, config.protocol)
        clean.append(
            {
                "jump": jump,
                **mapped,
                "accuracy": float(correct.float().mean()),
                "n": len(data),
                "examples_pred": predict(jm, shown).tolist(),
            }
        )
        all_ok, names = correct.clone(), []
        seen: dict[str, list[tuple[torch.Tensor, torch.Tensor]]] = {"linf": [], "l2": []}
        for cell in (c for c in cells if c.point is point):
            path = cell.file(out)
            c = files.get(path) or load_cell(path)
            if c is None:
                label = f"{cell.threat}/{cell.unit}/{point_label(point)}"
                raise ConfigError(f"cell {label} is missing from {out}")
            files[path] = c
            t = {k: torch.from_numpy(c[k]) for k in PER_SAMPLE}
            info = json.loads(str(c["info"]))
            if cell.threat == "gray":
                info["checks"] = {}  # the re-runs belong to the white-box cell of the same run
            adv_ok = t["adv_correct"] & correct
            metrics = summarize(
                clean_correct=correct,
                adv_correct=adv_ok,
                l2_rel=t["l2_rel"],
                linf_rel=t["linf_rel"],
                l2=t["l2"],
                linf=t["linf"],
                zero_grad=t["zero_grad"],
                grad_evals=info["grad_evals"],
                seconds=info["seconds"],
            )
            chosen, family = settings[cell.run.attack]
            if cell.run.gradient == "suite":
                chosen = {**chosen, "stages": suite_stages(config, cell)}
            adv_shown = torch.from_numpy(c["examples"][:N_SHOWN])
            pictures[f"cell{len(docs)}"] = adv_shown.numpy()
            entry = {
                "threat": cell.threat,
                "attack": cell.unit,
                "jump": jump,
                **mapped,
                "run": cell.run.key,
                "settings": chosen,
                "family": family,
                "metrics": metrics.to_dict(),
                "indicators": indicator_counts(c, correct, adv_ok),
                **{k: info[k] for k in ("stages", "checks") if info.get(k)},
                "examples_pred": predict(target, adv_shown).tolist(),
            }
            if "own_robust" in c:  # a suite through the defence's own gradient and others
                own = torch.from_numpy(c["own_robust"]) & correct
                entry["own_gradient_accuracy"] = float(own.float().mean())
            if family == "minimal":
                norm = ATTACKS[cell.run.attack].norm
                grid = np.quantile(t[norm].numpy(), np.linspace(0, 1, 11)).tolist()
                entry["curve"] = {
                    "norm": norm,
                    "points": robust_accuracy_curve(t[norm], correct, adv_ok, sorted(set(grid))),
                }
            docs.append(entry)
            all_ok &= adv_ok
            names.append(f"{cell.threat}/{cell.unit}")
            for norm, runs in seen.items():
                runs.append((adv_ok, t[norm]))
        ensemble.append(
            {
                "jump": jump,
                **mapped,
                "adv_accuracy": float(all_ok.float().mean()),
                "n": len(data),
                "over": names,
                "budget": budget_accuracy(config, std, correct, seen),
            }
        )
    defence = DEFENCES[config.retrofit]
    doc = {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "config": {
            **config.identity(),
            "bpda_gradient": config.bpda_gradient,
            "device": config.device,
            "batch_size": config.batch_size,
        },
        "config_digest": config.digest(),
        "defence": {"name": defence.name, "parameter": defence.parameter},
        "provenance": {
            **provenance(config.seed),
            "data_sha256": tensor_sha256(data.x, data.y),
            **extra,
        },
        "conventions": CONVENTIONS
        | {"space": "normalised inputs" if config.protocol == "paper" else "[0,1] pixels"},
        "clean": clean,
        "examples": example_info(jm, data),
        "cells": docs,
        "ensemble": ensemble,
    }
    doc["flags"] = grid_flags(doc, jump0_matches=extra.get("jump0_bitwise", True))
    if write:
        write_results(out, doc, pictures)
    return doc
