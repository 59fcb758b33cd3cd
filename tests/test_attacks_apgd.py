"""APGD (Croce and Hein, ICML 2020): budget, schedule, strength, bookkeeping, determinism."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from jumprelu.attacks.apgd import APGD, checkpoints, dlr_loss, malt_targets
from jumprelu.attacks.base import Bounds, lp_norm
from jumprelu.attacks.pgd import PGD
from jumprelu.errors import ConfigError
from jumprelu.retrofit import retrofit

Problem = tuple[nn.Module, torch.Tensor, torch.Tensor]


def _data(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Random 1x8x8 images in [0, 1] labelled (4 classes) by a fixed random linear teacher."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 1, 8, 8, generator=g)
    teacher = torch.randn(64, 4, generator=g)
    return x, ((x.flatten(1) - 0.5) @ teacher).argmax(1)


def _train(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> nn.Module:
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    for _ in range(60):
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    for p in model.parameters():
        p.grad = None
    return model.eval()


def mlp() -> Problem:
    torch.manual_seed(0)
    x, y = _data(64, 0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 4))
    return _train(model, x, y), x, y


def cnn() -> Problem:
    torch.manual_seed(1)
    x, y = _data(64, 1)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 4))
    return _train(model, x, y), x, y


EPS = {"linf": 0.05, "l2": 0.3}
VARIANTS = [("ce", False), ("dlr", False), ("dlr", True)]


def test_checkpoints_follow_the_papers_formula() -> None:
    assert checkpoints(100) == [22, 41, 57, 70, 80, 87, 93, 99]
    for steps in (1, 7, 10, 25, 50, 100, 333, 1000):
        p = [0.0, 0.22]
        while p[-1] <= 1.0:
            p.append(p[-1] + max(p[-1] - p[-2] - 0.03, 0.06))
        w = [math.ceil(round(q * steps, 6)) for q in p[1:] if q <= 1.0 + 1e-9]
        expected = sorted(set(w) - {0})
        assert checkpoints(steps) == expected
        assert all(1 <= c <= steps for c in checkpoints(steps))


def test_names() -> None:
    assert APGD(eps=0.1).name == "apgd-ce-linf"
    assert APGD(eps=0.1, norm="l2", loss="dlr").name == "apgd-dlr-l2"
    assert APGD(eps=0.1, loss="dlr", targeted=True).name == "apgd-t-linf"
    assert APGD(eps=0.1, norm="l2", loss="dlr", targeted=True).name == "apgd-t-l2"


def test_dlr_losses() -> None:
    z = torch.tensor([[4.0, 3.0, 1.0, 0.0], [1.0, 5.0, 2.0, -1.0]])
    y = torch.tensor([0, 0])
    assert torch.allclose(dlr_loss(z, y, None), torch.tensor([-1 / 3, 4 / 4]))
    t = torch.tensor([2, 1])
    assert torch.allclose(dlr_loss(z, y, t), torch.tensor([-3 / 3.5, 4 / 5]))


@pytest.mark.parametrize("make", [mlp, cnn])
@pytest.mark.parametrize("norm", ["linf", "l2"])
@pytest.mark.parametrize(("loss", "targeted"), VARIANTS)
@pytest.mark.parametrize("bounds", [Bounds(), Bounds(0.2, 0.8)])
def test_budget_and_box_respected(
    make: Callable[[], Problem], norm: str, loss: str, targeted: bool, bounds: Bounds
) -> None:
    model, x, y = make()
    x = bounds.clip(x)
    attack = APGD(eps=EPS[norm], norm=norm, loss=loss, targeted=targeted, steps=10)
    attack.bounds = bounds
    res = attack(model, x, y)
    size = res.linf if norm == "linf" else res.l2
    assert float(size.max()) <= EPS[norm] * (1 + 1e-5)
    assert torch.equal(bounds.clip(res.x_adv), res.x_adv)
    assert res.success.any()
    assert res.found is not None and torch.equal(res.found, res.success)  # never lost
    n_runs = 3 if targeted else 1  # n_targets is capped at 4 classes - 1
    assert res.trace is not None and res.trace.shape == (len(x), 10 * n_runs)


@pytest.mark.parametrize("make", [mlp, cnn])
@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_apgd_ce_at_least_as_strong_as_pgd(make: Callable[[], Problem], norm: str) -> None:
    model, x, y = make()
    for eps in (EPS[norm] / 2, EPS[norm]):
        pgd = PGD(eps=eps, norm=norm, steps=20)(model, x, y)
        apgd = APGD(eps=eps, norm=norm, steps=20)(model, x, y)
        assert int(apgd.success.sum()) >= int(pgd.success.sum())


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_apgd_t_finds_targeted_successes(norm: str) -> None:
    model, x, y = mlp()
    with torch.no_grad():
        runner_up = model(x).argsort(1, descending=True)[:, 1]
    one = APGD(eps=EPS[norm], norm=norm, loss="dlr", targeted=True, n_targets=1, steps=20)
    res = one(model, x, y)
    fooled = res.success & res.clean_correct
    assert int(fooled.sum()) >= 10
    with torch.no_grad():
        pred = model(res.x_adv).argmax(1)
    assert float((pred[fooled] == runner_up[fooled]).float().mean()) >= 0.9  # the target class
    # More targets only add successes: the first target's run is the same run.
    every = APGD(eps=EPS[norm], norm=norm, loss="dlr", targeted=True, steps=20)(model, x, y)
    assert (every.success | ~res.success).all()
    assert torch.equal(every.x_adv[fooled], res.x_adv[fooled])
    assert int(every.success.sum()) >= int(
        APGD(eps=EPS[norm], norm=norm, loss="dlr", steps=20)(model, x, y).success.sum()
    )


@pytest.mark.parametrize("make", [mlp, cnn])
@pytest.mark.parametrize("norm", ["linf", "l2"])
@pytest.mark.parametrize(("loss", "targeted"), VARIANTS)
def test_independent_of_batch_size(
    make: Callable[[], Problem], norm: str, loss: str, targeted: bool
) -> None:
    # float64: float32 matmul/conv kernels round differently for different batch sizes, and
    # 30 steps amplify that noise; the algorithm itself treats every sample on its own.
    model, x, y = make()
    model, x, y = model.double(), x[:24].double(), y[:24]
    attack = APGD(eps=EPS[norm], norm=norm, loss=loss, targeted=targeted, steps=15, restarts=2)
    whole = attack(model, x, y)
    parts = [
        attack(model, x[i : i + 3], y[i : i + 3], index=torch.arange(i, i + 3))
        for i in range(0, len(x), 3)
    ]
    assert torch.allclose(whole.x_adv, torch.cat([p.x_adv for p in parts]), atol=1e-9)
    assert torch.equal(whole.success, torch.cat([p.success for p in parts]))
    assert torch.equal(whole.iterations, torch.cat([p.iterations for p in parts]))
    assert torch.equal(whole.grad_evals, torch.cat([p.grad_evals for p in parts]))
    assert whole.trace is not None
    traces = torch.cat([p.trace for p in parts if p.trace is not None])
    assert torch.allclose(whole.trace, traces, atol=1e-6, equal_nan=True)


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_discard_only_stops_samples_and_saves_gradients(norm: str) -> None:
    # float64 as above: a stopped sample leaves the batch, which must not move the others
    model, x, y = cnn()
    model, x = model.double(), x.double()
    eps = {"linf": 0.05, "l2": 0.3}[norm]
    full = APGD(eps=eps, norm=norm, steps=20, seed=2).run(model, x, y)
    cut = APGD(eps=eps, norm=norm, steps=20, seed=2, discard=0.5).run(model, x, y)
    assert full.stopped is not None and not full.stopped.any()
    assert cut.stopped is not None and cut.stopped.any()  # the rule bites on this problem
    assert cut.found is not None and int(cut.found.sum()) > 10
    assert full.found is not None
    assert not (cut.stopped & cut.found).any()
    # a sample it did not stop ran exactly as without discarding
    kept = ~cut.stopped
    assert torch.equal(cut.found[kept], full.found[kept])
    assert torch.allclose(cut.x_adv[kept], full.x_adv[kept], atol=1e-9)
    # a stopped sample ran at most to the second checkpoint (41% of 20 steps: 9 iterations)
    assert int(cut.iterations[cut.stopped].max()) <= checkpoints(20)[1]
    assert int(cut.grad_evals.sum()) < int(full.grad_evals.sum())
    # the stopped return a point in the ball (their best iterate), never the clean input only
    assert (lp_norm(cut.x_adv - x, norm) <= eps * (1 + 1e-9)).all()


def test_discard_stops_none_when_every_sample_closes_in() -> None:
    model, x, y = mlp()
    res = APGD(eps=0.5, steps=10, discard=0.99).run(model, x, y)  # it fools every point
    correct = model(x).argmax(1) == y
    assert res.found is not None and res.found[correct].all()
    assert res.stopped is not None and not res.stopped.any()


def test_seeded_reproducible_and_global_rng_untouched() -> None:
    model, x, y = mlp()
    state = torch.get_rng_state()
    a = APGD(eps=0.05, steps=10, seed=3)(model, x, y)
    b = APGD(eps=0.05, steps=10, seed=3)(model, x, y)
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(a.x_adv, b.x_adv) and torch.equal(a.iterations, b.iterations)
    c = APGD(eps=0.05, steps=10, seed=4)(model, x, y)
    assert not torch.equal(a.x_adv, c.x_adv)


def test_restarts_only_add_successes_and_run_on_the_unfooled() -> None:
    model, x, y = mlp()
    one = APGD(eps=0.03, steps=10, seed=1)(model, x, y)
    three = APGD(eps=0.03, steps=10, seed=1, restarts=3)(model, x, y)
    assert (three.success | ~one.success).all()
    assert torch.equal(three.x_adv[one.success], one.x_adv[one.success])
    assert three.trace is not None and three.trace.shape == (len(x), 30)
    assert three.trace[one.success, 10:].isnan().all()
    assert int(three.grad_evals.max()) <= 3 * 11


def test_misclassified_points_untouched_and_bookkeeping() -> None:
    model, x, y = mlp()
    y = y.clone()
    y[:5] = (y[:5] + 1) % 4
    for targeted in (False, True):
        res = APGD(eps=0.05, steps=12, loss="dlr", targeted=targeted)(model, x, y)
        wrong = ~res.clean_correct
        assert wrong[:5].all()
        assert torch.equal(res.x_adv[wrong], x[wrong])
        assert (res.iterations[wrong] == 0).all() and (res.grad_evals[wrong] == 0).all()
        assert res.trace is not None and res.trace[wrong].isnan().all()
        assert res.found is not None and torch.equal(res.found, res.success)
        attacked = res.clean_correct
        # A run: one gradient at the start, one per iteration; fooled samples stop early.
        assert (res.grad_evals[attacked] >= res.iterations[attacked] + 1).all()
        robust = attacked & ~res.success
        runs = 3 if targeted else 1
        assert (res.iterations[robust] == 12 * runs).all()
        assert (res.trace[robust].isfinite().sum(1) == 12 * runs).all()
        assert res.zero_grad_steps is not None and not res.zero_grad.any()


def test_zero_gradient_reported() -> None:
    model, x, y = mlp()
    dead = retrofit(model, 100.0)  # every unit below the jump: constant logits, zero gradient
    res = APGD(eps=0.1, steps=10)(dead, x, y)
    assert torch.equal(res.zero_grad, res.clean_correct)
    assert res.zero_grad_steps is not None
    assert torch.equal(res.zero_grad_steps, res.clean_correct.long())
    assert int(res.iterations.max()) == 0 and int(res.grad_evals.max()) == 1


def test_parameters_untouched_and_mode_restored() -> None:
    model, x, y = mlp()
    model.train()
    attack = APGD(eps=0.05, steps=5, loss="dlr", targeted=True)
    before = dict(vars(attack))
    attack(model, x, y)
    assert model.training and all(p.grad is None for p in model.parameters())
    assert vars(attack) == before


BAD: dict[str, Callable[[], object]] = {
    "eps 0": lambda: APGD(eps=0.0),
    "eps nan": lambda: APGD(eps=math.nan),
    "norm": lambda: APGD(eps=0.1, norm="l1"),
    "loss": lambda: APGD(eps=0.1, loss="cw"),
    "targeted ce": lambda: APGD(eps=0.1, targeted=True),
    "n_targets": lambda: APGD(eps=0.1, loss="dlr", targeted=True, n_targets=0),
    "steps": lambda: APGD(eps=0.1, steps=0),
    "steps float": lambda: APGD(eps=0.1, steps=2.5),  # type: ignore[arg-type]
    "restarts": lambda: APGD(eps=0.1, restarts=0),
    "rho 0": lambda: APGD(eps=0.1, rho=0.0),
    "rho > 1": lambda: APGD(eps=0.1, rho=1.5),
    "seed": lambda: APGD(eps=0.1, seed=-1),
    "bounds": lambda: APGD(eps=0.1, bounds="sphere"),
    "targets": lambda: APGD(eps=0.1, loss="dlr", targeted=True, targets="nearest"),
    "discard 1": lambda: APGD(eps=0.1, discard=1.0),
    "discard < 0": lambda: APGD(eps=0.1, discard=-0.1),
    "discard str": lambda: APGD(eps=0.1, discard="0.5"),  # type: ignore[arg-type]
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_settings_raise_config_error(case: str) -> None:
    with pytest.raises(ConfigError):
        BAD[case]()


def test_settings_are_keyword_only_and_dlr_needs_classes() -> None:
    with pytest.raises(TypeError):
        APGD(0.1)  # type: ignore[call-arg]
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 2))
    x, _ = _data(4, 0)
    y = torch.zeros(4, dtype=torch.long)
    with pytest.raises(ConfigError):
        APGD(eps=0.1, loss="dlr")(model, x, y)


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_malt_orders_classes_by_their_linear_distance(norm: str) -> None:
    """On a linear model the estimate is exact: the class whose boundary is nearest in the
    attack's norm comes first, even where its logit is not the second highest."""
    torch.manual_seed(0)
    linear = nn.Linear(6, 4, bias=True)
    with torch.no_grad():
        linear.weight.copy_(torch.tensor([[0.0] * 6, [5.0] + [0.0] * 5, [0.1] * 6, [1.0] * 6]))
        linear.bias.copy_(torch.tensor([2.0, 0.0, 1.8, -3.0]))
    x = torch.rand(20, 6) * 0.2
    y = torch.zeros(20, dtype=torch.long)
    order = malt_targets(linear, x, y, norm)
    logits = linear(x).detach()
    w = linear.weight.detach()
    dual = {"linf": lambda v: v.abs().sum(), "l2": lambda v: v.norm()}[norm]
    for i in range(20):
        dist = {
            t: float((logits[i, 0] - logits[i, t]).abs() / dual(w[0] - w[t])) for t in (1, 2, 3)
        }
        assert order[i].tolist() == sorted(dist, key=dist.__getitem__)
    by_logit = logits[:, 1:].argsort(1, descending=True) + 1
    assert not torch.equal(order, by_logit)  # the two orders differ on this model


