"""The hostile-user probe as a table: every bad input is one error line, exit 2, nothing written.

Each row of ``CASES`` is ``(name, argv, expected substring of the error)``. ``argv`` is a list
(``{tmp}`` stands for the test's temporary directory, also the working directory) or a setup
function that creates the bad file(s) under ``tmp`` and returns the argv. The test runs the CLI
in-process and checks: exit status 2, exactly one stderr line starting ``jumprelu: error:``, no
traceback, the expected text in it, and no file created, changed or removed under ``tmp``.
Adding a probe is adding a row; every case fails before any real work (digits, tiny n).
"""

# ruff: noqa: E501  (a row of the table is one line, however long)

from __future__ import annotations

import json
import os
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from jumprelu.cli.main import main
from jumprelu.evaluation.results import SCHEMA, SCHEMA_VERSION
from jumprelu.models import build_net
from jumprelu.models.checkpoint_files import FORMAT, VERSION
from jumprelu.report.load import load_run

Setup = Callable[[Path], list[str]]
EV = ["-q", "evaluate", "--dataset", "digits", "--n", "20", "--attacks", "fgsm"]
EV += ["--threats", "white", "--adaptive-extra=", "--jumps", "0"]
EVO = [*EV, "--out", "{tmp}/run"]
SET_DISCARD = ["--set", "apgd-ce-linf.discard=1", "--out", "{tmp}/run"]
TU = ["-q", "tune", "--dataset", "digits", "--n", "20", "--attacks", "fgsm", "--threats", "white"]
TR = ["-q", "train", "--arch", "digitsnet", "--dataset", "digits"]
TRO = [*TR, "--out", "{tmp}/net.pt"]
ACC = ["accuracy", "--dataset", "digits"]
BIG = str(2**70)
RGB = {"mean": [0.5] * 3, "std": [0.5] * 3}


# ------------------------------------------------------------------------- files the cases need


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _ckpt(tmp: Path, *, meta: dict[str, Any] | None = None, **kind: Any) -> str:
    """A digitsnet checkpoint (the project's format when ``meta`` is given) under ``tmp``."""
    torch.manual_seed(0)
    state = build_net("digitsnet").state_dict()
    if kind.get("dtype") is not None:
        state = {k: v.to(kind["dtype"]) for k, v in state.items()}
    if kind.get("nan"):
        state["fc2.bias"][0] = float("nan")
    obj: Any = state
    if meta is not None:
        base = {"arch": "digitsnet", "dataset": "digits", "mean": [0.5], "std": [0.5]}
        obj = {"format": FORMAT, "version": VERSION, "meta": {**base, **meta}, "state_dict": state}
    path = tmp / "net.pt"
    torch.save(obj, path)
    return str(path)


def ckpt_case(meta: dict[str, Any] | None = None, **kind: Any) -> Setup:
    return lambda tmp: [*EVO, "--checkpoint", _ckpt(tmp, meta=meta, **kind)]


def evil_pickle(tmp: Path) -> list[str]:
    class Evil:
        def __reduce__(self) -> tuple[Any, ...]:
            return (os.system, ("echo pwned",))

    torch.save({"w": Evil()}, tmp / "evil.pt")
    return [*EVO, "--arch", "digitsnet", "--checkpoint", str(tmp / "evil.pt")]


def corrupt_ckpt(tmp: Path) -> list[str]:
    _write(tmp / "bad.pt", "not a checkpoint")
    return [*EVO, "--arch", "digitsnet", "--checkpoint", str(tmp / "bad.pt")]


def model_file(body: str, attr: str) -> Setup:
    def setup(tmp: Path) -> list[str]:
        _write(tmp / "usermodel.py", f"import torch\n{body}\n")
        return [*EVO, "--model", f"{tmp / 'usermodel.py'}:{attr}"]

    return setup


def model_with_int_weights(tmp: Path) -> list[str]:
    argv = model_file(
        "from jumprelu.models import build_net\nmake = lambda: build_net('digitsnet')", "make"
    )(tmp)
    return [*argv, "--checkpoint", _ckpt(tmp, dtype=torch.int64)]


def npz_case(**arrays: Any) -> Setup:
    def setup(tmp: Path) -> list[str]:
        np.savez(tmp / "data.npz", **arrays)
        return [*EVO, "--arch", "digitsnet", "--data", f"npz:{tmp / 'data.npz'}"]

    return setup


def jumps_file(text: str) -> Setup:
    return lambda tmp: [*EV[:-1], f"0,@{_write(tmp / 'jumps.json', text)}", "--out", f"{tmp}/run"]


