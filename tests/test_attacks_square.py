"""Square Attack (L-infinity and L2): budget, box, batching, seeding, strength, bad settings."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
import torch
from torch import nn

from jumprelu.attacks.base import Bounds
from jumprelu.attacks.pgd import PGD
from jumprelu.attacks.rng import SampleRandom
from jumprelu.attacks.square import SquareAttack, meta_square, p_fraction
from jumprelu.errors import ConfigError

EPS = {"linf": 0.1, "l2": 0.5}


def cnn(channels: int = 1, n: int = 30) -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """A small random CNN on 8x8 images, labelled by its own predictions (a few flipped)."""
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(channels, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 4)
    ).eval()
    x = torch.rand(n, channels, 8, 8)
    with torch.no_grad():
        y = model(x).argmax(1)
    y[:2] = (y[:2] + 1) % 4  # already misclassified
    return model, x, y


class Quantise(nn.Module):
    """Rounds pixels down to quarters: piecewise constant, so every input gradient is 0."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.floor(x * 4) / 4


@pytest.mark.parametrize("norm", ["linf", "l2"])
@pytest.mark.parametrize("bounds", [Bounds(), Bounds(0.2, 0.8)])
def test_budget_box_and_query_count(norm: str, bounds: Bounds) -> None:
    model, x, y = cnn(channels=3)
    x = bounds.clip(x)
    eps = {"linf": 0.03, "l2": 0.2}[norm]
    attack = SquareAttack(eps=eps, norm=norm, queries=60, restarts=2, bounds=bounds)
    res = attack(model, x, y)
    assert res.attack == attack.name == f"square-{norm}"
    size = res.linf if norm == "linf" else res.l2
    assert float(size.max()) <= attack.eps * (1 + 1e-5)
    assert torch.equal(bounds.clip(res.x_adv), res.x_adv)
    assert int(res.iterations.max()) <= 60 * 2 and int(res.grad_evals.abs().sum()) == 0
    unbroken = ~res.success & res.clean_correct
    assert unbroken.any() and (res.iterations[unbroken] == 120).all()  # whole budget spent
    assert res.trace is not None and res.trace.shape == (len(x), 2 * 60)


def test_l2_perturbation_sits_on_the_sphere_when_the_box_is_loose() -> None:
    model, x, y = cnn()
    res = SquareAttack(eps=0.5, norm="l2", queries=40, bounds=Bounds(-5.0, 5.0))(model, x, y)
    attacked = res.clean_correct
    assert torch.allclose(res.l2[attacked], torch.full_like(res.l2[attacked], 0.5), rtol=1e-4)


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_independent_of_batch_size(norm: str) -> None:
    model, x, y = cnn(n=12)
    attack = SquareAttack(eps=EPS[norm], norm=norm, queries=80, restarts=2, seed=5)
    whole = attack(model, x, y, index=torch.arange(100, 112))
    parts = [
        attack(model, x[i : i + 3], y[i : i + 3], index=torch.arange(100 + i, 103 + i))
        for i in range(0, 12, 3)
    ]
    assert torch.equal(whole.x_adv, torch.cat([p.x_adv for p in parts]))
    assert torch.equal(whole.iterations, torch.cat([p.iterations for p in parts]))
    assert whole.trace is not None
    assert torch.equal(whole.trace.isnan(), torch.cat([p.trace.isnan() for p in parts]))  # type: ignore[union-attr]


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_seeded_reproducible_and_global_rng_untouched(norm: str) -> None:
    model, x, y = cnn()
    state = torch.get_rng_state()
    a = SquareAttack(eps=EPS[norm], norm=norm, queries=50, seed=3)(model, x, y)
    b = SquareAttack(eps=EPS[norm], norm=norm, queries=50, seed=3)(model, x, y)
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(a.x_adv, b.x_adv) and torch.equal(a.iterations, b.iterations)
    c = SquareAttack(eps=EPS[norm], norm=norm, queries=50, seed=4)(model, x, y)
    assert not torch.equal(a.x_adv, c.x_adv)


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_fooled_points_stay_fooled(norm: str) -> None:
    model, x, y = cnn()
    res = SquareAttack(eps=EPS[norm], norm=norm, queries=150)(model, x, y)
    assert res.found is not None and res.trace is not None
    assert torch.equal(res.found, res.success)  # every success found is returned
    assert 0 < int(res.success.sum()) < len(x)
    wrong = ~res.clean_correct
    assert torch.equal(res.x_adv[wrong], x[wrong]) and (res.iterations[wrong] == 0).all()
    attacked = res.clean_correct
    for row, queries in zip(res.trace[attacked], res.iterations[attacked], strict=True):
        seen = row[~row.isnan()]
        assert (seen[1:] >= seen[:-1]).all()  # the best objective never gets worse
        assert int((~row.isnan()).nonzero().max()) == int(queries) - 1  # stops when fooled
        assert (seen[:-1] < 0).all()


