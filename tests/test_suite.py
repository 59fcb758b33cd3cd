"""The adaptive suite: a cascade that never re-attacks a broken point, batch-independent."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from jumprelu.attacks import make_attack
from jumprelu.attacks.base import Bounds, lp_norm
from jumprelu.datasets.core import load_split
from jumprelu.errors import ConfigError
from jumprelu.evaluation.clean import predict
from jumprelu.evaluation.config import EvalConfig
from jumprelu.evaluation.metrics import fits_budget
from jumprelu.evaluation.runner import evaluate
from jumprelu.evaluation.suite import run_suite, suite_plan
from jumprelu.evaluation.units import SUITE_STAGES
from jumprelu.models.checkpoints import default_model_path, load_checkpoint
from jumprelu.retrofit import retrofit

FAST: dict[str, dict[str, Any]] = {
    "apgd-ce-linf": {"steps": 10},
    "apgd-t-linf": {"steps": 10, "n_targets": 2},
    "fmn-linf": {"steps": 10},
    "square-linf": {"queries": 40},
    "apgd-ce-l2": {"steps": 10},
    "apgd-t-l2": {"steps": 10, "n_targets": 2},
    "fmn-l2": {"steps": 10},
    "square-l2": {"queries": 40},
    "pgd-linf": {"steps": 5},
}
SURROGATES = ["relu", "smooth-0.25"]


def _settings(name: str) -> dict[str, Any]:
    seed = {"seed": 0} if name.startswith(("apgd", "square")) else {}
    return {**seed, **FAST.get(name, {})}


def test_plan_runs_each_gradient_stage_once_per_surrogate_and_once_at_jump_0() -> None:
    plan = suite_plan("linf", SURROGATES, 1.0)
    assert plan == [
        ("apgd-ce-linf", "relu"),
        ("apgd-ce-linf", "smooth-0.25"),
        ("apgd-t-linf", "relu"),
        ("apgd-t-linf", "smooth-0.25"),
        ("fmn-linf", "relu"),
        ("fmn-linf", "smooth-0.25"),
        ("square-linf", None),
    ]
    assert [a for a, _ in suite_plan("l2", SURROGATES, 0.0)] == list(SUITE_STAGES["l2"])


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_cascade_attacks_only_points_still_robust(norm: str) -> None:
    model, _ = load_checkpoint(default_model_path())
    data = load_split("digits", "test").take(40)
    jm = retrofit(model, 1.0)
    eps = 0.1 if norm == "linf" else 1.0
    out = run_suite(
        norm,
        jm,
        data.x,
        data.y,
        eps=eps,
        jump=1.0,
        surrogates=SURROGATES,
        settings=_settings,
        batch_size=500,
    )
    correct = predict(jm, data.x) == data.y
    stages = out.stages
    assert stages[0]["attacked"] == int(correct.sum())
    for a, b in itertools.pairwise(stages):
        assert b["attacked"] == a["attacked"] - a["broken"]  # broken points are never re-attacked
    assert int(out.adv_correct.sum()) == stages[-1]["attacked"] - stages[-1]["broken"]
    # every broken point is misclassified, within the budget and the box
    broken = correct & ~out.adv_correct
    assert bool((predict(jm, out.x_adv[broken]) != data.y[broken]).all())
    assert float(lp_norm(out.x_adv - data.x, norm).max()) <= eps * (1 + 1e-5)
    assert float(out.x_adv.min()) >= 0 and float(out.x_adv.max()) <= 1
    assert bool((out.x_adv[~broken] == data.x[~broken]).all())


def _suite_config(batch_size: int) -> EvalConfig:
    return EvalConfig(
        dataset="digits",
        jumps=[0.0, 1.0],
        attacks=["pgd-linf"],
        threats=["adaptive"],
        suite="linf",
        surrogates=SURROGATES,
        settings={k: v for k, v in FAST.items() if k.endswith("linf")},
        batch_size=batch_size,
        check_n=10,
        seed=3,
    )


def test_results_do_not_depend_on_the_batch_size(tmp_path: Path) -> None:
    model, _ = load_checkpoint(default_model_path())
    data = load_split("digits", "test").take(30)
    docs = [evaluate(_suite_config(b), model, data, tmp_path / str(b)) for b in (7, 30)]
    for c7, c30 in zip(docs[0]["cells"], docs[1]["cells"], strict=True):
        assert c7["attack"] == c30["attack"]
        for key in ("adv_accuracy", "rho2_all", "rhoinf_all"):
            assert c7["metrics"][key] == pytest.approx(c30["metrics"][key], abs=1e-6), key
        assert c7.get("stages", [])[:1] == c30.get("stages", [])[:1] or all(
            a["attacked"] == b["attacked"] and a["broken"] == b["broken"]
            for a, b in zip(c7["stages"], c30["stages"], strict=True)
        )
    for name in ("suite-linf__suite__1.npz", "pgd-linf__smooth-0.25__1.npz"):
        with (
            np.load(tmp_path / "7" / "cells" / name) as a,
            np.load(tmp_path / "30" / "cells" / name) as b,
        ):
            assert np.array_equal(a["adv_correct"], b["adv_correct"])
            assert np.allclose(a["l2"], b["l2"], atol=1e-5)


def test_suite_cells_record_stages_and_checks(tmp_path: Path) -> None:
    model, _ = load_checkpoint(default_model_path())
    data = load_split("digits", "test").take(30)
    doc = evaluate(_suite_config(30), model, data, tmp_path)
    suite = [c for c in doc["cells"] if c["attack"] == "suite-linf"]
    assert [c["jump"] for c in suite] == [0.0, 1.0]
    for c in suite:
        assert c["stages"][0]["attacked"] == c["indicators"]["n_correct"]
        assert c["checks"]["n"] == 10 and 0 <= c["checks"]["unbounded_success"] <= 1
        assert c["settings"]["norm"] == "linf" and c["family"] == "fixed-budget"
    # the within-budget worst case is no higher than the suite's own robust accuracy
    for e in doc["ensemble"]:
        s = next(c for c in suite if c["jump"] == e["jump"])
        assert e["budget"]["linf"]["adv_accuracy"] <= s["metrics"]["adv_accuracy"] + 1e-9


@pytest.mark.parametrize(
    "bad",
    [
        {"suite": "autoattack"},
        {"surrogates": ["smooth-0"]},
        {"surrogates": ["exact+noise"]},
        {"surrogates": ["relu+noise"]},  # noise without a sigma
        {"noise_sigma": -0.1},
        {"noise_samples": 0},
        {"check_n": -1},
        {"settings": {"square-linf": {"queries": 0}}},
        {"suite": "linf", "threats": ["white"]},
    ],
)
def test_bad_suite_settings_are_refused(bad: dict[str, Any]) -> None:
    base: dict[str, Any] = {
        "dataset": "digits",
        "jumps": [0.0],
        "attacks": [],
        "threats": ["adaptive"],
        "suite": "linf",
    }
    with pytest.raises(ConfigError):
        EvalConfig(**{**base, **bad}).validate()


def test_noise_surrogate_runs_through_the_suite_units(tmp_path: Path) -> None:
    model, _ = load_checkpoint(default_model_path())
    data = load_split("digits", "test").take(12)
    cfg = EvalConfig(
        dataset="digits",
        jumps=[1.0],
        attacks=["pgd-linf"],
        threats=["adaptive"],
        surrogates=["relu+noise"],
        noise_sigma=0.05,
        noise_samples=4,
        check_n=0,
        adaptive_extra=[],
    )
    doc = evaluate(cfg, model, data, tmp_path)
    assert [c["attack"] for c in doc["cells"]] == ["bpda-relu+noise:pgd-linf"]
    assert torch.isfinite(torch.tensor(doc["cells"][0]["metrics"]["adv_accuracy"]))


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--suite", "autoattack"], "unknown suite"),
        (["--surrogates", "relu,smooth-0"], "width"),
        (["--surrogates", "smooth--1"], "width"),
        (["--surrogates", "tanh"], "unknown gradient"),
        (["--surrogates", "relu+noise"], "noise sigma"),
        (["--noise-sigma", "-0.5"], "noise sigma"),
        (["--noise-samples", "0"], "noise samples"),
        (["--check-n", "-1"], "check n"),
        (["--set", "square-linf.queries=0"], "queries"),
        (["--set", "apgd-ce-linf.steps=0"], "steps"),
    ],
)
def test_bad_adaptive_options_one_line_error_nothing_written(
    extra: list[str], needle: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from jumprelu.cli.main import main

    out = tmp_path / "run"
    argv = ["-q", "evaluate", "--dataset", "digits", "--n", "10", "--jumps", "0,1"]
    argv += ["--threats", "adaptive", "--out", str(out), "--no-report", *extra]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("jumprelu: error:") and "\n" not in err
    assert needle in err
    assert not out.exists()


def test_later_stages_run_only_through_surrogates_that_broke_points() -> None:
    model, _ = load_checkpoint(default_model_path())
    data = load_split("digits", "test").take(40)
    jm = retrofit(model, 1.0)
    surrogates = ["relu", "smooth-0.25", "smooth-1"]

    def labels(select: bool) -> list[tuple[str, int]]:
        out = run_suite(
            "linf",
            jm,
            data.x,
            data.y,
            eps=0.1,
            jump=1.0,
            surrogates=surrogates,
            settings=_settings,
            batch_size=500,
            select=select,
        )
        return [(s["stage"], s["broken"]) for s in out.stages]

    chosen, every = labels(True), labels(False)
    first = [(st, b) for st, b in chosen if "apgd-ce" in st]
    assert len(first) == 3 and first == [(st, b) for st, b in every if "apgd-ce" in st]
    useful = {st.split(":")[0] for st, b in first if b > 0} or {st.split(":")[0] for st, _ in first}
    later = [st for st, _ in chosen if "apgd-ce" not in st and not st.startswith("square")]
    assert later and {st.split(":")[0] for st in later} <= useful
    assert len(every) == 3 * 3 + 1  # exhaustive: every gradient stage through every surrogate


def test_small_budget_on_normalised_inputs_counts_the_first_stage() -> None:
    """The suite counts every point its first stage breaks within float error of the budget
    on inputs of magnitude ~2.5 (normalised space). It used to test ``eps (1 + 1e-6)``, which
    ``(x + d) - x`` exceeds at small budgets there: 1 of 181 APGD points counted at 1/255 on
    the authors' CIFAR-10 ResNet-20 (the case ``test_fits_budget...`` pins down)."""
    model, _ = load_checkpoint(default_model_path())
    data = load_split("digits", "test").take(40)
    jm = retrofit(model, 0.0)
    shift = 2.4567  # inputs in [2.46, 3.46]; the model sees them back in [0, 1]
    net = torch.nn.Sequential(_Shift(-shift), jm)
    x = data.x + shift
    eps = 0.0437
    out = run_suite(
        "linf", net, x, data.y, eps=eps, jump=0.0, surrogates=["relu"],
        settings=lambda name: {**_settings(name), "bounds": Bounds(shift, shift + 1.0)},
        batch_size=500,
    )  # fmt: skip
    first = out.stages[0]
    direct = make_attack("apgd-ce-linf", eps=eps, **_settings("apgd-ce-linf"),
                         bounds=Bounds(shift, shift + 1.0))(net, x, data.y)  # fmt: skip
    correct = predict(net, x) == data.y
    assert first["broken"] == int((direct.success & correct).sum()) > 0
    assert fits_budget(lp_norm(direct.x_adv - x, "linf"), eps).all()


