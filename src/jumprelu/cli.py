"""Command-line interface: parses arguments and calls one library function per subcommand."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from . import __version__
from .clean import CleanSweep
from .cli_train import add_train_parser
from .errors import JumpReLUError
from .progress import Progress
from .retrofit import RetrofitWarning

log = logging.getLogger("jumprelu")


def _print_sweep(sweep: CleanSweep) -> None:
    meta = "".join(f", {k}={v}" for k, v in sweep.meta.items())
    print(f"clean accuracy on {sweep.dataset}/{sweep.split} (n={sweep.rows[0].n}){meta}")
    print(f"JumpReLU sites ({len(sweep.sites)}): {', '.join(sweep.sites)}")
    print(f"{'jump':>8}  {'accuracy':>9}  {'correct':>8}")
    for row in sweep.rows:
        print(f"{row.jump:>8g}  {100 * row.accuracy:>8.2f}%  {row.correct:>8d}")


def _cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    with _bars(args) as progress:
        summary = run_demo(
            args.out, max_drop=args.max_drop, device=args.device, n=args.n, progress=progress
        )
    j = f"jump {summary.jump:g}"

    def pair(v: dict[str, float], unit: str = "%") -> str:
        scale, fmt = (100, ".2f") if unit == "%" else (1, ".4f")
        a, b = f"{scale * v['jump 0']:{fmt}}{unit}", f"{scale * v['chosen']:{fmt}}{unit}"
        return f"{a:>8s} at jump 0 -> {b:>8s} at {j}"

    print(
        f"chosen {j} on validation data (largest jump within {100 * summary.max_drop:g} "
        "point(s) of jump 0's clean accuracy)"
    )
    print(f"clean accuracy                        {pair(summary.clean_accuracy)}")
    print(f"under attack, L-inf eps = {summary.eps:g} (lowest over the fixed-budget attacks):")
    for threat, acc in summary.robust_accuracy.items():
        print(f"  {threat:9s}                           {pair(acc)}")
    print(f"  adaptive suite (cascade)            {pair(summary.suite)}")
    print(f"  worst case, every attack within eps {pair(summary.within_budget)}")
    print("DeepFool-L2 mean relative perturbation rho2 (all points; larger = more robust):")
    for threat, rho in summary.rho2.items():
        print(f"  {threat:9s}                           {pair(rho, '')}")
    print(f"ensemble over every attack, unbounded {pair(summary.ensemble)}")
    for flag in summary.flags:
        print(f"FLAG {flag}")
    print(f"report: {summary.report}")
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from .report import render_report

    files = render_report(args.dir)
    print(f"report: {files.html}")
    print(f"markdown: {files.markdown}")
    return 0


def _render(args: argparse.Namespace, out: str) -> None:
    if not args.no_report:
        from .report import render_report

        print(f"report: {render_report(out).html}")


def _cmd_accuracy(args: argparse.Namespace) -> int:
    from .evaluate import EvalConfig
    from .runs import run_accuracy

    config = EvalConfig(
        jumps=args.jumps,
        attacks=[],
        split=args.split,
        n=args.n,
        device=args.device,
        **_source(args),
    )
    sweep, prov = run_accuracy(config)
    if args.json:
        print(json.dumps({**sweep.to_dict(), "provenance": prov}, indent=2))
    else:
        _print_sweep(sweep)
    return 0


def _floats(text: str | None, what: str) -> list[float] | None:
    """Parse a comma-separated list of numbers (validated by the config)."""
    if text is None:
        return None
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise JumpReLUError(f"{what} expects comma-separated numbers, got {text!r}") from None


def _source(args: argparse.Namespace) -> dict[str, Any]:
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
        "mean": _floats(args.mean, "--mean"),
        "std": _floats(args.std, "--std"),
        "num_classes": args.num_classes,
    }


def _print_sites(prov: dict[str, Any]) -> None:
    sites = prov.get("retrofit", {}).get("sites", [])
    print(f"JumpReLU sites ({len(sites)}): {', '.join(sites)}")


def _cmd_zoo(args: argparse.Namespace) -> int:
    from .models.zoo import ZOO
    from .models.zoo_files import cache_dir, find_copy

    print(f"released checkpoints of Erichson et al. (cache: {cache_dir()})")
    for e in ZOO.values():
        copy = find_copy(e)
        where = str(copy) if copy else "not here (downloaded on first use)"
        print(f"paper:{e.name:30s} {e.arch:18s} {e.dataset:8s} {where}")
        if args.verbose_list:
            print(f"    trained: {e.training}; mean {list(e.mean)} std {list(e.std)}")
            print(f"    authors' jumps {', '.join(f'{j:g}' for j in e.jumps)}; {e.url}")
    return 0


DEFAULT_ATTACKS = "ifgsm,deepfool-l2,pgd-linf"


def _eval_config(args: argparse.Namespace) -> Any:
    from .evaluate import EvalConfig

    threats = _names(args.threats)
    if args.attacks is not None:
        attacks = _names(args.attacks)
    else:
        attacks = [] if threats == ["adaptive"] else _names(DEFAULT_ATTACKS)
    suite = args.suite
    if suite is None:
        suite = "default" if "adaptive" in threats and args.attacks is None else None
    elif suite == "none":
        suite = None
    jumps = args.jumps
    if jumps is None:
        from .eval_config import PAPER_JUMPS

        paper = PAPER_JUMPS.get(args.dataset or "") if args.protocol == "paper" else None
        jumps = list(paper) if paper else args.default_jumps
    return EvalConfig(
        **_source(args),
        jumps=jumps,
        attacks=attacks,
        threats=threats,
        suite=suite,
        surrogates=None if args.surrogates is None else _names(args.surrogates),
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
        adaptive_extra=_names(args.adaptive_extra),
        bpda_gradient=args.bpda_gradient,
    )


def _settings(items: list[str]) -> dict[str, dict[str, Any]]:
    """Parse ``--set ATTACK.KEY=VALUE`` items (VALUE as JSON, else a string)."""
    out: dict[str, dict[str, Any]] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        attack, dot, name = key.partition(".")
        if not (sep and dot and attack and name):
            raise JumpReLUError(f"--set expects ATTACK.KEY=VALUE, got {item!r}")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        out.setdefault(attack, {})[name] = value
    return out


def _names(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def _init_distributed(device: str) -> int:
    """Join the torchrun process group when launched by torchrun; return this rank."""
    import torch.distributed as dist

    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.startswith("cuda") else "gloo")
    return dist.get_rank() if dist.is_initialized() else 0


def _print_results(doc: dict[str, Any], out: str) -> None:
    cfg = doc["config"]
    print(f"{cfg['dataset']}/{cfg['split']} n={doc['clean'][0]['n']}, protocol {cfg['protocol']}")
    print(
        f"{'threat':9s} {'attack':22s} {'jump':>6s} {'clean':>7s} {'adv acc':>8s} "
        f"{'rho2(all)':>9s} {'rhoinf(all)':>11s}"
    )
    clean = {c["jump"]: c["accuracy"] for c in doc["clean"]}
    for cell in doc["cells"]:
        m = cell["metrics"]
        print(
            f"{cell['threat']:9s} {cell['attack']:22s} {cell['jump']:6g} "
            f"{100 * clean[cell['jump']]:6.2f}% {100 * m['adv_accuracy']:7.2f}% "
            f"{m['rho2_all']:9.4f} {m['rhoinf_all']:11.4f}"
        )
    for e in doc["ensemble"]:
        print(
            f"ensemble (worst case over all attacks) jump {e['jump']:g}: "
            f"{100 * e['adv_accuracy']:.2f}%"
        )
    for flag in doc["flags"]:
        print(f"FLAG {flag['code']} ({flag['where']}): {flag['message']}")
    print(f"results: {Path(out) / 'results.json'}")


def _cmd_evaluate(args: argparse.Namespace) -> int:
    if args.list_attacks:
        from .attacks import describe_attacks

        for name, doc, defaults in describe_attacks():
            opts = ", ".join(f"{k}={v}" for k, v in defaults.items())
            print(f"{name:18s} {doc}\n{'':18s} {opts}")
        return 0
    if not ((args.dataset or args.data) and args.out):
        raise JumpReLUError("evaluate needs --dataset (or --data) and --out")
    from .runs import run_evaluate

    rank = _init_distributed(args.device)
    with _bars(args, rank) as progress:
        result = run_evaluate(_eval_config(args), args.out, progress=progress)
    if rank == 0:
        _print_sites(result["provenance"])
        _print_results(result, args.out)
        _render(args, args.out)
    return 0


@contextlib.contextmanager
def _bars(args: argparse.Namespace, rank: int = 0, unit: str = "cell") -> Iterator[Progress]:
    """Progress bars on stderr (rank 0, a terminal, no --quiet); closed however the job ends."""
    from .cli_progress import make_progress

    step = "batch" if unit == "epoch" else "img"
    progress = make_progress(args.quiet or rank != 0, unit, step)
    try:
        yield progress
    finally:
        progress.close()


def _cmd_tune(args: argparse.Namespace) -> int:
    from .runs import run_tune

    rank = _init_distributed(args.device)
    with _bars(args, rank) as progress:
        doc = run_tune(_eval_config(args), args.out, max_drop=args.max_drop, progress=progress)
    if rank == 0:
        _print_sites(doc["provenance"])
        t = doc["provenance"]["tuning"]
        print(
            f"chosen jump {t['jump']:g} (validation accuracy {100 * t['baseline_accuracy']:.2f}% "
            f"at jump 0, max drop {100 * t['max_drop']:.2f} points, n={t['n']})"
        )
        _print_results(doc, args.out)
        _render(args, args.out)
    return 0


def _source_arguments(p: argparse.ArgumentParser) -> None:
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
    p.add_argument("--mean", help="per-channel normalisation means, comma-separated")
    p.add_argument("--std", help="per-channel normalisation stds, comma-separated")
    p.add_argument("--num-classes", type=int, help="number of classes (default: the data's)")
    p.add_argument("--split", default="test", choices=["train", "val", "test"])


def _grid_arguments(p: argparse.ArgumentParser, jumps: str) -> None:
    _source_arguments(p)
    p.add_argument(
        "--jumps", help=f"comma-separated jumps (default: {jumps}; paper protocol: the authors')"
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
    p.add_argument("--eps", type=float, help="L-inf budget of fixed-budget attacks (pixels)")
    p.add_argument("--eps-l2", type=float, help="L2 budget of fixed-budget L2 attacks (pixels)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=500)
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--out", help="run directory (results.json, results.csv)")
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
        type=float,
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
        metavar="ATTACK.KEY=VALUE",
        help="attack setting, e.g. pgd-linf.steps=100 (repeatable)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``jumprelu`` command."""
    parser = argparse.ArgumentParser(
        prog="jumprelu",
        description="Retrofit trained PyTorch networks with JumpReLU and measure their robustness.",
    )
    parser.add_argument("--version", action="version", version=f"jumprelu {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    demo = sub.add_parser(
        "demo",
        help="offline: tune, attack and report the shipped digits model (about 15 s)",
    )
    demo.add_argument("--out", default="jumprelu-demo", help="run directory (default: %(default)s)")
    demo.add_argument("--max-drop", type=float, default=0.01, help="allowed clean-accuracy drop")
    demo.add_argument("--n", type=int, help="first N test images only (quicker)")
    demo.add_argument("--device", default="cpu", help="cpu or cuda")
    demo.set_defaults(func=_cmd_demo)

    add_train_parser(sub)

    acc = sub.add_parser("accuracy", help="clean accuracy of a checkpoint across jumps")
    _source_arguments(acc)
    acc.add_argument("--jumps", default="0,0.5,1.0,1.5", help="comma-separated jumps")
    acc.add_argument("--n", type=int, help="evaluate the first N examples only")
    acc.add_argument("--device", default="cpu", help="cpu or cuda")
    acc.add_argument("--json", action="store_true", help="print the result as JSON")
    acc.set_defaults(func=_cmd_accuracy)

    ev = sub.add_parser("evaluate", help="white-box, gray-box and adaptive robustness over jumps")
    _grid_arguments(ev, "0,0.5,1.0")
    ev.add_argument("--list-attacks", action="store_true", help="list attacks and defaults")
    ev.set_defaults(func=_cmd_evaluate)

    tu = sub.add_parser("tune", help="choose the jump on validation data, then evaluate on test")
    _grid_arguments(tu, "0,0.25,0.5,0.75,1.0,1.25,1.5,2.0")
    tu.add_argument("--max-drop", type=float, default=0.01, help="allowed clean-accuracy drop")
    tu.set_defaults(func=_cmd_tune, list_attacks=False)

    zoo = sub.add_parser("zoo", help="list the authors' released checkpoints (paper:NAME)")
    zoo.add_argument("--long", dest="verbose_list", action="store_true", help="more details")
    zoo.set_defaults(func=_cmd_zoo)

    rep = sub.add_parser("report", help="render DIR/results.json into report.html and report.md")
    rep.add_argument("dir", help="run directory written by evaluate, tune or demo")
    rep.set_defaults(func=_cmd_report)
    return parser


def _one_line_warnings() -> Any:
    """A ``warnings.showwarning`` printing each warning text once, as one line on stderr."""
    shown: set[str] = set()

    def show(message: Warning | str, *_: Any, **__: Any) -> None:
        text = " ".join(str(message).split())
        if text not in shown:
            shown.add(text)
            print(f"jumprelu: warning: {text}", file=sys.stderr)

    return show


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI.

    Args:
        argv: arguments (default: ``sys.argv[1:]``).

    Returns:
        The exit status: 0 on success, 2 on bad input.
    """
    args = build_parser().parse_args(argv)
    level = {0: logging.WARNING, 1: logging.INFO}.get(args.verbose, logging.DEBUG)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always", RetrofitWarning)
            warnings.showwarning = _one_line_warnings()
            return int(args.func(args))
    except JumpReLUError as exc:
        print(f"jumprelu: error: {exc}", file=sys.stderr)
        return 2
    except FileNotFoundError as exc:
        print(f"jumprelu: error: file not found: {exc.filename or exc}", file=sys.stderr)
        return 2
