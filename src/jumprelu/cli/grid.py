"""The options of the grid commands (accuracy, evaluate, tune), one group per function.

Each value is parsed once by its ``type=`` (the model and data source, normalisation, jumps,
attacks, threats, the adaptive suite's options); ``grid_config`` turns them into the
``EvalConfig`` that validates them.
"""

from __future__ import annotations

import argparse

from jumprelu.cli.args import class_count, device, finite, floats, run_dir, seed
from jumprelu.cli.settings import attack_setting
from jumprelu.defences import DEFENCES

__all__ = [
    "DEFAULT_ATTACKS",
    "DEFAULT_QUANTILES",
    "grid_arguments",
    "source_arguments",
    "tune_arguments",
]

#: Attacks of evaluate and tune when --attacks is not given (white and gray threats).
DEFAULT_ATTACKS = "ifgsm,deepfool-l2,pgd-linf"


def source_arguments(p: argparse.ArgumentParser) -> None:
    """The model, the data and its normalisation (every grid command)."""
    p.add_argument("--arch", help="architecture (read from project and zoo checkpoints)")
    p.add_argument(
        "--checkpoint",
        help="checkpoint file or paper:NAME (jumprelu zoo); default for digits: the shipped model",
    )
    p.add_argument(
        "--model", help="MODULE:CALLABLE or FILE.py:CALLABLE returning an nn.Module (any model)"
    )
    p.add_argument("--dataset", help="mnist, cifar10 or digits (with --data: a name)")
    p.add_argument("--data", help="your data: npz:PATH (x, y) or folder:DIR (a folder per class)")
    p.add_argument("--data-dir", help="data directory (default: $JUMPRELU_DATA)")
    p.add_argument("--mean", type=floats, help="per-channel normalisation means, comma-separated")
    p.add_argument("--std", type=floats, help="per-channel normalisation stds, comma-separated")
    p.add_argument(
        "--num-classes", type=class_count, help="number of classes (default: the data's)"
    )
    p.add_argument("--split", default="test", choices=["train", "val", "test"])


def grid_arguments(p: argparse.ArgumentParser, jumps: str) -> None:
    """The source, the grid (jumps, attacks, threats) and the run's options (evaluate, tune)."""
    source_arguments(p)
    p.add_argument(
        "--jumps",
        "--strengths",
        dest="jumps",
        help=f"comma-separated jumps, the defence's strengths (kappa, or alpha for meansparse; "
        f"default: {jumps}; paper protocol: the authors'); an item @FILE (or FILE.json) is a "
        'per-layer mapping {"site": jump or [jump per channel]} (tune --per-layer\'s or '
        "--learn-thresholds' OUT/jumps.json), sites it omits at jump 0",
    )
    p.add_argument("--val-data", help="validation data for tune with --data (default: carved)")
    p.add_argument(
        "--retrofit",
        default="jumprelu",
        choices=list(DEFENCES),
        help="the defence: jumprelu (--jumps are jumps kappa) or meansparse (--jumps are "
        "MeanSparse bands alpha in standard deviations, statistics from the training split; "
        "tune picks alpha as it picks kappa)",
    )
    p.add_argument(
        "--calib-n",
        type=int,
        help="meansparse: calibrate on the first N training images (default: all)",
    )
    p.set_defaults(default_jumps=jumps)
    p.add_argument(
        "--attacks",
        help=f"attack names (default: {DEFAULT_ATTACKS} for white/gray; with only the "
        "adaptive threat: none, the suite alone)",
    )
    p.add_argument("--threats", default="white,gray,adaptive", help="white,gray,adaptive")
    p.add_argument("--protocol", default="standard", choices=["standard", "paper"])
    p.add_argument(
        "--adaptive-extra",
        default="square-linf",
        help="gradient-free attacks added under the adaptive threat ('' for none)",
    )
    p.add_argument("--n", "--n-examples", dest="n", type=int, help="first N examples")
    p.add_argument("--eps", type=finite, help="L-inf budget of fixed-budget attacks (pixels)")
    p.add_argument("--eps-l2", type=finite, help="L2 budget of fixed-budget L2 attacks (pixels)")
    p.add_argument("--seed", type=seed, default=0, help="seed of randomised attacks")
    p.add_argument("--batch-size", type=int, default=500)
    p.add_argument("--device", type=device, default="cpu", help="cpu or cuda")
    p.add_argument(
        "--out", type=run_dir, help="run directory (results.json, results.csv); required"
    )
    p.add_argument("--no-report", action="store_true", help="skip report.html / report.md")
    p.add_argument(
        "--bpda-gradient",
        default="both",
        choices=["relu", "smooth", "both"],
        help="adaptive gradient attacks: straight-through (bpda:), through a smoothed jump "
        "(bpda-smooth:), or both (default)",
    )
    p.add_argument(
        "--suite",
        help="adaptive suite, a cascade of APGD-CE, APGD-T, FMN and Square through the "
        "surrogates: default (L-inf and L2), linf, l2, exhaustive (both norms, every stage "
        "through every surrogate) or none (default: default when the adaptive threat runs "
        "without --attacks, none otherwise)",
    )
    p.add_argument(
        "--surrogates",
        help="BPDA surrogates: relu, smooth, smooth-WIDTH (width x jump), each optionally "
        "+noise (default: the suite's relu,smooth-0.1,smooth-0.25,smooth-0.5,smooth-1; "
        "attacks: --bpda-gradient)",
    )
    p.add_argument(
        "--noise-sigma",
        type=finite,
        default=0.0,
        help="std of the Gaussian input noise of +noise surrogates (attack-space units)",
    )
    p.add_argument("--noise-samples", type=int, default=8, help="noise draws per gradient")
    p.add_argument(
        "--check-n",
        type=int,
        default=100,
        help="points re-attacked by the indicators of attack failure (0: none)",
    )
    p.add_argument(
        "--set",
        action="append",
        type=attack_setting,
        metavar="ATTACK.KEY=VALUE",
        help="attack setting, e.g. pgd-linf.steps=100 (repeatable)",
    )


#: Candidate quantiles of ``tune --per-layer``.
DEFAULT_QUANTILES = "0.5,0.6,0.7,0.8,0.9"


def tune_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``tune`` beyond the grid's: the budget and per-layer tuning."""
    p.add_argument("--max-drop", type=finite, default=0.01, help="allowed clean-accuracy drop")
    p.add_argument(
        "--per-layer",
        action="store_true",
        help="tune one jump per layer (a quantile of its positive activations on validation "
        "data), evaluate it on test and write it to OUT/jumps.json (for --jumps @FILE)",
    )
    p.add_argument(
        "--quantiles",
        type=floats,
        help=f"--per-layer candidate quantiles in [0, 1) (default: {DEFAULT_QUANTILES})",
    )
    p.add_argument(
        "--learn-thresholds",
        action="store_true",
        help="learn one jump per channel of every site on the training split (weights "
        "frozen; clean + PGD cross-entropy through the smooth surrogate), stop within "
        "--max-drop on validation data, evaluate on test and write OUT/jumps.json",
    )
    p.add_argument(
        "--learn-steps",
        type=int,
        help="--learn-thresholds optimisation steps (default 200, batches of 64)",
    )
