"""Command-line interface: parses arguments and calls one library function per subcommand.

This module builds the parser and runs it (one-line errors, Ctrl-C, warnings) and holds the
small commands (``demo``, ``zoo``, ``report``); the grid commands are in ``evaluate``, ``train``
in ``train``.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import warnings
from collections.abc import Sequence
from typing import Any

from jumprelu import __version__
from jumprelu.cli.args import Parser, device, finite, positive, run_dir
from jumprelu.cli.evaluate import add_grid_parsers
from jumprelu.cli.progress import bars
from jumprelu.cli.show import print_demo
from jumprelu.cli.train import add_train_parser
from jumprelu.errors import JumpReLUError
from jumprelu.retrofit import RetrofitWarning

log = logging.getLogger("jumprelu")


def _cmd_demo(args: argparse.Namespace) -> int:
    from jumprelu.cli.demo import run_demo

    with bars(args.quiet) as progress:
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
        help="offline: tune, attack and report the shipped digits model",
    )
    demo.add_argument(
        "--out", type=run_dir, default="jumprelu-demo", help="run directory (default: %(default)s)"
    )
    demo.add_argument("--max-drop", type=finite, default=0.01, help="allowed clean-accuracy drop")
    demo.add_argument("--n", type=positive, help="first N test images only (quicker)")
    demo.add_argument("--device", type=device, default="cpu", help="cpu or cuda")
    demo.set_defaults(func=_cmd_demo)

    add_train_parser(sub)
    add_grid_parsers(sub)

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
            try:
                return int(args.func(args))
            except SystemExit as exc:  # argparse is done: this came from the user's code
                raise JumpReLUError(f"the model's code called exit({exc.code!r})") from None
    except KeyboardInterrupt:
        fresh_train = args is not None and args.command == "train" and not args.resume
        line = TRAIN_INTERRUPTED if fresh_train else INTERRUPTED
        print(f"\n{line}" if sys.stderr.isatty() else line, file=sys.stderr)
        return 130
    except JumpReLUError as exc:
        print(f"jumprelu: error: {_one_line(str(exc))}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader left (``jumprelu zoo | head``): quietly, as Unix tools
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no error at exit
        return 141
    except FileNotFoundError as exc:
        print(f"jumprelu: error: file not found: {exc.filename or exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # the machine's, not the input's: still one line
        where = f": {exc.filename}" if exc.filename else ""
        print(f"jumprelu: error: {exc.strerror or exc}{where}", file=sys.stderr)
        return 2


def _one_line(text: str) -> str:
    return " ".join(text.split())
