"""Minimal-perturbation attacks: DeepFool (L2, L-infinity) and the Trust-Region attack."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from helpers import fitted_mlp
from torch import nn

from jumprelu.attacks.base import Bounds, MinimalAttack
from jumprelu.attacks.deepfool import DeepFool
from jumprelu.attacks.grad import logit_gradients
from jumprelu.attacks.trust_region import TrustRegion
from jumprelu.errors import ConfigError
from jumprelu.retrofit import retrofit

SHARED = Path(__file__).resolve().parents[2] / "shared"
CHECKPOINT = SHARED / "reference" / "lenet_mnist_baseline.pkl"
MNIST = SHARED / "data"
WIDE = Bounds(-100.0, 100.0)  # no pressure from the box


def mlp() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """The shared fitted MLP (64 images)."""
    return fitted_mlp(64)


def linear(classes: int) -> tuple[nn.Linear, torch.Tensor, torch.Tensor]:
    torch.manual_seed(classes)
    model = nn.Linear(6, classes)
    x = torch.randn(10, 6)
    with torch.no_grad():
        y = model(x).argmax(1)
    return model, x, y


ATTACKS: dict[str, Callable[..., MinimalAttack]] = {
    "deepfool-l2": lambda **kw: DeepFool(norm="l2", **kw),
    "deepfool-linf": lambda **kw: DeepFool(norm="linf", **kw),
    "tr-l2": lambda **kw: TrustRegion(norm="l2", radius=0.1, steps=20, **kw),
    "tr-linf": lambda **kw: TrustRegion(norm="linf", radius=0.01, steps=20, **kw),
    "tr-adaptive-l2": lambda **kw: TrustRegion(norm="l2", adaptive=True, **kw),
    "tr-adaptive-linf": lambda **kw: TrustRegion(norm="linf", adaptive=True, **kw),
}


def test_names() -> None:
    assert {name: make().name for name, make in ATTACKS.items()} == {n: n for n in ATTACKS}


# --- Linear classifiers: one step to the analytic minimal perturbation times the overshoot ---


def _closest(model: nn.Linear, x: torch.Tensor, y: torch.Tensor, dual: float) -> torch.Tensor:
    """The DeepFool-closest class of each sample of a linear model, by brute force."""
    with torch.no_grad():
        f = model(x)
    w = model.weight
    dist = torch.full(f.shape, float("inf"))
    for n in range(len(x)):
        for k in range(f.shape[1]):
            if k != y[n]:
                dist[n, k] = (f[n, k] - f[n, y[n]]).abs() / (w[k] - w[y[n]]).norm(p=dual)
    return dist.argmin(1)


@pytest.mark.parametrize("classes", [2, 5])
@pytest.mark.parametrize("norm", ["l2", "linf"])
def test_deepfool_linear_one_analytic_step(classes: int, norm: str) -> None:
    model, x, y = linear(classes)
    res = DeepFool(norm=norm, bounds=WIDE)(model, x, y)
    dual = 2.0 if norm == "l2" else 1.0
    k = _closest(model, x, y, dual)
    with torch.no_grad():
        f = model(x)
        w = model.weight[k] - model.weight[y]
        gap = (f.gather(1, k[:, None]) - f.gather(1, y[:, None])).abs()
        size = (gap / w.norm(p=dual, dim=1, keepdim=True) + 1e-4) * 1.02
        expected = size * (w / w.norm(dim=1, keepdim=True) if norm == "l2" else w.sign())
    torch.testing.assert_close(res.x_adv - x, expected, atol=1e-5, rtol=1e-4)
    assert res.success.all() and (res.iterations == 1).all()
    assert (res.grad_evals == classes - 1).all() and not res.zero_grad.any()


@pytest.mark.parametrize("norm", ["l2", "linf"])
def test_trust_region_linear_steps(norm: str) -> None:
    model, x, y = linear(5)
    # A radius larger than every distance: TR's step is DeepFool's.
    big = TrustRegion(norm=norm, radius=1e3, bounds=WIDE)(model, x, y)
    df = DeepFool(norm=norm, bounds=WIDE)(model, x, y)
    torch.testing.assert_close(big.x_adv, df.x_adv)
    assert (big.iterations == 1).all()
    # A small radius: one step of (min(r, radius) + 1e-4) * 1.02 toward the closest boundary.
    small = TrustRegion(norm=norm, radius=0.01, steps=1, bounds=WIDE)(model, x, y)
    dual = 2.0 if norm == "l2" else 1.0
    k = _closest(model, x, y, dual)
    with torch.no_grad():
        f = model(x)
        w = model.weight[k] - model.weight[y]
        r = (f.gather(1, k[:, None]) - f.gather(1, y[:, None])).abs() / w.norm(p=dual, dim=1)[
            :, None
        ]
        unit = w / w.norm(dim=1, keepdim=True) if norm == "l2" else w.sign()
    expected = (r.clamp(max=0.01) + 1e-4) * 1.02 * unit
    torch.testing.assert_close(small.x_adv - x, expected, atol=1e-6, rtol=1e-4)


def test_candidates_limit_the_classes() -> None:
    model, x, y = linear(5)
    res = DeepFool(candidates=1, bounds=WIDE)(model, x, y)
    with torch.no_grad():
        second = model(x).argsort(1, descending=True)[:, 1]
    w = (model.weight[second] - model.weight[y]).detach()
    cos = F.cosine_similarity(res.x_adv - x, w, dim=1)
    torch.testing.assert_close(cos, torch.ones(len(x)))
    assert (res.grad_evals == 1).all()


# --- A small trained ReLU network ---


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_bookkeeping_box_and_model_state(name: str) -> None:
    model, x, y = mlp()
    model.train()
    box = Bounds(0.0, 1.0)
    res = ATTACKS[name](bounds=box)(model, x, y)
    assert model.training and all(p.grad is None for p in model.parameters())
    assert float(res.x_adv.min()) >= 0.0 and float(res.x_adv.max()) <= 1.0
    with torch.no_grad():
        pred = model.eval()(res.x_adv).argmax(1)
    assert torch.equal(res.success, pred != y)
    assert torch.isfinite(res.x_adv).all() and not res.zero_grad.any()
    assert res.config["name"] == name


@pytest.mark.parametrize(
    "name", ["deepfool-l2", "deepfool-linf", "tr-adaptive-l2", "tr-adaptive-linf"]
)
def test_unbounded_attacks_always_succeed(name: str) -> None:
    model, x, y = mlp()
    res = ATTACKS[name](bounds=WIDE)(model, x, y)
    assert res.success.all()
    assert (res.iterations >= 1).all()


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_results_do_not_depend_on_the_batch(name: str) -> None:
    model, x, y = mlp()
    whole = ATTACKS[name](bounds=WIDE)(model, x, y)
    halves = [ATTACKS[name](bounds=WIDE)(model, x[s], y[s]) for s in (slice(0, 29), slice(29, 64))]
    torch.testing.assert_close(torch.cat([h.x_adv for h in halves]), whole.x_adv, atol=1e-5, rtol=0)
    small = ATTACKS[name](bounds=WIDE, batch_size=7)(model, x, y)
    torch.testing.assert_close(small.x_adv, whole.x_adv, atol=1e-5, rtol=0)
    assert torch.equal(small.iterations, whole.iterations)


@pytest.mark.parametrize("norm", ["l2", "linf"])
def test_max_norm_cap(norm: str) -> None:
    model, x, y = mlp()
    free = DeepFool(norm=norm, bounds=WIDE)(model, x, y)
    cap = float(getattr(free, norm).median())
    res = DeepFool(norm=norm, max_norm=cap, bounds=WIDE)(model, x, y)
    size = getattr(res, norm)
    assert (size <= cap + 1e-6).all()
    over = getattr(free, norm) > cap
    assert over.any() and (size[over] == 0).all() and not res.success[over].any()


def test_misclassified_points_are_not_attacked() -> None:
    model, x, y = mlp()
    y = y.clone()
    y[:5] = (y[:5] + 1) % 4
    for make in ATTACKS.values():
        res = make(bounds=WIDE)(model, x, y)
        assert torch.equal(res.x_adv[:5], x[:5]) and (res.iterations[:5] == 0).all()
        assert res.success[:5].all()


# --- Zero gradients: JumpReLU turning every unit off ---


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_zero_gradient_gives_up_without_nan(name: str) -> None:
    model, x, _ = mlp()
    dead = retrofit(model, 1e6)  # every unit off: constant logits, exactly zero gradients
    with torch.no_grad():
        y = dead(x).argmax(1)
    res = ATTACKS[name](bounds=WIDE)(dead, x, y)
    assert res.zero_grad.all() and torch.equal(res.x_adv, x)
    assert (res.iterations <= 1).all() and not res.success.any()


def test_partly_zero_gradients() -> None:
    model, x, _ = mlp()
    jumpy = retrofit(model, 2.5)  # about half the points lose their gradient
    with torch.no_grad():
        y = jumpy(x).argmax(1)
    for name, make in ATTACKS.items():
        res = make(bounds=WIDE)(jumpy, x, y)
        assert torch.isfinite(res.x_adv).all()
        assert 0 < int(res.zero_grad.sum()) < len(x), name
        assert not (res.zero_grad & res.success).any()  # given up while still correct


def test_logit_gradients_match_a_per_class_loop_on_a_jump_model() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(1, 4, 3),
        nn.MaxPool2d(2),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(36, 16),
        nn.ReLU(),
        nn.Linear(16, 5),
    )
    model = retrofit(net, 1.0).eval()
    x = (3 * torch.randn(12, 1, 8, 8)).requires_grad_(True)
    logits = model(x)
    classes = torch.randint(0, 5, (12, 3))
    ref = logits.argmax(1).detach()
    got = logit_gradients(logits, x, classes, ref)
    for k in range(3):
        sel = logits.gather(1, classes[:, k : k + 1]) - logits.gather(1, ref[:, None])
        (want,) = torch.autograd.grad(sel.sum(), x, retain_graph=True)
        torch.testing.assert_close(got[:, k], want)
    masked = got.flatten(2).eq(0).all(2).all(1)
    assert 0 < int(masked.sum()) < len(x)  # the jump zeroes some samples' gradients exactly
    assert all(p.grad is None for p in model.parameters())


# --- Trust region: a target fixed on the clean input, and the adaptive radius ---


class Bend(nn.Module):
    """Three classes on the plane: class 0 wins at the origin, class 1's boundary is x0 = 1
    (the closest there), class 2's logit x1 - 1.5 + 10 relu(x0 - 0.2) bends toward the origin."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = x[:, 0], x[:, 1]
        return torch.stack([torch.zeros_like(a), a - 1, b - 1.5 + 10 * torch.relu(a - 0.2)], 1)


