"""The adaptive suite: an AutoAttack-style cascade through every BPDA surrogate.

Croce and Hein, "Reliable evaluation of adversarial robustness with an ensemble of diverse
parameter-free attacks", ICML 2020 (arXiv 2003.01690), run the strongest attacks in turn,
each only on the points the previous ones left robust. Here, for one norm and budget, the
stages are APGD-CE, APGD-T (targeted DLR), FMN (minimal norm; a point counts as broken when
its perturbation fits the budget) and Square (gradient-free), and every gradient stage runs
once per BPDA surrogate of the JumpReLU model (straight-through and smooth surrogates of
several widths; Athalye, Carlini and Wagner, ICML 2018). At jump 0 JumpReLU is the ReLU and
every surrogate has its gradient, so each gradient stage runs once. A point already broken is
never attacked again; the per-sample worst case over all stages is the robust accuracy.

Surrogate selection (``select=True``, the default suites): the first stage (APGD-CE, the
cheapest) runs through every surrogate; the later gradient stages run only through the
surrogates whose first stage broke at least one point (all of them when none did), since a
surrogate whose gradient cannot move APGD-CE is a poor guide for the costlier attacks. The
``exhaustive`` suite runs every gradient stage through every surrogate.

The defence's own gradient (surrogate ``exact``) beside other surrogates: the cascade then runs
in two passes, first every stage through ``exact`` alone (Square included), which gives the
number a plain AutoAttack run reports (``Outcome.own_robust``), then the gradient stages
through the other surrogates on the points left; Square is not run again (its random numbers
are per point, so it would fail on them again).

Square is the check for gradient masking. With its ``discard`` setting (the suite's default,
the registry's ``suite_settings``) it drops points whose margin stops moving; once it breaks a point
every earlier stage left, that is evidence of masking, and the points it dropped run again to
the full budget (a ``:full`` stage), so the suite stays as strong as Square alone there.
The APGD stages' ``discard`` (A3-style stopping of points not closing in) keeps one point in ten
running as a sentinel; once a sentinel the rule would have stopped is fooled, the stage's stopped
points run again to the full budget (``:full``) and the rest of the cell runs without the rule.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from jumprelu.attacks import ATTACKS, make_attack
from jumprelu.attacks.norms import lp_norm, perturbation_norms
from jumprelu.evaluation.clean import predict
from jumprelu.evaluation.indicators import cell_checks
from jumprelu.evaluation.metrics import fits_budget
from jumprelu.evaluation.outcome import Outcome
from jumprelu.evaluation.threats import run_attack
from jumprelu.evaluation.units import SUITE_STAGES, surrogate_prefix

__all__ = ["OWN", "own_pass", "run_suite", "suite_cell", "suite_plan"]

#: The surrogate that is the defence's own gradient (what a plain AutoAttack run follows).
OWN = "exact"


def suite_plan(
    norm: str, surrogates: Sequence[str | None], jump: float
) -> list[tuple[str, str | None]]:
    """The cascade's stages in order: ``(attack, surrogate or None)``.

    Args:
        norm: "linf" or "l2".
        surrogates: BPDA surrogates of the gradient stages (None: the model's own gradient,
            for a model without JumpReLU sites).
        jump: the jump attacked (at 0 one surrogate stands for all).

    Returns:
        The stages; with ``OWN`` beside other surrogates, first the own-gradient pass (its
        length: ``own_pass``), then the other surrogates' gradient stages.
    """
    grads = surrogates[:1] if jump == 0 else surrogates

    def cascade(through: Sequence[str | None]) -> list[tuple[str, str | None]]:
        return [
            (a, s)
            for a in SUITE_STAGES[norm]
            for s in ([None] if ATTACKS[a].gradient_free else through)
        ]

    if OWN not in grads or len(grads) == 1:
        return cascade(grads)
    rest = cascade([s for s in grads if s != OWN])
    return [*cascade([OWN]), *((a, s) for a, s in rest if s is not None)]


def own_pass(norm: str, surrogates: Sequence[str | None], jump: float) -> int | None:
    """How many of ``suite_plan``'s stages are the own-gradient pass (None without one)."""
    if OWN not in surrogates:
        return None
    plan, whole = suite_plan(norm, [OWN], jump), suite_plan(norm, surrogates, jump)
    if jump == 0:  # every surrogate is the ReLU's gradient: the whole cascade is the own one
        return len(whole)
    return len(plan) if whole[: len(plan)] == plan else None