def test_restarts_only_attack_unbroken_samples() -> None:
    model, x, y = cnn()
    one = SquareAttack(eps=0.05, queries=40, seed=1)(model, x, y)
    three = SquareAttack(eps=0.05, queries=40, seed=1, restarts=3)(model, x, y)
    assert (three.success | ~one.success).all() and three.success.sum() > one.success.sum()
    assert torch.equal(three.x_adv[one.success], one.x_adv[one.success])
    assert torch.equal(three.iterations[one.success], one.iterations[one.success])


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_beats_pgd_where_gradients_are_zero(norm: str) -> None:
    torch.manual_seed(2)
    model = nn.Sequential(Quantise(), nn.Flatten(), nn.Linear(64, 4)).eval()
    x = torch.rand(40, 1, 8, 8)
    with torch.no_grad():
        y = model(x).argmax(1)
    eps = {"linf": 0.3, "l2": 2.0}[norm]
    pgd = PGD(eps=eps, norm=norm, steps=20, random_start=False)(model, x, y)
    assert pgd.zero_grad.all() and not pgd.success.any()
    square = SquareAttack(eps=eps, norm=norm, queries=200)(model, x, y)
    assert float(square.success.float().mean()) >= 0.75


def test_linf_window_that_changes_nothing_is_redrawn() -> None:
    torch.manual_seed(0)
    x = 0.2 + 0.5 * torch.rand(64, 1, 8, 8)
    attack = SquareAttack(eps=0.1)
    cur = x + 0.1  # every pixel already at the +eps corner
    rng = SampleRandom(0, torch.arange(64))
    cand = attack._linf_candidate(x, cur, Bounds(), rng, 256, 0.05)
    assert not (cand == cur).flatten(1).all(1).any()
    assert ((cand - x).abs() - 0.1).abs().max() < 1e-6  # still at corners


def test_schedule_and_meta_square() -> None:
    assert p_fraction(0.8, 0, 5000) == p_fraction(0.8, 5, 5000) == 0.8
    assert p_fraction(0.8, 6, 5000) == 0.4  # 6 / 5000 of 10,000 = 12 > 10
    assert p_fraction(0.8, 4999, 5000) == 0.8 / 512
    assert p_fraction(0.8, 50, 100) == 0.8 / 128  # rescaled: 5000 of 10,000
    for s in (1, 3, 5, 8):
        eta = meta_square(s)
        assert eta.shape == (s, s) and math.isclose(float(eta.norm()), 1.0, rel_tol=1e-5)
        assert (eta[: s // 2] > 0).all() and (eta[s // 2 :] < 0).all()
    eta = meta_square(5)
    assert float(eta[1, 2]) == float(eta.max())  # nested squares peak at the centre


BAD: dict[str, Callable[[], object]] = {
    "queries 0": lambda: SquareAttack(eps=0.1, queries=0),
    "queries float": lambda: SquareAttack(eps=0.1, queries=2.5),  # type: ignore[arg-type]
    "p_init 0": lambda: SquareAttack(eps=0.1, p_init=0.0),
    "p_init > 1": lambda: SquareAttack(eps=0.1, p_init=1.5),
    "p_init nan": lambda: SquareAttack(eps=0.1, p_init=math.nan),
    "eps 0": lambda: SquareAttack(eps=0.0),
    "eps < 0": lambda: SquareAttack(eps=-0.3, norm="l2"),
    "norm": lambda: SquareAttack(eps=0.1, norm="l1"),
    "restarts": lambda: SquareAttack(eps=0.1, restarts=0),
    "seed": lambda: SquareAttack(eps=0.1, seed=-1),
    "discard < 0": lambda: SquareAttack(eps=0.1, discard=-1.0),
    "discard nan": lambda: SquareAttack(eps=0.1, discard=math.nan),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_settings_raise_config_error(case: str) -> None:
    with pytest.raises(ConfigError):
        BAD[case]()


def test_settings_keyword_only_and_images_required() -> None:
    with pytest.raises(TypeError):
        SquareAttack(0.1)  # type: ignore[call-arg]
    flat = nn.Sequential(nn.Linear(16, 3)).eval()
    x = torch.rand(5, 16)
    with pytest.raises(ConfigError):
        SquareAttack(eps=0.1, queries=5)(flat, x, flat(x).argmax(1))


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_discard_stops_samples_whose_margin_is_flat_per_sample(norm: str) -> None:
    """A3-style discarding: stopped samples are reported, spend fewer queries, and a
    sample's run does not depend on the batch (its decision is its own)."""
    model, x, y = cnn(n=40)
    full = SquareAttack(eps=EPS[norm], norm=norm, queries=400, seed=1)
    cut = SquareAttack(eps=EPS[norm], norm=norm, queries=400, seed=1, discard=2.0)
    a, b = full.run(model, x, y), cut.run(model, x, y)
    assert a.stopped is not None and not bool(a.stopped.any())
    assert b.stopped is not None and bool(b.stopped.any())
    assert bool((b.iterations[b.stopped] < 400).all())
    assert int(b.iterations.sum()) < int(a.iterations.sum())
    assert not bool((b.stopped & b.found).any())
    # points it did not stop ran as without discarding
    same = ~b.stopped
    assert torch.equal(b.x_adv[same], a.x_adv[same])
    halves = [cut.run(model, x[i : i + 13], y[i : i + 13], index=torch.arange(i, min(i + 13, 40)))
              for i in range(0, 40, 13)]  # fmt: skip
    assert torch.equal(torch.cat([h.x_adv for h in halves]), b.x_adv)
    assert torch.equal(torch.cat([h.stopped for h in halves]), b.stopped)  # type: ignore[misc]