def test_trust_region_keeps_the_clean_target() -> None:
    model, x, y = Bend(), torch.zeros(1, 2), torch.zeros(1, dtype=torch.long)
    res = TrustRegion(radius=0.1, steps=10, bounds=WIDE)(model, x, y)
    assert res.success.all() and int(res.iterations) == 4
    assert float(res.x_adv[0, 1]) == 0.0  # only ever toward class 1: along x0
    assert float(res.x_adv[0, 0]) == pytest.approx(4 * 0.1001 * 1.02)
    # DeepFool re-chooses at every step; from where TR stood it would turn toward class 2.
    stood = torch.tensor([[3 * 0.1001 * 1.02, 0.0]])
    again = DeepFool(steps=1, bounds=WIDE)(model, stood, y)
    assert float(again.x_adv[0, 1]) > 0


@pytest.mark.parametrize("norm", ["l2", "linf"])
def test_adaptive_radius_against_fixed_radius(norm: str) -> None:
    model, x, y = mlp()
    small = 0.01 if norm == "l2" else 0.002
    fixed = TrustRegion(norm=norm, radius=small, steps=20, bounds=WIDE)(model, x, y)
    adaptive = TrustRegion(norm=norm, radius=small, steps=20, adaptive=True, bounds=WIDE)
    ada = adaptive(model, x, y)
    # Same budget: the adaptive radius fools every point, the fixed small one far fewer ...
    assert ada.success.all() and fixed.success.float().mean() < 0.5
    # ... in fewer iterations, with perturbations as small as DeepFool's and within 2 % of
    # the fixed radius' tiny steps on the points both fool.
    both = fixed.success
    assert ada.iterations.float().mean() < fixed.iterations.float().mean()
    df = DeepFool(norm=norm, bounds=WIDE)(model, x, y)
    assert float(getattr(ada, norm).mean()) <= float(getattr(df, norm).mean())
    if both.any():
        a, f = getattr(ada, norm)[both].mean(), getattr(fixed, norm)[both].mean()
        assert float(a) <= 1.02 * float(f)


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: DeepFool(steps=0), "steps"),
        (lambda: DeepFool(overshoot=-0.1), "overshoot"),
        (lambda: DeepFool(overshoot=float("nan")), "overshoot"),
        (lambda: DeepFool(candidates=0), "candidates"),
        (lambda: DeepFool(batch_size=0), "batch_size"),
        (lambda: DeepFool(norm="l1"), "norm"),
        (lambda: DeepFool(max_norm=0), "max_norm"),
        (lambda: TrustRegion(radius=0), "radius"),
        (lambda: TrustRegion(radius_factor=1.0), "radius_factor"),
        (lambda: TrustRegion(min_radius=0.1), "min_radius"),
        (lambda: TrustRegion(max_radius=0.001), "max_radius"),
        (lambda: TrustRegion(adaptive="yes"), "adaptive"),  # type: ignore[arg-type]
        (lambda: TrustRegion(steps=2.5), "steps"),  # type: ignore[arg-type]
    ],
)
def test_bad_settings(make: Callable[[], object], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        make()


# --- The paper's numbers: the authors' LeNet on MNIST, normalised space, 40 iterations ---

# ../shared/reference/README.md, all 10,000 test images at jump 0: accuracy (%), rho_inf, rho_2.
REFERENCE = {
    "deepfool-linf": (0.00, 0.1790, 0.3300),
    "deepfool-l2": (0.00, 0.5344, 0.2181),
    "tr-l2": (99.37, 0.0329, 0.0135),
}


def _paper(name: str, n: int) -> tuple[float, float, float]:
    """Accuracy (%), rho_inf and rho_2 over the first ``n`` test images, attacked in batches
    of 1,000 as the authors did (so the box is each batch's range)."""
    if not (CHECKPOINT.is_file() and MNIST.is_dir()):
        pytest.skip("the shared reference checkpoint or MNIST data is absent")
    from jumprelu.datasets.core import load_split
    from jumprelu.models.checkpoints import load_checkpoint

    model, _ = load_checkpoint(CHECKPOINT, arch="lenet", mean=(0.1307,), std=(0.3081,))
    split = load_split("mnist", "test", data_dir=MNIST).take(n)
    xn = (split.x - 0.1307) / 0.3081
    attack = {
        "deepfool-linf": DeepFool(norm="linf", steps=40, bounds="paper"),
        "deepfool-l2": DeepFool(norm="l2", steps=40, bounds="paper"),
        "tr-l2": TrustRegion(norm="l2", radius=0.01, steps=40, bounds="paper"),
    }[name]
    results = [
        attack(model.net, xb, yb)
        for xb, yb in zip(torch.split(xn, 1000), torch.split(split.y, 1000), strict=True)
    ]
    assert not any(r.zero_grad.any() for r in results)
    success = torch.cat([r.success for r in results]).float()
    rho_inf = torch.cat([r.linf_rel for r in results]).mean()
    rho_2 = torch.cat([r.l2_rel for r in results]).mean()
    return 100 * (1 - float(success.mean())), float(rho_inf), float(rho_2)


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_paper_first_images_sanity(name: str) -> None:
    acc, rho_inf, rho_2 = _paper(name, 200)
    ref_acc, ref_inf, ref_2 = REFERENCE[name]
    assert abs(acc - ref_acc) <= 1.5
    assert rho_inf == pytest.approx(ref_inf, rel=0.1)
    assert rho_2 == pytest.approx(ref_2, rel=0.1)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_paper_reference_numbers(name: str) -> None:
    acc, rho_inf, rho_2 = _paper(name, 10_000)
    ref_acc, ref_inf, ref_2 = REFERENCE[name]
    assert abs(acc - ref_acc) <= 0.3
    assert rho_inf == pytest.approx(ref_inf, rel=0.02)
    assert rho_2 == pytest.approx(ref_2, rel=0.02)
