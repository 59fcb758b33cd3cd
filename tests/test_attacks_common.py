"""Properties every registered attack shares: interface, bounds, bookkeeping, bad input."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from jumprelu.attacks import ATTACKS, Bounds, describe_attacks, make_attack
from jumprelu.errors import ConfigError
from jumprelu.retrofit import retrofit

QUICK: dict[str, dict[str, object]] = {
    "fgsm": {"eps": 0.1},
    "ifgsm": {"eps": 0.02, "steps": 5},
    "pgd-linf": {"eps": 0.1, "steps": 5},
    "pgd-l2": {"eps": 0.5, "steps": 5},
    "deepfool-linf": {"steps": 10},
    "deepfool-l2": {"steps": 10},
    "tr-linf": {"steps": 10},
    "tr-l2": {"steps": 10},
    "tr-adaptive-linf": {"steps": 10},
    "tr-adaptive-l2": {"steps": 10},
    "cw-l2": {"steps": 10, "binary_search_steps": 2},
    "square-linf": {"eps": 0.1, "queries": 20},
    "square-l2": {"eps": 0.5, "queries": 20},
    "apgd-ce-linf": {"eps": 0.1, "steps": 5},
    "apgd-ce-l2": {"eps": 0.5, "steps": 5},
    "apgd-dlr-linf": {"eps": 0.1, "steps": 5},
    "apgd-dlr-l2": {"eps": 0.5, "steps": 5},
    "apgd-t-linf": {"eps": 0.1, "steps": 5, "n_targets": 2},
    "apgd-t-l2": {"eps": 0.5, "steps": 5, "n_targets": 2},
    "fmn-linf": {"steps": 10},
    "fmn-l2": {"steps": 10},
}


def tiny() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Flatten(), nn.Linear(16, 32), nn.ReLU(), nn.Dropout(0.1), nn.Linear(32, 4)
    )
    x = torch.rand(24, 1, 4, 4)
    with torch.no_grad():
        y = model.eval()(x).argmax(1)
    y[:3] = (y[:3] + 1) % 4  # a few already misclassified points
    return model.train(), x, y


def test_registry_covers_the_issue_names() -> None:
    expected = {
        "fgsm",
        "ifgsm",
        "pgd-linf",
        "pgd-l2",
        "deepfool-linf",
        "deepfool-l2",
        "tr-linf",
        "tr-l2",
        "cw-l2",
        "apgd-ce-linf",
        "apgd-t-l2",
        "fmn-l2",
        "fmn-linf",
        "square-l2",
    }
    assert expected <= set(ATTACKS)
    assert set(QUICK) == set(ATTACKS)
    names = [row[0] for row in describe_attacks()]
    assert names == list(ATTACKS)


@pytest.mark.parametrize("name", sorted(QUICK))
def test_result_bookkeeping(name: str) -> None:
    model, x, y = tiny()
    before = x.clone()
    attack = make_attack(name, **QUICK[name])
    res = attack(model, x, y)
    assert model.training  # mode restored
    assert all(p.grad is None for p in model.parameters())
    assert torch.equal(x, before)
    assert res.x_adv.shape == x.shape and torch.isfinite(res.x_adv).all()
    assert float(res.x_adv.min()) >= 0.0 and float(res.x_adv.max()) <= 1.0
    model.eval()
    with torch.no_grad():
        pred = model(res.x_adv).argmax(1)
    assert torch.equal(res.success, pred != y)
    assert res.success[:3].all()  # misclassified points count as successes
    delta = (res.x_adv - x).flatten(1)
    assert torch.allclose(res.l2, delta.norm(dim=1), atol=1e-6)
    assert torch.allclose(res.linf, delta.abs().amax(1), atol=1e-6)
    assert torch.allclose(res.l2_rel, res.l2 / x.flatten(1).norm(dim=1), atol=1e-6)
    assert res.iterations.shape == (24,) and res.grad_evals.shape == (24,)
    assert res.seconds > 0 and res.config["name"] == res.attack == name


@pytest.mark.parametrize("name", sorted(QUICK))
def test_works_on_a_retrofitted_model(name: str) -> None:
    model, x, y = tiny()
    jm = retrofit(model.eval(), 0.2)
    res = make_attack(name, **QUICK[name])(jm, x, y)
    with torch.no_grad():
        wrong = jm(x).argmax(1) != y
    assert torch.isfinite(res.x_adv).all() and res.success[wrong].all()


def test_paper_bounds_clip_to_batch_range() -> None:
    model, x, y = tiny()
    xn = (x - 0.3) / 0.2
    res = make_attack("ifgsm", eps=0.5, steps=3, bounds="paper")(model, xn, y)
    assert float(res.x_adv.min()) >= float(xn.min()) - 1e-6
    assert float(res.x_adv.max()) <= float(xn.max()) + 1e-6


BAD_INPUTS = {
    "nan input": lambda x, y: (
        x.masked_fill(torch.arange(x.numel()).view_as(x) == 5, float("nan")),
        y,
    ),
    "inf input": lambda x, y: (
        x.masked_fill(torch.arange(x.numel()).view_as(x) == 5, float("inf")),
        y,
    ),
    "label out of range": lambda x, y: (x, y.masked_fill(torch.arange(len(y)) == 0, 7)),
    "negative label": lambda x, y: (x, y.masked_fill(torch.arange(len(y)) == 0, -1)),
    "labels wrong shape": lambda x, y: (x, y[:5]),
    "outside the box": lambda x, y: (x * 2, y),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_refused_before_work(case: str) -> None:
    model, x, y = tiny()
    calls = []
    model.register_forward_hook(lambda *a: calls.append(1))
    bx, by = BAD_INPUTS[case](x, y)
    with pytest.raises(ConfigError):
        make_attack("pgd-linf", eps=0.1, steps=3)(model, bx, by)
    assert len(calls) <= 1  # at most the clean forward pass that reads the number of classes


@pytest.mark.parametrize(
    ("name", "settings", "match"),
    [
        ("nope", {}, "unknown attack"),
        ("fgsm", {"eps": 0.0}, "eps"),
        ("fgsm", {"eps": -1}, "eps"),
        ("pgd-linf", {"eps": float("nan")}, "eps"),
        ("pgd-linf", {"eps": 0.1, "norm": "l2"}, "no setting"),
        ("deepfool-l2", {"stepz": 3}, "no setting"),
        ("deepfool-l2", {"bounds": "sphere"}, "bounds"),
    ],
)
def test_bad_settings(name: str, settings: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        make_attack(name, **settings)


def test_unknown_norm_refused() -> None:
    from jumprelu.attacks import PGD

    with pytest.raises(ConfigError, match="norm"):
        PGD(eps=0.1, norm="l3")


def test_custom_bounds_object() -> None:
    model, x, y = tiny()
    res = make_attack("pgd-linf", eps=0.5, steps=3, bounds=Bounds(0.1, 0.9))(
        model, x.clamp(0.1, 0.9), y
    )
    assert float(res.x_adv.min()) >= 0.1 - 1e-7 and float(res.x_adv.max()) <= 0.9 + 1e-7


def test_square_is_seeded_gradient_free_and_within_budget() -> None:
    model, x, y = tiny()
    model.eval()
    state = torch.get_rng_state()
    a = make_attack("square-linf", eps=0.3, queries=200, seed=3)(model, x, y)
    b = make_attack("square-linf", eps=0.3, queries=200, seed=3)(model, x, y)
    assert torch.equal(torch.get_rng_state(), state)  # own generator only
    assert torch.equal(a.x_adv, b.x_adv)
    assert float(a.linf.max()) <= 0.3 + 1e-6
    assert int(a.grad_evals.sum()) == 0
    assert a.success.float().mean() > 0.5  # random search breaks a tiny net at a large eps
