"""``jumprelu.adaptive_suite``: the honest number in one call, equal to the CLI's suite rows."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

import jumprelu
from jumprelu.cli.main import main
from jumprelu.errors import ConfigError

FAST: dict[str, dict[str, Any]] = {
    "apgd-ce-linf": {"steps": 10},
    "apgd-t-linf": {"steps": 10, "n_targets": 2},
    "fmn-linf": {"steps": 10},
    "square-linf": {"queries": 40},
}
SURROGATES = ["relu", "smooth-0.25"]


@pytest.fixture(scope="module")
def digits() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    model, _ = jumprelu.load_checkpoint(jumprelu.default_model_path())
    test = jumprelu.load_split("digits", "test")
    return model, test.x[:24], test.y[:24]


@pytest.fixture(scope="module")
def api(digits: tuple[nn.Module, torch.Tensor, torch.Tensor]) -> jumprelu.SuiteResult:
    model, x, y = digits
    return jumprelu.adaptive_suite(
        model,
        x,
        y,
        eps=0.1,
        jumps=[0.0, 1.0],
        surrogates=SURROGATES,
        seed=3,
        batch_size=7,
        check_n=10,
        settings=FAST,
    )


def test_one_call_equals_the_cli_suite_rows(
    api: jumprelu.SuiteResult, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Same points, seed and settings: per-point results, stages and flags are the CLI's."""
    sets = [f"--set={a}.{k}={v}" for a, s in FAST.items() for k, v in s.items()]
    out = tmp_path / "run"
    args = ["-q", "evaluate", "--dataset", "digits", "--n", "24", "--jumps", "0,1", "--eps", "0.1"]
    args += ["--threats", "adaptive", "--suite", "linf", "--surrogates", ",".join(SURROGATES)]
    args += ["--seed", "3", "--batch-size", "7", "--check-n", "10", *sets, "--no-report"]
    assert main([*args, "--out", str(out)]) == 0
    capsys.readouterr()
    doc = json.loads((out / "results.json").read_text())
    cells = {c["jump"]: c for c in doc["cells"] if c["attack"] == "suite-linf"}
    assert sorted(cells) == sorted(api.robust_accuracy) == [0.0, 1.0]
    for jump, cell in cells.items():
        assert api.robust_accuracy[jump] == pytest.approx(cell["metrics"]["adv_accuracy"])
        assert [(s["stage"], s["attacked"], s["broken"]) for s in api.stages[jump]] == [
            (s["stage"], s["attacked"], s["broken"]) for s in cell["stages"]
        ]
        assert api.checks[jump] == cell["checks"]
        here = sorted(f["code"] for f in api.flags[jump])
        assert here == sorted(f["code"] for f in doc["flags"] if f"jump {jump:g}" in f["where"])
        name = f"suite-linf__suite__{jump:g}.npz"
        with np.load(out / "cells" / name) as z:
            clean = doc["clean"][[c["jump"] for c in doc["clean"]].index(jump)]
            assert clean["accuracy"] == pytest.approx(api.clean_accuracy[jump])
            assert np.array_equal(z["adv_correct"] & api.robust[jump].numpy(), api.robust[jump])
            assert int(api.robust[jump].sum()) == round(cell["metrics"]["adv_accuracy"] * 24)


def test_result_holds_real_adversarial_inputs_within_the_budget(
    api: jumprelu.SuiteResult, digits: tuple[nn.Module, torch.Tensor, torch.Tensor]
) -> None:
    model, x, y = digits
    jm = jumprelu.retrofit(model, 1.0)
    x_adv = api.x_adv[1.0]
    assert x_adv.shape == x.shape
    assert float((x_adv - x).abs().amax()) <= 0.1 + 1e-6
    with torch.no_grad():
        fooled = jm(x_adv).argmax(1) != y
    assert torch.equal(fooled, ~api.robust[1.0])  # a broken point's input fools the model
    doc = json.loads(json.dumps(api.to_dict()))
    assert doc["robust_accuracy"] == {
        "0.0": api.robust_accuracy[0.0],
        "1.0": api.robust_accuracy[1.0],
    }
    assert len(doc["robust"]["1.0"]) == len(x) and "x_adv" not in doc


def test_a_retrofitted_model_as_given_is_attacked_through_the_surrogates(
    digits: tuple[nn.Module, torch.Tensor, torch.Tensor], api: jumprelu.SuiteResult
) -> None:
    """Without ``jumps`` a model with JumpReLU sites is the jump's cell; a float, not a dict."""
    model, x, y = digits
    r = jumprelu.adaptive_suite(
        jumprelu.retrofit(model, 1.0),
        x,
        y,
        eps=0.1,
        surrogates=SURROGATES,
        seed=3,
        batch_size=7,
        check_n=10,
        settings=FAST,
    )
    assert isinstance(r.robust_accuracy, float)
    assert r.robust_accuracy == api.robust_accuracy[1.0]
    assert torch.equal(r.robust, api.robust[1.0])


