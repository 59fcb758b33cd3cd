"""The ``EvalConfig`` the grid commands' options describe (validated by the config itself)."""

from __future__ import annotations

import argparse
from typing import Any

from jumprelu.cli.args import floats
from jumprelu.cli.grid import DEFAULT_ATTACKS, DEFAULT_QUANTILES
from jumprelu.errors import JumpReLUError

__all__ = ["eval_config", "learn_steps", "names", "per_layer_quantiles", "source"]


def source(args: argparse.Namespace) -> dict[str, Any]:
    """The config fields naming the model, the data and the normalisation."""
    dataset = args.dataset or ("custom" if args.data else None)
    if not dataset:
        raise JumpReLUError(f"{args.command} needs --dataset (or --data)")
    from jumprelu.datasets.core import DATASETS

    if not args.data and dataset.lower() not in DATASETS:  # built-in data, by name
        raise JumpReLUError(f"unknown dataset {dataset!r}; known: {', '.join(DATASETS)}")
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


def eval_config(args: argparse.Namespace) -> Any:
    """The ``EvalConfig`` of evaluate and tune (defaults: attacks, suite, the paper's jumps)."""
    from jumprelu.evaluation.config import EvalConfig

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
        from jumprelu.datasets.core import DATASETS

        info = DATASETS.get(args.dataset or "")
        paper = info.paper_jumps if info is not None and args.protocol == "paper" else None
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
        retrofit=args.retrofit,
        calib_n=args.calib_n,
    )


def _settings(items: list[tuple[str, str, Any]]) -> dict[str, dict[str, Any]]:
    """Group ``--set`` items (parsed by ``settings.attack_setting``) by attack."""
    out: dict[str, dict[str, Any]] = {}
    for attack, name, value in items:
        out.setdefault(attack, {})[name] = value
    return out


def names(text: str) -> list[str]:
    """Comma-separated names, blanks dropped."""
    return [t.strip() for t in text.split(",") if t.strip()]


def per_layer_quantiles(args: argparse.Namespace) -> list[float] | None:
    """The candidate quantiles of ``tune --per-layer`` (None without it)."""
    if not args.per_layer:
        if args.quantiles is not None:
            raise JumpReLUError("--quantiles goes with --per-layer")
        return None
    if args.jumps is not None:
        raise JumpReLUError("--per-layer tunes quantiles (--quantiles), not --jumps")
    return list(args.quantiles or floats(DEFAULT_QUANTILES))


#: Steps of ``tune --learn-thresholds`` when ``--learn-steps`` is not given.
DEFAULT_LEARN_STEPS = 200


def learn_steps(args: argparse.Namespace) -> int | None:
    """The steps of ``tune --learn-thresholds`` (None without it)."""
    if not args.learn_thresholds:
        if args.learn_steps is not None:
            raise JumpReLUError("--learn-steps goes with --learn-thresholds")
        return None
    if args.per_layer:
        raise JumpReLUError(
            "--learn-thresholds learns one jump per channel; --per-layer tunes one per layer: "
            "give one of them"
        )
    if args.jumps is not None:
        raise JumpReLUError("--learn-thresholds learns the jumps: --jumps is not taken")
    if args.retrofit != "jumprelu":
        raise JumpReLUError("--learn-thresholds learns JumpReLU's jumps: not with --retrofit")
    if args.data:
        raise JumpReLUError(
            "--learn-thresholds trains on a built-in dataset's training split: not with --data"
        )
    steps = DEFAULT_LEARN_STEPS if args.learn_steps is None else args.learn_steps
    if not 1 <= steps <= 100_000:
        raise JumpReLUError(f"--learn-steps must be an integer in [1, 100000], got {steps}")
    return steps
