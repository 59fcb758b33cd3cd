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

from jumprelu import __version__
from jumprelu._util import Progress
from jumprelu.cli.grid import (
    eval_config,
    grid_arguments,
    per_layer_quantiles,
    source,
    source_arguments,
    tune_arguments,
    tuned_text,
)
from jumprelu.cli.train import add_train_parser
from jumprelu.errors import JumpReLUError
from jumprelu.evaluation.clean import CleanSweep
from jumprelu.retrofit import RetrofitWarning

log = logging.getLogger("jumprelu")


def _print_sweep(sweep: CleanSweep) -> None:
    meta = "".join(f", {k}={v}" for k, v in sweep.meta.items())
    print(f"clean accuracy on {sweep.dataset}/{sweep.split} (n={sweep.rows[0].n}){meta}")
    print(f"JumpReLU sites ({len(sweep.sites)}): {', '.join(sweep.sites)}")
    print(f"{'jump':>8}  {'accuracy':>9}  {'correct':>8}")
    for row in sweep.rows:
        print(f"{row.jump:>8g}  {100 * row.accuracy:>8.2f}%  {row.correct:>8d}")


def _cmd_demo(args: argparse.Namespace) -> int:
    from jumprelu.evaluation.demo import run_demo

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
    groups: dict[str, list[str]] = {}
    for flag in summary.flags:  # "code (where)"
        code, _, where = flag.partition(" ")
        groups.setdefault(code, []).append(where.strip("()"))
    for code, places in groups.items():
        more = f", +{len(places) - 2} more" if len(places) > 2 else ""
        print(f"FLAG {code} x{len(places)}: {'; '.join(places[:2])}{more}")
    print(f"report: {summary.report} (every flag, with its explanation)")
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from jumprelu.report import render_report

    files = render_report(args.dir)
    print(f"report: {files.html}")
    print(f"markdown: {files.markdown}")
    return 0


def _render(args: argparse.Namespace, out: str) -> None:
    if not args.no_report:
        from jumprelu.report import render_report

        print(f"report: {render_report(out).html}")


def _cmd_accuracy(args: argparse.Namespace) -> int:
    from jumprelu.evaluation.jobs import run_accuracy
    from jumprelu.evaluation.runner import EvalConfig

    config = EvalConfig(
        jumps=args.jumps,
        attacks=[],
        split=args.split,
        n=args.n,
        device=args.device,
        **source(args),
    )
    sweep, prov = run_accuracy(config)
    if args.json:
        print(json.dumps({**sweep.to_dict(), "provenance": prov}, indent=2))
    else:
        _print_sweep(sweep)
    return 0


def _print_sites(prov: dict[str, Any]) -> None:
    sites = prov.get("retrofit", {}).get("sites", [])
    print(f"JumpReLU sites ({len(sites)}): {', '.join(sites)}")


def _cmd_zoo(args: argparse.Namespace) -> int:
    from jumprelu.models.zoo import ZOO
    from jumprelu.models.zoo_files import cache_dir, find_copy

    print(f"released checkpoints of Erichson et al. (cache: {cache_dir()})")
    for e in ZOO.values():
        copy = find_copy(e)
        where = str(copy) if copy else "not here (downloaded on first use)"
        print(f"paper:{e.name:30s} {e.arch:18s} {e.dataset:8s} {where}")
        if args.verbose_list:
            print(f"    trained: {e.training}; mean {list(e.mean)} std {list(e.std)}")
            print(f"    authors' jumps {', '.join(f'{j:g}' for j in e.jumps)}; {e.url}")
    return 0


def _init_distributed(device: str) -> int:
    """Join the torchrun process group when launched by torchrun; return this rank."""
    import torch.distributed as dist

    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.startswith("cuda") else "gloo")
    return dist.get_rank() if dist.is_initialized() else 0