def _doc() -> dict[str, Any]:
    """A minimal valid results document (``test_minimal_document_is_valid``)."""
    metrics: dict[str, Any] = {"n": 2, "clean_accuracy": 1.0, "adv_accuracy": 0.5}
    metrics.update(dict.fromkeys(("success_rate", "rho2_all", "rhoinf_all", "l2_success"), 0.5))
    metrics.update(dict.fromkeys(("rho2_success", "rhoinf_success", "linf_success"), None))
    metrics.update(dict.fromkeys(("median_rho2_success", "median_rhoinf_success"), None))
    metrics.update({"zero_grad_fraction": 0.0, "grad_evals": 2, "seconds": 0.1})
    cell = {"threat": "white", "attack": "fgsm", "jump": 0.0, "family": "fixed-budget"}
    cell.update({"settings": {"eps": 0.1}, "metrics": metrics, "examples": [[0.0, 1.0]]})
    return {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "config": {"dataset": "digits", "split": "test", "protocol": "standard"},
        "provenance": {"seed": 0},
        "conventions": {"adv_accuracy": "fraction of all n points"},
        "clean": [{"jump": 0.0, "accuracy": 1.0, "n": 2}],
        "examples": {"x": [[[0.0]]], "labels": [1]},
        "cells": [cell],
        "ensemble": [{"jump": 0.0, "adv_accuracy": 0.5, "n": 2}],
        "flags": [{"code": "c", "where": "w", "message": "m", "explanation": "e"}],
    }


def report_case(change: Callable[[dict[str, Any]], Any] | str) -> Setup:
    """``jumprelu report`` on the minimal document changed by ``change`` (or on this text)."""

    def setup(tmp: Path) -> list[str]:
        run = tmp / "run"
        run.mkdir()
        doc = _doc()
        text = change if isinstance(change, str) else None
        if not isinstance(change, str):
            change(doc)
        (run / "results.json").write_text(text if text is not None else json.dumps(doc))
        return ["report", str(run)]

    return setup


def held(setup: Setup, directory: str) -> Setup:
    """``setup``, with ``directory`` (under tmp) locked by a live process (our parent)."""

    def wrapped(tmp: Path) -> list[str]:
        argv = setup(tmp)
        (tmp / directory).mkdir(exist_ok=True)
        _write(tmp / directory / ".lock", f"{os.getppid()} {socket.gethostname()}\n")
        return argv

    return wrapped


def existing(name: str, argv: list[str], text: str = "mine") -> Setup:
    """``argv`` with the file ``name`` (under tmp) already there."""

    def setup(tmp: Path) -> list[str]:
        _write(tmp / name, text)
        return argv

    return setup


