"""The evaluation plan: each distinct computation once, cells identified exactly, lean results."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from jumprelu.attacks import make_attack
from jumprelu.datasets.core import load_split
from jumprelu.errors import ConfigError
from jumprelu.evaluation.clean import predict
from jumprelu.evaluation.config import EvalConfig
from jumprelu.evaluation.plan import plan, runs_of
from jumprelu.evaluation.protocol import attack_settings
from jumprelu.evaluation.results import EXAMPLES_FILE, load_results
from jumprelu.evaluation.runner import evaluate
from jumprelu.evaluation.threats import run_attack
from jumprelu.models.checkpoints import default_model_path, load_checkpoint
from jumprelu.retrofit import retrofit, set_jump

Run = tuple[Path, dict[str, object], EvalConfig]


def paper_grid(**kw: object) -> EvalConfig:
    base: dict[str, object] = {
        "dataset": "mnist",
        "jumps": [0.0, 0.5, 1.0, 1.5],
        "attacks": ["ifgsm", "deepfool-linf", "deepfool-l2", "tr-l2"],
        "threats": ["white", "gray"],
        "protocol": "paper",
    }
    base.update(kw)
    config = EvalConfig(**base)  # type: ignore[arg-type]
    config.validate()
    return config


THREATS = ("white", "gray")


def test_paper_grid_runs_each_attack_once_per_jump() -> None:
    cells = plan(paper_grid())
    assert len(cells) == 32
    runs = runs_of(cells)
    assert len(runs) == 16  # 4 attacks x 4 jumps; gray crafts with the jump-0 run
    assert sum(c.transfer for c in cells) == 12  # gray at jumps 0.5, 1, 1.5: evaluation only
    at0 = [c for c in cells if c.point == 0.0]
    assert all(c.run.gradient == "exact" and not c.transfer for c in at0)
    for attack in ("ifgsm", "tr-l2"):
        white, gray = (
            next(c for c in at0 if (c.threat, c.unit) == (t, attack)) for t in ("white", "gray")
        )
        assert white.run == gray.run and white.file(Path("o")) == gray.file(Path("o"))


def test_surrogates_at_jump_0_are_the_relu_gradient_and_square_is_shared() -> None:
    config = paper_grid(
        threats=["white", "adaptive"],
        attacks=["pgd-linf", "square-linf"],
        protocol="standard",
        surrogates=["relu", "smooth-0.5", "relu+noise", "smooth+noise"],
        noise_sigma=0.1,
    )
    cells = plan(config)
    at0 = {c.run for c in cells if c.point == 0.0}
    gradients = sorted(r.gradient for r in at0 if r.attack == "pgd-linf")
    assert gradients == ["exact", "relu+noise"]
    square = {c.run for c in cells if c.unit == "square-linf" and c.point == 1.0}
    assert len(square) == 1  # white and adaptive query the same model
    at1 = {r.gradient for r in runs_of(cells) if r.attack == "pgd-linf" and r.point == 1.0}
    assert at1 == {"exact", "relu", "smooth-0.5", "relu+noise", "smooth+noise"}


def test_jumps_that_differ_in_the_7th_digit_are_two_cells(tmp_path: Path) -> None:
    config = EvalConfig(
        dataset="digits", jumps=[0.5, 0.5000001], attacks=["fgsm"], threats=["white"], n=20
    )
    config.validate()
    files = {c.file(tmp_path) for c in plan(config)}
    assert len(files) == 2
    model, _ = load_checkpoint(default_model_path())
    doc = evaluate(config, model, load_split("digits", "test"), tmp_path / "run", extra={})
    assert [c["jump"] for c in doc["cells"]] == [0.5, 0.5000001]
    assert len(list((tmp_path / "run" / "cells").iterdir())) == 2


@pytest.fixture(scope="module")
def small_run(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, dict[str, object], EvalConfig]:
    out = tmp_path_factory.mktemp("plan") / "run"
    config = EvalConfig(
        dataset="digits",
        jumps=[0.0, 1.0],
        attacks=["pgd-linf", "deepfool-l2"],
        threats=["white", "gray", "adaptive"],
        adaptive_extra=[],
        n=40,
        batch_size=16,
        check_n=0,
        settings={"pgd-linf": {"steps": 10}, "deepfool-l2": {"steps": 10}},
    )
    model, _ = load_checkpoint(default_model_path())
    doc = evaluate(config, model, load_split("digits", "test"), out, extra={})
    return out, doc, config


def test_shared_runs_equal_the_cells_computed_one_by_one(
    small_run: Run,
) -> None:
    """Every cell equals what running its threat/attack/jump on its own gives (old engine)."""
    _, doc, config = small_run
    model, _ = load_checkpoint(default_model_path())
    data = load_split("digits", "test").take(40)
    crafted = {}
    for cell in doc["cells"]:  # type: ignore[attr-defined]
        threat, unit, jump = cell["threat"], cell["attack"], cell["jump"]
        name = unit.partition(":")[2] or unit
        attack = make_attack(name, **attack_settings(name, config, std=1.0))
        jm = retrofit(model, 0.0 if threat == "gray" else jump)
        bpda = (
            "relu"
            if unit.startswith("bpda:")
            else "smooth"
            if unit.startswith("bpda-smooth:")
            else None
        )
        if threat == "gray":
            if name not in crafted:
                crafted[name] = run_attack(attack, jm, data.x, data.y, batch_size=16)
            set_jump(jm, jump)
            ok = predict(jm, crafted[name].x_adv) == data.y
        else:
            ok = run_attack(attack, jm, data.x, data.y, batch_size=16, bpda=bpda).adv_correct
        clean = predict(jm, data.x) == data.y
        assert cell["metrics"]["adv_accuracy"] == pytest.approx(float((ok & clean).float().mean()))


def test_results_json_is_a_small_summary_with_images_beside_it(
    small_run: Run,
) -> None:
    out, doc, _ = small_run
    text = (out / "results.json").read_text()
    assert len(text) < 60_000 and '"examples": [' not in text
    with np.load(out / EXAMPLES_FILE) as z:
        assert z["clean"].dtype == np.float16 and z["clean"].shape == (6, 1, 8, 8)
        assert len([k for k in z.files if k.startswith("cell")]) == len(doc["cells"])  # type: ignore[arg-type]


def test_a_version_1_document_is_migrated(small_run: Run, tmp_path: Path) -> None:
    out, _, _ = small_run
    old = load_results(out)
    old["schema_version"] = 1
    old["cells"][0]["metrics"]["rho_l2_mean"] = old["cells"][0]["metrics"]["rho2_all"]
    (tmp_path / "results.json").write_text(json.dumps(old))
    doc = load_results(tmp_path)
    assert doc["schema_version"] == 2 and "rho_l2_mean" not in doc["cells"][0]["metrics"]
    assert doc["cells"][0]["examples"] == old["cells"][0]["examples"]
    (tmp_path / "results.json").write_text(json.dumps({**old, "schema_version": 99}))
    with pytest.raises(Exception, match="run the same `jumprelu evaluate` command again"):
        load_results(tmp_path)


def test_api_evaluates_config_n_and_validates_data_before_writing(tmp_path: Path) -> None:
    model, _ = load_checkpoint(default_model_path())
    data = load_split("digits", "test").take(20)
    config = EvalConfig(dataset="digits", jumps=[0.0], attacks=["fgsm"], threats=["white"], n=5)
    doc = evaluate(config, model, data, tmp_path / "ok", extra={})
    assert doc["cells"][0]["metrics"]["n"] == 5
    bad = data.take(20)
    bad.x[3, 0, 0, 0] = float("nan")
    for broken, match in (
        (bad, "finite"),
        (load_split("digits", "test").take(3), "larger than the 3 examples"),
    ):
        with pytest.raises(ConfigError, match=match):
            evaluate(config, model, broken, tmp_path / "bad", extra={})
        assert not (tmp_path / "bad").exists()
    wrong = type(data)(torch.rand(20, 1, 5, 5), data.y, data.info, data.split)
    with pytest.raises(ConfigError, match="do not fit the model"):
        evaluate(config, model, wrong, tmp_path / "bad", extra={})
    assert not (tmp_path / "bad").exists()
