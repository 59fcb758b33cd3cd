"""Retrofit: every ReLU site replaced, jump 0 bit for bit, original untouched, per-site jumps."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from jumprelu.activation import JumpReLU
from jumprelu.errors import ConfigError, RetrofitError
from jumprelu.retrofit import (
    RetrofitWarning,
    jump_sites,
    retrofit,
    retrofit_with_report,
    set_gradient,
    set_jump,
)


class ReusedReLU(nn.Module):
    """One ReLU instance called at three places, as torchvision's ResNet does."""

    def __init__(self) -> None:
        super().__init__()
        self.a, self.b, self.c = nn.Linear(6, 8), nn.Linear(8, 8), nn.Linear(8, 3)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.a(x))
        x = self.relu(self.b(x))
        return self.c(self.relu(x))


class Functional(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a, self.b, self.c = nn.Linear(6, 8), nn.Linear(8, 8), nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.a(x))
        x = torch.relu(self.b(x))
        return self.c(x.relu())


class InplaceSideEffect(nn.Module):
    """Relies on F.relu_ mutating its argument; the return value is ignored."""

    def __init__(self) -> None:
        super().__init__()
        self.a, self.c = nn.Linear(6, 8), nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.a(x)
        F.relu_(h)
        return self.c(h)


class Untraceable(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a, self.c = nn.Linear(6, 8), nn.Linear(8, 3)
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.a(x)
        if h.sum() > 0:  # data-dependent control flow: torch.fx cannot trace this
            h = F.relu(h)
        return self.c(self.act(h))


class NoReLU(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(6, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.a(x))


class Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.conv(self.relu(x)) + x)


class Nested(nn.Module):
    """A model whose sites sit inside children: a block reusing ReLU and a Sequential."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(inplace=True))
        self.block = Block()
        self.head = nn.Linear(3 * 5 * 5, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(F.relu(self.block(self.stem(x))).flatten(1))


def sequential() -> nn.Module:
    return nn.Sequential(
        nn.Linear(6, 8),
        nn.ReLU(inplace=True),
        nn.Linear(8, 8),
        nn.ReLU(inplace=True),
        nn.Linear(8, 3),
    )


CASES = {
    "sequential-inplace": (sequential, (6,), 2),
    "reused-3-sites": (ReusedReLU, (6,), 3),
    "functional": (Functional, (6,), 3),
    "inplace-side-effect": (InplaceSideEffect, (6,), 1),
    "nested": (Nested, (1, 5, 5), 4),
}


@pytest.fixture(params=sorted(CASES))
def case(request: pytest.FixtureRequest) -> tuple[nn.Module, torch.Tensor, int]:
    make, shape, n_sites = CASES[request.param]
    torch.manual_seed(0)
    model = make().eval()
    x = torch.randn(16, *shape) * 2
    return model, x, n_sites


def test_every_site_replaced_and_jump_zero_bitwise(case: tuple[nn.Module, torch.Tensor, int]):
    model, x, n_sites = case
    original = copy.deepcopy(model.state_dict())
    ref = model(x.clone())
    jm, report = retrofit_with_report(model, 0.0)
    assert len(report.sites) == n_sites
    assert len(jump_sites(jm)) == n_sites
    assert [s.name for s in report.sites] == list(jump_sites(jm))
    assert not any(isinstance(m, nn.ReLU) for m in jm.modules() if not isinstance(m, JumpReLU))
    assert torch.equal(jm(x.clone()), ref)  # bit for bit
    # the original is untouched: same weights, same modules, same logits
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in original.items())
    assert not any(isinstance(m, JumpReLU) for m in model.modules())
    assert torch.equal(model(x.clone()), ref)


def test_positive_jump_matches_manual_thresholding(case: tuple[nn.Module, torch.Tensor, int]):
    """With every site at jump k the model equals the original with relu monkeypatched."""
    model, x, _ = case
    jm = retrofit(model, 0.4)
    relu, relu_ = torch.relu, torch.relu_

    def jr(t: torch.Tensor, *args: object, **kwargs: object) -> torch.Tensor:
        return torch.where(t > 0.4, t, torch.zeros((), dtype=t.dtype))

    def jr_(t: torch.Tensor, *args: object, **kwargs: object) -> torch.Tensor:
        return t.copy_(jr(t))

    patches = {"relu": jr, "relu_": jr_}
    old_f = {k: getattr(F, k) for k in ("relu", "relu_")}
    old_t = {k: getattr(torch.Tensor, k) for k in ("relu", "relu_")}
    try:
        F.relu, F.relu_ = (lambda t, inplace=False: jr_(t) if inplace else jr(t)), jr_  # type: ignore[assignment]
        torch.relu, torch.relu_ = jr, jr_  # type: ignore[assignment]
        for k, fn in patches.items():
            setattr(torch.Tensor, k, fn)
        expected = model(x.clone())
    finally:
        torch.relu, torch.relu_ = relu, relu_  # type: ignore[assignment]
        for k, fn in old_f.items():
            setattr(F, k, fn)
        for k, fn in old_t.items():
            setattr(torch.Tensor, k, fn)
    got = jm(x.clone())
    assert not torch.equal(got, model(x.clone()))
    assert torch.allclose(got, expected, atol=1e-6)


def test_reused_instance_gets_independent_sites() -> None:
    torch.manual_seed(0)
    model = ReusedReLU().eval()
    x = torch.randn(32, 6) * 2
    jm = retrofit(model, 0.0)
    sites = jump_sites(jm)
    assert len({id(m) for m in sites.values()}) == 3
    set_jump(jm, {"relu_2": 100.0})  # only the last site: everything before it is unchanged
    assert float(sites["relu"].jump) == 0.0 and float(sites["relu_1"].jump) == 0.0
    assert torch.equal(jm(x), model.c.bias.expand(32, 3))


def test_module_swap_keeps_class_and_structure() -> None:
    model = sequential()
    jm = retrofit(model, 0.5)
    assert type(jm) is nn.Sequential
    assert isinstance(jm[1], JumpReLU) and float(jm[1].jump) == 0.5
    assert set(jump_sites(jm)) == {"1", "3"}
    assert "1.jump" in jm.state_dict()


def test_retrofit_of_retrofitted_model_resets_jump() -> None:
    jm = retrofit(sequential(), 0.5)
    again = retrofit(jm, 0.2)
    assert [float(m.jump) for m in jump_sites(again).values()] == pytest.approx([0.2, 0.2])
    assert [float(m.jump) for m in jump_sites(jm).values()] == [0.5, 0.5]


def test_no_relu_raises() -> None:
    with pytest.raises(RetrofitError, match="no ReLU site"):
        retrofit(NoReLU(), 0.5)


def test_untraceable_model_warns_and_still_swaps_modules() -> None:
    with pytest.warns(RetrofitWarning, match="may be missed"):
        jm, report = retrofit_with_report(Untraceable(), 0.5)
    assert [s.name for s in report.sites] == ["act"]
    assert isinstance(jm.act, JumpReLU)
    assert report.untraced and "Untraceable" in report.untraced[0]


def test_set_jump_validation() -> None:
    jm = retrofit(sequential(), 0.0)
    with pytest.raises(ConfigError, match="unknown JumpReLU site"):
        set_jump(jm, {"nope": 1.0})
    with pytest.raises(ConfigError, match="jump"):
        set_jump(jm, -1.0)
    with pytest.raises(ConfigError, match="jump"):
        set_jump(jm, {"1": float("nan")})
    assert [float(m.jump) for m in jump_sites(jm).values()] == [0.0, 0.0]
    with pytest.raises(RetrofitError, match="retrofit"):
        set_jump(sequential(), 1.0)
    with pytest.raises(ConfigError, match="jump"):
        retrofit(sequential(), -0.5)


def test_state_dict_round_trip_carries_jumps() -> None:
    jm = retrofit(Functional(), 0.0)
    set_jump(jm, {"relu": 0.3, "relu_1": 0.7})
    other = retrofit(Functional(), 0.0)
    other.load_state_dict(jm.state_dict())
    assert {k: float(v.jump) for k, v in jump_sites(other).items()} == {
        "relu": pytest.approx(0.3),
        "relu_1": pytest.approx(0.7),
        "relu_2": 0.0,
    }


def test_options_reach_every_site() -> None:
    jm = retrofit(Nested(), 0.1, eval_only=True, gradient="relu")
    assert all(m.eval_only and m.gradient == "relu" for m in jump_sites(jm).values())
    set_gradient(jm, "exact")
    assert all(m.gradient == "exact" for m in jump_sites(jm).values())
    with pytest.raises(ConfigError, match="unknown gradient"):
        retrofit(Nested(), 0.1, gradient="bogus")


@pytest.mark.parametrize(
    "arch", ["lenet", "alexlike", "resnet20", "wrn", "mobilenetv2", "digitsnet"]
)
def test_registered_architectures_retrofit_bitwise(arch: str) -> None:
    from jumprelu.models import ARCHS, NormalizedModel, build_model

    spec = ARCHS[arch]
    torch.manual_seed(0)
    c = spec.input_shape[0]
    model = build_model(arch, mean=(0.5,) * c, std=(0.25,) * c).eval()
    x = torch.rand(2, *spec.input_shape)
    jm, report = retrofit_with_report(model, 0.0)
    assert type(jm) is NormalizedModel and type(jm.net) is type(model.net)  # classes kept
    relus = [m for m in model.modules() if isinstance(m, nn.ReLU)]
    assert len(report.sites) == len(relus) > 0
    assert torch.equal(jm(x), model(x))
