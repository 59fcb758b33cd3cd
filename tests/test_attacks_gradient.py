"""Gradient attacks: FGSM / FGM, the paper's iterative FGSM, PGD and Carlini-Wagner L2."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from jumprelu.attacks.base import Attack, Bounds
from jumprelu.attacks.cw import CarliniWagnerL2
from jumprelu.attacks.fgsm import FGSM
from jumprelu.attacks.ifgsm import IterativeFGSM
from jumprelu.attacks.pgd import PGD
from jumprelu.errors import ConfigError
from jumprelu.retrofit import retrofit

SHARED = Path(__file__).resolve().parents[2] / "shared"
CHECKPOINT = SHARED / "reference" / "lenet_mnist_baseline.pkl"
MNIST = SHARED / "data"


def _data(n: int = 64, seed: int = 0, binary: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Random 1x8x8 images in [0, 1] (or in {0, 1}, saturated like MNIST), labelled by a fixed
    random linear teacher."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 1, 8, 8, generator=g)
    x = x.round() if binary else x
    teacher = torch.randn(64, 4, generator=g)
    return x, ((x.flatten(1) - 0.5) @ teacher).argmax(1)


def _train(model: nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int = 60) -> nn.Module:
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    for _ in range(steps):
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    for p in model.parameters():
        p.grad = None
    return model.eval()


def mlp(binary: bool = False) -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """A small ReLU MLP trained for a few steps, with its data."""
    torch.manual_seed(0)
    x, y = _data(binary=binary)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 4))
    return _train(model, x, y), x, y


def cnn() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """A small ReLU CNN trained for a few steps, with its data."""
    torch.manual_seed(1)
    x, y = _data(seed=1)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 4))
    return _train(model, x, y), x, y


# Every attack with quick settings (fixed-budget ones first).
ATTACKS: dict[str, Callable[..., Attack]] = {
    "fgsm": lambda **kw: FGSM(eps=0.1, **kw),
    "fgm-l2": lambda **kw: FGSM(eps=0.5, norm="l2", **kw),
    "pgd-linf": lambda **kw: PGD(eps=0.1, steps=10, **kw),
    "pgd-l2": lambda **kw: PGD(eps=0.5, norm="l2", steps=10, **kw),
    "ifgsm": lambda **kw: IterativeFGSM(eps=0.02, steps=10, **kw),
    "cw-l2": lambda **kw: CarliniWagnerL2(steps=30, binary_search_steps=3, **kw),
}
FIXED = ["fgsm", "fgm-l2", "pgd-linf", "pgd-l2"]


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_names_and_success_flags(name: str) -> None:
    model, x, y = mlp()
    res = ATTACKS[name]()(model, x, y)
    assert res.attack == name == res.config["name"]
    with torch.no_grad():
        pred = model(res.x_adv).argmax(1)
    assert torch.equal(res.success, pred != y)
    assert res.success.any()
    assert res.iterations.shape == res.grad_evals.shape == res.zero_grad.shape == (len(x),)


@pytest.mark.parametrize("make", [mlp, cnn])
@pytest.mark.parametrize("name", FIXED)
@pytest.mark.parametrize("bounds", [Bounds(), Bounds(0.2, 0.8)])
def test_budget_and_box_respected(
    name: str, make: Callable[[], tuple[nn.Module, torch.Tensor, torch.Tensor]], bounds: Bounds
) -> None:
    model, x, y = make()
    x = bounds.clip(x)
    attack = ATTACKS[name](bounds=bounds)
    res = attack(model, x, y)
    assert isinstance(attack, FGSM | PGD)
    if attack.norm == "linf":
        assert float(res.linf.max()) <= attack.eps + 1e-6
    else:
        assert float(res.l2.max()) <= attack.eps * (1 + 1e-5)
    assert torch.equal(bounds.clip(res.x_adv), res.x_adv)  # within the box (as float32)


def test_fgsm_is_one_signed_step() -> None:
    model, x, y = mlp()
    res = FGSM(eps=0.05, bounds=Bounds(-1.0, 2.0))(model, x, y)
    xg = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(F.cross_entropy(model(xg), y), xg)
    assert torch.allclose(res.x_adv, x + 0.05 * g.sign(), atol=1e-7)
    l2 = FGSM(eps=0.5, norm="l2", bounds=Bounds(-5.0, 5.0))(model, x, y)
    assert torch.allclose(l2.l2, torch.full((len(x),), 0.5), atol=1e-5)
    cos = F.cosine_similarity((l2.x_adv - x).flatten(1), g.flatten(1))
    assert torch.allclose(cos, torch.ones(len(x)), atol=1e-5)


def _reference_ifgsm(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, steps: int
) -> torch.Tensor:
    """A plain, full-batch restatement of the paper's loop (the test oracle)."""
    x_adv, low, high = x.clone(), float(x.min()), float(x.max())
    for _ in range(steps):
        xg = x_adv.clone().requires_grad_(True)
        logits = model(xg)
        (g,) = torch.autograd.grad(F.cross_entropy(logits, y), xg)
        still = (logits.argmax(1) == y).view(-1, 1, 1, 1)
        x_adv = torch.where(still, (x_adv + eps * g.sign()).clamp(low, high), x_adv).detach()
    return x_adv


