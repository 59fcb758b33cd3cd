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
from typing import Any

from jumprelu import __version__
from jumprelu._util import Progress
from jumprelu.cli.args import Parser, device, finite, positive, run_dir
from jumprelu.cli.grid import (
    eval_config,
    grid_arguments,
    per_layer_quantiles,
    source,
    source_arguments,
    tune_arguments,
    tuned_text,
)
from jumprelu.cli.show import print_demo, print_results, print_sites, print_sweep
from jumprelu.cli.train import add_train_parser
from jumprelu.errors import JumpReLUError
from jumprelu.retrofit import RetrofitWarning

log = logging.getLogger("jumprelu")


def _cmd_demo(args: argparse.Namespace) -> int:
    from jumprelu.evaluation.demo import run_demo

    with _bars(args) as progress:
        summary = run_demo(
            args.out, max_drop=args.max_drop, device=args.device, n=args.n, progress=progress
        )
    print_demo(summary)
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
        print_sweep(sweep)
    return 0


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


def _cmd_evaluate(args: argparse.Namespace) -> int:
    if args.list_attacks:
        from jumprelu.attacks import describe_attacks

        for name, doc, defaults in describe_attacks():
            opts = ", ".join(f"{k}={v}" for k, v in defaults.items())
            print(f"{name:18s} {doc}\n{'':18s} {opts}")
        return 0
    _need_source_and_out(args)
    from jumprelu.evaluation.jobs import run_evaluate

    rank = _init_distributed(args.device)
    with _bars(args, rank) as progress:
        result = run_evaluate(eval_config(args), args.out, progress=progress)
    if rank == 0:
        print_sites(result["provenance"])
        print_results(result, args.out)
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


def _need_source_and_out(args: argparse.Namespace) -> None:
    if not (args.dataset or args.data):
        raise JumpReLUError(f"{args.command} needs --dataset (or --data)")
    if not args.out:
        raise JumpReLUError(f"{args.command} needs --out (the run directory)")


def _cmd_tune(args: argparse.Namespace) -> int:
    from jumprelu.evaluation.jobs import run_tune

    _need_source_and_out(args)
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
        print_sites(doc["provenance"])
        t = doc["provenance"]["tuning"]
        chosen = tuned_text(t, args.out)
        print(
            f"{chosen} (validation accuracy {100 * t['baseline_accuracy']:.2f}% "
            f"at jump 0, max drop {100 * t['max_drop']:.2f} points, n={t['n']})"
        )
        print_results(doc, args.out)
        _render(args, args.out)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``jumprelu`` command."""
    parser = Parser(
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
    demo.add_argument(
        "--out", type=run_dir, default="jumprelu-demo", help="run directory (default: %(default)s)"
    )
    demo.add_argument("--max-drop", type=finite, default=0.01, help="allowed clean-accuracy drop")
    demo.add_argument("--n", type=positive, help="first N test images only (quicker)")
    demo.add_argument("--device", type=device, default="cpu", help="cpu or cuda")
    demo.set_defaults(func=_cmd_demo)

    add_train_parser(sub)

    acc = sub.add_parser("accuracy", help="clean accuracy of a checkpoint across jumps")
    source_arguments(acc)
    acc.add_argument("--jumps", default="0,0.5,1.0,1.5", help="comma-separated jumps")
    acc.add_argument("--n", type=positive, help="evaluate the first N examples only")
    acc.add_argument("--device", type=device, default="cpu", help="cpu or cuda")
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


#: What Ctrl-C prints: every command resumes from what it saved (cells, epochs, a staged report);
#: ``train`` resumes with ``--resume`` (without it, the same command starts afresh).
INTERRUPTED = "jumprelu: interrupted; run the same command to resume"
TRAIN_INTERRUPTED = "jumprelu: interrupted; run the same command with --resume to resume"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI.

    Every problem is one line on stderr: ``jumprelu: error: ...`` with exit status 2 for bad
    input, ``jumprelu: interrupted; ...`` with exit status 130 for Ctrl-C.

    Args:
        argv: arguments (default: ``sys.argv[1:]``).

    Returns:
        The exit status: 0 on success, 2 on bad input, 130 when interrupted.
    """
    args: argparse.Namespace | None = None
    try:
        args = build_parser().parse_args(argv)
        level = {0: logging.WARNING, 1: logging.INFO}.get(args.verbose, logging.DEBUG)
        logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
        with warnings.catch_warnings():
            warnings.simplefilter("always", RetrofitWarning)
            warnings.showwarning = _one_line_warnings()
            return int(args.func(args))
    except KeyboardInterrupt:
        fresh_train = args is not None and args.command == "train" and not args.resume
        line = TRAIN_INTERRUPTED if fresh_train else INTERRUPTED
        print(f"\n{line}" if sys.stderr.isatty() else line, file=sys.stderr)
        return 130
    except JumpReLUError as exc:
        print(f"jumprelu: error: {_one_line(str(exc))}", file=sys.stderr)
        return 2
    except FileNotFoundError as exc:
        print(f"jumprelu: error: file not found: {exc.filename or exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # the machine's, not the input's: still one line
        where = f": {exc.filename}" if exc.filename else ""
        print(f"jumprelu: error: {exc.strerror or exc}{where}", file=sys.stderr)
        return 2


def _one_line(text: str) -> str:
    return " ".join(text.split())