def test_malt_targets_run_and_count_their_gradients() -> None:
    model, x, y = cnn()
    logit = APGD(eps=0.1, loss="dlr", targeted=True, n_targets=2, steps=5)
    malt = APGD(eps=0.1, loss="dlr", targeted=True, n_targets=2, steps=5, targets="malt")
    a, b = logit.run(model, x, y), malt.run(model, x, y)
    correct = model(x).argmax(1) == y
    classes = model(x).shape[1]
    assert bool((b.grad_evals[correct] >= classes - 1).all())
    assert int(b.grad_evals.sum()) > 0 and int(a.grad_evals.sum()) > 0
    assert float((b.x_adv - x).abs().amax()) <= 0.1 + 1e-6


def test_discard_sentinels_report_points_the_rule_would_lose(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A sentinel runs on where the rule would stop it; fooled later, it is ``missed``."""
    import jumprelu.attacks.apgd as apgd_module

    model, x, y = cnn()
    model, x = model.double(), x.double()
    full = APGD(eps=0.2, norm="l2", steps=100, seed=2).run(model, x, y)
    assert full.found is not None
    late = (full.found & (full.iterations > checkpoints(100)[0])).nonzero().squeeze(1)
    assert len(late) and int(late[0]) > 0  # a point fooled after the first checkpoint
    row = int(late[0])
    monkeypatch.setattr(apgd_module, "SENTINEL", row)  # make that point a sentinel
    cut = APGD(eps=0.2, norm="l2", steps=100, seed=2, discard=1e-6).run(model, x, y)
    assert cut.missed is not None and bool(cut.missed[row])
    assert cut.found is not None and bool(cut.found[row])  # it ran on
    assert not (cut.missed & ~full.found).any()
    assert cut.stopped is not None and not (cut.stopped & cut.missed).any()
