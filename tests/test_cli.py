"""The command line: subcommands, output, and one-line errors with a non-zero exit."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from jumprelu.cli.main import main
from jumprelu.models import build_net
from jumprelu.models.checkpoints import load_checkpoint


def test_help_lists_subcommands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "demo" in out and "accuracy" in out


def test_python_dash_m_entry_point() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "jumprelu", "--version"], capture_output=True, text=True
    )
    assert proc.returncode == 0 and proc.stdout.startswith("jumprelu ")


def test_demo_pipeline_summary_matches_results(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "demo"
    assert main(["-q", "demo", "--out", str(out), "--n", "24"]) == 0
    text = capsys.readouterr().out
    doc = json.loads((out / "results.json").read_text())
    jump = doc["provenance"]["tuning"]["jump"]
    assert f"chosen jump {jump:g} on validation data" in text
    clean = {c["jump"]: c["accuracy"] for c in doc["clean"]}
    lines: dict[str, str] = {}
    for line in text.splitlines():  # the first line per label (accuracy before rho2)
        lines.setdefault(line.strip().split("  ")[0], line)
    assert f"{100 * clean[jump]:.2f}% at jump {jump:g}" in lines["clean accuracy"]
    for threat in ("white", "gray", "adaptive"):
        low = min(
            c["metrics"]["adv_accuracy"]
            for c in doc["cells"]
            if c["threat"] == threat and c["jump"] == jump and c["family"] == "fixed-budget"
        )
        assert f"{100 * low:.2f}% at jump {jump:g}" in lines[threat]
    ens = {e["jump"]: e for e in doc["ensemble"]}
    within = ens[jump]["budget"]["linf"]["adv_accuracy"]
    assert f"{100 * within:.2f}% at jump {jump:g}" in lines["worst case, every attack within eps"]
    assert (out / "report.html").is_file() and f"report: {out / 'report.html'}" in text
    # a second demo into the same directory resumes; another directory's content is refused
    assert main(["-q", "demo", "--out", str(out), "--n", "24"]) == 0
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    assert main(["-q", "demo", "--out", str(other), "--n", "24"]) == 2
    assert sorted(p.name for p in other.iterdir()) == ["notes.txt"]


def test_accuracy_json_on_a_saved_state_dict(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    torch.manual_seed(0)
    path = tmp_path / "net.pt"
    torch.save(build_net("digitsnet").state_dict(), path)
    code = main(
        [
            "accuracy",
            "--arch",
            "digitsnet",
            "--checkpoint",
            str(path),
            "--dataset",
            "digits",
            "--jumps",
            "0,0.5",
            "--n",
            "40",
            "--json",
        ]
    )
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert [r["jump"] for r in result["rows"]] == [0.0, 0.5]
    assert all(r["n"] == 40 for r in result["rows"])


def bad_cases(tmp: Path) -> dict[str, tuple[list[str], str]]:
    lenet = tmp / "lenet.pt"
    torch.save(build_net("lenet").state_dict(), lenet)
    corrupt = tmp / "corrupt.pt"
    corrupt.write_bytes(b"not a checkpoint at all")
    empty = tmp / "empty_data"
    empty.mkdir()
    base = ["accuracy", "--dataset", "digits"]
    return {
        "missing file": (
            [*base, "--arch", "digitsnet", "--checkpoint", str(tmp / "no.pt")],
            "not found",
        ),
        "corrupt file": ([*base, "--arch", "digitsnet", "--checkpoint", str(corrupt)], "corrupt"),
        "other arch": (
            [*base, "--arch", "digitsnet", "--checkpoint", str(lenet)],
            "does not fit arch 'digitsnet'",
        ),
        "negative jump": (
            [*base, "--arch", "lenet", "--checkpoint", str(lenet), "--jumps", "-1"],
            "jump",
        ),
        "nan jump": (
            [*base, "--arch", "lenet", "--checkpoint", str(lenet), "--jumps", "nan"],
            "jump",
        ),
        "arch for other data": ([*base, "--arch", "lenet", "--checkpoint", str(lenet)], "lenet"),
        "data dir without files": (
            [
                "accuracy",
                "--dataset",
                "mnist",
                "--data-dir",
                str(empty),
                "--arch",
                "lenet",
                "--checkpoint",
                str(lenet),
            ],
            "mnist",
        ),
        "unknown dataset": (
            ["accuracy", "--dataset", "imagenet", "--arch", "lenet", "--checkpoint", str(lenet)],
            "unknown dataset",
        ),
        "cuda absent": (
            [*base, "--arch", "lenet", "--checkpoint", str(lenet), "--device", "cuda"],
            "cuda",
        ),
    }


BAD = [
    "missing file",
    "corrupt file",
    "other arch",
    "negative jump",
    "nan jump",
    "arch for other data",
    "data dir without files",
    "unknown dataset",
    "cuda absent",
]


@pytest.mark.parametrize("name", BAD)
def test_bad_input_one_line_error(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if name == "cuda absent" and torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    argv, needle = bad_cases(tmp_path)[name]
    before = sorted(p.name for p in tmp_path.rglob("*"))
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("jumprelu: error:") and "\n" not in err
    assert needle.lower() in err.lower()
    assert sorted(p.name for p in tmp_path.rglob("*")) == before  # nothing written


def test_train_cli_checkpoint_feeds_evaluate_and_resumes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from jumprelu.cli import progress as cli_progress

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    term = Terminal()
    monkeypatch.setattr(cli_progress.sys, "stderr", term)
    ckpt = tmp_path / "net.pt"
    base = ["train", "--arch", "digitsnet", "--dataset", "digits", "--limit", "300"]
    base += ["--adv-ratio", "0.5", "--adv-eps", "0.3", "--out", str(ckpt)]
    assert main([*base, "--epochs", "1"]) == 0
    assert "epochs" in term.getvalue() and "batch" in term.getvalue()  # bars on a terminal
    assert main([*base, "--epochs", "2", "--resume"]) == 0
    text = capsys.readouterr().out
    assert "epoch   2" in text and "test accuracy" in text
    _, meta = load_checkpoint(ckpt)
    assert meta.training["epoch"] == 2 and meta.training["config"]["adv"] == "fgsm"
    out = tmp_path / "eval"
    argv = ["-q", "evaluate", "--dataset", "digits", "--checkpoint", str(ckpt), "--n", "20"]
    argv += ["--jumps", "0,1", "--attacks", "fgsm", "--threats", "white", "--adaptive-extra", ""]
    assert main([*argv, "--no-report", "--out", str(out)]) == 0
    doc = json.loads((out / "results.json").read_text())
    assert doc["provenance"]["checkpoint_meta"]["arch"] == "digitsnet"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--adv-ratio", "1.5"], "adv_ratio"),
        (["--lr", "0"], "learning rate"),
        (["--epochs", "0"], "epochs"),
        (["--resume"], "resume"),
    ],
)
def test_train_cli_refuses_bad_settings_before_writing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    ckpt = tmp_path / "net.pt"
    argv = ["-q", "train", "--arch", "digitsnet", "--dataset", "digits", "--out", str(ckpt)]
    assert main([*argv, *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("jumprelu: error:") and message in err and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []
