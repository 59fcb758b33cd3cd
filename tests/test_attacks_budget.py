"""The budget at call time, per-channel radii, ``Attack.run`` and the registry's records."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from test_attacks_common import QUICK as COMMON
from torch import nn

from jumprelu.attacks import ATTACKS, FGSM, PGD, AttackResult, DeepFool, make_attack
from jumprelu.attacks.norms import Bounds, clip_to_ball, project
from jumprelu.errors import ConfigError

#: Quick settings of every attack, without the budget.
QUICK = {n: {k: v for k, v in s.items() if k != "eps"} for n, s in COMMON.items()}
EPS = {"linf": 0.08, "l2": 0.4}
STD = torch.tensor([0.2, 0.4, 0.3])
FIELDS = ["x_adv", "success", "l2", "linf", "iterations", "grad_evals", "zero_grad", "found"]


def rgb() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """A small ReLU CNN on 3x4x4 images in [0, 1], labelled by itself (a few mislabelled)."""
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(96, 5)
    ).eval()
    x = torch.rand(20, 3, 4, 4, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        y = model(x).argmax(1)
    y[:2] = (y[:2] + 1) % 5
    return model, x, y


def same(a: AttackResult, b: AttackResult) -> bool:
    return all(torch.equal(getattr(a, f), getattr(b, f)) for f in FIELDS)


def test_every_fixed_budget_attack_takes_its_budget_at_call() -> None:
    model, x, y = rgb()
    for name, settings in QUICK.items():
        spec = ATTACKS[name]
        if spec.family != "fixed-budget":
            continue
        eps = EPS[spec.norm]
        built = make_attack(name, eps=eps, **settings)(model, x, y)
        called = make_attack(name, **settings)(model, x, y, eps=eps)
        overridden = make_attack(name, eps=3 * eps, **settings)(model, x, y, eps=eps)
        assert same(built, called) and same(built, overridden), name
        assert called.config["eps"] == overridden.config["eps"] == eps
        assert float(getattr(called, spec.norm).max()) <= eps * (1 + 1e-5)


def test_one_minimal_run_gives_robust_accuracy_at_any_eps() -> None:
    model, x, y = rgb()
    for name, settings in QUICK.items():
        spec = ATTACKS[name]
        if spec.family != "minimal":
            continue
        free = make_attack(name, **settings)(model, x, y)
        size = getattr(free, spec.norm)
        eps = float(size[free.success & (size > 0)].median())
        capped = make_attack(name, **settings)(model, x, y, eps=eps)
        assert same(capped, make_attack(name, max_norm=eps, **settings)(model, x, y)), name
        assert capped.config["max_norm"] == eps
        assert torch.equal(capped.success, free.success & (size <= eps)), name


def test_a_missing_budget_is_refused_before_any_work() -> None:
    model, x, y = rgb()
    calls: list[int] = []
    model.register_forward_hook(lambda *a: calls.append(1))
    for name in ("fgsm", "pgd-l2", "apgd-ce-linf", "square-linf"):
        with pytest.raises(ConfigError, match="needs eps"):
            make_attack(name)(model, x, y)
        with pytest.raises(ConfigError, match="needs eps"):
            make_attack(name).run(model, x, y)
    with pytest.raises(ConfigError, match="no budget"):
        make_attack("ifgsm")(model, x, y, eps=0.1)
    assert not calls


@pytest.mark.parametrize(
    ("name", "eps", "match"),
    [
        ("pgd-linf", -0.1, "eps"),
        ("pgd-linf", float("inf"), "eps"),
        ("pgd-linf", torch.tensor([0.1, 0.2]), "2 values for 3 channels"),
        ("pgd-linf", torch.tensor([0.1, 0.0, 0.2]), "per channel"),
        ("pgd-linf", torch.full((3, 1), 0.1), "per channel"),
        ("fgsm", torch.tensor([0.1, float("nan"), 0.2]), "per channel"),
        ("pgd-l2", STD, "L-inf"),
        ("apgd-ce-linf", STD, "supports"),
        ("square-linf", STD, "supports"),
        ("deepfool-l2", STD, "L-inf"),
    ],
)
def test_bad_budgets_at_call(name: str, eps: float | torch.Tensor, match: str) -> None:
    model, x, y = rgb()
    with pytest.raises(ConfigError, match=match):
        make_attack(name, **QUICK[name])(model, x, y, eps=eps)


def test_fgsm_per_channel_radii_in_pixels() -> None:
    model, x, y = rgb()
    eps = 0.3 * STD
    res = FGSM()(model, x, y, eps=eps)
    delta = (res.x_adv - x).abs()
    torch.testing.assert_close(delta.amax(dim=(0, 2, 3)), eps)  # a full step where it can
    assert float(res.x_adv.min()) >= 0 and float(res.x_adv.max()) <= 1
    assert res.config["eps"] == pytest.approx(eps.tolist())
    # equal radii: the scalar budget, up to rounding of the projection
    flat = FGSM()(model, x, y, eps=torch.full((3,), 0.1)).x_adv
    torch.testing.assert_close(flat, FGSM(eps=0.1)(model, x, y).x_adv, atol=1e-6, rtol=0)


@pytest.mark.parametrize("seed", [0, "generator"])
def test_pgd_per_channel_ball_box_and_loss(seed: int | str) -> None:
    model, x, y = rgb()
    eps = 0.25 * STD
    gen = torch.Generator().manual_seed(3)
    attack = PGD(steps=6, seed=gen if seed == "generator" else 0, last_iterate=True)
    out = attack.run(model, x, y, eps=eps)
    delta = (out.x_adv - x).abs()
    assert bool((delta <= eps.view(1, 3, 1, 1) + 1e-7).all())
    assert float(out.x_adv.min()) >= 0 and float(out.x_adv.max()) <= 1
    with torch.no_grad():
        assert F.cross_entropy(model(out.x_adv), y) > F.cross_entropy(model(x), y)
    step = 0.25 * eps
    res = PGD(steps=6, step_size=step, random_start=False)(model, x, y, eps=eps)
    assert res.config["step_size"] == pytest.approx(step.tolist())


def test_pgd_draws_its_random_start_from_a_generator() -> None:
    model, x, y = rgb()
    gen, ref = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    a = PGD(eps=0.1, steps=3, seed=gen, last_iterate=True).run(model, x, y).x_adv
    torch.rand(x.shape, generator=ref)  # exactly one uniform per input value
    assert torch.equal(gen.get_state(), ref.get_state())
    b = PGD(eps=0.1, steps=3, seed=torch.Generator().manual_seed(5), last_iterate=True)
    assert torch.equal(a, b.run(model, x, y).x_adv)
    with pytest.raises(ConfigError, match="last_iterate"):
        PGD(eps=0.1, restarts=2, last_iterate=True)


def test_run_crafts_without_measuring() -> None:
    model, x, y = rgb()
    calls: list[int] = []
    model.register_forward_hook(lambda *a: calls.append(1))
    model.train()
    out = PGD(eps=0.1, steps=4, last_iterate=True).run(model, x, y)
    assert len(calls) == 4 and model.training  # one per step; eval mode only inside
    assert all(p.grad is None for p in model.parameters())
    res = PGD(eps=0.1, steps=4, last_iterate=True)(model, x, y)
    assert len(calls) == 4 + 6 and torch.equal(res.x_adv, out.x_adv)  # + clean and adversarial


def test_minimal_per_channel_cap_counts_every_channel() -> None:
    model, x, y = rgb()
    free = DeepFool(norm="linf", steps=10)(model, x, y)
    cap = torch.tensor([1.0, 1.0, 0.0]) * 0.05 + 1e-3  # loose in two channels, tight in one
    res = DeepFool(norm="linf", steps=10)(model, x, y, eps=cap)
    inside = ((free.x_adv - x).abs() <= cap.view(1, 3, 1, 1)).flatten(1).all(1)
    assert torch.equal(res.success, free.success & inside)
    assert inside.any() and not inside.all()


def test_projection_keeps_points_inside_the_ball() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(6, 3, 4, 4, generator=g)
    point = (x + torch.randn(x.shape, generator=g) * 0.2).clamp(0, 1)
    eps = (0.1 * STD).view(1, 3, 1, 1)
    moved = clip_to_ball(x, point, eps, "linf", Bounds())
    assert bool(((moved - x).abs() <= eps + 1e-7).all())
    inside = (point - x).abs() <= eps
    assert torch.equal(moved[inside], point[inside])
    flat = clip_to_ball(x, point, 0.1, "linf", Bounds())
    torch.testing.assert_close(flat, Bounds().clip(x + project(point - x, 0.1, "linf")))


def test_registry_records_match_their_attacks() -> None:
    for name, spec in ATTACKS.items():
        attack = spec(eps=0.1) if spec.family == "fixed-budget" else spec()
        assert attack.name == name and type(attack) is spec.cls
        assert attack.family == spec.family and getattr(attack, "norm", "linf") == spec.norm
        assert spec.description and "\n" not in spec.description
    with pytest.raises(ConfigError, match="no setting norm"):
        make_attack("pgd-linf", eps=0.1, norm="l2")