def _print_results(doc: dict[str, Any], out: str) -> None:
    cfg = doc["config"]
    print(f"{cfg['dataset']}/{cfg['split']} n={doc['clean'][0]['n']}, protocol {cfg['protocol']}")
    w = max([6, *(len(_jump_text(c["jump"])) for c in doc["clean"])])
    print(
        f"{'threat':9s} {'attack':22s} {'jump':>{w}s} {'clean':>7s} {'adv acc':>8s} "
        f"{'rho2(all)':>9s} {'rhoinf(all)':>11s}"
    )
    clean = {c["jump"]: c["accuracy"] for c in doc["clean"]}
    for cell in doc["cells"]:
        m = cell["metrics"]
        print(
            f"{cell['threat']:9s} {cell['attack']:22s} {_jump_text(cell['jump']):>{w}s} "
            f"{100 * clean[cell['jump']]:6.2f}% {100 * m['adv_accuracy']:7.2f}% "
            f"{m['rho2_all']:9.4f} {m['rhoinf_all']:11.4f}"
        )
    for e in doc["ensemble"]:
        print(
            f"ensemble (worst case over all attacks) jump {_jump_text(e['jump'])}: "
            f"{100 * e['adv_accuracy']:.2f}%"
        )
    for flag in doc["flags"]:
        print(f"FLAG {flag['code']} ({flag['where']}): {flag['message']}")
    for c in doc["clean"]:
        if "jump_map" in c:
            sites = ", ".join(f"{k} {v:g}" for k, v in c["jump_map"].items())
            print(f"jump {c['jump']}: per-layer jumps {sites}")
    print(f"results: {Path(out) / 'results.json'}")


def _jump_text(jump: float | str) -> str:
    """A grid point as printed: the jump, or a per-layer mapping's label."""
    return jump if isinstance(jump, str) else f"{jump:g}"


def _cmd_evaluate(args: argparse.Namespace) -> int:
    if args.list_attacks:
        from jumprelu.attacks import describe_attacks

        for name, doc, defaults in describe_attacks():
            opts = ", ".join(f"{k}={v}" for k, v in defaults.items())
            print(f"{name:18s} {doc}\n{'':18s} {opts}")
        return 0
    if not ((args.dataset or args.data) and args.out):
        raise JumpReLUError("evaluate needs --dataset (or --data) and --out")
    from jumprelu.evaluation.jobs import run_evaluate

    rank = _init_distributed(args.device)
    with _bars(args, rank) as progress:
        result = run_evaluate(eval_config(args), args.out, progress=progress)
    if rank == 0:
        _print_sites(result["provenance"])
        _print_results(result, args.out)
        _render(args, args.out)
    return 0


@contextlib.contextmanager
def _bars(args: argparse.Namespace, rank: int = 0, unit: str = "cell") -> Iterator[Progress]:
    """Progress bars on stderr (rank 0, a terminal, no --quiet); closed however the job ends."""
    from jumprelu.cli.progress import make_progress

    step = "batch" if unit == "epoch" else "img"
    progress = make_progress(args.quiet or rank != 0, unit, step)
    try:
        yield progress
    finally:
        progress.close()


def _cmd_tune(args: argparse.Namespace) -> int:
    from jumprelu.evaluation.jobs import run_tune

    quantiles = per_layer_quantiles(args)
    rank = _init_distributed(args.device)
    with _bars(args, rank) as progress:
        doc = run_tune(
            eval_config(args),
            args.out,
            max_drop=args.max_drop,
            per_layer_quantiles=quantiles,
            progress=progress,
        )
    if rank == 0:
        _print_sites(doc["provenance"])
        t = doc["provenance"]["tuning"]
        chosen = tuned_text(t, args.out)
        print(
            f"{chosen} (validation accuracy {100 * t['baseline_accuracy']:.2f}% "
            f"at jump 0, max drop {100 * t['max_drop']:.2f} points, n={t['n']})"
        )
        _print_results(doc, args.out)
        _render(args, args.out)
    return 0


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
    source_arguments(acc)
    acc.add_argument("--jumps", default="0,0.5,1.0,1.5", help="comma-separated jumps")
    acc.add_argument("--n", type=int, help="evaluate the first N examples only")
    acc.add_argument("--device", default="cpu", help="cpu or cuda")
    acc.add_argument("--json", action="store_true", help="print the result as JSON")
    acc.set_defaults(func=_cmd_accuracy)

    ev = sub.add_parser("evaluate", help="white-box, gray-box and adaptive robustness over jumps")
    grid_arguments(ev, "0,0.5,1.0")
    ev.add_argument("--list-attacks", action="store_true", help="list attacks and defaults")
    ev.set_defaults(func=_cmd_evaluate)

    tu = sub.add_parser("tune", help="choose the jump on validation data, then evaluate on test")
    grid_arguments(tu, "0,0.25,0.5,0.75,1.0,1.25,1.5,2.0")
    tune_arguments(tu)
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
