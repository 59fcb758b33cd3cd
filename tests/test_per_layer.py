"""Per-layer jumps end to end: grid parsing, evaluation with mappings, tune --per-layer, report."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import pytest

from jumprelu.attacks import make_attack
from jumprelu.cli.jobs import run_evaluate, run_tune
from jumprelu.cli.loading import load_data, load_model
from jumprelu.cli.main import main
from jumprelu.errors import ConfigError
from jumprelu.evaluation.clean import predict
from jumprelu.evaluation.config import EvalConfig
from jumprelu.evaluation.jump_grid import canonical, parse_grid, parse_jumps, point_label
from jumprelu.evaluation.protocol import attack_settings
from jumprelu.evaluation.results import CSV_COLUMNS
from jumprelu.evaluation.threats import attack_space, run_attack
from jumprelu.retrofit import retrofit, set_jump

SITES = ("net.act1", "net.act2", "net.act3")
#: A tiny grid: white and gray FGSM only, no indicators.
CLI_GRID = [
    *("--dataset", "digits", "--n", "24", "--attacks", "fgsm", "--threats", "white,gray"),
    *("--suite", "none", "--check-n", "0", "--no-report"),
]


def _config(jumps: object, **kw: object) -> EvalConfig:
    base: dict[str, object] = {
        "dataset": "digits",
        "jumps": jumps,
        "attacks": ["fgsm"],
        "threats": ["white", "gray"],
        "n": 24,
        "check_n": 0,
    }
    return EvalConfig(**{**base, **kw})  # type: ignore[arg-type]


def test_grid_mixes_numbers_and_mapping_files(tmp_path: Path) -> None:
    path = tmp_path / "jumps.json"
    path.write_text(json.dumps({"net.act2": 0.5, "net.act1": 1}))
    grid = parse_grid(f"0, 1.5,@{path}")
    assert grid == [0.0, 1.5, {"net.act2": 0.5, "net.act1": 1.0}]
    assert parse_grid(f"{path}") == grid[2:]  # a .json path without @ too
    assert parse_grid("0,0.5,1") == parse_jumps("0,0.5,1")
    sha = hashlib.sha256(b'{"net.act1":1.0,"net.act2":0.5}').hexdigest()[:8]
    assert canonical(grid[2]) == '{"net.act1":1.0,"net.act2":0.5}'  # type: ignore[arg-type]
    assert point_label(grid[2]) == f"layers-{sha}" and point_label(0.5) == "0.5"
    for bad in ('{"net.act1": -1}', '{"net.act1": true}', "{}", "[0.5]", "not json"):
        path.write_text(bad)
        with pytest.raises(ConfigError):
            parse_grid(f"0,@{path}")
    with pytest.raises(ConfigError, match="cannot read"):
        parse_grid(f"@{tmp_path / 'missing.json'}")


def test_scalar_config_digest_unchanged() -> None:
    # digest of this config before per-layer grids existed (jumprelu at the previous commit)
    grid = parse_grid("0,0.5,1.0")
    c = EvalConfig(dataset="digits", jumps=grid, attacks=["fgsm"], settings={"fgsm": {}})
    c.validate()
    assert c.jumps == [0.0, 0.5, 1.0]
    assert c.digest() == "69b0dc2539465d8bc3bbc7f0180cf98028a3d8d959f69d92862a110a6a088c84"
    mapped = _config([0.0, {"net.act1": 0.5}])
    mapped.validate()
    assert mapped.digest() != _config([0.0]).digest()
    assert mapped.identity()["jumps"] == [0.0, {"net.act1": 0.5}]


def test_mapping_cells_are_computed_with_the_mapping(tmp_path: Path) -> None:
    mapping = {"net.act1": 0.6, "net.act3": 2.5}  # net.act2 not named: jump 0
    label = point_label(mapping)
    config = _config([0.0, 1.0, mapping])
    doc = run_evaluate(config, tmp_path / "run")
    names = sorted(p.name for p in (tmp_path / "run" / "cells").iterdir())
    assert f"fgsm__exact__{label}.npz" in names and "fgsm__exact__1.npz" in names
    data = load_data(config)
    model, _, config = load_model(config, data)
    jm = retrofit(model, 0.0)
    set_jump(jm, mapping)
    correct = predict(jm, data.x) == data.y
    clean = {c["jump"]: c for c in doc["clean"]}
    assert clean[label]["jump_map"] == mapping
    assert clean[label]["accuracy"] == pytest.approx(float(correct.float().mean()))
    cells = {(c["threat"], c["jump"]): c for c in doc["cells"]}
    white = cells[("white", label)]
    assert white["jump_map"] == mapping and isinstance(cells[("white", 1.0)]["jump"], float)
    target, xs = attack_space(jm, data.x, "standard")
    attack = make_attack("fgsm", **attack_settings("fgsm", config, std=1.0))
    outcome = run_attack(attack, target, xs, data.y, batch_size=500)
    manual = float((outcome.adv_correct & correct).float().mean())
    assert white["metrics"]["adv_accuracy"] == pytest.approx(manual)
    assert white["examples_pred"] == predict(jm, outcome.x_adv[:6]).tolist()
    assert {e["jump"] for e in doc["ensemble"]} == {0.0, 1.0, label}
    rows = list(csv.DictReader((tmp_path / "run" / "results.csv").open()))
    assert list(rows[0]) == [*CSV_COLUMNS, "jump_map"]
    mapped = [r for r in rows if r["jump"] == label]
    assert len(mapped) == 2 and all(json.loads(r["jump_map"]) == mapping for r in mapped)
    assert all(r["jump_map"] == "" for r in rows if r["jump"] != label)


def test_unknown_site_is_refused_before_writing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"net.act1": 0.5, "net.nope": 1.0}))
    out = tmp_path / "out"
    code = main(["-q", "evaluate", *CLI_GRID, "--jumps", f"0,@{bad}", "--out", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("jumprelu: error:")
    assert "net.nope" in err[0] and not out.exists()
    with pytest.raises(ConfigError, match="unknown site"):
        run_evaluate(_config([{"features.0": 1.0}]), out)
    assert not out.exists()


def test_tune_per_layer_writes_mapping_and_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "tuned"
    args = ["-q", "tune", *CLI_GRID[:-1], "--per-layer", "--quantiles", "0.3,0.5"]
    assert main([*args, "--max-drop", "0.05", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    mapping = json.loads((out / "jumps.json").read_text())
    label = point_label(mapping)
    assert sorted(mapping) == sorted(SITES) and "chosen per-layer jumps" in text
    doc = json.loads((out / "results.json").read_text())
    assert doc["provenance"]["tuning"]["site_jumps"] == mapping
    assert [c["jump"] for c in doc["clean"]] == [0.0, label]
    assert doc["config"]["jumps"] == [0.0, mapping]
    report = (out / "report.md").read_text()
    assert "Per-layer jumps" in report and f"{label} ★" in report
    assert all(f"| {s} |" in report for s in SITES)
    # the written mapping evaluates to the same cells as a grid point of evaluate
    again = tmp_path / "again"
    grid = ["-q", "evaluate", *CLI_GRID, "--jumps", f"0,1,@{out / 'jumps.json'}"]
    assert main([*grid, "--out", str(again)]) == 0
    assert main(["-q", "report", str(again)]) == 0
    ev = json.loads((again / "results.json").read_text())
    tuned = {(c["threat"], c["jump"]): c["metrics"]["adv_accuracy"] for c in doc["cells"]}
    for c in ev["cells"]:
        if c["jump"] == label:
            assert c["metrics"]["adv_accuracy"] == tuned[(c["threat"], label)]
    md = (again / "report.md").read_text()
    assert f"| {label} |" in md and "jumps**: 0, 1, " + label in md


def test_scalar_csv_and_tune_unchanged(tmp_path: Path) -> None:
    run_evaluate(_config([0.0, 1.0]), tmp_path / "run")
    with (tmp_path / "run" / "results.csv").open() as fh:
        assert tuple(next(csv.reader(fh))) == CSV_COLUMNS
    with pytest.raises(ConfigError, match="takes numbers"):
        run_tune(_config([0.0, {"net.act1": 1.0}]), tmp_path / "t")
    assert not (tmp_path / "t").exists()
