"""Robustness grid: threat models, results document, resume (also after kill -9), sharding."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from jumprelu._util import Progress
from jumprelu.cli.jobs import run_evaluate
from jumprelu.datasets.core import load_split
from jumprelu.errors import ConfigError
from jumprelu.evaluation.clean import predict
from jumprelu.evaluation.config import EvalConfig
from jumprelu.evaluation.plan import plan
from jumprelu.evaluation.results import load_results
from jumprelu.evaluation.units import units
from jumprelu.models.checkpoints import default_model_path, load_checkpoint
from jumprelu.retrofit import retrofit

ATTACKS = "fgsm,deepfool-l2"
SETTINGS = {"square-linf": {"queries": 60}, "deepfool-l2": {"steps": 20}}
BASE_ARGS = [
    *("--dataset", "digits", "--n-examples", "60", "--jumps", "0,0.5,2", "--attacks", ATTACKS),
    *("--batch-size", "25", "--set", "square-linf.queries=60", "--set", "deepfool-l2.steps=20"),
    *("--bpda-gradient", "relu"),
]


def config(**kw: object) -> EvalConfig:
    base: dict[str, object] = {
        "dataset": "digits",
        "jumps": [0.0, 0.5, 2.0],
        "attacks": ATTACKS.split(","),
        "n": 60,
        "batch_size": 25,
        "settings": SETTINGS,
        "bpda_gradient": "relu",
    }
    base.update(kw)
    return EvalConfig(**base)  # type: ignore[arg-type]


def metrics_by_cell(doc: dict[str, object]) -> dict[tuple[str, str, float], dict[str, float]]:
    out = {}
    for c in doc["cells"]:  # type: ignore[index,attr-defined]
        m = {k: v for k, v in c["metrics"].items() if k != "seconds"}
        out[(c["threat"], c["attack"], c["jump"])] = m
    return out


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, object]]:
    out = tmp_path_factory.mktemp("ref")
    return out, run_evaluate(config(), out)


def test_document_structure(reference: tuple[Path, dict[str, object]]) -> None:
    out, doc = reference
    assert load_results(out)["config_digest"] == doc["config_digest"]
    cells = metrics_by_cell(doc)
    units = {
        ("white", "fgsm"),
        ("white", "deepfool-l2"),
        ("gray", "fgsm"),
        ("gray", "deepfool-l2"),
        ("adaptive", "bpda:fgsm"),
        ("adaptive", "bpda:deepfool-l2"),
        ("adaptive", "square-linf"),
    }
    assert {(t, a) for t, a, _ in cells} == units
    assert len(cells) == len(units) * 3
    # at jump 0 the JumpReLU model is the ReLU model: white == gray == adaptive(BPDA)
    for attack in ("fgsm", "deepfool-l2"):
        w, g = cells[("white", attack, 0.0)], cells[("gray", attack, 0.0)]
        b = cells[("adaptive", f"bpda:{attack}", 0.0)]
        assert w["adv_accuracy"] == g["adv_accuracy"] == b["adv_accuracy"]
    ens = {e["jump"]: e["adv_accuracy"] for e in doc["ensemble"]}  # type: ignore[attr-defined]
    for (_, _, jump), m in cells.items():
        assert ens[jump] <= m["adv_accuracy"] + 1e-12  # worst case over all attacks
    required = {"n", "clean_accuracy", "adv_accuracy", "success_rate", "rho2_all"}
    required |= {"rhoinf_all", "rho2_success", "rhoinf_success", "seconds"}
    for c in doc["cells"]:  # type: ignore[attr-defined]
        m = c["metrics"]
        assert required <= set(m)
        assert not {"rho_l2_mean", "rho_linf_mean"} & set(m)  # no duplicated aliases
        assert "examples" not in c  # images live in examples.npz
    csv_rows = (out / "results.csv").read_text().splitlines()
    assert len(csv_rows) == 1 + len(cells)
    assert doc["provenance"]["checkpoint_sha256"] and doc["provenance"]["data_sha256"]
    assert doc["provenance"]["jump0_bitwise"] is True
    for flag in doc["flags"]:  # type: ignore[attr-defined]
        assert flag["explanation"] and flag["code"]


def test_examples_and_their_predictions(reference: tuple[Path, dict[str, object]]) -> None:
    out, _ = reference
    doc = load_results(out)  # puts the float16 images of examples.npz back in
    ex = doc["examples"]
    data = load_split("digits", "test").take(6)
    assert torch.allclose(torch.tensor(ex["x"]), data.x, atol=1e-3)
    assert ex["labels"] == data.y.tolist()
    model, _ = load_checkpoint(default_model_path())
    for clean in doc["clean"]:
        jm = retrofit(model, clean["jump"])
        assert clean["examples_pred"] == predict(jm, data.x).tolist()
    files = {c.run.key: c.file(out) for c in plan(config()) if not c.transfer}
    for cell in doc["cells"]:
        with np.load(files[cell["run"]]) as z:
            full = torch.from_numpy(z["examples"])  # the adversarial images, full precision
        assert torch.allclose(torch.tensor(cell["examples"]), full, atol=1e-3)
        jm = retrofit(model, cell["jump"])
        assert cell["examples_pred"] == predict(jm, full).tolist()


def test_budget_ensemble_is_the_worst_case_within_each_budget(
    reference: tuple[Path, dict[str, object]],
) -> None:
    out, doc = reference
    clean = {c["jump"]: c["accuracy"] for c in doc["clean"]}  # type: ignore[attr-defined]
    for row in doc["ensemble"]:  # type: ignore[attr-defined]
        linf, l2 = row["budget"]["linf"], row["budget"]["l2"]
        assert (linf["eps"], l2["eps"]) == (0.1, 1.0)  # digits defaults, pixels
        # within the budget: below every fixed-budget L-inf cell, above the unbounded ensemble
        for cell in doc["cells"]:  # type: ignore[attr-defined]
            if cell["jump"] == row["jump"] and cell["attack"].endswith(("fgsm", "square-linf")):
                assert linf["adv_accuracy"] <= cell["metrics"]["adv_accuracy"] + 1e-12
        assert row["adv_accuracy"] <= linf["adv_accuracy"] <= clean[row["jump"]]
        # recomputed from the per-sample cell files
        jump = row["jump"]
        files = [p for p in (out / "cells").iterdir() if p.name.endswith(f"__{jump:g}.npz")]
        model, _ = load_checkpoint(default_model_path())
        data = load_split("digits", "test").take(60)
        ok = predict(retrofit(model, jump), data.x) == data.y
        for f in files:
            with np.load(f) as z:
                fooled = ~torch.from_numpy(z["adv_correct"])
                ok &= ~(fooled & (torch.from_numpy(z["l2"]) <= 1.0 + 1e-5 + 1e-7))
        assert l2["adv_accuracy"] == pytest.approx(float(ok.float().mean()))


def test_fgsm_budget_and_numbers_recomputed(reference: tuple[Path, dict[str, object]]) -> None:
    _, doc = reference
    for c in doc["cells"]:  # type: ignore[attr-defined]
        if c["attack"] == "fgsm":
            assert c["settings"]["eps"] == pytest.approx(0.1)
            assert (
                c["metrics"]["linf_success"] is None or c["metrics"]["linf_success"] <= 0.1 + 1e-6
            )


def test_resume_recomputes_only_missing_cells(
    tmp_path: Path, reference: tuple[Path, dict[str, object]]
) -> None:
    src, doc = reference
    out = tmp_path / "run"
    (out / "cells").mkdir(parents=True)
    for f in (src / "cells").iterdir():
        (out / "cells" / f.name).write_bytes(f.read_bytes())
    (out / "config.json").write_bytes((src / "config.json").read_bytes())
    victims = sorted((out / "cells").iterdir())[:2]
    for v in victims:
        v.unlink()
    from jumprelu.cli.loading import load_data, load_model
    from jumprelu.evaluation.runner import evaluate

    cfg = config()
    model, extra, cfg = load_model(cfg)
    seen = Recorder()
    again = evaluate(cfg, model, load_data(cfg), out, progress=seen, extra=extra)
    assert seen.planned == (17, 15) and len(seen.finished) == 2  # 17 distinct runs/transfers
    # every started stage is advanced over all 60 examples, batch by batch
    assert seen.steps == [60] * len(seen.started)
    assert metrics_by_cell(again) == metrics_by_cell(doc)


class Recorder(Progress):
    def __init__(self) -> None:
        self.planned: tuple[int, int] = (0, 0)
        self.started: list[str] = []
        self.steps: list[int] = []
        self.finished: list[str] = []

    def plan(self, units: int, done: int = 0) -> None:
        self.planned = (units, done)

    def start(self, label: str, total: int) -> None:
        assert total == 60
        self.started.append(label)
        self.steps.append(0)

    def advance(self, steps: int) -> None:
        self.steps[-1] += steps

    def finish(self, label: str) -> None:
        self.finished.append(label)


def test_refuses_other_config_and_foreign_dirs(
    tmp_path: Path, reference: tuple[Path, dict[str, object]]
) -> None:
    src, _ = reference
    before = (src / "results.json").read_bytes()
    with pytest.raises(ConfigError, match="different configuration"):
        run_evaluate(config(jumps=[0.0, 1.0]), src)
    assert (src / "results.json").read_bytes() == before
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="not empty"):
        run_evaluate(config(), foreign)
    assert sorted(p.name for p in foreign.iterdir()) == ["notes.txt"]


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"jumps": []}, "empty"),
        ({"jumps": [0.0, -1.0]}, "jump"),
        ({"jumps": [float("inf")]}, "jump"),
        ({"attacks": ["nope"]}, "unknown attack"),
        ({"threats": ["black"]}, "threat"),
        ({"protocol": "mine"}, "protocol"),
        ({"n": 100_000}, "larger than"),
    ],
)
def test_bad_config(tmp_path: Path, kw: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        run_evaluate(config(**kw), tmp_path / "out")
    assert not (tmp_path / "out" / "results.json").exists()


def _cli(out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "jumprelu", "evaluate", *BASE_ARGS, "--out", str(out), *extra]


def test_kill_9_then_resume_matches_uninterrupted(
    tmp_path: Path, reference: tuple[Path, dict[str, object]]
) -> None:
    out = tmp_path / "killed"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        _cli(out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env
    )
    deadline = time.time() + 60
    while time.time() < deadline and len(list((out / "cells").glob("*.npz"))) < 3:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    finished = len(list((out / "cells").glob("*.npz")))
    assert 0 < finished < 21 and not (out / "results.json").exists()
    assert not list((out / "cells").glob("*.tmp"))  # nothing half-written kept as a cell
    done = subprocess.run(_cli(out), capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert metrics_by_cell(load_results(out)) == metrics_by_cell(reference[1])


def test_torchrun_two_processes_match_single(
    tmp_path: Path, reference: tuple[Path, dict[str, object]]
) -> None:
    out = tmp_path / "dist"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_port",
        "29517",
        "-m",
        "jumprelu",
        "evaluate",
        *BASE_ARGS,
        "--out",
        str(out),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    # each attack's points are split across the processes: every count is equal; a norm can
    # differ in float32's last bits where a batched kernel rounds by batch shape (DeepFool)
    two, one = metrics_by_cell(load_results(out)), metrics_by_cell(reference[1])
    assert two.keys() == one.keys()
    for key, m in one.items():
        assert two[key] == pytest.approx(m, rel=1e-6, abs=1e-9), key
        assert {k: v for k, v in two[key].items() if k in ("n", "adv_accuracy")} == {
            k: v for k, v in m.items() if k in ("n", "adv_accuracy")
        }
    assert json.loads((out / "results.json").read_text())["schema_version"] == 2
    assert torch.distributed.is_available()


def test_smooth_bpda_is_recorded_and_keeps_default_digests(tmp_path: Path) -> None:
    assert "bpda_gradient" not in config().identity()  # earlier runs' digests stay valid
    assert config(bpda_gradient="smooth").digest() != config().digest()
    with pytest.raises(ConfigError, match="bpda gradient"):
        config(bpda_gradient="exact").validate()
    cfg = config(
        n=20,
        jumps=[0.0, 1.0],
        attacks=["fgsm"],
        threats=["adaptive"],
        adaptive_extra=[],
        settings={},
    )
    doc = run_evaluate(dataclasses.replace(cfg, bpda_gradient="smooth"), tmp_path / "smooth")
    assert doc["config"]["bpda_gradient"] == "smooth"
    assert {c["attack"] for c in doc["cells"]} == {"bpda-smooth:fgsm"}
    both = dataclasses.replace(cfg, bpda_gradient="both")
    assert units(both) == [("adaptive", "bpda:fgsm"), ("adaptive", "bpda-smooth:fgsm")]
    assert "bpda_gradient" in both.identity()


def test_resume_recomputes_a_cell_of_another_n(tmp_path: Path) -> None:
    """A cell file whose per-sample arrays do not hold the run's n (tampered) is computed again."""
    from jumprelu.evaluation.cells import INDICATORS, PER_SAMPLE, load_cell

    grid = {"jumps": [0.0], "attacks": ["fgsm"], "threats": ["white"], "settings": {}}
    cfg = config(n=10, bpda_gradient="both", **grid)
    out = tmp_path / "run"
    first = run_evaluate(cfg, out)
    (cell,) = (out / "cells").iterdir()
    arrays = dict(np.load(cell))
    short = {k: v[:4] if k in (*PER_SAMPLE, *INDICATORS) else v for k, v in arrays.items()}
    np.savez(cell, **short)
    assert load_cell(cell) is not None and load_cell(cell, 10) is None  # consistent, but short
    again = run_evaluate(cfg, out)
    assert load_cell(cell, 10) is not None  # computed again over all 10 points
    assert metrics_by_cell(again) == metrics_by_cell(first)
