"""The main job on the embedded default: tune, evaluate and report the shipped digits model.

Runs offline: the data (scikit-learn's bundled handwritten digits) and the model
(``assets/digitsnet.pt``, made by ``scripts/make_default_model.py``) ship inside the package.
The pipeline is the one a user runs on their own model: retrofit, choose the jump on a
validation split carved from the training data, evaluate white-box, gray-box and adaptive
attacks over a jump grid on the test split, and render the report.
"""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from jumprelu._util import NULL_PROGRESS, Progress
from jumprelu.datasets.core import load_split
from jumprelu.evaluation.config import EvalConfig
from jumprelu.evaluation.results import file_sha256
from jumprelu.evaluation.runner import evaluate
from jumprelu.models.checkpoints import default_model_path, load_checkpoint
from jumprelu.tuning import tune

__all__ = ["DemoSummary", "demo_config", "run_demo"]

#: Jumps shown in the demo's trade-off plots (the tuned jump is added).
DEMO_JUMPS = (0.0, 0.5, 1.0, 1.5)
#: Candidates for tuning on validation data.
TUNE_JUMPS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.25, 1.5, 2.0)


@dataclass
class DemoSummary:
    """What the demo found.

    Attributes:
        jump: the jump chosen on validation data.
        max_drop: the clean-accuracy budget it was chosen under.
        eps: the L-infinity budget of the fixed-budget attacks (pixels).
        clean_accuracy: test accuracy, ``{"jump 0": acc, "chosen": acc}`` (so are the others).
        robust_accuracy: per threat model, the lowest accuracy under one of its fixed-budget
            L∞ attacks (PGD-L∞; adaptive: BPDA PGD-L∞, Square and the adaptive suite).
        suite: the adaptive suite's robust accuracy (APGD-CE, APGD-T, FMN and Square through
            every BPDA surrogate, as a cascade).
        within_budget: per-sample worst case over every attack whose perturbation fits the
            L-infinity budget.
        rho2: DeepFool-L2's mean relative perturbation (all points) per threat; adaptive: the
            smaller of straight-through and smooth BPDA.
        ensemble: per-sample worst case over every attack and threat, budget or not.
        out: the run directory; report: the HTML report's path (None when not rendered).
        flags: sanity flags raised, as "code (where)".
    """

    jump: float
    max_drop: float
    eps: float
    clean_accuracy: dict[str, float]
    robust_accuracy: dict[str, dict[str, float]]
    suite: dict[str, float]
    within_budget: dict[str, float]
    rho2: dict[str, dict[str, float]]
    ensemble: dict[str, float]
    out: str
    report: str | None = None
    flags: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict."""
        return asdict(self)


#: The demo's lighter attack settings (the documented runs use the defaults): fewer iterations
#: and queries, two APGD-T targets (the demo's time: the README's quick start).
DEMO_SETTINGS: dict[str, dict[str, Any]] = {
    "pgd-linf": {"steps": 20},
    "square-linf": {"queries": 300},
    "apgd-ce-linf": {"steps": 30},
    "apgd-t-linf": {"steps": 30, "n_targets": 2},
    "fmn-linf": {"steps": 30},
}


def demo_config(jumps: list[float], device: str = "cpu", n: int | None = None) -> EvalConfig:
    """The demo's evaluation: PGD-L∞ and DeepFool-L2 under every threat, the L∞ suite."""
    return EvalConfig(
        dataset="digits",
        jumps=jumps,
        attacks=["pgd-linf", "deepfool-l2"],
        threats=["white", "gray", "adaptive"],
        adaptive_extra=[],  # the suite runs Square
        suite="linf",
        settings=DEMO_SETTINGS,
        check_n=20,
        checkpoint=default_model_path(),
        batch_size=400,
        device=device,
        n=n,
    )


def run_demo(
    out: str | Path,
    *,
    max_drop: float = 0.01,
    device: str = "cpu",
    n: int | None = None,
    report: bool = True,
    progress: Progress = NULL_PROGRESS,
) -> DemoSummary:
    """Tune, evaluate and report the shipped digits model.

    Args:
        out: run directory (refused when it holds something else; resumed when it holds an
            earlier demo run).
        max_drop: clean-accuracy budget for tuning (fraction; 0.01 = 1 point).
        device: "cpu" or "cuda".
        n: evaluate the first ``n`` test images only (None: all 359).
        report: render ``report.html`` and ``report.md`` into ``out``.
        progress: progress hooks (bars at the CLI).

    Returns:
        A ``DemoSummary``.
    """
    path = default_model_path()
    model, meta = load_checkpoint(path, device=device)
    tuning = tune(model, load_split("digits", "val"), TUNE_JUMPS, max_drop=max_drop)
    assert tuning.jump is not None
    jumps = sorted({*DEMO_JUMPS, tuning.jump})
    config = dataclasses.replace(demo_config(jumps, device, n), arch=meta.arch)
    extra = {
        "checkpoint": path,
        "checkpoint_sha256": file_sha256(path),
        "checkpoint_meta": asdict(meta),
        "tuning": tuning.to_dict(),
    }
    test = load_split("digits", "test")
    doc = evaluate(config, model, test.take(n or len(test)), out, progress=progress, extra=extra)
    html = None
    if report:
        from jumprelu.report import render_report

        html = str(render_report(out).html)
    return summarize_demo(doc, tuning.jump, max_drop, str(out), html)


def summarize_demo(
    doc: dict[str, Any], jump: float, max_drop: float, out: str, report: str | None
) -> DemoSummary:
    """Condense a results document to the demo's summary (jump 0 against the chosen jump)."""
    keys = {0.0: "jump 0", jump: "chosen"}

    def per_jump(rows: list[dict[str, Any]], value: Any) -> dict[str, float]:
        got = {keys[r["jump"]]: float(value(r)) for r in rows if r["jump"] in keys}
        return {"jump 0": got["jump 0"], "chosen": got["chosen"]}

    robust: dict[str, dict[str, float]] = {}
    rho2: dict[str, dict[str, float]] = {}
    for threat in doc["config"]["threats"]:
        cells = [c for c in doc["cells"] if c["threat"] == threat]
        fixed = [c for c in cells if c["family"] == "fixed-budget" and c["attack"].endswith("linf")]
        robust[threat] = {k: min(_acc(c) for c in fixed if c["jump"] == j) for j, k in keys.items()}
        deepfool = [c for c in cells if c["attack"].endswith("deepfool-l2")]
        rho2[threat] = {  # the attacker's best: the smallest perturbation over its variants
            k: min(c["metrics"]["rho2_all"] for c in deepfool if c["jump"] == j)
            for j, k in keys.items()
        }
    return DemoSummary(
        jump=jump,
        max_drop=max_drop,
        eps=doc["ensemble"][0]["budget"]["linf"]["eps"],
        clean_accuracy=per_jump(doc["clean"], lambda c: c["accuracy"]),
        robust_accuracy=robust,
        suite=per_jump([c for c in doc["cells"] if c["attack"] == "suite-linf"], _acc),
        within_budget=per_jump(doc["ensemble"], lambda e: e["budget"]["linf"]["adv_accuracy"]),
        rho2=rho2,
        ensemble=per_jump(doc["ensemble"], lambda e: e["adv_accuracy"]),
        out=out,
        report=report,
        flags=[f"{f['code']} ({f['where']})" for f in doc["flags"]],
    )


def _acc(cell: dict[str, Any]) -> float:
    return float(cell["metrics"]["adv_accuracy"])