def run_suite(
    norm: str,
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    eps: float,
    jump: float,
    surrogates: Sequence[str | None],
    settings: Callable[[str], dict[str, Any]],
    batch_size: int,
    noise: tuple[float, int, int] = (0.0, 1, 0),
    select: bool = True,
    on_stage: Callable[[str, int], None] | None = None,
    on_batch: Callable[[int], None] | None = None,
) -> Outcome:
    """Run the cascade on ``model`` and return the per-sample worst case.

    Args:
        norm: "linf" or "l2".
        model: the retrofitted model (attack space), its jump set.
        x, y: inputs (CPU, attack space) and labels.
        eps: the budget in attack-space units.
        jump: the model's jump (decides the surrogates, see ``suite_plan``).
        surrogates: BPDA surrogates of the gradient stages.
        settings: attack name -> its settings (``eps`` is set here).
        batch_size: examples per attack call.
        noise: ``(sigma, samples, seed)`` for "+noise" surrogates.
        select: run the stages after the first only through the surrogates whose first
            stage broke a point (see the module docstring); False: through every one.
        on_stage: told each stage's name and how many points it attacks.
        on_batch: progress per batch.

    Returns:
        The ``Outcome``; ``stages`` lists, per stage, the points attacked and broken and
        the time; a broken point's input is the first stage's adversarial example.
    """
    robust = predict(model, x, batch_size=batch_size) == y
    x_adv = x.clone()
    n = len(x)
    zero = torch.zeros(n, dtype=torch.bool)
    zsteps = torch.zeros(n, dtype=torch.long)
    silent, improving, unstable = zero.clone(), zero.clone(), zero.clone()
    stages: list[dict[str, Any]] = []
    totals = [0, 0.0]  # gradient evaluations, seconds

    def stage(
        label: str, name: str, surrogate: str | None, s: dict[str, Any], idx: torch.Tensor
    ) -> Outcome | None:
        """Attack the points ``idx`` (still robust); record the stage; None when none."""
        if on_stage is not None:
            on_stage(label, len(idx))
        if len(idx) == 0:
            stages.append({"stage": label, "attacked": 0, "broken": 0, "seconds": 0.0})
            return None
        out = run_attack(
            make_attack(name, **s),
            model,
            x[idx],
            y[idx],
            batch_size=batch_size,
            bpda=surrogate,
            index=idx,
            noise=noise,
            on_batch=on_batch,
        )
        fits = fits_budget(lp_norm(out.x_adv - x[idx], norm), eps)
        broken = ~out.adv_correct & fits
        hit = idx[broken]
        x_adv[hit], robust[hit] = out.x_adv[broken], False
        zero[idx] |= out.zero_grad
        if out.zero_grad_steps is not None and len(out.zero_grad_steps):
            zsteps[idx] += out.zero_grad_steps.clamp_min(0)
        for mine, theirs in ((silent, out.silent), (improving, out.improving)):
            if theirs is not None:
                mine[idx] |= theirs & ~broken
        if out.unstable is not None:
            unstable[idx] |= out.unstable & broken
        totals[0], totals[1] = totals[0] + out.grad_evals, totals[1] + out.seconds
        stages.append(
            {
                "stage": label,
                "attacked": len(idx),
                "broken": int(broken.sum()),
                "seconds": out.seconds,
            }
        )
        out.adv_correct = ~broken  # counting the budget
        return out

    first = SUITE_STAGES[norm][0]
    useful: list[str] = []  # surrogates whose first stage broke a point
    distrust = False  # a sentinel showed APGD's stopping rule stopping breakable points
    own_robust = None
    plan, own_end = suite_plan(norm, surrogates, jump), own_pass(norm, surrogates, jump)
    for at, (name, surrogate) in enumerate(plan):
        if at == own_end:  # the own-gradient pass is over; selection starts again
            own_robust, useful = robust.clone(), []
        later = surrogate is not None and name != first and not ATTACKS[name].gradient_free
        if select and later and useful and surrogate not in useful:
            continue
        label = name if surrogate is None else f"{surrogate_prefix(surrogate)}{name}"
        s = {**settings(name)}
        if distrust and not ATTACKS[name].gradient_free and s.get("discard"):
            s["discard"] = 0  # the rest of the cell runs without the rule
        if ATTACKS[name].family == "fixed-budget":
            s["eps"] = eps
        idx = robust.nonzero().squeeze(1)
        out = stage(label, name, surrogate, s, idx)
        if out is None:
            continue
        if name == first and surrogate is not None and not bool(out.adv_correct.all()):
            useful.append(surrogate)
        masking = ATTACKS[name].gradient_free and not bool(out.adv_correct.all())
        missed = out.missed is not None and bool(out.missed.any())
        if (masking or missed) and s.get("discard") and out.stopped is not None:
            # Square broke points every earlier stage left (masking), or a sentinel of APGD's
            # stopping rule broke (the rule stops breakable points here): the points it
            # stopped run again to the full budget (same random numbers)
            again = idx[out.stopped & out.adv_correct]
            full = (
                stage(f"{label}:full", name, surrogate, {**s, "discard": 0}, again)
                if len(again)
                else None
            )
            broke = full is not None and not bool(full.adv_correct.all())
            if broke and name == first and surrogate is not None and surrogate not in useful:
                useful.append(surrogate)
        distrust |= missed
    return Outcome(
        adv_correct=robust,
        **perturbation_norms(x, x_adv),
        zero_grad=zero,
        grad_evals=int(totals[0]),
        seconds=float(totals[1]),
        x_adv=x_adv,
        zero_grad_steps=zsteps,
        silent=silent & robust,
        improving=improving & robust,
        unstable=unstable,
        stages=stages,
        own_robust=robust.clone() if own_end == len(plan) else own_robust,
    )


