"""Parts of the results document: a cell's settings and indicator counts, budgets, examples."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from jumprelu.attacks import make_attack
from jumprelu.datasets.core import Split
from jumprelu.evaluation.config import EvalConfig
from jumprelu.evaluation.jump_grid import point_level
from jumprelu.evaluation.metrics import robust_within_budget
from jumprelu.evaluation.outcome import N_EXAMPLES as N_SHOWN
from jumprelu.evaluation.plan import Cell
from jumprelu.evaluation.protocol import attack_settings, budgets, stage_settings
from jumprelu.evaluation.suite import suite_plan
from jumprelu.evaluation.units import EXHAUSTIVE_SUITES, SUITE_STAGES

__all__ = [
    "CONVENTIONS",
    "budget_accuracy",
    "cell_settings",
    "example_info",
    "indicator_counts",
    "suite_stages",
]


#: How the document's numbers are computed.
CONVENTIONS = {
    "adv_accuracy": "fraction of all n points classified correctly on the attack's "
    "output (a point misclassified without attack counts as wrong)",
    "rho_all": "mean over all n points of ||x_adv - x||_p / ||x||_p, unchanged points "
    "count as 0 (the paper's rho)",
    "rho_success": "the same mean over originally correct points the attack fooled "
    "(ART/torchattacks convention)",
    "examples": "the first images and each cell's adversarial versions (attack space, "
    "float16) are in examples.npz beside results.json",
}


def suite_stages(config: EvalConfig, cell: Cell) -> list[str]:
    """The stages a suite cell ran (``ATTACK@SURROGATE``), which depend on its jump."""
    norm = cell.run.attack.removeprefix("suite-")
    plan = suite_plan(norm, config.suite_surrogates(), point_level(cell.point))
    return [f"{a}@{s}" if s else a for a, s in plan]


def cell_settings(config: EvalConfig, name: str, std: float) -> tuple[dict[str, Any], str]:
    """An attack's (or suite's) settings and family; a suite's stages are added per cell."""
    if name.startswith("suite-"):
        norm = name.removeprefix("suite-")
        return {
            "eps": budgets(config, std=std)[norm][1],
            "norm": norm,
            "surrogate_selection": config.suite not in EXHAUSTIVE_SUITES,
            "stage_settings": {a: stage_settings(a, config, std=std) for a in SUITE_STAGES[norm]},
        }, "fixed-budget"
    settings = attack_settings(name, config, std=std)
    return settings, make_attack(name, **settings).family


def indicator_counts(
    c: dict[str, Any], correct: torch.Tensor, adv_ok: torch.Tensor
) -> dict[str, Any]:
    """Per-cell counts of the per-sample indicators of attack failure (absent: None)."""
    fooled = correct & ~adv_ok
    out: dict[str, Any] = {"n_correct": int(correct.sum()), "n_fooled": int(fooled.sum())}
    if "zero_grad_steps" in c:
        steps = torch.from_numpy(c["zero_grad_steps"])
        out["zero_grad_any"] = None if bool((steps < 0).all()) else int((steps > 0).sum())
    for k in ("silent", "improving", "unstable"):
        out[k] = int(torch.from_numpy(c[k]).sum()) if k in c else None
    return out


def example_info(model: nn.Module, data: Split) -> dict[str, Any]:
    """The clean inputs behind every cell's ``examples``, with what maps them to pixels."""
    mean, std = getattr(model, "mean", data.info.mean), getattr(model, "std", data.info.std)
    return {
        "labels": data.y[:N_SHOWN].tolist(),
        "mean": [float(v) for v in mean],
        "std": [float(v) for v in std],
    }


def budget_accuracy(
    config: EvalConfig,
    std: float,
    correct: torch.Tensor,
    seen: dict[str, list[tuple[torch.Tensor, torch.Tensor]]],
) -> dict[str, dict[str, float]]:
    """Robust accuracy within the L-inf and L2 budgets, worst case over every cell run."""
    out = {}
    for norm, (pixels, eps) in budgets(config, std=std).items():
        ok = robust_within_budget(correct, seen[norm], eps)
        out[norm] = {
            "eps": pixels,
            "eps_attack_space": eps,
            "adv_accuracy": float(ok.float().mean()),
        }
    return out
