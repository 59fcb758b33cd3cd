"""Arguments of the grid commands (accuracy, evaluate, tune) and the config they build.

Each value is parsed here once (the model and data source, normalisation, jumps, attacks,
threats, the adaptive suite's options) and validated by ``EvalConfig.validate``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from jumprelu.cli.args import (
    class_count,
    device,
    finite,
    floats,
    run_dir,
    seed,
)
from jumprelu.cli.settings import attack_setting
from jumprelu.errors import JumpReLUError

__all__ = [
    "DEFAULT_ATTACKS",
    "eval_config",
    "grid_arguments",
    "names",
    "per_layer_quantiles",
    "source",
    "source_arguments",
    "tune_arguments",
    "tuned_text",
]


def source(args: argparse.Namespace) -> dict[str, Any]:
    """The config fields naming the model, the data and the normalisation."""
    dataset = args.dataset or ("custom" if args.data else None)
    if not dataset:
        raise JumpReLUError(f"{args.command} needs --dataset (or --data)")
    return {
        "dataset": dataset if args.data else dataset.lower(),
        "arch": args.arch,
        "checkpoint": args.checkpoint,
        "data_dir": args.data_dir,
        "model": args.model,
        "data": args.data,
        "val_data": getattr(args, "val_data", None),
        "mean": args.mean,
        "std": args.std,
        "num_classes": args.num_classes,
    }


DEFAULT_ATTACKS = "ifgsm,deepfool-l2,pgd-linf"


def eval_config(args: argparse.Namespace) -> Any:
    from jumprelu.evaluation.runner import EvalConfig

    threats = names(args.threats)
    if args.attacks is not None:
        attacks = names(args.attacks)
    else:
        attacks = [] if threats == ["adaptive"] else names(DEFAULT_ATTACKS)
    suite = args.suite
    if suite is None:
        suite = "default" if "adaptive" in threats and args.attacks is None else None
    elif suite == "none":
        suite = None
    jumps = args.jumps
    if jumps is None:
        from jumprelu.evaluation.protocol import PAPER_JUMPS

        paper = PAPER_JUMPS.get(args.dataset or "") if args.protocol == "paper" else None
        jumps = list(paper) if paper else args.default_jumps
    return EvalConfig(
        **source(args),
        jumps=jumps,
        attacks=attacks,
        threats=threats,
        suite=suite,
        surrogates=None if args.surrogates is None else names(args.surrogates),
        noise_sigma=args.noise_sigma,
        noise_samples=args.noise_samples,
        check_n=args.check_n,
        protocol=args.protocol,
        split=args.split,
        n=args.n,
        eps=args.eps,
        eps_l2=args.eps_l2,
        seed=args.seed,
        batch_size=args.batch_size,
        device=args.device,
        settings=_settings(args.set or []),
        adaptive_extra=names(args.adaptive_extra),
        bpda_gradient=args.bpda_gradient,
    )


def _settings(items: list[tuple[str, str, Any]]) -> dict[str, dict[str, Any]]:
    """Group ``--set`` items (parsed by ``settings.attack_setting``) by attack."""
    out: dict[str, dict[str, Any]] = {}
    for attack, name, value in items:
        out.setdefault(attack, {})[name] = value
    return out


def names(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def source_arguments(p: argparse.ArgumentParser) -> None:
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
    source_arguments(p)
    p.add_argument(
        "--jumps",
        help=f"comma-separated jumps (default: {jumps}; paper protocol: the authors'); an item "
        '@FILE (or FILE.json) is a per-layer mapping {"site": jump} (e.g. tune --per-layer\'s '
        "OUT/jumps.json), sites it omits at jump 0",
    )
    p.add_argument("--val-data", help="validation data for tune with --data (default: carved)")
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
    p.add_argument("--out", type=run_dir, help="run directory (results.json, results.csv)")
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
        help="adaptive suite, a cascade of APGD-CE, APGD-T, FMN and Square through every "
        "surrogate: default (L-inf and L2), linf, l2 or none (default: default when the "
        "adaptive threat runs, none otherwise)",
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


def per_layer_quantiles(args: argparse.Namespace) -> list[float] | None:
    """The candidate quantiles of ``tune --per-layer`` (None without it)."""
    if not args.per_layer:
        if args.quantiles is not None:
            raise JumpReLUError("--quantiles goes with --per-layer")
        return None
    if args.jumps is not None:
        raise JumpReLUError("--per-layer tunes quantiles (--quantiles), not --jumps")
    return list(args.quantiles or floats(DEFAULT_QUANTILES))


def tuned_text(tuning: dict[str, Any], out: str) -> str:
    """What ``tune`` chose, as printed (``tuning``: the results' ``provenance.tuning``)."""
    if tuning["jump"] is not None:
        return f"chosen jump {tuning['jump']:g}"
    if tuning.get("site_jumps"):
        return (
            f"chosen per-layer jumps: quantile {tuning['quantile']:g} of each site's positive "
            f"activations, written to {Path(out) / 'jumps.json'}"
        )
    return "no per-layer quantile admissible: jump 0 kept, no jumps.json written"