def test_ifgsm_matches_the_papers_loop_and_stops_early() -> None:
    model, x, y = mlp()
    y = y.clone()
    y[:4] = (y[:4] + 1) % 4  # misclassified from the start: never moved
    xn = (x - 0.3) / 0.4
    res = IterativeFGSM(eps=0.03, steps=12, bounds="paper")(model, xn, y)
    assert torch.allclose(res.x_adv, _reference_ifgsm(model, xn, y, 0.03, 12), atol=1e-6)
    assert torch.equal(res.x_adv[:4], xn[:4]) and (res.iterations[:4] == 0).all()
    assert float(res.linf.max()) <= 12 * 0.03 + 1e-6
    assert float(res.x_adv.min()) >= float(xn.min()) and float(res.x_adv.max()) <= float(xn.max())
    assert int(res.iterations.max()) <= 12
    # A fooled image stopped: one step fewer would have left it correctly classified.
    assert (res.iterations[res.success & res.clean_correct] >= 1).all()
    assert not res.zero_grad.any()


def test_iterative_attacks_reach_fgsm_success() -> None:
    model, x, y = mlp()
    for norm, eps in (("linf", 0.05), ("l2", 0.3)):
        fgsm = FGSM(eps=eps, norm=norm)(model, x, y)
        pgd = PGD(eps=eps, norm=norm, steps=20)(model, x, y)
        assert int(pgd.success.sum()) >= int(fgsm.success.sum())
        assert int(pgd.success.sum()) > int((~pgd.clean_correct).sum())


def test_pgd_seeded_reproducible_and_global_rng_untouched() -> None:
    model, x, y = mlp()
    state = torch.get_rng_state()
    a = PGD(eps=0.1, steps=5, seed=3)(model, x, y)
    b = PGD(eps=0.1, steps=5, seed=3)(model, x, y)
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(a.x_adv, b.x_adv)
    c = PGD(eps=0.1, steps=5, seed=4)(model, x, y)
    assert not torch.equal(a.x_adv, c.x_adv)


def test_pgd_restarts_only_add_successes() -> None:
    model, x, y = mlp()
    one = PGD(eps=0.05, steps=5, seed=1)(model, x, y)
    three = PGD(eps=0.05, steps=5, seed=1, restarts=3)(model, x, y)
    assert (three.success | ~one.success).all()  # restart 1 is the same run
    assert torch.equal(three.x_adv[one.success], one.x_adv[one.success])
    assert int(three.grad_evals.max()) <= 15


