"""MeanSparse as a retrofit (issue 21, item 1, library part): statistics, the operator, its
gradient variants, and the adaptive suite through them."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn

import jumprelu
from jumprelu.activation import MeanSparse
from jumprelu.errors import ConfigError
from jumprelu.meansparse import calibrate, set_alpha


@pytest.fixture(scope="module")
def digits() -> tuple[nn.Module, torch.Tensor, torch.Tensor, torch.Tensor]:
    model, _ = jumprelu.load_checkpoint(jumprelu.default_model_path())
    train, test = jumprelu.load_split("digits", "train"), jumprelu.load_split("digits", "test")
    return model, train.x, test.x[:24], test.y[:24]


def test_alpha_zero_is_the_original_network_bit_for_bit(
    digits: tuple[nn.Module, torch.Tensor, torch.Tensor, torch.Tensor],
) -> None:
    model, train, x, _ = digits
    ms = jumprelu.retrofit(model, 0.0, kind="meansparse", calibration=train)
    with torch.no_grad():
        assert torch.equal(ms.eval()(x), model.eval()(x))
    ops = [m for m in ms.modules() if isinstance(m, MeanSparse)]
    assert len(ops) == len(jumprelu.jump_sites(jumprelu.retrofit(model)))  # one per ReLU site


def test_statistics_are_the_mean_of_per_batch_means_and_variances() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    x = torch.randn(10, 3)
    stats = calibrate(jumprelu.retrofit(net), x, batch_size=4)  # batches of 4, 4 and 2
    with torch.no_grad():
        h = net[0](x).double()
    parts = [h[:4], h[4:8], h[8:]]
    mean = torch.stack([p.mean(0) for p in parts]).mean(0)
    var = torch.stack([p.var(0, unbiased=False) for p in parts]).mean(0)
    got_mean, got_std = stats["1"]
    assert torch.allclose(got_mean, mean.float()) and torch.allclose(got_std, var.sqrt().float())


def test_the_band_becomes_the_mean_and_each_gradient_variant() -> None:
    x = torch.tensor([[-2.0, -0.4, 0.1, 0.45, 3.0]]).T.requires_grad_()  # one channel
    op = MeanSparse(torch.tensor([0.0]), torch.tensor([1.0]), alpha=0.5)
    y = op(x)
    assert y.detach().flatten().tolist() == [-2.0, 0.0, 0.0, 0.0, 3.0]
    grads = {}
    for name in ("exact", "relu", "smooth-0.5"):
        op.gradient = name
        (g,) = torch.autograd.grad(op(x).sum(), x)
        grads[name] = g.flatten()
        assert torch.equal(op(x).detach(), y.detach())  # the forward pass never changes
    assert grads["exact"].tolist() == [1.0, 0.0, 0.0, 0.0, 1.0]  # zero inside the band
    assert grads["relu"].tolist() == [1.0] * 5  # straight-through: the identity's
    inside = grads["smooth-0.5"][1:4]
    assert bool((inside > 0).all()) and abs(float(grads["smooth-0.5"][0]) - 1) < 0.05


def test_bpda_sets_the_operators_gradient_and_restores_it(
    digits: tuple[nn.Module, torch.Tensor, torch.Tensor, torch.Tensor],
) -> None:
    model, train, _, _ = digits
    ms = jumprelu.retrofit(model, 0.5, kind="meansparse", calibration=train)
    ops = [m for m in ms.modules() if isinstance(m, MeanSparse)]
    with jumprelu.bpda(ms, "smooth-0.1"):
        assert {op.gradient for op in ops} == {"smooth-0.1"}
    assert {op.gradient for op in ops} == {"exact"}
    set_alpha(ms, 1.0)
    assert {float(op.alpha) for op in ops} == {1.0}


def test_the_suite_through_the_surrogates_never_reports_more_than_through_exact(
    digits: tuple[nn.Module, torch.Tensor, torch.Tensor, torch.Tensor],
) -> None:
    """A MeanSparse model given as is: the suite attacks it through the band's surrogates
    (its level is alpha, not jump 0) and through its exact gradient."""
    model, train, x, y = digits
    ms = jumprelu.retrofit(model, 1.0, kind="meansparse", calibration=train)
    fast: dict[str, Any] = {
        "apgd-ce-linf": {"steps": 10},
        "apgd-t-linf": {"steps": 10, "n_targets": 2},
        "fmn-linf": {"steps": 10},
        "square-linf": {"queries": 40},
    }
    kw: dict[str, Any] = {"eps": 0.1, "seed": 3, "check_n": 0, "settings": fast}
    exact = jumprelu.adaptive_suite(ms, x, y, surrogates=["exact"], **kw)
    sweep = jumprelu.adaptive_suite(ms, x, y, surrogates=["exact", "relu", "smooth-0.5"], **kw)
    stages = [s["stage"] for s in sweep.stages]
    assert "bpda:apgd-ce-linf" in stages and "bpda-smooth-0.5:apgd-ce-linf" in stages
    assert sweep.robust_accuracy <= exact.robust_accuracy


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"kind": "meanspars"}, "unknown retrofit kind"),
        ({"kind": "meansparse"}, "needs calibration"),
        ({"kind": "meansparse", "calibration": torch.zeros(0, 1, 8, 8)}, "non-empty"),
    ],
)
def test_bad_retrofit_kinds_are_one_line_errors(
    kwargs: dict[str, Any], needle: str, digits: tuple[nn.Module, Any, Any, Any]
) -> None:
    with pytest.raises(ConfigError, match=needle):
        jumprelu.retrofit(digits[0], 0.5, **kwargs)


def test_cli_evaluates_meansparse_bands_alpha_zero_is_the_plain_network(
    tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--retrofit meansparse``: the grid's values are bands; at 0 every cell equals the plain
    network's (JumpReLU at jump 0); the record and the report name the defence."""
    import json

    from jumprelu.cli.main import main

    base = ["-q", "evaluate", "--dataset", "digits", "--n", "12", "--attacks", "fgsm"]
    base += ["--threats", "white,adaptive", "--adaptive-extra=", "--jumps", "0,1"]
    assert (
        main([*base, "--retrofit", "meansparse", "--calib-n", "300", "--out", str(tmp_path / "ms")])
        == 0
    )
    assert main([*base, "--out", str(tmp_path / "jr")]) == 0
    capsys.readouterr()
    ms, jr = (json.loads((tmp_path / d / "results.json").read_text()) for d in ("ms", "jr"))
    assert ms["config"]["retrofit"] == "meansparse" and "retrofit" not in jr["config"]
    assert ms["provenance"]["calibration"]["n"] == 300
    at0 = {c["attack"]: c["metrics"]["adv_accuracy"] for c in ms["cells"] if c["jump"] == 0}
    assert at0 == {c["attack"]: c["metrics"]["adv_accuracy"] for c in jr["cells"] if c["jump"] == 0}
    assert "MeanSparse" in (tmp_path / "ms" / "report.md").read_text()
    assert ms["defence"] == {"name": "meansparse", "parameter": "alpha"}
    assert jr["defence"] == {"name": "jumprelu", "parameter": "kappa"}
    import csv

    rows = list(csv.DictReader((tmp_path / "ms" / "results.csv").open()))
    assert {(r["defence"], r["parameter"]) for r in rows} == {("meansparse", "alpha")}
    assert "| alpha | n | clean % |" in (tmp_path / "ms" / "report.md").read_text()


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--calib-n", "10"], "--calib-n goes with a calibrated --retrofit"),
        (["--retrofit", "meansparse", "--jumps", "0,@m.json"], "takes numbers"),
        (["--retrofit", "meansparse", "--calib-n", "0"], "calib n must be"),
    ],
)
def test_cli_meansparse_errors_are_one_line(
    extra: list[str], needle: str, tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from jumprelu.cli.main import main

    (tmp_path / "m.json").write_text('{"net.act1": 0.5}')
    argv = ["-q", "evaluate", "--dataset", "digits", "--n", "5", "--attacks", "fgsm"]
    argv = [
        *argv,
        "--threats",
        "white",
        *[e.replace("@m.json", f"@{tmp_path}/m.json") for e in extra],
    ]
    assert main([*argv, "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert needle in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()


def test_tune_picks_alpha_on_validation_data(
    digits: tuple[nn.Module, torch.Tensor, torch.Tensor, torch.Tensor],
) -> None:
    """As it picks kappa: the largest band within max_drop of the plain network's accuracy."""
    model, train, _, _ = digits
    val = jumprelu.load_split("digits", "val")
    result = jumprelu.tune(model, val, [0.0, 0.5, 1.0, 4.0], max_drop=0.01, calibration=train)
    drops = {r["jump"]: r["drop"] for r in result.rows}
    assert drops[0.0] == 0 and result.jump is not None
    assert drops[result.jump] <= 0.01 + 1e-12
    assert all(d > 0.01 for j, d in drops.items() if j > result.jump)
    with pytest.raises(ConfigError, match="per-layer"):
        jumprelu.tune(model, val, [0.0], calibration=train, per_layer_quantiles=[0.5])


def test_a_loaded_state_dict_sets_the_band() -> None:
    op = MeanSparse(torch.tensor([0.0]), torch.tensor([1.0]), alpha=0.0)
    op.load_state_dict(MeanSparse(torch.tensor([0.0]), torch.tensor([1.0]), alpha=0.5).state_dict())
    assert op(torch.tensor([[0.3]])).item() == 0.0  # inside the loaded band


def test_strengths_is_another_name_for_jumps() -> None:
    """``--strengths`` (the defence's kappa or alpha) fills the same grid as ``--jumps``."""
    from jumprelu.cli.grid_config import eval_config
    from jumprelu.cli.main import build_parser

    argv = ["evaluate", "--dataset", "digits", "--retrofit", "meansparse", "--out", "x"]
    one = eval_config(build_parser().parse_args([*argv, "--strengths", "0,0.5"]))
    two = eval_config(build_parser().parse_args([*argv, "--jumps", "0,0.5"]))
    assert one == two and list(one.jumps) == [0.0, 0.5]
