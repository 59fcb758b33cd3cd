"""Every float option of ``evaluate``, ``tune`` and ``accuracy``, fed hostile floats (±0,
subnormals, 1e±38, 1e±308, nan, ±inf and anything else hypothesis draws), through the argument
parser and the config it builds: either refused with one line, or recorded finite and equal to
what was given (and float32 carries it, so what runs is what is recorded)."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jumprelu.cli.grid_config import eval_config
from jumprelu.cli.main import build_parser, main
from jumprelu.errors import JumpReLUError

SPECIAL = [0.0, -0.0, 5e-324, 1e-310, 1e-45, 1e-38, 1.2e-38, 1e-30, 1e38, 3.5e38, 1e39]
SPECIAL += [1e-308, 1e308, math.nan, math.inf, -math.inf, -1e-30, -1.0, 1.0, 0.5, 1e6, 1.000001e6]
FLOATS = st.one_of(st.sampled_from(SPECIAL), st.floats(allow_nan=True, allow_infinity=True))

BASE = ["--dataset", "digits", "--out", "RUN", "--attacks", "pgd-linf,pgd-l2"]
#: option -> (command, argv that carries the value ``V``, where the config records it)
OPTIONS: dict[str, tuple[str, list[str], str]] = {
    "--eps": ("evaluate", ["--eps", "V"], "eps"),
    "--eps-l2": ("evaluate", ["--eps-l2", "V"], "eps_l2"),
    "--noise-sigma": ("evaluate", ["--surrogates", "relu+noise", "--noise-sigma", "V"], "noise_sigma"),  # noqa: E501
    "--mean": ("evaluate", ["--mean", "V", "--std", "0.5"], "mean"),
    "--std": ("evaluate", ["--mean", "0.5", "--std", "V"], "std"),
    "--jumps": ("tune", ["--jumps", "0,V"], "jumps"),
    "--surrogates smooth-W": ("evaluate", ["--surrogates", "smooth-V"], "surrogates"),
}  # fmt: skip


def _config(command: str, extra: list[str]) -> Any:
    args = build_parser().parse_args([command, *BASE, *extra])
    assert isinstance(args, argparse.Namespace)
    return eval_config(args)


def _recorded(config: Any, field: str) -> Any:
    value = config.identity()[field]
    json.dumps(value, allow_nan=False)  # finite: results.json stays strict JSON
    return value


@pytest.mark.parametrize("option", list(OPTIONS))
def test_a_plain_value_is_accepted(option: str) -> None:
    """The property below is not vacuous: 0.5 passes for every option."""
    command, argv, field = OPTIONS[option]
    assert _recorded(_config(command, [a.replace("V", "0.5") for a in argv]), field)


@pytest.mark.parametrize("option", list(OPTIONS))
@settings(max_examples=60, deadline=None)
@given(value=FLOATS)
def test_float_option_is_refused_or_recorded_as_given(option: str, value: float) -> None:
    command, argv, field = OPTIONS[option]
    text = repr(value)
    extra = [a.replace("V", text) for a in argv]
    try:
        config = _config(command, extra)
    except (JumpReLUError, SystemExit):  # one line (the CLI test of test_bad_input checks it)
        return
    recorded = _recorded(config, field)
    if option == "--surrogates smooth-W":
        assert recorded == [f"smooth-{text}"]
        width = float(text)
    elif option == "--jumps":
        assert recorded == [0.0, value]
        width = value
    elif option in ("--mean", "--std"):
        assert recorded == [value]
        width = value
    else:
        assert recorded == value
        width = value
    assert math.isfinite(width)
    if width != 0:  # float32 carries it: what runs is what was given (no 0, no inf)
        assert np.float32(width) != 0 and np.isfinite(np.float32(width))


@settings(max_examples=40, deadline=None)
@given(value=FLOATS)
def test_tune_max_drop_is_refused_or_used_as_given(value: float) -> None:
    import jumprelu

    model, _ = jumprelu.load_checkpoint(jumprelu.default_model_path())
    val = jumprelu.load_split("digits", "val").take(20)
    try:
        result = jumprelu.tune(model, val, [0.0], max_drop=value)
    except JumpReLUError:
        return
    assert result.max_drop == value and math.isfinite(value)


@pytest.mark.parametrize("eps", ["1e-30", "0.1", "1000000.0"])
def test_an_accepted_budget_runs_and_is_recorded_as_given(
    eps: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The end of the chain: a run at an extreme accepted budget records it exactly."""
    out = tmp_path / "run"
    argv = ["-q", "evaluate", "--dataset", "digits", "--n", "5", "--attacks", "fgsm"]
    argv += ["--threats", "white", "--jumps", "0", "--eps", eps, "--no-report", "--out", str(out)]
    assert main(argv) == 0
    capsys.readouterr()
    doc = json.loads((out / "results.json").read_text())
    assert doc["config"]["eps"] == float(eps)
    assert doc["cells"][0]["settings"]["eps"] == float(eps)
    assert all(math.isfinite(v) for v in doc["cells"][0]["metrics"].values() if v is not None)