def test_fits_budget_allows_float_error_only() -> None:
    eps = 0.0196
    norms = torch.tensor([eps, eps + 6e-8, eps * (1 + 1e-4), 0.0])
    assert fits_budget(norms, eps).tolist() == [True, True, False, True]


class _Shift(torch.nn.Module):
    def __init__(self, by: float) -> None:
        super().__init__()
        self.by = by

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.by


def test_torchrun_splits_the_suite_points_and_matches_one_process(tmp_path: Path) -> None:
    """Two processes share every attack's points; rows, stage counts and checks are equal."""
    import json
    import os
    import subprocess
    import sys

    sets = [f"--set={a}.{k}={v}" for a, s in FAST.items() for k, v in s.items()]
    sets = [s for s in sets if s.split("=")[1].split(".")[0] in SUITE_STAGES["linf"]]
    args = [
        *("evaluate", "--dataset", "digits", "--n-examples", "30", "--jumps", "0,1"),
        *("--threats", "adaptive", "--suite", "linf", "--surrogates", ",".join(SURROGATES)),
        *("--batch-size", "7", "--check-n", "10", "--seed", "3", *sets),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    # --standalone: the rendezvous takes a free port (a fixed one may be held by another run)
    run = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    docs = []
    for name, launch in (("one", [sys.executable]), ("two", run)):
        cmd = [*launch, "-m", "jumprelu", "-q", *args, "--out", str(tmp_path / name)]
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=240)
        assert done.returncode == 0, done.stderr[-6000:]
        docs.append(json.loads((tmp_path / name / "results.json").read_text()))
    one, two = ([c for c in d["cells"] if c["attack"] == "suite-linf"] for d in docs)
    assert len(one) == len(two) == 2
    for a, b in zip(one, two, strict=True):
        drop = ("seconds",)
        assert {k: v for k, v in a["metrics"].items() if k not in drop} == {
            k: v for k, v in b["metrics"].items() if k not in drop
        }
        assert [(s["stage"], s["attacked"], s["broken"]) for s in a["stages"]] == [
            (s["stage"], s["attacked"], s["broken"]) for s in b["stages"]
        ]
        assert a["checks"] == b["checks"] and a["indicators"] == b["indicators"]
    for name in ("suite-linf__suite__1.npz", "suite-linf__suite__0.npz"):
        with (
            np.load(tmp_path / "one" / "cells" / name) as a,
            np.load(tmp_path / "two" / "cells" / name) as b,
        ):
            assert set(a.files) == set(b.files)
            for key in a.files:
                if key != "info":  # the info holds times
                    assert np.array_equal(a[key], b[key]), (name, key)