def suite_cell(
    norm: str,
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    eps: float,
    jump: float,
    surrogates: Sequence[str | None],
    settings: Callable[[str], dict[str, Any]],
    batch_size: int,
    check_n: int,
    noise: tuple[float, int, int] = (0.0, 1, 0),
    select: bool = True,
    on_batch: Callable[[int], None] | None = None,
) -> Outcome:
    """One suite cell: the cascade (``run_suite``), then its indicators of attack failure.

    The indicators re-run the first stage on the first ``check_n`` robust points (2 eps, the
    whole box, 4x the steps) through the surrogates the cascade used (none when 0).

    Returns:
        ``run_suite``'s ``Outcome`` with ``checks`` filled in.
    """
    outcome = run_suite(
        norm,
        model,
        x,
        y,
        eps=eps,
        jump=jump,
        surrogates=surrogates,
        settings=settings,
        batch_size=batch_size,
        noise=noise,
        select=select,
        on_batch=on_batch,
    )
    if check_n:
        first = SUITE_STAGES[norm][0]
        full = {k: v for k, v in settings(first).items() if k != "discard"}
        outcome.checks = cell_checks(  # the indicators re-run the stage without discarding
            first,
            {**full, "eps": eps},
            model,
            x,
            y,
            outcome.adv_correct,
            surrogates=list(surrogates[:1] if jump == 0 else surrogates),
            check_n=check_n,
            batch_size=batch_size,
            noise=noise,
        )
    return outcome
