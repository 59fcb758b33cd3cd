"""Indicators of attack failure that need more attacking: re-runs on a sample of points.

Pintor, Demetrio, Sotgiu, Melis, Demontis and Biggio, "Indicators of Attack Failure",
NeurIPS 2022 (arXiv 2106.09947), and Carlini et al., "On Evaluating Adversarial
Robustness" (arXiv 1902.06705), list checks a sound evaluation passes:

- unconstrained attack: with a budget covering the whole input box, a fixed-budget attack must
  fool every point (failures mean the optimisation, not the model, failed);
- accuracy against the budget: robust accuracy at 2 eps and unbounded must not exceed the
  accuracy at eps;
- more steps: re-running with four times the iterations must not break further points.

Each runs on the first ``check_n`` correctly classified points of a cell and returns plain
numbers stored with the cell; ``checks.py`` turns them into flags.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import torch
from torch import nn

from jumprelu.attacks import make_attack
from jumprelu.attacks.base import lp_norm
from jumprelu.evaluation.clean import predict
from jumprelu.evaluation.metrics import fits_budget
from jumprelu.evaluation.outcome import spread
from jumprelu.evaluation.threats import run_attack

__all__ = ["cell_checks"]

#: Iterations multiplier of the more-steps check.
MORE_STEPS = 4


def _big_eps(x: torch.Tensor, norm: str) -> float:
    """A budget covering the whole box of ``x``'s values."""
    span = float(x.max() - x.min()) or 1.0
    return span if norm == "linf" else span * math.sqrt(x[0].numel())


def cell_checks(
    attack: str,
    settings: dict[str, Any],
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    adv_correct: torch.Tensor,
    *,
    surrogates: list[str | None],
    check_n: int,
    batch_size: int,
    noise: tuple[float, int, int] = (0.0, 1, 0),
) -> dict[str, Any]:
    """Re-attack a sample of a fixed-budget cell with a larger budget and more iterations.

    Args:
        attack: a fixed-budget attack's name; ``settings`` holds its ``eps`` and ``norm``.
        settings: the attack's settings as run.
        model: the attacked model (its jump set).
        x, y: the cell's inputs (attack space) and labels.
        adv_correct: (N,) the cell's per-sample result at ``eps``.
        surrogates: BPDA surrogates to re-run through (None: the model's own gradient).
        check_n: points checked (the first correctly classified ones).
        batch_size: examples per attack call.
        noise: ``(sigma, samples, seed)`` for "+noise" surrogates.

    Returns:
        ``{"n", "eps", "accuracy_vs_eps": [[eps, acc], ...], "unbounded_success",
        "more_steps_broken"}`` on the sample (accuracies over the sample's points).
    """
    correct = predict(model, x, batch_size=batch_size) == y
    idx = correct.nonzero().squeeze(1)[:check_n]
    if len(idx) == 0:
        return {"n": 0}
    xs, ys = x[idx], y[idx]
    eps = float(settings["eps"])
    probe = make_attack(attack, **settings)
    norm = str(getattr(probe, "norm", "linf"))
    big = _big_eps(x, norm)
    ok_at: dict[float, torch.Tensor] = {eps: adv_correct[idx].clone()}

    def held(budget: float, surrogate: str | None) -> torch.Tensor:
        """The sample's points a run at ``budget`` through ``surrogate`` did not break."""
        out = run_attack(
            make_attack(attack, **{**settings, "eps": budget}),
            model,
            xs,
            ys,
            batch_size=batch_size,
            bpda=surrogate,
            index=idx,
            noise=noise,
            split=False,
        )
        return out.adv_correct | ~fits_budget(lp_norm(out.x_adv - xs, norm), budget)

    # every (budget, surrogate) run is independent: under torchrun each runs whole on one rank
    budgets = (2 * eps, big)
    runs = [(b, s) for b in budgets for s in surrogates]
    held_by = spread([functools.partial(held, b, s) for b, s in runs])
    for budget in budgets:
        ok = torch.ones(len(idx), dtype=torch.bool)
        for (b, _), kept in zip(runs, held_by, strict=True):
            if b == budget:
                ok &= kept
        ok_at[budget] = ok
    still = ok_at[eps].nonzero().squeeze(1)
    more = 0
    steps = getattr(probe, "steps", None)
    if steps is not None and len(still):
        rerun = {**settings, "steps": MORE_STEPS * int(steps)}

        def broken(surrogate: str | None) -> torch.Tensor:
            """The points still robust that ``MORE_STEPS`` times the steps break."""
            out = run_attack(
                make_attack(attack, **rerun),
                model,
                xs[still],
                ys[still],
                batch_size=batch_size,
                bpda=surrogate,
                index=idx[still],
                noise=noise,
                split=False,
            )
            return ~out.adv_correct

        # each surrogate re-runs every point still robust; a point counts once
        more = int(
            torch.stack(spread([functools.partial(broken, s) for s in surrogates])).any(0).sum()
        )
    return {
        "n": len(idx),
        "attack": attack,
        "eps": eps,
        "accuracy_vs_eps": [[b, float(ok.float().mean())] for b, ok in ok_at.items()],
        "unbounded_success": 1.0 - float(ok_at[big].float().mean()),
        "more_steps_broken": more,
    }
