"""Indicators of attack failure measured by the runner and the re-runs, on constructed cases."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from jumprelu.activation import JumpReLU
from jumprelu.attacks import make_attack
from jumprelu.attacks.base import Bounds, FixedBudgetAttack, RunOutput
from jumprelu.errors import ConfigError
from jumprelu.evaluation.indicators import cell_checks
from jumprelu.evaluation.threats import run_attack


def _data(n: int = 24) -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 32), JumpReLU(0.0), nn.Linear(32, 4)).eval()
    x = torch.rand(n, 1, 4, 4)
    with torch.no_grad():
        y = model(x).argmax(1)
    return model, x, y


class _Scripted(FixedBudgetAttack):
    """Returns a scripted candidate, trace and ``found`` (a stand-in for a faulty attack)."""

    def __init__(self, *, eps: float, x_adv: torch.Tensor, trace: torch.Tensor, found: bool):
        super().__init__(eps=eps, norm="linf")
        self._x_adv, self._trace, self._found = x_adv, trace, found

    def _run(
        self,
        model: nn.Module,
        x: torch.Tensor,
        y: torch.Tensor,
        bounds: Bounds,
        index: torch.Tensor,
    ) -> RunOutput:
        n = len(x)
        ones = torch.ones(n, dtype=torch.long)
        found = torch.full((n,), self._found)
        return RunOutput(self._x_adv[index], ones, ones, trace=self._trace[index], found=found)


def test_silent_success_and_incomplete_optimisation_are_measured() -> None:
    model, x, y = _data()
    rising = torch.linspace(0, 1, 20).repeat(len(x), 1)  # still rising at the end
    flat = torch.cat([torch.linspace(0, 1, 10), torch.ones(10)]).repeat(len(x), 1)
    faulty = _Scripted(eps=0.1, x_adv=x.clone(), trace=rising, found=True)
    out = run_attack(faulty, model, x, y, batch_size=7)
    assert bool(out.silent.all()) and bool(out.improving.all())
    sound = _Scripted(eps=0.1, x_adv=x.clone(), trace=flat, found=False)
    out = run_attack(sound, model, x, y, batch_size=7)
    assert not bool(out.silent.any()) and not bool(out.improving.any())


def test_unstable_predictions_on_points_sitting_on_the_boundary() -> None:
    # a 2-class linear model; adversarial points placed just past the boundary flip back
    torch.manual_seed(1)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 2)).eval()
    w = (model[1].weight[1] - model[1].weight[0]).detach()
    b = float((model[1].bias[1] - model[1].bias[0]).detach())
    x = 0.5 + 0.01 * torch.randn(12, 1, 4, 4)
    x[0, 0, 0, 0], x[1, 0, 0, 0] = 0.0, 1.0  # the batch spans the box
    y = model(x).argmax(1)
    sign = torch.where(y == 0, 1.0, -1.0)  # move toward the other class
    dist = -(x.flatten(1) @ w + b) / w.norm() ** 2
    edge = x.flatten(1) + (dist + sign * 1e-6 / w.norm())[:, None] * w
    on_edge = edge.view_as(x)
    stable = (x.flatten(1) + (dist + sign * 0.5 / w.norm())[:, None] * w).view_as(x)
    trace = torch.zeros(12, 20)
    for x_adv, expect in ((on_edge, True), (stable, False)):
        eps = float((x_adv - x).abs().max()) * 1.01
        attack = _Scripted(eps=eps, x_adv=x_adv, trace=trace, found=False)
        out = run_attack(attack, model, x, y, batch_size=5)
        fooled = ~out.adv_correct
        assert bool(fooled.any())
        assert bool(out.unstable[fooled].any()) is expect


def test_zero_gradients_are_counted_at_every_iterate() -> None:
    model, x, y = _data()
    model[2].set_jump(100.0)  # every unit below the jump: the exact input gradient is zero
    with torch.no_grad():
        y = model(x).argmax(1)
    for name, settings in (
        ("pgd-linf", {"eps": 0.1, "steps": 5}),
        ("apgd-ce-linf", {"eps": 0.1, "steps": 5}),
        ("cw-l2", {"steps": 5, "binary_search_steps": 1}),
    ):
        out = run_attack(make_attack(name, **settings), model, x, y, batch_size=24)
        assert out.zero_grad_steps is not None and bool((out.zero_grad_steps > 0).all()), name


def test_pgd_margin_loss() -> None:
    model, x, y = _data()
    ce = make_attack("pgd-linf", eps=0.3, steps=20)(model, x, y)
    margin = make_attack("pgd-linf", eps=0.3, steps=20, loss="margin")(model, x, y)
    assert margin.config["loss"] == "margin"
    assert float(margin.success.float().mean()) >= float(ce.success.float().mean()) - 0.1
    assert float((margin.x_adv - x).abs().max()) <= 0.3 + 1e-6
    with pytest.raises(ConfigError):
        make_attack("pgd-linf", eps=0.3, loss="hinge")


def test_unbounded_and_more_steps_checks() -> None:
    model, x, y = _data()
    settings = {"eps": 0.05, "steps": 10}
    first = run_attack(make_attack("pgd-linf", **settings), model, x, y, batch_size=24)
    sound = cell_checks(
        "pgd-linf",
        settings,
        model,
        x,
        y,
        first.adv_correct,
        surrogates=[None],
        check_n=20,
        batch_size=24,
    )
    assert sound["n"] == 20 and sound["unbounded_success"] == 1.0
    accs = [a for _, a in sound["accuracy_vs_eps"]]
    assert accs[-1] == 0.0 and accs[1] <= accs[0]
    # gradients masked everywhere: even the whole box as budget does not help PGD
    model[2].set_jump(100.0)
    with torch.no_grad():
        y_masked = model(x).argmax(1)
    first = run_attack(make_attack("pgd-linf", **settings), model, x, y_masked, batch_size=24)
    masked = cell_checks(
        "pgd-linf",
        settings,
        model,
        x,
        y_masked,
        first.adv_correct,
        surrogates=[None],
        check_n=20,
        batch_size=24,
    )
    assert masked["unbounded_success"] < 1.0


def test_spread_runs_every_job_once_and_keeps_the_order() -> None:
    import functools

    from jumprelu.evaluation.outcome import spread

    calls: list[int] = []

    def job(k: int) -> int:
        calls.append(k)
        return k * k

    assert spread([functools.partial(job, k) for k in range(5)]) == [0, 1, 4, 9, 16]
    assert calls == [0, 1, 2, 3, 4]
