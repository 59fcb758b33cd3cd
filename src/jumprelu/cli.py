"""Command-line interface: parses arguments and calls one library function per subcommand."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence

from . import __version__
from .errors import JumpReLUError
from .clean import CleanSweep

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

    _print_sweep(run_demo(jumps=args.jumps, device=args.device))
    return 0


def _cmd_accuracy(args: argparse.Namespace) -> int:
    from .clean import checkpoint_accuracy

    sweep = checkpoint_accuracy(
        arch=args.arch,
        checkpoint=args.checkpoint,
        dataset=args.dataset,
        data_dir=args.data_dir,
        jumps=args.jumps,
        split=args.split,
        n=args.n,
        device=args.device,
    )
    if args.json:
        print(json.dumps(sweep.to_dict(), indent=2))
    else:
        _print_sweep(sweep)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``jumprelu`` command."""
    parser = argparse.ArgumentParser(
        prog="jumprelu",
        description="Retrofit trained PyTorch networks with JumpReLU and measure their robustness.",
    )
    parser.add_argument("--version", action="version", version=f"jumprelu {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    demo = sub.add_parser(
        "demo", help="retrofit the embedded default model, print accuracy per jump"
    )
    demo.add_argument("--jumps", default="0,0.25,0.5,0.75,1.0", help="comma-separated jumps")
    demo.add_argument("--device", default="cpu", help="cpu or cuda")
    demo.set_defaults(func=_cmd_demo)

    acc = sub.add_parser("accuracy", help="clean accuracy of a checkpoint across jumps")
    acc.add_argument("--arch", help="architecture (read from project checkpoints)")
    acc.add_argument("--checkpoint", required=True, help=".pt/.pth/.pkl/.safetensors file")
    acc.add_argument("--dataset", required=True, help="mnist, cifar10 or digits")
    acc.add_argument("--data-dir", help="data directory (default: $JUMPRELU_DATA)")
    acc.add_argument("--split", default="test", choices=["train", "val", "test"])
    acc.add_argument("--jumps", default="0,0.5,1.0,1.5", help="comma-separated jumps")
    acc.add_argument("--n", type=int, help="evaluate the first N examples only")
    acc.add_argument("--device", default="cpu", help="cpu or cuda")
    acc.add_argument("--json", action="store_true", help="print the result as JSON")
    acc.set_defaults(func=_cmd_accuracy)
    return parser


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
        return int(args.func(args))
    except JumpReLUError as exc:
        print(f"jumprelu: error: {exc}", file=sys.stderr)
        return 2
    except FileNotFoundError as exc:
        print(f"jumprelu: error: file not found: {exc.filename or exc}", file=sys.stderr)
        return 2
