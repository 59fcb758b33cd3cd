"""The Fast Minimum-Norm attack (FMN, L2 and L-infinity)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from helpers import fitted_mlp
from torch import nn

from jumprelu.attacks.base import Bounds
from jumprelu.attacks.deepfool import DeepFool
from jumprelu.attacks.fmn import FMN, margin_loss
from jumprelu.attacks.pgd import PGD
from jumprelu.errors import ConfigError
from jumprelu.retrofit import retrofit

WIDE = Bounds(-100.0, 100.0)  # no pressure from the box
NORMS = ["l2", "linf"]
DUAL = {"l2": 2.0, "linf": 1.0}


def mlp() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """The shared fitted MLP (48 images)."""
    return fitted_mlp(48)


def linear(seed: int, classes: int) -> tuple[nn.Linear, torch.Tensor, torch.Tensor]:
    """A linear classifier with inputs in the middle of the [0, 1] box, far from its faces."""
    torch.manual_seed(seed)
    model = nn.Linear(6, classes)
    with torch.no_grad():
        model.weight.mul_(20)
        x = 0.5 + 0.02 * torch.randn(20, 6)
        y = model(x).argmax(1)
    return model, x, y


def analytic(model: nn.Linear, x: torch.Tensor, y: torch.Tensor, norm: str) -> torch.Tensor:
    """Minimal distance to a wrong class: min_k (f_y - f_k) / ||w_y - w_k||_dual."""
    with torch.no_grad():
        f = model(x)
        w = model.weight
        gap = f.gather(1, y[:, None]) - f  # (N, K)
        dual = (w[y][:, None, :] - w[None, :, :]).norm(p=DUAL[norm], dim=2)
        dist = gap / dual.clamp_min(1e-12)
        dist[torch.arange(len(x)), y] = float("inf")
    out: torch.Tensor = dist.amin(1)
    return out


@pytest.mark.parametrize("norm", NORMS)
def test_name_and_bookkeeping(norm: str) -> None:
    model, x, y = mlp()
    model.train()
    res = FMN(norm=norm, steps=30)(model, x, y)
    assert res.attack == f"fmn-{norm}" and res.config["name"] == f"fmn-{norm}"
    assert model.training and all(p.grad is None for p in model.parameters())
    assert float(res.x_adv.min()) >= 0.0 and float(res.x_adv.max()) <= 1.0  # the box
    assert res.trace is not None and res.trace.shape == (len(x), 30)
    with torch.no_grad():
        start = margin_loss(model.eval()(x), y)
    torch.testing.assert_close(res.trace[:, 0], start)  # the loss at x, negative when correct
    assert torch.equal(res.iterations, torch.full((len(x),), 30))
    assert torch.equal(res.grad_evals, res.iterations)
    assert res.found is not None and torch.equal(res.found, res.success)
    assert res.zero_grad_steps is not None and (res.zero_grad_steps == 0).all()
    assert not res.zero_grad.any() and torch.isfinite(res.x_adv).all()


@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("bounds", [WIDE, Bounds(0.0, 1.0)])
def test_fools_every_correct_point(norm: str, bounds: Bounds) -> None:
    model, x, y = mlp()
    res = FMN(norm=norm, bounds=bounds)(model, x, y)
    assert res.clean_correct.all() and res.success.all()


@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("seed", range(4))
def test_linear_classifier_reaches_the_analytic_distance(norm: str, seed: int) -> None:
    model, x, y = linear(seed, classes=2 + seed)
    res = FMN(norm=norm)(model, x, y)
    assert res.success.all()
    ratio = getattr(res, norm) / analytic(model, x, y, norm)
    assert (ratio >= 1 - 1e-4).all()  # nothing beats the minimum
    assert (ratio <= 1.01).all()


def test_paper_rule_stalls_on_the_box_where_the_box_aware_rule_does_not() -> None:
    model, x, y = mlp()
    box = Bounds(0.0, 1.0)
    paper = FMN(norm="l2", paper_exact=True, bounds=box)(model, x, y)
    ours = FMN(norm="l2", bounds=box)(model, x, y)
    assert ours.success.all() and paper.success.float().mean() < 0.9


@pytest.mark.parametrize("norm", NORMS)
def test_smaller_than_deepfool_and_at_least_as_strong_as_pgd(norm: str) -> None:
    model, x, y = mlp()
    fmn = FMN(norm=norm)(model, x, y)
    df = DeepFool(norm=norm)(model, x, y)
    assert df.success.all()
    ours, theirs = getattr(fmn, norm), getattr(df, norm)
    assert float(ours.median()) < float(theirs.median())
    assert float((ours <= theirs * 1.001).float().mean()) >= 0.8
    eps = float(ours.median())
    pgd = PGD(eps=eps, norm=norm, steps=50, step_size=eps / 10)(model, x, y)
    fmn_robust = float((ours > eps).float().mean())
    assert fmn_robust <= pgd.accuracy + 1 / len(x)


@pytest.mark.parametrize("norm", NORMS)
def test_binary_search_only_shrinks(norm: str) -> None:
    model, x, y = mlp()
    plain = FMN(norm=norm, steps=20, binary_search_steps=0)(model, x, y)
    searched = FMN(norm=norm, steps=20)(model, x, y)
    assert searched.success.all() and plain.success.all()
    assert (getattr(searched, norm) <= getattr(plain, norm) + 1e-6).all()


@pytest.mark.parametrize("norm", NORMS)
def test_max_norm_cap(norm: str) -> None:
    model, x, y = mlp()
    free = FMN(norm=norm, steps=30)(model, x, y)
    cap = float(getattr(free, norm).median())
    res = FMN(norm=norm, steps=30, max_norm=cap)(model, x, y)
    size = getattr(res, norm)
    assert (size <= cap + 1e-6).all()
    over = getattr(free, norm) > cap
    assert over.any() and (size[over] == 0).all() and not res.success[over].any()
    assert res.success[~over].all()


@pytest.mark.parametrize("norm", NORMS)
def test_results_do_not_depend_on_the_batch(norm: str) -> None:
    model, x, y = mlp()
    attack = FMN(norm=norm, steps=30)
    whole = attack(model, x, y)
    index = torch.arange(len(x))
    parts = [attack(model, x[s], y[s], index=index[s]) for s in torch.split(index, 3)]
    # The same outcome and norm per sample. Not the same pixels: on some CPUs (AMD EPYC here)
    # a matmul of 3 rows and one of 48 round differently, and FMN's iterates sit on the
    # decision boundary, so a last-bit difference can steer a point's path (norms agree to 1e-6).
    assert torch.equal(torch.cat([p.success for p in parts]), whole.success)
    size = torch.cat([getattr(p, norm) for p in parts])
    torch.testing.assert_close(size, getattr(whole, norm), rtol=1e-4, atol=1e-6)
    assert torch.equal(torch.cat([p.iterations for p in parts]), whole.iterations)


def test_misclassified_points_are_not_attacked() -> None:
    model, x, y = mlp()
    y = y.clone()
    y[:5] = (y[:5] + 1) % 4
    res = FMN(steps=20)(model, x, y)
    assert torch.equal(res.x_adv[:5], x[:5]) and (res.iterations[:5] == 0).all()
    assert res.trace is not None and res.trace[:5].isnan().all()
    assert res.success.all() and not res.zero_grad[:5].any()


def test_zero_gradient_gives_up_without_nan() -> None:
    model, x, _ = mlp()
    dead = retrofit(model, 1e6)  # every unit off: constant logits, exactly zero gradients
    with torch.no_grad():
        y = dead(x).argmax(1)
    res = FMN(norm="l2", bounds=WIDE)(dead, x, y)
    assert res.zero_grad.all() and torch.equal(res.x_adv, x) and not res.success.any()
    assert (res.iterations == 1).all() and res.zero_grad_steps is not None
    assert (res.zero_grad_steps == 1).all()


def test_partly_zero_gradients() -> None:
    model, x, _ = mlp()
    jumpy = retrofit(model, 2.5)  # some points lose their gradient
    with torch.no_grad():
        y = jumpy(x).argmax(1)
    res = FMN(norm="l2", bounds=WIDE, steps=30)(jumpy, x, y)
    assert torch.isfinite(res.x_adv).all()
    assert 0 < int(res.zero_grad.sum()) < len(x)
    assert not (res.zero_grad & res.success).any()


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: FMN(norm="l1"), "norm"),
        (lambda: FMN(steps=0), "steps"),
        (lambda: FMN(steps=2.5), "steps"),  # type: ignore[arg-type]
        (lambda: FMN(alpha_init=0), "alpha_init"),
        (lambda: FMN(alpha_final=-1.0), "alpha_final"),
        (lambda: FMN(gamma_init=1.0), "gamma_init"),
        (lambda: FMN(gamma_final=0), "gamma_final"),
        (lambda: FMN(binary_search_steps=-1), "binary_search_steps"),
        (lambda: FMN(paper_exact="yes"), "paper_exact"),  # type: ignore[arg-type]
        (lambda: FMN(max_norm=0), "max_norm"),
        (lambda: FMN(bounds="nope"), "bounds"),
    ],
)
def test_bad_settings(make: Callable[[], object], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        make()


def test_defaults() -> None:
    attack = FMN(norm="linf")
    assert (attack.steps, attack.alpha_init, attack.alpha_final) == (100, 1.0, 0.01)
    assert (attack.gamma_init, attack.gamma_final, attack.binary_search_steps) == (0.05, 0.001, 10)
    assert FMN(alpha_init=2.0).alpha_final == 0.02