def set_in(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """Set a dotted path (``cells.0.metrics.n``) of the document."""

    def change(doc: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        obj: Any = doc
        for p in parents:
            obj = obj[int(p)] if isinstance(obj, list) else obj[p]
        if isinstance(obj, list):
            obj[int(last)] = value
        elif value is ...:
            del obj[last]
        else:
            obj[last] = value

    return change


# issue 20: data readers
U8 = np.zeros((10, 8, 8), np.uint8)  # ten 8x8 gray images, labels 0..9: digitsnet's data
TEN = np.arange(10)
DIGITSNET = "from jumprelu.models import build_net\nmake = lambda: build_net('digitsnet')"


def npz_accuracy(**arrays: Any) -> Setup:
    """``jumprelu accuracy`` of a digitsnet ``--model`` on an npz of ``arrays``."""

    def setup(tmp: Path) -> list[str]:
        np.savez(tmp / "data.npz", **arrays)
        _write(tmp / "usermodel.py", DIGITSNET)
        model = f"{tmp / 'usermodel.py'}:make"
        return ["accuracy", "--model", model, "--data", f"npz:{tmp / 'data.npz'}"]

    return setup


def tune_val(**arrays: Any) -> Setup:
    """``jumprelu tune`` of a digitsnet ``--model`` on good test data, ``--val-data`` of ``arrays``."""

    def setup(tmp: Path) -> list[str]:
        np.savez(tmp / "test.npz", x=U8, y=TEN)
        np.savez(tmp / "val.npz", **arrays)
        _write(tmp / "usermodel.py", DIGITSNET)
        data = ["--data", f"npz:{tmp / 'test.npz'}", "--val-data", f"npz:{tmp / 'val.npz'}"]
        grid = ["--attacks", "fgsm", "--threats", "white", "--eps", "0.1", "--out", f"{tmp}/run"]
        return ["-q", "tune", "--model", f"{tmp / 'usermodel.py'}:make", *data, *grid]

    return setup


# issue 20: run directories
RUN = ["-q", "evaluate", "--dataset", "digits", "--n", "5", "--attacks", "fgsm"]
RUN += ["--threats", "white", "--adaptive-extra=", "--jumps", "0", "--no-report", "--out"]


def tampered_run(tamper: Callable[[Path], Any], command: str = "evaluate") -> Setup:
    """A finished tiny run in ``tmp/run``, one file then tampered; ``evaluate`` resumes it (or ``report``)."""

    def setup(tmp: Path) -> list[str]:
        assert main([*RUN, str(tmp / "run")]) == 0
        tamper(tmp / "run")
        return [*RUN, str(tmp / "run")] if command == "evaluate" else ["report", str(tmp / "run")]

    return setup


def examples_entry(name: str, array: np.ndarray) -> Callable[[Path], None]:
    def tamper(run: Path) -> None:
        arrays = dict(np.load(run / "examples.npz"))
        np.savez(run / "examples.npz", **{**arrays, name: array})

    return tamper


# ------------------------------------------------------------------------------------ the table

# issue 20: options and budgets
SUITE_EV = [
    "-q",
    "evaluate",
    "--dataset",
    "digits",
    "--n",
    "5",
    "--threats",
    "adaptive",
    "--suite",
    "linf",
    "--surrogates",
    "relu",
    "--jumps",
    "0",
]
_NET = "class M(torch.nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.fc = torch.nn.Linear(64, 10)\n        self.act = torch.nn.ReLU()\n"
BATCH2 = (
    _NET
    + "    def forward(self, x):\n        assert x.shape[0] == 2, 'batch of 2 only'\n        return self.fc(x.flatten(1))\n"
)
INT_LOGITS = (
    _NET
    + "    def forward(self, x):\n        return self.fc(self.act(x.flatten(1))).round().long()\n"
)
NAN_LOGITS = (
    _NET
    + "    def forward(self, x):\n        return self.fc(self.act(x.flatten(1))) * float('nan')\n"
)
UNTRACEABLE = (
    _NET.replace("        self.act = torch.nn.ReLU()\n", "")
    + "    def forward(self, x):\n        h = x.flatten(1)\n        if float(h.sum()) > 0:\n            h = torch.relu(h)\n        return self.fc(h)\n"
)
EXITS = _NET + "    def forward(self, x):\n        raise SystemExit(3)\n"


CASES: list[tuple[str, list[str] | Setup, str]] = [
    # the command line itself (argparse): one line, no usage block
    ("no command", [], "required"),
    ("unknown command", ["bogus"], "invalid choice"),
    ("unknown option", ["evaluate", "--bogus"], "unrecognized arguments"),
    ("protocol not a choice", [*EVO, "--protocol", "bogus"], "invalid choice"),
    # --set ATTACK.KEY=VALUE: the value's type is the setting's
    ("set eps to a string", [*EVO, "--set", "fgsm.eps=abc"], "fgsm.eps takes a number"),
    ("set eps to a list", [*EVO, "--set", "fgsm.eps=[1,2]"], "fgsm.eps takes a number"),
    ("set eps to null", [*EVO, "--set", "fgsm.eps=null"], "fgsm.eps cannot be null"),
    ("set steps to an object", [*EVO, "--set", "cw-l2.steps={}"], "cw-l2.steps takes an integer"),
    ("set steps to a fraction", [*EVO, "--set", "pgd-linf.steps=2.5"], "takes an integer"),
    (
        "APGD discard of 1",
        [*EV[:6], "--threats", "adaptive", "--suite", "linf", "--jumps", "1", *SET_DISCARD],
        "discard must be a number in [0, 1)",
    ),
    ("set eps to NaN", [*EVO, "--set", "fgsm.eps=NaN"], "finite"),
    ("set without a key", [*EVO, "--set", "fgsm=1"], "ATTACK.KEY=VALUE"),
    ("set an unknown attack", [*EVO, "--set", "bogus.steps=3"], "unknown attack"),
    ("set an unknown setting", [*EVO, "--set", "fgsm.bogus=1"], "bogus"),
    # numbers out of range
    ("seed too large (evaluate)", [*EVO, "--seed", BIG], "seed"),
    ("seed negative", [*EVO, "--seed", "-1"], "seed"),
    ("seed not a number", [*EVO, "--seed", "abc"], "seed"),
    ("seed too large (train)", [*TRO, "--seed", BIG], "seed"),
    ("seed too large (tune)", [*TU, "--out", "{tmp}/run", "--seed", BIG], "seed"),
    ("n zero", [*EVO, "--n", "0"], "n must be an integer >= 1"),
    ("n not a number", [*EVO, "--n", "abc"], "invalid int value"),
    ("batch size zero", [*EVO, "--batch-size", "0"], "batch size"),
    ("num classes one", [*EVO, "--num-classes", "1"], "number of classes"),
    ("num classes huge", [*EVO, "--num-classes", str(10**12)], "number of classes"),
    ("noise samples zero", [*EVO, "--noise-samples", "0"], "noise samples"),
    ("check n negative", [*EVO, "--check-n", "-1"], "check n"),
    ("eps not finite", [*EVO, "--eps-l2", "inf"], "finite"),
    ("eps negative", [*EVO, "--eps", "-1"], "eps"),
    ("noise sigma negative", [*EVO, "--noise-sigma", "-1"], "noise sigma"),
    ("max drop negative", [*TU, "--out", "{tmp}/run", "--max-drop", "-1"], "max drop"),
    ("max drop not finite", ["demo", "--out", "{tmp}/d", "--max-drop", "nan"], "finite"),
    ("quantile above one", [*TU, "--out", "{tmp}/run", "--per-layer", "--quantiles", "1.5"], "quantiles"),
    ("num classes not the data's", [*EVO, "--num-classes", "3"], "10 classes"),
    ("set eps zero", [*EVO, "--set", "fgsm.eps=0"], "eps"),
    ("set bounds unknown", [*EVO, "--set", "fgsm.bounds=bogus"], "bounds"),
    # devices
    ("device meta (evaluate)", [*EVO, "--device", "meta"], "device"),
    ("device meta (train)", [*TRO, "--device", "meta"], "device"),
    ("device meta (demo)", ["demo", "--out", "{tmp}/d", "--device", "meta"], "device"),
    ("device bad index", [*ACC, "--device", "cuda:x"], "device"),
    # where the output goes
    ("evaluate out is a file", existing("f.txt", [*EV, "--out", "{tmp}/f.txt"]), "not a dir"),
    ("tune out is a file", existing("f.txt", [*TU, "--out", "{tmp}/f.txt"]), "not a dir"),
    ("demo out is a file", existing("f.txt", ["demo", "--out", "{tmp}/f.txt"]), "not a dir"),
    ("out under a file", existing("f.txt", [*EV, "--out", "{tmp}/f.txt/run"]), "is a file"),
    ("train out is a directory", [*TR, "--out", "{tmp}"], "is a directory"),
    ("train out is a text file", existing("f.txt", [*TR, "--out", "{tmp}/f.txt"]), "not a jumprelu"),
    ("train out under a file", existing("f.txt", [*TR, "--out", "{tmp}/f.txt/n.pt"]), "is a file"),
    ("train epochs dir is a file", existing("net.pt.epochs", TRO), "not a directory"),
    ("train run in use", held(lambda tmp: TRO, "net.pt.epochs"), "in use by pid"),
    ("report run in use", held(report_case(lambda d: None), "run"), "in use by pid"),
    # what is required
    ("tune without dataset", ["tune", "--out", "{tmp}/o"], "needs --dataset"),
    ("tune without out", ["tune", "--dataset", "digits"], "needs --out"),
    ("evaluate without out", EV, "needs --out"),
    ("evaluate without dataset", ["evaluate", "--out", "{tmp}/o"], "needs --dataset"),
    # training settings
    ("milestones not numbers", [*TRO, "--milestones", "a,b"], "milestones"),
    ("milestone zero", [*TRO, "--milestones", "0"], "milestones"),
    ("epochs zero", [*TRO, "--epochs", "0"], "epochs"),
    ("learning rate zero", [*TRO, "--lr", "0"], "learning rate"),
    ("adv ratio above one", [*TRO, "--adv-ratio", "1.5"], "adv_ratio"),
    ("limit zero", [*TRO, "--limit", "0"], ">= 1"),
    ("learning rate not finite", [*TRO, "--lr", "nan"], "finite"),
    ("keep epochs negative", [*TRO, "--keep-epochs", "-1"], ">= 0"),
    ("validation larger than data", [*TRO, "--val-size", "100000"], "val_size"),
    ("pgd steps zero", [*TRO, "--adv", "pgd", "--adv-eps", "0.1", "--pgd-steps", "0"], "pgd_steps"),
    ("resume from nothing", [*TRO, "--resume"], "nothing to resume"),
    ("arch for other data", ["train", "--arch", "lenet", "--dataset", "digits", "--out", "x.pt"], "lenet"),
    ("train unknown dataset", ["train", "--arch", "lenet", "--dataset", "imagenet", "--out", "x"], "imagenet"),
    # normalisation
    ("mean not numbers", [*EVO, "--mean", "abc", "--std", "0.5"], "numbers"),
    ("mean without std", [*EVO, "--mean", "0.5"], "together"),
    ("std zero", [*EVO, "--mean", "0.5", "--std", "0"], "std"),
    ("mean of the wrong length", [*EVO, "--mean", "0.5,0.5", "--std", "0.5,0.5"], "channel"),
    # checkpoints and the zoo
    ("zoo name unknown", [*EVO, "--checkpoint", "paper:unknown-name"], "unknown-name"),
    ("checkpoint missing", [*EVO, "--arch", "digitsnet", "--checkpoint", "{tmp}/no.pt"], "not found"),
    ("checkpoint corrupt", corrupt_ckpt, "corrupt"),
    ("checkpoint pickles os.system", evil_pickle, "system"),
    ("checkpoint int64 weights", ckpt_case(meta={}, dtype=torch.int64), "not floating point"),
    ("checkpoint NaN weights", ckpt_case(meta={}, nan=True), "non-finite"),
    ("checkpoint num_classes huge", ckpt_case(meta={"num_classes": 10**12}), "num_classes"),
    ("checkpoint option of wrong type", ckpt_case(meta={"arch": "resnet20", "arch_kwargs": {"depth": "x"}, **RGB}), "depth"),
    ("checkpoint unknown option", ckpt_case(meta={"arch_kwargs": {"depth": 3}}), "depth"),
    ("checkpoint of another arch", ckpt_case(meta={"arch": "lenet"}), "does not fit"),
    ("checkpoint meta not a dict", ckpt_case(meta={"training": 5}), "training"),
    # any model: --model MODULE:CALLABLE
    ("model module missing", [*EVO, "--model", "no_such_module_xyz:build"], "cannot import"),
    ("model spec malformed", [*EVO, "--model", "nocolon"], "MODULE:CALLABLE"),
    ("model attribute missing", model_file("", "missing"), "no attribute"),
    ("model not a module", model_file("def make():\n    return 42", "make"), "not an nn.Module"),
    ("model builder raises", model_file("def make():\n    raise RuntimeError('boom')", "make"), "boom"),
    ("model file with a syntax error", model_file("def (", "make"), "cannot import"),
    ("model with other classes", model_file("def make():\n    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 3))", "make"), "logits"),
    ("model weights int64", model_with_int_weights, "not floating point"),
    ("model for other inputs", model_file("def make():\n    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(5, 10))", "make"), "does not fit the model"),
    # the user's data: --data npz:PATH / folder:DIR
    ("data spec unknown kind", [*EVO, "--arch", "digitsnet", "--data", "csv:x.csv"], "npz:PATH"),
    ("data spec without path", [*EVO, "--arch", "digitsnet", "--data", "npz:"], "npz:PATH"),
    ("data npz missing", [*EVO, "--arch", "digitsnet", "--data", "npz:{tmp}/no.npz"], "no.npz"),
    ("data folder missing", [*EVO, "--arch", "digitsnet", "--data", "folder:{tmp}/none"], "none"),
    ("data folder is a file", existing("f.txt", [*EVO, "--arch", "digitsnet", "--data", "folder:{tmp}/f.txt"]), "f.txt"),
    ("data npz is text", existing("d.npz", [*EVO, "--arch", "digitsnet", "--data", "npz:{tmp}/d.npz"]), "not an npz file"),
    ("data npz of objects", npz_case(x=np.array([None] * 4, dtype=object), y=np.zeros(4, int)), "allow_pickle"),
    ("data dir is a file", existing("f.txt", ["accuracy", "--dataset", "mnist", "--arch", "lenet", "--data-dir", "{tmp}/f.txt"]), "not a directory"),
    ("validation data without data", [*TU, "--out", "{tmp}/run", "--val-data", "npz:v.npz"], "--val-data"),
    ("data npz without y", npz_case(x=np.zeros((4, 8, 8), np.uint8)), "'x' and 'y'"),
    ("data npz x of wrong rank", npz_case(x=np.zeros((4, 8), np.uint8), y=np.zeros(4, int)), "x must be"),
    ("data npz y of wrong length", npz_case(x=np.zeros((4, 8, 8), np.uint8), y=np.zeros(3, int)), "y must have shape"),
    ("data npz float x above one", npz_case(x=np.full((4, 1, 8, 8), 2.0), y=np.zeros(4, int)), "[0, 1]"),
    ("data npz float labels", npz_case(x=np.zeros((4, 8, 8), np.uint8), y=np.zeros(4)), "integer labels"),
    # jumps, threats, attacks, the adaptive suite
    ("jump negative", [*EV[:-1], "-1", "--out", "{tmp}/run"], "jump"),
    ("jump not a number", [*EV[:-1], "abc", "--out", "{tmp}/run"], "jump"),
    ("jumps file names no site", jumps_file('{"no.such.site": 0.5}'), "no.such.site"),
    ("jumps file not JSON", jumps_file("{"), "json"),
    ("jumps file negative", jumps_file('{"net.act1": -1}'), "jump must be a number in [0"),
    ("jumps file a list", jumps_file("[1, 2]"), "JSON object"),
    ("unknown threat", [*EVO, "--threats", "bogus"], "threat"),
    ("unknown attack", [*EVO, "--attacks", "bogus"], "unknown attack"),
    ("unknown suite", [*EVO, "--threats", "adaptive", "--suite", "bogus"], "unknown suite"),
    ("suite without adaptive", [*EVO, "--suite", "linf"], "adaptive"),
    ("surrogate of width zero", [*EVO, "--threats", "adaptive", "--surrogates", "smooth-0"], "smooth-0"),
    ("surrogate unknown", [*EVO, "--threats", "adaptive", "--surrogates", "bogus"], "bogus"),
    ("noise surrogate without sigma", [*EVO, "--threats", "adaptive", "--surrogates", "relu+noise"], "sigma"),
    ("quantiles without per-layer", [*TU, "--out", "{tmp}/run", "--quantiles", "0.5"], "--per-layer"),
    ("per-layer with jumps", [*TU, "--out", "{tmp}/run", "--per-layer", "--jumps", "0,1"], "--jumps"),
    # issue 21: the retrofit family and learned thresholds
    ("unknown retrofit", [*EVO, "--retrofit", "bogus"], "bogus"),
    ("meansparse negative alpha", [*EV[:-1], "0,-0.5", "--retrofit", "meansparse", "--out", "{tmp}/run"], "-0.5"),
    ("learn thresholds with per-layer", [*TU, "--out", "{tmp}/run", "--learn-thresholds", "--per-layer"], "--per-layer"),
    ("learn thresholds with jumps", [*TU, "--out", "{tmp}/run", "--learn-thresholds", "--jumps", "0,1"], "--jumps"),
    ("learn thresholds with meansparse", [*TU, "--out", "{tmp}/run", "--learn-thresholds", "--retrofit", "meansparse"], "--retrofit"),
    ("learn steps without learn thresholds", [*TU, "--out", "{tmp}/run", "--learn-steps", "5"], "--learn-thresholds"),
    ("learn steps zero", [*TU, "--out", "{tmp}/run", "--learn-thresholds", "--learn-steps", "0"], "--learn-steps"),
    ("per-channel jumps of the wrong shape", jumps_file('{"net.act1": [0.1, 0.2]}'), "16 channels but 2"),
    ("per-channel jumps empty", jumps_file('{"net.act1": []}'), "must not be empty"),
    ("per-channel jump negative", jumps_file('{"net.act1": [0.1, -1]}'), "net.act1"),
    ("per-channel jump not a number", jumps_file('{"net.act1": [0.1, "a"]}'), "numbers"),
    ("per-channel jumps nested", jumps_file('{"net.act1": [[0.1]]}'), "numbers"),
    ("unknown dataset", ["accuracy", "--dataset", "imagenet", "--arch", "lenet"], "unknown dataset"),
    # jumprelu report: the whole document is checked against its schema on load
    ("report of nothing", ["report", "{tmp}/none"], "no results"),
    ("report of a file", existing("f.txt", ["report", "{tmp}/f.txt"]), "no results"),
    ("report of invalid JSON", report_case("{"), "not valid JSON"),
    ("report of another document", report_case('{"a": 1}'), "not a jumprelu results"),
    ("report of another version", report_case(set_in("schema_version", 999)), "version"),
    ("report string accuracy", report_case(set_in("cells.0.metrics.adv_accuracy", "0.5")), "cells[0].metrics.adv_accuracy"),
    ("report null clean accuracy", report_case(set_in("clean.0.accuracy", None)), "clean[0].accuracy"),
    ("report config a number", report_case(set_in("config", 5)), "config must be an object"),
    ("report ragged examples", report_case(set_in("cells.0.examples", [[0.0], [1.0, 2.0]])), "cells[0].examples"),
    ("report ragged clean examples", report_case(set_in("examples.x", [[0.0], []])), "examples.x"),
    ("report boolean n", report_case(set_in("clean.0.n", True)), "clean[0].n"),
    ("report missing cells", report_case(set_in("cells", ...)), "cells is missing"),
    ("report no cells", report_case(set_in("cells", [])), "no cells"),
    ("report flag without text", report_case(set_in("flags.0.explanation", ...)), "flags[0].explanation"),
    ("report jump a list", report_case(set_in("ensemble.0.jump", [0])), "ensemble[0].jump"),
    ("report settings a list", report_case(set_in("cells.0.settings", [])), "cells[0].settings"),
    ("report provenance null", report_case(set_in("provenance", None)), "provenance"),
    # --- issue 20: data readers (rows below this line) ---
    ("data npz uint64 label wraps", npz_case(x=U8, y=np.array([*range(9), 2**64 - 1], np.uint64)), "18446744073709551615"),
    ("data npz label 10**12", npz_case(x=U8, y=np.array([*range(9), 10**12])), "100000"),
    ("data npz empty (accuracy)", npz_accuracy(x=U8[:0], y=TEN[:0]), "no examples"),
    ("data npz empty float", npz_case(x=np.zeros((0, 1, 8, 8), np.float32), y=TEN[:0]), "no examples"),
    ("data npz uint8 channels first", npz_case(x=U8[:, None], y=TEN), "(N, H, W, C)"),
    ("data npz one class", npz_case(x=U8, y=np.zeros(10, int)), "only one class"),
    ("data folder is a file: not a dir", existing("f.txt", [*EVO, "--arch", "digitsnet", "--data", "folder:{tmp}/f.txt"]), "not a directory"),
    ("val data of another shape", tune_val(x=np.zeros((10, 4, 4), np.uint8), y=TEN), "--val-data images are 1x4x4"),
    ("val data labels beyond the model", tune_val(x=U8, y=np.arange(10) + 6), "validation data: labels must lie in [0, 9]"),
    # --- issue 20: run directories and reports (rows below this line) ---
    ("report clean accuracy negative", report_case(set_in("cells.0.metrics.clean_accuracy", -3.0)), "cells[0].metrics.clean_accuracy must be a number in [0, 1]"),
    ("report adv accuracy above one", report_case(set_in("cells.0.metrics.adv_accuracy", 5.0)), "cells[0].metrics.adv_accuracy must be a number in [0, 1]"),
    ("report success rate above one", report_case(set_in("cells.0.metrics.success_rate", 1.5)), "cells[0].metrics.success_rate"),
    ("report clean table accuracy above one", report_case(set_in("clean.0.accuracy", 1.01)), "clean[0].accuracy must be a number in [0, 1]"),
    ("report ensemble accuracy negative", report_case(set_in("ensemble.0.adv_accuracy", -0.5)), "ensemble[0].adv_accuracy"),
    ("report budget accuracy above one", report_case(set_in("ensemble.0.budget", {"linf": {"eps": 0.1, "eps_attack_space": 0.1, "adv_accuracy": 2.0}})), "ensemble[0].budget.linf.adv_accuracy"),
    ("report metrics n negative", report_case(set_in("cells.0.metrics.n", -5)), "cells[0].metrics.n must be an integer >= 1"),
    ("report clean n zero", report_case(set_in("clean.0.n", 0)), "clean[0].n must be an integer >= 1"),
    ("report config n zero", report_case(set_in("config.n", 0)), "config.n"),
    ("report jump negative", report_case(set_in("cells.0.jump", -1.0)), "cells[0].jump must be a jump"),
    ("report jump infinite", report_case(set_in("clean.0.jump", float("inf"))), "clean[0].jump must be a jump"),
    ("report jump label malformed", report_case(set_in("ensemble.0.jump", "layers-xyz")), "ensemble[0].jump must be a jump"),
    ("report jump map negative", report_case(set_in("cells.0.jump_map", {"net.act1": -1.0})), "cells[0].jump_map.net.act1"),
    ("report threat unknown", report_case(set_in("cells.0.threat", "purple")), "cells[0].threat must be a threat (white, gray, adaptive)"),
    ("report protocol unknown", report_case(set_in("config.protocol", "bogus")), "config.protocol must be a protocol"),
    ("report no clean rows", report_case(set_in("clean", [])), "clean is empty"),
    ("report no ensemble rows", report_case(set_in("ensemble", [])), "ensemble is empty"),
    ("report no threats", report_case(set_in("config.threats", [])), "config.threats is empty"),
    ("resume config.json not JSON", tampered_run(lambda run: _write(run / "config.json", "{")), "config.json holds no jumprelu run configuration (not valid JSON); choose another --out"),
    ("resume config.json a list", tampered_run(lambda run: _write(run / "config.json", "[1, 2]")), "config.json holds no jumprelu run configuration (not a JSON object)"),
    ("report examples entry 1-D", tampered_run(examples_entry("cell0", np.zeros(5)), "report"), "examples.npz: entry 'cell0' is of shape (5,)"),
    ("report examples entry of other images", tampered_run(examples_entry("cell0", np.zeros((6, 1, 3, 3))), "report"), "examples.npz: entry 'cell0' is of images (1, 3, 3)"),
    ("report examples entry of strings", tampered_run(examples_entry("clean", np.array(["a", "b"])), "report"), "entry 'clean' is of type"),
    # --- issue 20: options and budgets (rows below this line) ---
    ("set a stage's eps", [*SUITE_EV, "--set", "apgd-ce-linf.eps=0.5", "--out", "{tmp}/run"], "the budget comes from --eps"),
    ("set an attack's eps", [*EVO, "--set", "fgsm.eps=0.5"], "the budget comes from --eps"),
    ("surrogate width overflows float32", [*SUITE_EV[:-4], "--surrogates", "smooth-1e39", "--jumps", "0", "--out", "{tmp}/run"], "width must be a number in"),
    ("std below float32", [*ACC, "--mean", "0", "--std", "1e-300"], "std must be a number in"),
    ("mean above float32", [*ACC, "--mean", "1e39", "--std", "1"], "mean must be a number in"),
    ("jump above float32", [*EV[:-1], "0,1e308", "--out", "{tmp}/run"], "jump must be a number in"),
    ("jump in a file above float32", jumps_file('{"net.act1": 1e308}'), "jump must be a number in"),
    ("eps above float32", [*EVO, "--eps", "1e308"], "--eps must be a number in"),
    ("eps subnormal", [*EVO, "--eps", "1e-310"], "too small for float32"),
    ("eps-l2 above float32", [*EV[:7], "pgd-l2", *EV[8:], "--eps-l2", "1e308", "--out", "{tmp}/run"], "--eps-l2 must be a number in"),
    ("noise sigma above float32", [*EVO, "--noise-sigma", "1e308"], "noise sigma must be a number in"),
    ("arch with model", lambda tmp: [*model_file(DIGITSNET, "make")(tmp), "--arch", "lenet"], "--arch goes with --checkpoint"),
    ("split with data", lambda tmp: [*npz_case(x=np.zeros((3, 8, 8), np.uint8), y=np.arange(3))(tmp), "--split", "val"], "--split"),
    ("data-dir with data", lambda tmp: [*npz_case(x=np.zeros((3, 8, 8), np.uint8), y=np.arange(3))(tmp), "--data-dir", str(tmp)], "--data-dir"),
    ("evaluate with val-data", [*EVO, "--val-data", "npz:{tmp}/v.npz"], "--val-data goes with tune"),
    ("noise without a +noise surrogate", [*EVO, "--noise-sigma", "0.1"], "+noise surrogates only"),
    ("noise samples without a +noise surrogate", [*EVO, "--noise-samples", "4"], "+noise surrogates only"),
    ("surrogates without the adaptive threat", [*EVO, "--surrogates", "relu"], "adaptive threat only"),
    ("bpda gradient without the adaptive threat", [*EVO, "--bpda-gradient", "relu"], "adaptive threat only"),
    ("eps-l2 with only L-inf attacks", [*EVO, "--eps-l2", "1.0"], "none runs here"),
    ("set an attack that does not run", [*EVO, "--set", "pgd-l2.steps=3"], "does not run here"),
    ("set n_targets on untargeted apgd", [*EV[:7], "apgd-ce-linf", *EV[8:], "--set", "apgd-ce-linf.n_targets=3", "--out", "{tmp}/run"], "targeted apgd"),
    ("n_targets above the classes", [*EV[:7], "apgd-t-linf", *EV[8:], "--set", "apgd-t-linf.n_targets=50", "--out", "{tmp}/run"], "exceeds the model's 9 other classes"),
    ("jumps file names a site twice", jumps_file('{"net.act1": 0.1, "net.act1": 0.2}'), "twice"),
    ("steps beyond sane", [*EV[:7], "pgd-linf", *EV[8:], "--set", "pgd-linf.steps=1000000000000", "--out", "{tmp}/run"], "at most 100,000"),
    ("noise samples beyond sane", [*EVO, "--noise-samples", "1000000000"], "at most 10,000"),
    ("model with a hard-coded batch of 2", model_file(BATCH2, "M"), "batch of 2 only"),
    ("model with integer logits", model_file(INT_LOGITS, "M"), "floating point"),
    ("model with NaN logits", model_file(NAN_LOGITS, "M"), "NaN or infinite"),
    ("model on the meta device", model_file("make = lambda: torch.nn.Sequential(torch.nn.Flatten(), torch.nn.ReLU(), torch.nn.Linear(64, 10)).to('meta')", "make"), "meta device"),
    ("model code calls exit", model_file(EXITS, "M"), "SystemExit: 3"),
    ("model on cuda without cuda", lambda tmp: [*model_file(DIGITSNET, "make")(tmp), "--device", "cuda"], "cuda"),
    ("accuracy with a model on cuda without cuda", lambda tmp: [*ACC, "--model", f"{_write(tmp / 'm.py', DIGITSNET)}:make", "--device", "cuda"], "cuda"),
    ("jumps negative say why", [*ACC, "--jumps", "0,-1"], "jump must be a number in [0"),
    ("model torch.fx cannot trace, no ReLU module", model_file(UNTRACEABLE, "M"), "could not trace"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "argv", "needle"), CASES, ids=[c[0] for c in CASES])
def test_bad_input(
    name: str,
    argv: list[str] | Setup,
    needle: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "dont_write_bytecode", True)  # importing a --model file
    args = argv(tmp_path) if callable(argv) else argv
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    before = _snapshot(tmp_path)
    capsys.readouterr()
    code: int | str | None
    try:
        code = main(args)
    except SystemExit as exc:  # argparse
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    lines = err.strip("\n").split("\n")
    assert len(lines) == 1 and lines[0].startswith("jumprelu: error: "), err
    assert needle.lower() in err.lower(), err
    assert _snapshot(tmp_path) == before  # nothing created, changed or removed


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
        if p.is_file()
        else (0, 0)
        for p in root.rglob("*")
    }


def test_table_is_large_enough() -> None:
    assert len(CASES) >= 60
    assert len({c[0] for c in CASES}) == len(CASES)  # names are the test ids


def test_minimal_document_is_valid(tmp_path: Path) -> None:
    """The report cases change one field of a valid document (so that field is the cause)."""
    (tmp_path / "results.json").write_text(json.dumps(_doc()))
    assert load_run(tmp_path)["cells"][0]["attack"] == "fgsm"