BATCHED: dict[str, Callable[[], Attack]] = {
    "fgsm": lambda: FGSM(eps=0.1),
    "fgm-l2": lambda: FGSM(eps=0.5, norm="l2"),
    "ifgsm": lambda: IterativeFGSM(eps=0.02, steps=10),
    "pgd-linf": lambda: PGD(eps=0.1, steps=10, random_start=False),
    "pgd-l2": lambda: PGD(eps=0.5, norm="l2", steps=10, random_start=False),
    "cw-l2": lambda: CarliniWagnerL2(steps=30, binary_search_steps=3),
}


@pytest.mark.parametrize("name", sorted(BATCHED))
def test_independent_of_batch_size(name: str) -> None:
    model, x, y = mlp()
    whole = BATCHED[name]()(model, x, y).x_adv
    halves = torch.cat(
        [BATCHED[name]()(model, x[s], y[s]).x_adv for s in (slice(0, 23), slice(23, None))]
    )
    assert torch.allclose(whole, halves, atol=1e-6)


@pytest.mark.parametrize("binary", [False, True])
def test_cw_fools_every_correct_point_with_less_l2_than_pgd(binary: bool) -> None:
    # Binary images sit at the box edges, where tanh saturates (as most MNIST pixels do).
    model, x, y = mlp(binary)
    cw = CarliniWagnerL2()(model, x, y)
    assert cw.success[cw.clean_correct].all()
    pgd = PGD(eps=1.0, norm="l2", steps=20)(model, x, y)
    both = pgd.success & pgd.clean_correct
    assert both.sum() >= 10
    assert float(cw.l2[both].mean()) <= float(pgd.l2[both].mean())
    assert float(cw.x_adv.min()) >= 0.0 and float(cw.x_adv.max()) <= 1.0


def test_cw_returns_x_where_never_fooled() -> None:
    linear = nn.Linear(64, 3)
    with torch.no_grad():
        linear.weight.zero_()
        linear.bias.copy_(torch.tensor([5.0, 0.0, 0.0]))  # always class 0
    model = nn.Sequential(nn.Flatten(), linear)
    x, _ = _data(8)
    y = torch.tensor([0, 0, 0, 0, 1, 1, 2, 2])
    res = CarliniWagnerL2(steps=10, binary_search_steps=2)(model, x, y)
    assert torch.equal(res.x_adv[:4], x[:4])
    assert torch.equal(res.success, y != 0)
    capped = CarliniWagnerL2(steps=30, binary_search_steps=3, max_norm=1e-3)(*mlp())
    assert float(capped.l2.max()) <= 1e-3


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_mode_restored_no_parameter_grad_no_state_change(name: str) -> None:
    model, x, y = mlp()
    model.train()
    attack = ATTACKS[name]()
    before = dict(vars(attack))
    x0 = x.clone()
    attack(model, x, y)
    assert model.training
    assert all(p.grad is None for p in model.parameters())
    assert vars(attack) == before and torch.equal(x, x0)
    model.eval()
    attack(model, x, y)
    assert not model.training


def test_zero_gradient_reported_and_not_followed() -> None:
    model, x, y = mlp()
    dead = retrofit(model, 100.0)  # every unit below the jump: constant logits, zero gradient
    res = IterativeFGSM(eps=0.02, steps=10)(dead, x, y)
    assert torch.equal(res.zero_grad, res.clean_correct)
    assert torch.equal(res.x_adv, x) and int(res.iterations.max()) == 0
    assert FGSM(eps=0.1)(dead, x, y).zero_grad.all()
    pgd = PGD(eps=0.1, steps=5, random_start=False)(dead, x, y)
    assert pgd.zero_grad.all() and int(pgd.grad_evals.max()) == 1