class _Quantised(torch.nn.Module):
    """A model whose input gradient is zero everywhere: inputs rounded to 1/16 (masking)."""

    def __init__(self, net: torch.nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.net(torch.round(x * 16) / 16)
        return out


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_masked_gradients_suite_is_no_weaker_than_square_alone(norm: str) -> None:
    """Square is the suite's check for masking: with its discarding on, the suite's robust
    accuracy on a model with zero gradients stays within 1 point of Square alone."""
    from jumprelu.evaluation.units import SUITE_SETTINGS

    model, _ = load_checkpoint(default_model_path())
    masked = _Quantised(retrofit(model, 0.5)).eval()
    data = load_split("digits", "test").take(100)
    eps = {"linf": 0.15, "l2": 1.0}[norm]
    square = {"queries": 400, "seed": 0}

    def settings(name: str) -> dict[str, Any]:
        s = {**_settings(name), **SUITE_SETTINGS.get(name, {})}
        return {**s, **square} if name.startswith("square") else s

    assert settings(f"square-{norm}")["discard"] > 0  # the suite's default is what is tested
    suite = run_suite(
        norm, masked, data.x, data.y, eps=eps, jump=0.5, surrogates=SURROGATES,
        settings=settings, batch_size=50,
    )  # fmt: skip
    alone = make_attack(f"square-{norm}", eps=eps, **square)(masked, data.x, data.y)
    gradient_broken = sum(s["broken"] for s in suite.stages if "square" not in s["stage"])
    square_broken = sum(s["broken"] for s in suite.stages if "square" in s["stage"])
    assert gradient_broken <= 5 and square_broken >= 10, suite.stages  # masked gradients
    acc_suite = float(suite.adv_correct.float().mean())
    acc_alone = 1 - float(alone.success.float().mean())
    assert acc_suite <= acc_alone + 0.01, (acc_suite, acc_alone, suite.stages)


def test_own_gradient_pass_comes_first_and_equals_the_exact_only_suite() -> None:
    """With ``exact`` beside other surrogates, the cascade first runs every stage through the
    defence's own gradient (Square included), and the points that pass leaves robust are
    exactly those of the exact-only suite; then the other surrogates' gradient stages run on
    them (no second Square)."""
    plan = suite_plan("linf", ["exact", "relu"], 1.0)
    assert plan == [
        ("apgd-ce-linf", "exact"),
        ("apgd-t-linf", "exact"),
        ("fmn-linf", "exact"),
        ("square-linf", None),
        ("apgd-ce-linf", "relu"),
        ("apgd-t-linf", "relu"),
        ("fmn-linf", "relu"),
    ]
    model, _ = load_checkpoint(default_model_path())
    data = load_split("digits", "test").take(40)
    jm = retrofit(model, 1.0)
    kw: dict[str, Any] = {"eps": 0.1, "jump": 1.0, "settings": _settings, "batch_size": 500}
    both = run_suite("linf", jm, data.x, data.y, surrogates=["exact", "relu"], **kw)
    alone = run_suite("linf", jm, data.x, data.y, surrogates=["exact"], **kw)
    assert both.own_robust is not None and alone.own_robust is not None
    assert torch.equal(both.own_robust, alone.adv_correct)
    assert torch.equal(alone.own_robust, alone.adv_correct)
    assert bool((both.adv_correct <= both.own_robust).all())  # the sweep only adds breaks
    assert run_suite("linf", jm, data.x, data.y, surrogates=["relu"], **kw).own_robust is None


def test_own_gradient_number_reaches_the_document_report_and_api(tmp_path: Path) -> None:
    """The cell records the own-gradient pass's robust accuracy, equal to an exact-only run's
    suite number (so is ``adaptive_suite``'s ``own_robust_accuracy``); the report shows it."""
    import dataclasses

    from jumprelu.evaluation.adaptive import adaptive_suite
    from jumprelu.report import render_report

    model, _ = load_checkpoint(default_model_path())
    data = load_split("digits", "test").take(30)
    both = dataclasses.replace(_suite_config(30), surrogates=["exact", "relu"], check_n=0)
    alone = dataclasses.replace(both, surrogates=["exact"])
    doc_both = evaluate(both, model, data, tmp_path / "both")
    doc_alone = evaluate(alone, model, data, tmp_path / "alone")
    suite = {c["jump"]: c for c in doc_both["cells"] if c["attack"] == "suite-linf"}
    single = {c["jump"]: c for c in doc_alone["cells"] if c["attack"] == "suite-linf"}
    for jump, cell in suite.items():
        assert cell["own_gradient_accuracy"] == single[jump]["metrics"]["adv_accuracy"]
        assert cell["metrics"]["adv_accuracy"] <= cell["own_gradient_accuracy"]
    kw: dict[str, Any] = {"eps": 0.1, "jumps": [1.0], "check_n": 0, "seed": 3}
    stages = [k for k in FAST if k.endswith("linf") and not k.startswith("pgd")]  # not pgd-linf
    kw["settings"] = {k: FAST[k] for k in stages}
    api = adaptive_suite(model, data.x, data.y, surrogates=["exact", "relu"], **kw)
    own = adaptive_suite(model, data.x, data.y, surrogates=["exact"], **kw)
    assert api.own_robust_accuracy[1.0] == own.robust_accuracy[1.0] == own.own_robust_accuracy[1.0]
    assert api.robust_accuracy[1.0] <= api.own_robust_accuracy[1.0]
    assert api.own_robust_accuracy[1.0] == pytest.approx(suite[1.0]["own_gradient_accuracy"])
    assert api.robust_accuracy[1.0] == pytest.approx(suite[1.0]["metrics"]["adv_accuracy"])
    render_report(tmp_path / "both")
    assert "suite-linf (own gradient only)" in (tmp_path / "both" / "report.md").read_text()


def test_a_missed_sentinel_makes_the_suite_rerun_the_stopped_points(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """When APGD's stopping rule is seen to stop a breakable point (a sentinel fooled after
    it would have stopped), the suite re-runs the stopped points without discarding: the
    robust points are those of a suite without discarding."""
    from test_attacks_apgd import cnn

    import jumprelu.attacks.apgd as apgd_module

    model, x, y = cnn()
    model, x = model.double(), x.double()

    def settings(discard: float) -> Any:
        table: dict[str, dict[str, Any]] = {
            "apgd-ce-l2": {"steps": 100, "seed": 2, "discard": discard},
            "apgd-t-l2": {"steps": 5, "n_targets": 1, "seed": 2},
            "fmn-l2": {"steps": 5},
            "square-l2": {"queries": 20, "seed": 2},
        }
        return lambda name: dict(table[name])

    common: dict[str, Any] = {"eps": 0.2, "jump": 0.0, "surrogates": [None], "batch_size": 64}
    plain = run_suite("l2", model, x, y, settings=settings(0.0), **common)
    monkeypatch.setattr(apgd_module, "SENTINEL", 18)  # a point fooled late (see the APGD test)
    cut = run_suite("l2", model, x, y, settings=settings(1e-6), **common)
    labels = [s["stage"] for s in cut.stages]
    assert "apgd-ce-l2:full" in labels
    assert torch.equal(cut.adv_correct, plain.adv_correct)