def test_a_plain_model_is_attacked_through_its_own_gradient() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 5))
    x, y = torch.rand(12, 1, 4, 4), torch.randint(0, 5, (12,))
    r = jumprelu.adaptive_suite(
        model,
        x,
        y,
        norm="l2",
        eps=0.5,
        check_n=0,
        settings={"square-l2": {"queries": 20}, "apgd-t-l2": {"n_targets": 2}},
    )
    assert [s["stage"] for s in r.stages] == ["apgd-ce-l2", "apgd-t-l2", "fmn-l2", "square-l2"]
    assert 0.0 <= r.robust_accuracy <= r.clean_accuracy


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"norm": "l3"}, "unknown norm"),
        ({"eps": 0.0}, "eps must be"),
        ({"eps": float("nan")}, "eps must be"),
        ({"jumps": [-1.0]}, "jump must be"),
        ({"jumps": [1e308]}, "jump must be"),
        ({"eps": 1e-300}, "too small for float32"),
        ({"settings": {"apgd-ce-linf": {"eps": 0.5}}}, "budget of every stage is eps"),
        ({"settings": {"apgd-t-linf": {"n_targets": 50}}}, "exceeds"),
        ({"surrogates": ["exact+noise"]}, "surrogate"),
        ({"settings": {"pgd-linf": {"steps": 3}}}, "no suite stage"),
        ({"settings": {"apgd-ce-linf": {"stepz": 3}}}, "no setting"),
        ({"batch_size": 0}, "batch size"),
    ],
)
def test_bad_arguments_are_one_line_errors(
    kwargs: dict[str, Any], needle: str, digits: tuple[nn.Module, torch.Tensor, torch.Tensor]
) -> None:
    model, x, y = digits
    with pytest.raises(ConfigError, match=needle):
        jumprelu.adaptive_suite(model, x[:2], y[:2], **{"eps": 0.1, **kwargs})


def test_bad_tensors_are_refused(digits: tuple[nn.Module, torch.Tensor, torch.Tensor]) -> None:
    model, x, y = digits
    with pytest.raises(ConfigError, match="labels must lie"):
        jumprelu.adaptive_suite(model, x[:2], torch.tensor([0, 10]), eps=0.1)
    with pytest.raises(ConfigError, match="N, C, H, W"):
        jumprelu.adaptive_suite(model, x[:2, 0], y[:2], eps=0.1)
    with pytest.raises(ConfigError, match=r"\[0, 1\]"):
        jumprelu.adaptive_suite(model, x[:2] * 3, y[:2], eps=0.1)


@pytest.mark.slow
def test_issue_snippet_equals_the_cli_at_100_digits(tmp_path: Path) -> None:
    """The one call with every default equals ``jumprelu evaluate ... --suite linf`` (1 min)."""
    model, _ = jumprelu.load_checkpoint(jumprelu.default_model_path())
    test = jumprelu.load_split("digits", "test")
    r = jumprelu.adaptive_suite(
        model, test.x[:100], test.y[:100], norm="linf", eps=0.1, jumps=[0.0, 1.0], seed=0
    )
    args = ["-q", "evaluate", "--dataset", "digits", "--threats", "adaptive", "--suite", "linf"]
    args += ["--jumps", "0,1", "--eps", "0.1", "--n", "100", "--seed", "0", "--no-report"]
    assert main([*args, "--out", str(tmp_path / "run")]) == 0
    doc = json.loads((tmp_path / "run" / "results.json").read_text())
    rows = {c["jump"]: c["metrics"]["adv_accuracy"] for c in doc["cells"]}
    assert rows == pytest.approx(r.robust_accuracy)


def test_the_exact_surrogate_is_what_a_plain_attack_sees(
    digits: tuple[nn.Module, torch.Tensor, torch.Tensor], api: jumprelu.SuiteResult
) -> None:
    """``surrogates=["exact"]``: the defence's own gradient, the number a plain AutoAttack run
    reports; at a jump where that gradient is masked it leaves more points robust than the
    sweep through the surrogates (which may only lower it)."""
    model, x, y = digits
    kw: dict[str, Any] = {"eps": 0.1, "seed": 3, "batch_size": 7, "check_n": 0}
    exact = jumprelu.adaptive_suite(
        model, x, y, jumps=[0.0, 1.0], surrogates=["exact"], settings=FAST, **kw
    )
    assert exact.stages[1.0][0]["stage"] == "bpda-exact:apgd-ce-linf"
    assert exact.robust_accuracy[0.0] == api.robust_accuracy[0.0]  # at jump 0 all coincide
    assert exact.robust_accuracy[1.0] >= api.robust_accuracy[1.0]
    both = jumprelu.adaptive_suite(
        model, x, y, jumps=[1.0], surrogates=["exact", *SURROGATES], settings=FAST, **kw
    )
    assert both.robust_accuracy[1.0] <= exact.robust_accuracy[1.0]