BAD: dict[str, Callable[[], object]] = {
    "fgsm eps 0": lambda: FGSM(eps=0.0),
    "fgsm eps < 0": lambda: FGSM(eps=-0.1),
    "fgsm eps nan": lambda: FGSM(eps=math.nan),
    "fgsm norm": lambda: FGSM(eps=0.1, norm="l1"),
    "fgsm bounds": lambda: FGSM(eps=0.1, bounds="sphere"),
    "ifgsm eps": lambda: IterativeFGSM(eps=0.0),
    "ifgsm steps 0": lambda: IterativeFGSM(steps=0),
    "ifgsm steps float": lambda: IterativeFGSM(steps=2.5),  # type: ignore[arg-type]
    "pgd steps": lambda: PGD(eps=0.1, steps=0),
    "pgd step_size": lambda: PGD(eps=0.1, step_size=-1.0),
    "pgd norm": lambda: PGD(eps=0.1, norm="l3"),
    "pgd restarts": lambda: PGD(eps=0.1, restarts=0),
    "pgd restarts without random start": lambda: PGD(eps=0.1, restarts=2, random_start=False),
    "pgd seed": lambda: PGD(eps=0.1, seed=-1),
    "cw steps": lambda: CarliniWagnerL2(steps=0),
    "cw binary search": lambda: CarliniWagnerL2(binary_search_steps=0),
    "cw const": lambda: CarliniWagnerL2(initial_const=0.0),
    "cw confidence": lambda: CarliniWagnerL2(confidence=-1.0),
    "cw lr": lambda: CarliniWagnerL2(lr=math.inf),
    "cw max_norm": lambda: CarliniWagnerL2(max_norm=0.0),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_settings_raise_config_error(case: str) -> None:
    with pytest.raises(ConfigError):
        BAD[case]()


def test_settings_are_keyword_only() -> None:
    with pytest.raises(TypeError):
        FGSM(0.1)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        IterativeFGSM(0.01)  # type: ignore[call-arg]


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_nan_input_refused_before_work(name: str) -> None:
    model, x, y = mlp()
    calls: list[int] = []
    model.register_forward_hook(lambda *a: calls.append(1))
    x = x.clone()
    x[3, 0, 2, 2] = math.nan
    with pytest.raises(ConfigError):
        ATTACKS[name]()(model, x, y)
    assert calls == []


# --- The paper's number: iterative FGSM on the authors' LeNet (MNIST, normalised space) ---


def _paper_ifgsm(n: int, jump: float) -> tuple[float, float, float]:
    if not (CHECKPOINT.is_file() and MNIST.is_dir()):
        pytest.skip("the shared reference checkpoint or MNIST data is absent")
    from jumprelu.datasets.core import load_split
    from jumprelu.models.checkpoints import load_checkpoint

    model, _ = load_checkpoint(CHECKPOINT, arch="lenet", mean=(0.1307,), std=(0.3081,))
    net = retrofit(model.net, jump) if jump > 0 else model.net
    split = load_split("mnist", "test", data_dir=MNIST).take(n)
    xn = (split.x - 0.1307) / 0.3081
    res = IterativeFGSM(eps=0.01, steps=40, bounds="paper")(net, xn, split.y)
    return 100 * res.accuracy, float(res.linf_rel.mean()), float(res.l2_rel.mean())


def test_paper_ifgsm_first_1000_images_sanity() -> None:
    acc, rho_inf, rho_2 = _paper_ifgsm(1000, 0.0)
    # Full test set reference: 66.76 %, 0.1303, 0.2379 (the first 1,000: 64.60, 0.1285, 0.2439).
    assert 60.0 <= acc <= 70.0
    assert rho_inf == pytest.approx(0.1303, rel=0.05)
    assert rho_2 == pytest.approx(0.2379, rel=0.05)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("jump", "acc", "rho_inf", "rho_2"),
    [(0.0, 66.76, 0.1303, 0.2379), (1.0, 83.07, 0.1343, 0.2222)],
)
def test_paper_ifgsm_reference_numbers(
    jump: float, acc: float, rho_inf: float, rho_2: float
) -> None:
    got_acc, got_inf, got_2 = _paper_ifgsm(10_000, jump)
    assert abs(got_acc - acc) <= 0.3
    assert got_inf == pytest.approx(rho_inf, rel=0.02)
    assert got_2 == pytest.approx(rho_2, rel=0.02)
