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
    ("retrofit-string", lambda t: jumprelu.retrofit("x"), ConfigError, "model must be a torch.nn.Module"),
    ("retrofit-none", lambda t: jumprelu.retrofit(None), ConfigError, "model must be a torch.nn.Module"),
    ("retrofit-class", lambda t: jumprelu.retrofit(nn.Linear), ConfigError, "the class Linear"),
    ("retrofit-jump-string", lambda t: jumprelu.retrofit(_net(), jump="abc"), ConfigError, "jump must be a number"),
    ("retrofit-jump-negative", lambda t: jumprelu.retrofit(_net(), jump=-1.0), ConfigError, "jump must be a number in"),
    ("retrofit-jump-nan", lambda t: jumprelu.retrofit(_net(), jump=math.nan), ConfigError, "jump must be a number in"),
    ("retrofit-jump-tensor", lambda t: jumprelu.retrofit(_net(), jump=torch.ones(3)), ConfigError, "jump must be a number"),
    ("retrofit-eval-only", lambda t: jumprelu.retrofit(_net(), eval_only="yes"), ConfigError, "eval_only must be True or False"),
    ("retrofit-gradient", lambda t: jumprelu.retrofit(_net(), gradient="steep"), ConfigError, "unknown gradient 'steep'"),
    ("retrofit-gradient-type", lambda t: jumprelu.retrofit(_net(), gradient=["relu"]), ConfigError, "gradient must be a name"),
    ("retrofit-no-site", lambda t: jumprelu.retrofit(_plain()), RetrofitError, "no ReLU site"),
    # set_jump, jump_sites, bpda
    ("set-jump-no-sites", lambda t: jumprelu.set_jump(_net(), 0.5), RetrofitError, "call retrofit() first"),
    ("set-jump-not-module", lambda t: jumprelu.set_jump("x", 0.5), ConfigError, "model must be a torch.nn.Module"),
    ("set-jump-string", lambda t: jumprelu.set_jump(_retrofitted(), "abc"), ConfigError, "jump must be a number"),
    ("set-jump-negative", lambda t: jumprelu.set_jump(_retrofitted(), -0.5), ConfigError, "jump must be a number in"),
    ("set-jump-unknown-site", lambda t: jumprelu.set_jump(_retrofitted(), {"9": 0.5}), ConfigError, "unknown JumpReLU site(s) 9"),
    ("set-jump-site-value", lambda t: jumprelu.set_jump(_retrofitted(), {"2": "a"}), ConfigError, "jump must be a number"),
    ("jump-sites-string", lambda t: jumprelu.jump_sites("x"), ConfigError, "model must be a torch.nn.Module"),
    ("jump-sites-class", lambda t: jumprelu.jump_sites(nn.Linear), ConfigError, "the class Linear"),
    ("bpda-not-module", lambda t: _bpda("x", "relu"), ConfigError, "model must be a torch.nn.Module"),
    ("bpda-no-sites", lambda t: _bpda(_net(), "relu"), RetrofitError, "call retrofit() first"),
    ("bpda-unknown-gradient", lambda t: _bpda(_retrofitted(), "steep"), ConfigError, "unknown gradient 'steep'"),
    ("bpda-gradient-none", lambda t: _bpda(_retrofitted(), None), ConfigError, "gradient must be a name"),
    ("bpda-gradient-list", lambda t: _bpda(_retrofitted(), ["relu"]), ConfigError, "gradient must be a name"),
    # tune
    ("tune-model", lambda t: jumprelu.tune("x", _split(), [0.0]), ConfigError, "model must be a torch.nn.Module"),
    ("tune-val-dict", lambda t: jumprelu.tune(_net(), {"x": _x(), "y": _y()}, [0.0]), ConfigError, "val must be a jumprelu Split"),
    ("tune-val-tuple", lambda t: jumprelu.tune(_net(), (_x(), _y()), [0.0]), ConfigError, "val must be a jumprelu Split"),
    ("tune-val-empty", lambda t: jumprelu.tune(_net(), _split().take(0), [0.0]), ConfigError, "validation split is empty"),
    ("tune-candidates-empty", lambda t: jumprelu.tune(_net(), _split(), []), ConfigError, "jump list is empty"),
    ("tune-candidates-words", lambda t: jumprelu.tune(_net(), _split(), ["a", "b"]), ConfigError, "jump must be a number"),
    ("tune-candidates-string", lambda t: jumprelu.tune(_net(), _split(), "abc"), ConfigError, "jumps must be comma-separated numbers"),
    ("tune-candidates-number", lambda t: jumprelu.tune(_net(), _split(), 0.5), ConfigError, "jumps must be a list of numbers"),
    ("tune-candidates-dict", lambda t: jumprelu.tune(_net(), _split(), {"1": 0.5}), ConfigError, "jumps must be a list of numbers"),
    ("tune-candidates-negative", lambda t: jumprelu.tune(_net(), _split(), [0.0, -1.0]), ConfigError, "jump must be a number in"),
    ("tune-max-drop-range", lambda t: jumprelu.tune(_net(), _split(), [0.0], max_drop=1.5), ConfigError, "max drop must be a number in [0, 1)"),
    ("tune-max-drop-negative", lambda t: jumprelu.tune(_net(), _split(), [0.0], max_drop=-0.1), ConfigError, "max drop must be a number in [0, 1)"),
    ("tune-max-drop-string", lambda t: jumprelu.tune(_net(), _split(), [0.0], max_drop="0.1"), ConfigError, "max drop must be a number in [0, 1)"),
    ("tune-max-drop-nan", lambda t: jumprelu.tune(_net(), _split(), [0.0], max_drop=math.nan), ConfigError, "max drop must be a number in [0, 1)"),
    ("tune-quantiles-range", lambda t: jumprelu.tune(_net(), _split(), [0.0], per_layer_quantiles=[2.0]), ConfigError, "quantiles must lie in [0, 1)"),
    ("tune-quantiles-words", lambda t: jumprelu.tune(_net(), _split(), [0.0], per_layer_quantiles=["a"]), ConfigError, "quantiles must be numbers"),
    ("tune-quantiles-number", lambda t: jumprelu.tune(_net(), _split(), [0.0], per_layer_quantiles=0.5), ConfigError, "quantiles must be a list"),
    ("tune-robustness", lambda t: jumprelu.tune(_net(), _split(), [0.0], robustness=3), ConfigError, "robustness must be a callable"),
    # clean_accuracy_sweep
    ("sweep-model", lambda t: jumprelu.clean_accuracy_sweep("x", _split(), [0.0]), ConfigError, "model must be a torch.nn.Module"),
    ("sweep-data-tuple", lambda t: jumprelu.clean_accuracy_sweep(_net(), (_x(), _y()), [0.0]), ConfigError, "data must be a jumprelu Split"),
    ("sweep-data-tensor", lambda t: jumprelu.clean_accuracy_sweep(_net(), _x(), [0.0]), ConfigError, "data must be a jumprelu Split"),
    ("sweep-jumps-empty", lambda t: jumprelu.clean_accuracy_sweep(_net(), _split(), []), ConfigError, "jump list is empty"),
    ("sweep-jumps-string", lambda t: jumprelu.clean_accuracy_sweep(_net(), _split(), "abc"), ConfigError, "jumps must be comma-separated numbers"),
    ("sweep-jumps-number", lambda t: jumprelu.clean_accuracy_sweep(_net(), _split(), 1.0), ConfigError, "jumps must be a list of numbers"),
    ("sweep-jumps-none", lambda t: jumprelu.clean_accuracy_sweep(_net(), _split(), None), ConfigError, "jumps must be a list of numbers"),
    ("sweep-jumps-nan", lambda t: jumprelu.clean_accuracy_sweep(_net(), _split(), [math.nan]), ConfigError, "jump must be a number in"),
    ("sweep-batch-size", lambda t: jumprelu.clean_accuracy_sweep(_net(), _split(), [0.0], batch_size=0), ConfigError, "batch size must be an integer >= 1"),
    # evaluate
    ("evaluate-config-dict", lambda t: jumprelu.evaluate({"dataset": "digits"}, _net(), _split(), t / "run"), ConfigError, "config must be an EvalConfig"),
    ("evaluate-model", lambda t: jumprelu.evaluate(_config(), "x", _split(), t / "run"), ConfigError, "model must be a torch.nn.Module"),
    ("evaluate-model-class", lambda t: jumprelu.evaluate(_config(), nn.Linear, _split(), t / "run"), ConfigError, "the class Linear"),
    ("evaluate-data-dict", lambda t: jumprelu.evaluate(_config(), _net(), {"x": _x(), "y": _y()}, t / "run"), ConfigError, "data must be a jumprelu Split"),
    ("evaluate-data-tuple", lambda t: jumprelu.evaluate(_config(), _net(), (_x(), _y()), t / "run"), ConfigError, "data must be a jumprelu Split"),
    ("evaluate-out-dir-int", lambda t: jumprelu.evaluate(_config(), _net(), _split(), 3), ConfigError, "out_dir must be a path"),
    ("evaluate-out-dir-none", lambda t: jumprelu.evaluate(_config(), _net(), _split(), None), ConfigError, "out_dir must be a path"),
    ("evaluate-n-too-large", lambda t: jumprelu.evaluate(_config(n=5), _net(), _split(), t / "run"), ConfigError, "n=5 is larger"),
    # EvalConfig
    ("config-n-string", lambda t: _config(n="5"), ConfigError, "n must be an integer >= 1"),
    ("config-n-zero", lambda t: _config(n=0), ConfigError, "n must be an integer >= 1"),
    ("config-batch-size-float", lambda t: _config(batch_size=2.5), ConfigError, "batch size must be an integer"),
    ("config-batch-size-string", lambda t: _config(batch_size="8"), ConfigError, "batch size must be an integer"),
    ("config-seed-negative", lambda t: _config(seed=-1), ConfigError, "seed must be an integer >= 0"),
    ("config-seed-string", lambda t: _config(seed="x"), ConfigError, "seed must be an integer >= 0"),
    ("config-check-n-negative", lambda t: _config(check_n=-1), ConfigError, "check n must be an integer >= 0"),
    ("config-check-n-string", lambda t: _config(check_n="2"), ConfigError, "check n must be an integer >= 0"),
    ("config-jumps-words", lambda t: _config(jumps="abc"), ConfigError, "'abc'"),
    ("config-jumps-number", lambda t: _config(jumps=0.5), ConfigError, "jumps must be a list of jumps"),
    ("config-jumps-none", lambda t: _config(jumps=None), ConfigError, "jumps must be a list of jumps"),
    ("config-attacks-string", lambda t: _config(attacks="fgsm"), ConfigError, "attacks must be a list of names"),
    ("config-attacks-numbers", lambda t: _config(attacks=[1]), ConfigError, "attacks must be a list of names"),
    ("config-attacks-none", lambda t: _config(attacks=None), ConfigError, "attacks must be a list of names"),
    ("config-attacks-unknown", lambda t: _config(attacks=["pgd-l7"]), ConfigError, "unknown attack 'pgd-l7'"),
    ("config-threats-string", lambda t: _config(threats="white"), ConfigError, "threats must be a list of names"),
    ("config-adaptive-extra", lambda t: _config(adaptive_extra="square-linf"), ConfigError, "adaptive extra must be a list of names"),
    ("config-surrogates-string", lambda t: _config(threats=["adaptive"], surrogates="relu"), ConfigError, "surrogates must be a list of names"),
    ("config-settings-list", lambda t: _config(settings=["fgsm"]), ConfigError, "settings must be a dict of dicts"),
    ("config-settings-values", lambda t: _config(settings={"fgsm": 3}), ConfigError, "settings must be a dict of dicts"),
    ("config-dataset-type", lambda t: _config(dataset=3), ConfigError, "dataset must be a string"),
    ("config-protocol-type", lambda t: _config(protocol=["paper"]), ConfigError, "protocol must be a string"),
    ("config-split-type", lambda t: _config(split=None), ConfigError, "split must be a string"),
    ("config-device-type", lambda t: _config(device=3), ConfigError, "device must be a string"),
    ("config-eps-string", lambda t: _config(eps="0.1"), ConfigError, "--eps must be a number"),
    ("config-suite-type", lambda t: _config(threats=["adaptive"], suite=["linf"]), ConfigError, "suite must be a string or None"),
    ("config-checkpoint-type", lambda t: _config(checkpoint=3), ConfigError, "checkpoint must be a string or None"),
    ("config-model-type", lambda t: _config(model=3), ConfigError, "model must be a string or None"),
    ("config-data-type", lambda t: _config(data=3, dataset="mine", eps=0.1), ConfigError, "data must be a string or None"),
    ("config-data-dir-type", lambda t: _config(data_dir=3), ConfigError, "data dir must be a path or None"),
    # load_split
    ("load-split-dataset", lambda t: jumprelu.load_split("svhn"), ConfigError, "unknown dataset 'svhn'"),
    ("load-split-dataset-type", lambda t: jumprelu.load_split(3), ConfigError, "dataset must be a name"),
    ("load-split-split", lambda t: jumprelu.load_split("digits", "dev"), ConfigError, "unknown split 'dev'"),
    ("load-split-split-type", lambda t: jumprelu.load_split("digits", ["test"]), ConfigError, "unknown split ['test']"),
    ("load-split-val-size-string", lambda t: jumprelu.load_split("digits", "val", val_size="0.1"), ConfigError, "val_size must be an int count or a float fraction"),
    ("load-split-val-size-negative", lambda t: jumprelu.load_split("digits", "val", val_size=-1), ConfigError, "val_size must be >= 0"),
    ("load-split-val-size-fraction", lambda t: jumprelu.load_split("digits", "val", val_size=1.5), ConfigError, "val_size must be in [0, 1)"),
    ("load-split-val-size-all", lambda t: jumprelu.load_split("digits", "val", val_size=10**6), ConfigError, "val_size=1000000 leaves no training examples"),
    ("load-split-seed-string", lambda t: jumprelu.load_split("digits", "val", seed="x"), ConfigError, "seed must be an integer"),
    ("load-split-seed-huge", lambda t: jumprelu.load_split("digits", "val", seed=2**70), ConfigError, "seed must be an integer"),
    ("load-split-data-dir", lambda t: jumprelu.load_split("digits", data_dir=3), ConfigError, "data_dir must be a path"),
    ("load-split-download", lambda t: jumprelu.load_split("digits", download="yes"), ConfigError, "download must be True or False"),
    # load_checkpoint, save_checkpoint
    ("load-checkpoint-int", lambda t: jumprelu.load_checkpoint(3), ConfigError, "path must be a file path"),
    ("load-checkpoint-none", lambda t: jumprelu.load_checkpoint(None), ConfigError, "path must be a file path"),
    ("load-checkpoint-missing", lambda t: jumprelu.load_checkpoint(t / "nope.pt"), CheckpointError, "nope.pt"),
    ("load-checkpoint-zoo", lambda t: jumprelu.load_checkpoint("paper:nope"), ConfigError, "nope"),
    ("load-checkpoint-device", lambda t: jumprelu.load_checkpoint(jumprelu.default_model_path(), device="gpu"), ConfigError, "invalid device 'gpu'"),
    ("save-checkpoint-model", lambda t: jumprelu.save_checkpoint("x", t / "m.pt", _META), ConfigError, "model must be a torch.nn.Module"),
    ("save-checkpoint-class", lambda t: jumprelu.save_checkpoint(nn.Linear, t / "m.pt", _META), ConfigError, "the class Linear"),
    ("save-checkpoint-path-int", lambda t: jumprelu.save_checkpoint(_net(), 3, _META), ConfigError, "path must be a file path"),
    ("save-checkpoint-path-none", lambda t: jumprelu.save_checkpoint(_net(), None, _META), ConfigError, "path must be a file path"),
    ("save-checkpoint-meta", lambda t: jumprelu.save_checkpoint(_net(), t / "m.pt", {"arch": "digitsnet"}), ConfigError, "meta must be a CheckpointMeta"),
    ("save-checkpoint-arch", lambda t: jumprelu.save_checkpoint(_net(), t / "m.pt", CheckpointMeta("nonet")), ConfigError, "nonet"),
    ("save-checkpoint-misfit", lambda t: jumprelu.save_checkpoint(_net(), t / "m.pt", _META), CheckpointError, "cannot save"),
    # make_attack
    ("make-attack-unknown", lambda t: jumprelu.make_attack("pgd-l7"), ConfigError, "unknown attack 'pgd-l7'"),
    ("make-attack-name-list", lambda t: jumprelu.make_attack(["fgsm"]), ConfigError, "unknown attack ['fgsm']"),
    ("make-attack-unknown-setting", lambda t: jumprelu.make_attack("fgsm", steps=3), ConfigError, "has no setting steps"),
    ("make-attack-eps-string", lambda t: jumprelu.make_attack("fgsm", eps="0.1"), ConfigError, "eps"),
    ("make-attack-steps-float", lambda t: jumprelu.make_attack("pgd-linf", eps=0.1, steps=2.5), ConfigError, "steps must be an integer"),
    ("make-attack-steps-string", lambda t: jumprelu.make_attack("pgd-linf", eps=0.1, steps="10"), ConfigError, "steps must be an integer"),
    # adaptive_suite
    ("suite-model", lambda t: jumprelu.adaptive_suite("x", _x(), _y(), eps=0.1), ConfigError, "model must be a torch.nn.Module"),
    ("suite-model-class", lambda t: jumprelu.adaptive_suite(nn.Linear, _x(), _y(), eps=0.1), ConfigError, "the class Linear"),
    ("suite-x-list", lambda t: jumprelu.adaptive_suite(_net(), _x().tolist(), _y(), eps=0.1), ConfigError, "x must be an (N, C, H, W) tensor, got a list"),
    ("suite-x-numpy", lambda t: jumprelu.adaptive_suite(_net(), _x().numpy(), _y(), eps=0.1), ConfigError, "x must be an (N, C, H, W) tensor, got a ndarray"),
    ("suite-x-flat", lambda t: jumprelu.adaptive_suite(_net(), _x().flatten(1), _y(), eps=0.1), ConfigError, "x must be an (N, C, H, W) tensor, got (4, 64)"),
    ("suite-y-numpy", lambda t: jumprelu.adaptive_suite(_net(), _x(), np.arange(4), eps=0.1), ConfigError, "y must be an (N,) tensor"),
    ("suite-y-length", lambda t: jumprelu.adaptive_suite(_net(), _x(), _y()[:3], eps=0.1), ConfigError, "labels must be 4 integers"),
    ("suite-norm", lambda t: jumprelu.adaptive_suite(_net(), _x(), _y(), norm="l1", eps=0.1), ConfigError, "unknown norm 'l1'"),
    ("suite-norm-type", lambda t: jumprelu.adaptive_suite(_net(), _x(), _y(), norm=["linf"], eps=0.1), ConfigError, "unknown norm ['linf']"),
    ("suite-eps", lambda t: jumprelu.adaptive_suite(_net(), _x(), _y(), eps=-0.1), ConfigError, "eps must be a number in"),
    ("suite-jumps-string", lambda t: jumprelu.adaptive_suite(_net(), _x(), _y(), eps=0.1, jumps="0,1"), ConfigError, "jumps must be a list of numbers"),
    ("suite-surrogates-string", lambda t: jumprelu.adaptive_suite(_net(), _x(), _y(), eps=0.1, surrogates="relu"), ConfigError, "surrogates must be a list of names"),
    ("suite-settings-type", lambda t: jumprelu.adaptive_suite(_net(), _x(), _y(), eps=0.1, settings=["apgd-ce"]), ConfigError, "settings must be a dict of dicts"),
    ("suite-settings-values", lambda t: jumprelu.adaptive_suite(_net(), _x(), _y(), eps=0.1, settings={"apgd-ce": 3}), ConfigError, "settings must be a dict of dicts"),
    ("suite-device-type", lambda t: jumprelu.adaptive_suite(_net(), _x(), _y(), eps=0.1, device=3), ConfigError, "device must be a name"),
    # predict
    ("predict-x-string", lambda t: predict(_net(), "x"), ConfigError, "x must be a torch.Tensor"),
    ("predict-x-list", lambda t: predict(_net(), [[0.0] * 64]), ConfigError, "x must be a torch.Tensor"),
    ("predict-model", lambda t: predict("m", _x()), ConfigError, "model must be a torch.nn.Module"),
    ("predict-batch-size", lambda t: predict(_net(), _x(), batch_size=0), ConfigError, "batch size must be an integer >= 1"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "call", "error", "text"), CASES, ids=[c[0] for c in CASES])
def test_bad_argument_raises_the_projects_error(
    name: str, call: Call, error: type[JumpReLUError], text: str, tmp_path: Path
) -> None:
    """The project's error class, a one-line message naming the argument, nothing written."""
    assert issubclass(error, JumpReLUError)
    with pytest.raises(JumpReLUError) as info:
        call(tmp_path)
    assert isinstance(info.value, error), f"{name}: {type(info.value).__name__}: {info.value}"
    assert text in str(info.value), f"{name}: {info.value}"
    assert "\n" not in str(info.value).strip(), f"{name}: not one line: {info.value!r}"
    assert list(tmp_path.iterdir()) == [], f"{name} wrote {list(tmp_path.iterdir())}"


def test_the_table_covers_the_public_api() -> None:
    """Many probes, unique names, and a row for every public function and class that takes
    arguments (``predict`` stands in for the evaluation helpers)."""
    assert len(CASES) >= 25
    assert len({c[0] for c in CASES}) == len(CASES)
    prefixes = {c[0].split("-")[0] for c in CASES}
    covered = {"retrofit", "set", "jump", "bpda", "tune", "sweep", "evaluate", "config", "load", "save", "make", "suite", "predict"}  # fmt: skip
    assert covered <= prefixes
