"""The Python API refuses bad arguments with the project's own errors, naming the argument.

Each row of ``CASES`` is ``(name, call, error class, expected substring)``: ``call`` takes the
test's temporary directory (where a call could write) and makes one call of a public name with
one bad argument. The test checks that the error is that ``JumpReLUError`` subclass (not an
AttributeError or TypeError from deep inside torch), that its message holds the substring (the
argument's name), and that nothing was written under the temporary directory.
"""

# ruff: noqa: E501  (a row of the table is one line, however long)

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

import jumprelu
from jumprelu.datasets.core import DATASETS
from jumprelu.datasets.split import Split
from jumprelu.errors import CheckpointError, ConfigError, JumpReLUError, RetrofitError
from jumprelu.evaluation.clean import predict
from jumprelu.models.checkpoint_meta import CheckpointMeta

Call = Callable[[Path], Any]


def _net() -> nn.Module:
    """A tiny ReLU classifier of 1x8x8 images (10 classes)."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 8), nn.ReLU(), nn.Linear(8, 10)).eval()


def _plain() -> nn.Module:
    """A model without any ReLU (or JumpReLU) site."""
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 10))


def _split(n: int = 4) -> Split:
    """``n`` random digits-shaped examples."""
    g = torch.Generator().manual_seed(0)
    x = torch.rand(n, 1, 8, 8, generator=g)
    return Split(x, torch.arange(n) % 10, DATASETS["digits"], "test")


def _retrofitted() -> nn.Module:
    return jumprelu.retrofit(_net(), 0.5)


def _config(**kw: Any) -> jumprelu.EvalConfig:
    base: dict[str, Any] = {
        "dataset": "digits",
        "jumps": [0.0],
        "attacks": ["fgsm"],
        "threats": ["white"],
        "n": 4,
        "check_n": 0,
    }
    return jumprelu.EvalConfig(**(base | kw))


def _bpda(model: Any, gradient: Any) -> None:
    with jumprelu.bpda(model, gradient):
        pass


def _x() -> torch.Tensor:
    return _split().x


def _y() -> torch.Tensor:
    return _split().y


_META = CheckpointMeta("digitsnet", dataset="digits")

CASES: list[tuple[str, Call, type[JumpReLUError], str]] = [
    # retrofit
    ("retrofit-string", lambda t: jumprelu.retrofit("x"), ConfigError, "model"),  # type: ignore[arg-type]
    ("retrofit-none", lambda t: jumprelu.retrofit(None), ConfigError, "model"),  # type: ignore[arg-type]
    ("retrofit-class", lambda t: jumprelu.retrofit(nn.Linear), ConfigError, "model"),  # type: ignore[arg-type]
    ("retrofit-jump-string", lambda t: jumprelu.retrofit(_net(), jump="abc"), ConfigError, "jump"),  # type: ignore[arg-type]
    ("retrofit-jump-negative", lambda t: jumprelu.retrofit(_net(), jump=-1.0), ConfigError, "jump"),
    ("retrofit-jump-nan", lambda t: jumprelu.retrofit(_net(), jump=math.nan), ConfigError, "jump"),
    (
        "retrofit-jump-tensor",
        lambda t: jumprelu.retrofit(_net(), jump=torch.ones(3)),
        ConfigError,
        "jump",
    ),  # type: ignore[arg-type]
    (
        "retrofit-eval-only",
        lambda t: jumprelu.retrofit(_net(), eval_only="yes"),
        ConfigError,
        "eval_only",
    ),  # type: ignore[arg-type]
    (
        "retrofit-gradient",
        lambda t: jumprelu.retrofit(_net(), gradient="steep"),
        ConfigError,
        "gradient",
    ),
    (
        "retrofit-gradient-type",
        lambda t: jumprelu.retrofit(_net(), gradient=3),
        ConfigError,
        "gradient",
    ),  # type: ignore[arg-type]
    ("retrofit-no-site", lambda t: jumprelu.retrofit(_plain()), RetrofitError, "no ReLU site"),
    # set_jump, jump_sites, bpda
    ("set-jump-no-sites", lambda t: jumprelu.set_jump(_net(), 0.5), RetrofitError, "retrofit"),
    ("set-jump-not-module", lambda t: jumprelu.set_jump("x", 0.5), ConfigError, "model"),  # type: ignore[arg-type]
    ("set-jump-string", lambda t: jumprelu.set_jump(_retrofitted(), "abc"), ConfigError, "jump"),  # type: ignore[arg-type]
    ("set-jump-negative", lambda t: jumprelu.set_jump(_retrofitted(), -0.5), ConfigError, "jump"),
    (
        "set-jump-unknown-site",
        lambda t: jumprelu.set_jump(_retrofitted(), {"9": 0.5}),
        ConfigError,
        "site",
    ),
    (
        "set-jump-site-value",
        lambda t: jumprelu.set_jump(_retrofitted(), {"2": "a"}),
        ConfigError,
        "jump",
    ),  # type: ignore[dict-item]
    ("jump-sites-string", lambda t: jumprelu.jump_sites("x"), ConfigError, "model"),  # type: ignore[arg-type]
    ("jump-sites-class", lambda t: jumprelu.jump_sites(nn.Linear), ConfigError, "model"),  # type: ignore[arg-type]
    ("bpda-not-module", lambda t: _bpda("x", "relu"), ConfigError, "model"),
    ("bpda-no-sites", lambda t: _bpda(_net(), "relu"), RetrofitError, "retrofit"),
    ("bpda-unknown-gradient", lambda t: _bpda(_retrofitted(), "steep"), ConfigError, "gradient"),
    ("bpda-gradient-type", lambda t: _bpda(_retrofitted(), None), ConfigError, "gradient"),
    # tune
    ("tune-model", lambda t: jumprelu.tune("x", _split(), [0.0]), ConfigError, "model"),  # type: ignore[arg-type]
    (
        "tune-val-dict",
        lambda t: jumprelu.tune(_net(), {"x": _x(), "y": _y()}, [0.0]),
        ConfigError,
        "val",
    ),  # type: ignore[arg-type]
    ("tune-val-tuple", lambda t: jumprelu.tune(_net(), (_x(), _y()), [0.0]), ConfigError, "val"),  # type: ignore[arg-type]
    ("tune-candidates-empty", lambda t: jumprelu.tune(_net(), _split(), []), ConfigError, "jump"),
    (
        "tune-candidates-words",
        lambda t: jumprelu.tune(_net(), _split(), ["a", "b"]),
        ConfigError,
        "jump",
    ),  # type: ignore[list-item]
    (
        "tune-candidates-string",
        lambda t: jumprelu.tune(_net(), _split(), "abc"),
        ConfigError,
        "jumps",
    ),
    (
        "tune-candidates-number",
        lambda t: jumprelu.tune(_net(), _split(), 0.5),
        ConfigError,
        "jumps",
    ),  # type: ignore[arg-type]
    (
        "tune-candidates-negative",
        lambda t: jumprelu.tune(_net(), _split(), [0.0, -1.0]),
        ConfigError,
        "jump",
    ),
    (
        "tune-max-drop-range",
        lambda t: jumprelu.tune(_net(), _split(), [0.0], max_drop=1.5),
        ConfigError,
        "max drop",
    ),
    (
        "tune-max-drop-negative",
        lambda t: jumprelu.tune(_net(), _split(), [0.0], max_drop=-0.1),
        ConfigError,
        "max drop",
    ),
    (
        "tune-max-drop-type",
        lambda t: jumprelu.tune(_net(), _split(), [0.0], max_drop="0.1"),
        ConfigError,
        "max drop",
    ),  # type: ignore[arg-type]
    (
        "tune-max-drop-nan",
        lambda t: jumprelu.tune(_net(), _split(), [0.0], max_drop=math.nan),
        ConfigError,
        "max drop",
    ),
    (
        "tune-quantiles",
        lambda t: jumprelu.tune(_net(), _split(), [0.0], per_layer_quantiles=[2.0]),
        ConfigError,
        "quantile",
    ),
    (
        "tune-quantiles-words",
        lambda t: jumprelu.tune(_net(), _split(), [0.0], per_layer_quantiles=["a"]),
        ConfigError,
        "quantile",
    ),  # type: ignore[list-item]
    (
        "tune-robustness",
        lambda t: jumprelu.tune(_net(), _split(), [0.0], robustness=3),
        ConfigError,
        "robustness",
    ),  # type: ignore[arg-type]
    # clean_accuracy_sweep
    (
        "sweep-model",
        lambda t: jumprelu.clean_accuracy_sweep("x", _split(), [0.0]),
        ConfigError,
        "model",
    ),  # type: ignore[arg-type]
    (
        "sweep-data-tuple",
        lambda t: jumprelu.clean_accuracy_sweep(_net(), (_x(), _y()), [0.0]),
        ConfigError,
        "data",
    ),  # type: ignore[arg-type]
    (
        "sweep-data-tensor",
        lambda t: jumprelu.clean_accuracy_sweep(_net(), _x(), [0.0]),
        ConfigError,
        "data",
    ),  # type: ignore[arg-type]
    (
        "sweep-jumps-empty",
        lambda t: jumprelu.clean_accuracy_sweep(_net(), _split(), []),
        ConfigError,
        "jump",
    ),
    (
        "sweep-jumps-string",
        lambda t: jumprelu.clean_accuracy_sweep(_net(), _split(), "abc"),
        ConfigError,
        "jumps",
    ),
    (
        "sweep-jumps-number",
        lambda t: jumprelu.clean_accuracy_sweep(_net(), _split(), 1.0),
        ConfigError,
        "jumps",
    ),  # type: ignore[arg-type]
    (
        "sweep-jumps-none",
        lambda t: jumprelu.clean_accuracy_sweep(_net(), _split(), None),
        ConfigError,
        "jumps",
    ),  # type: ignore[arg-type]
    (
        "sweep-batch-size",
        lambda t: jumprelu.clean_accuracy_sweep(_net(), _split(), [0.0], batch_size=0),
        ConfigError,
        "batch size",
    ),
    # evaluate
    (
        "evaluate-config-dict",
        lambda t: jumprelu.evaluate({"dataset": "digits"}, _net(), _split(), t / "run"),
        ConfigError,
        "config",
    ),  # type: ignore[arg-type]
    (
        "evaluate-model",
        lambda t: jumprelu.evaluate(_config(), "x", _split(), t / "run"),
        ConfigError,
        "model",
    ),  # type: ignore[arg-type]
    (
        "evaluate-model-class",
        lambda t: jumprelu.evaluate(_config(), nn.Linear, _split(), t / "run"),
        ConfigError,
        "model",
    ),  # type: ignore[arg-type]
    (
        "evaluate-data-dict",
        lambda t: jumprelu.evaluate(_config(), _net(), {"x": _x(), "y": _y()}, t / "run"),
        ConfigError,
        "data",
    ),  # type: ignore[arg-type]
    (
        "evaluate-data-tuple",
        lambda t: jumprelu.evaluate(_config(), _net(), (_x(), _y()), t / "run"),
        ConfigError,
        "data",
    ),  # type: ignore[arg-type]
    (
        "evaluate-out-dir-int",
        lambda t: jumprelu.evaluate(_config(), _net(), _split(), 3),
        ConfigError,
        "out_dir",
    ),  # type: ignore[arg-type]
    (
        "evaluate-out-dir-none",
        lambda t: jumprelu.evaluate(_config(), _net(), _split(), None),
        ConfigError,
        "out_dir",
    ),  # type: ignore[arg-type]
    # EvalConfig
    ("config-n-string", lambda t: _config(n="5"), ConfigError, "n "),
    ("config-n-zero", lambda t: _config(n=0), ConfigError, "n "),
    ("config-batch-size-float", lambda t: _config(batch_size=2.5), ConfigError, "batch size"),
    ("config-batch-size-string", lambda t: _config(batch_size="8"), ConfigError, "batch size"),
    ("config-seed-negative", lambda t: _config(seed=-1), ConfigError, "seed"),
    ("config-seed-string", lambda t: _config(seed="x"), ConfigError, "seed"),
    ("config-check-n-negative", lambda t: _config(check_n=-1), ConfigError, "check n"),
    ("config-check-n-string", lambda t: _config(check_n="2"), ConfigError, "check n"),
    ("config-jumps-words", lambda t: _config(jumps="abc"), ConfigError, "abc"),
    ("config-jumps-number", lambda t: _config(jumps=0.5), ConfigError, "jumps"),
    ("config-jumps-none", lambda t: _config(jumps=None), ConfigError, "jumps"),
    ("config-attacks-string", lambda t: _config(attacks="fgsm"), ConfigError, "attacks"),
    ("config-attacks-numbers", lambda t: _config(attacks=[1]), ConfigError, "attacks"),
    ("config-attacks-none", lambda t: _config(attacks=None), ConfigError, "attacks"),
    ("config-threats-string", lambda t: _config(threats="white"), ConfigError, "threats"),
    (
        "config-adaptive-extra",
        lambda t: _config(adaptive_extra="square-linf"),
        ConfigError,
        "adaptive extra",
    ),
    (
        "config-surrogates-string",
        lambda t: _config(threats=["adaptive"], surrogates="relu"),
        ConfigError,
        "surrogates",
    ),
    ("config-settings-list", lambda t: _config(settings=["fgsm"]), ConfigError, "settings"),
    ("config-settings-values", lambda t: _config(settings={"fgsm": 3}), ConfigError, "settings"),
    ("config-dataset-type", lambda t: _config(dataset=3), ConfigError, "dataset"),
    ("config-protocol-type", lambda t: _config(protocol=["paper"]), ConfigError, "protocol"),
    ("config-split-type", lambda t: _config(split=None), ConfigError, "split"),
    ("config-device-type", lambda t: _config(device=3), ConfigError, "device"),
    ("config-eps-string", lambda t: _config(eps="0.1"), ConfigError, "eps"),
    (
        "config-suite-type",
        lambda t: _config(threats=["adaptive"], suite=["linf"]),
        ConfigError,
        "suite",
    ),
    ("config-checkpoint-type", lambda t: _config(checkpoint=3), ConfigError, "checkpoint"),
    ("config-model-type", lambda t: _config(model=3), ConfigError, "model"),
    ("config-data-type", lambda t: _config(data=3, dataset="mine", eps=0.1), ConfigError, "data"),
    # load_split
    ("load-split-dataset", lambda t: jumprelu.load_split("svhn"), ConfigError, "dataset"),
    ("load-split-dataset-type", lambda t: jumprelu.load_split(3), ConfigError, "dataset"),  # type: ignore[arg-type]
    ("load-split-split", lambda t: jumprelu.load_split("digits", "dev"), ConfigError, "split"),
    (
        "load-split-split-type",
        lambda t: jumprelu.load_split("digits", ["test"]),
        ConfigError,
        "split",
    ),  # type: ignore[arg-type]
    (
        "load-split-val-size-string",
        lambda t: jumprelu.load_split("digits", "val", val_size="0.1"),
        ConfigError,
        "val_size",
    ),  # type: ignore[arg-type]
    (
        "load-split-val-size-negative",
        lambda t: jumprelu.load_split("digits", "val", val_size=-1),
        ConfigError,
        "val_size",
    ),
    (
        "load-split-val-size-all",
        lambda t: jumprelu.load_split("digits", "val", val_size=10**6),
        ConfigError,
        "val_size",
    ),
    (
        "load-split-seed",
        lambda t: jumprelu.load_split("digits", "val", seed="x"),
        ConfigError,
        "seed",
    ),  # type: ignore[arg-type]
    (
        "load-split-data-dir",
        lambda t: jumprelu.load_split("digits", data_dir=3),
        ConfigError,
        "data_dir",
    ),  # type: ignore[arg-type]
    # load_checkpoint, save_checkpoint
    ("load-checkpoint-int", lambda t: jumprelu.load_checkpoint(3), ConfigError, "path"),  # type: ignore[arg-type]
    ("load-checkpoint-none", lambda t: jumprelu.load_checkpoint(None), ConfigError, "path"),  # type: ignore[arg-type]
    (
        "load-checkpoint-missing",
        lambda t: jumprelu.load_checkpoint(t / "nope.pt"),
        CheckpointError,
        "nope.pt",
    ),
    (
        "load-checkpoint-device",
        lambda t: jumprelu.load_checkpoint(jumprelu.default_model_path(), device="gpu"),
        ConfigError,
        "device",
    ),
    (
        "save-checkpoint-model",
        lambda t: jumprelu.save_checkpoint("x", t / "m.pt", _META),
        ConfigError,
        "model",
    ),  # type: ignore[arg-type]
    (
        "save-checkpoint-path-int",
        lambda t: jumprelu.save_checkpoint(_net(), 3, _META),
        ConfigError,
        "path",
    ),  # type: ignore[arg-type]
    (
        "save-checkpoint-path-none",
        lambda t: jumprelu.save_checkpoint(_net(), None, _META),
        ConfigError,
        "path",
    ),  # type: ignore[arg-type]
    (
        "save-checkpoint-meta",
        lambda t: jumprelu.save_checkpoint(_net(), t / "m.pt", {"arch": "digitsnet"}),
        ConfigError,
        "meta",
    ),  # type: ignore[arg-type]
    (
        "save-checkpoint-misfit",
        lambda t: jumprelu.save_checkpoint(_net(), t / "m.pt", _META),
        CheckpointError,
        "does not fit",
    ),
    # make_attack
    ("make-attack-unknown", lambda t: jumprelu.make_attack("pgd-l7"), ConfigError, "attack"),
    ("make-attack-name-type", lambda t: jumprelu.make_attack(["fgsm"]), ConfigError, "attack"),  # type: ignore[arg-type]
    (
        "make-attack-unknown-setting",
        lambda t: jumprelu.make_attack("fgsm", steps=3),
        ConfigError,
        "steps",
    ),
    (
        "make-attack-eps-string",
        lambda t: jumprelu.make_attack("fgsm", eps="0.1"),
        ConfigError,
        "eps",
    ),
    (
        "make-attack-steps-float",
        lambda t: jumprelu.make_attack("pgd-linf", eps=0.1, steps=2.5),
        ConfigError,
        "steps",
    ),
    (
        "make-attack-steps-string",
        lambda t: jumprelu.make_attack("pgd-linf", eps=0.1, steps="10"),
        ConfigError,
        "steps",
    ),
    # adaptive_suite
    (
        "suite-model",
        lambda t: jumprelu.adaptive_suite("x", _x(), _y(), eps=0.1),
        ConfigError,
        "model",
    ),  # type: ignore[arg-type]
    (
        "suite-model-class",
        lambda t: jumprelu.adaptive_suite(nn.Linear, _x(), _y(), eps=0.1),
        ConfigError,
        "model",
    ),  # type: ignore[arg-type]
    (
        "suite-x-list",
        lambda t: jumprelu.adaptive_suite(_net(), _x().tolist(), _y(), eps=0.1),
        ConfigError,
        "x",
    ),  # type: ignore[arg-type]
    (
        "suite-x-numpy",
        lambda t: jumprelu.adaptive_suite(_net(), _x().numpy(), _y(), eps=0.1),
        ConfigError,
        "x",
    ),  # type: ignore[arg-type]
    (
        "suite-y-numpy",
        lambda t: jumprelu.adaptive_suite(_net(), _x(), np.arange(4), eps=0.1),
        ConfigError,
        "y",
    ),  # type: ignore[arg-type]
    (
        "suite-y-length",
        lambda t: jumprelu.adaptive_suite(_net(), _x(), _y()[:3], eps=0.1),
        ConfigError,
        "labels",
    ),
    (
        "suite-norm",
        lambda t: jumprelu.adaptive_suite(_net(), _x(), _y(), norm="l1", eps=0.1),
        ConfigError,
        "norm",
    ),
    (
        "suite-norm-type",
        lambda t: jumprelu.adaptive_suite(_net(), _x(), _y(), norm=["linf"], eps=0.1),
        ConfigError,
        "norm",
    ),  # type: ignore[arg-type]
    (
        "suite-eps",
        lambda t: jumprelu.adaptive_suite(_net(), _x(), _y(), eps=-0.1),
        ConfigError,
        "eps",
    ),
    (
        "suite-jumps-string",
        lambda t: jumprelu.adaptive_suite(_net(), _x(), _y(), eps=0.1, jumps="0,1"),
        ConfigError,
        "jumps",
    ),  # type: ignore[arg-type]
    (
        "suite-surrogates-string",
        lambda t: jumprelu.adaptive_suite(_net(), _x(), _y(), eps=0.1, surrogates="relu"),
        ConfigError,
        "surrogates",
    ),
    (
        "suite-settings-type",
        lambda t: jumprelu.adaptive_suite(_net(), _x(), _y(), eps=0.1, settings=["apgd-ce"]),
        ConfigError,
        "settings",
    ),  # type: ignore[arg-type]
    (
        "suite-settings-values",
        lambda t: jumprelu.adaptive_suite(_net(), _x(), _y(), eps=0.1, settings={"apgd-ce": 3}),
        ConfigError,
        "settings",
    ),  # type: ignore[dict-item]
    (
        "suite-device-type",
        lambda t: jumprelu.adaptive_suite(_net(), _x(), _y(), eps=0.1, device=3),
        ConfigError,
        "device",
    ),  # type: ignore[arg-type]
    # predict
    ("predict-x-string", lambda t: predict(_net(), "x"), ConfigError, "x"),  # type: ignore[arg-type]
    ("predict-x-list", lambda t: predict(_net(), [[0.0] * 64]), ConfigError, "x"),  # type: ignore[arg-type]
    ("predict-model", lambda t: predict("m", _x()), ConfigError, "model"),  # type: ignore[arg-type]
    (
        "predict-batch-size",
        lambda t: predict(_net(), _x(), batch_size=0),
        ConfigError,
        "batch size",
    ),
]


@pytest.mark.parametrize(("name", "call", "error", "text"), CASES, ids=[c[0] for c in CASES])
def test_bad_argument_raises_the_projects_error(
    name: str, call: Call, error: type[JumpReLUError], text: str, tmp_path: Path
) -> None:
    """The project's error class, a message naming the argument, nothing written."""
    assert issubclass(error, JumpReLUError)
    with pytest.raises(JumpReLUError) as info:
        call(tmp_path)
    assert type(info.value) is error or isinstance(info.value, error), (
        f"{name}: {type(info.value).__name__}: {info.value}"
    )
    assert text in str(info.value), f"{name}: {info.value}"
    assert "\n" not in str(info.value).strip(), f"{name}: a one-line message: {info.value!r}"
    assert list(tmp_path.iterdir()) == [], f"{name} wrote {list(tmp_path.iterdir())}"


def test_the_table_is_large() -> None:
    """At least 25 probes over the public names."""
    assert len(CASES) >= 25
    assert len({c[0] for c in CASES}) == len(CASES)
