"""The grid commands: ``accuracy``, ``evaluate`` and ``tune``: their subparsers, the library
function each calls, and what each prints (a report follows unless --no-report)."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
from collections.abc import Iterator
from typing import Any

from jumprelu.cli.args import device, positive
from jumprelu.cli.grid import grid_arguments, source_arguments, tune_arguments
from jumprelu.cli.grid_config import eval_config, learn_steps, per_layer_quantiles, source
from jumprelu.cli.progress import bars
from jumprelu.cli.show import print_results, print_sites, print_sweep, print_tuning
from jumprelu.errors import JumpReLUError

__all__ = ["add_grid_parsers"]


def add_grid_parsers(sub: Any) -> None:
    """Register ``accuracy``, ``evaluate`` and ``tune`` on the subparsers object ``sub``."""
    acc = sub.add_parser(
        "accuracy",
        help="clean accuracy of a checkpoint across jumps",
        usage="jumprelu accuracy (--dataset D | --data SPEC) [--checkpoint PATH | --model M] "
        "[options]",
        description="Required: --dataset (or --data), and --checkpoint or --model except for "
        "digits (the shipped model).",
    )
    source_arguments(acc)
    acc.add_argument("--jumps", default="0,0.5,1.0,1.5", help="comma-separated jumps")
    acc.add_argument("--n", type=positive, help="evaluate the first N examples only")
    acc.add_argument("--device", type=device, default="cpu", help="cpu or cuda")
    acc.add_argument("--json", action="store_true", help="print the result as JSON")
    acc.set_defaults(func=_cmd_accuracy)

    ev = sub.add_parser(
        "evaluate",
        help="white-box, gray-box and adaptive robustness over jumps",
        usage="jumprelu evaluate (--dataset D | --data SPEC) --out DIR [options]",
        description="Required: --dataset (or --data) and --out; --checkpoint or --model except "
        "for digits (the shipped model).",
    )
    grid_arguments(ev, "0,0.5,1.0")
    ev.add_argument("--list-attacks", action="store_true", help="list attacks and defaults")
    ev.set_defaults(func=_cmd_evaluate)

    tu = sub.add_parser(
        "tune",
        help="choose the jump on validation data, then evaluate on test",
        usage="jumprelu tune (--dataset D | --data SPEC) --out DIR [options]",
        description="Required: --dataset (or --data) and --out; --checkpoint or --model except "
        "for digits (the shipped model).",
    )
    grid_arguments(tu, "0,0.25,0.5,0.75,1.0,1.25,1.5,2.0")
    tune_arguments(tu)
    tu.set_defaults(func=_cmd_tune, list_attacks=False)


def _render(args: argparse.Namespace, out: str) -> None:
    if not args.no_report:
        from jumprelu.report import render_report

        print(f"report: {render_report(out).html}")


def _cmd_accuracy(args: argparse.Namespace) -> int:
    from jumprelu.cli.jobs import run_accuracy
    from jumprelu.evaluation.config import EvalConfig

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


@contextlib.contextmanager
def _distributed(device: str) -> Iterator[int]:
    """Join the torchrun process group when launched by torchrun; yield this rank.

    On success every process waits for the others (rank 0 writes the report last) and the
    group is destroyed, so no process tears gloo down while a peer still talks to it.
    """
    import torch
    import torch.distributed as dist

    joined = False
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
        if device == "cuda" and torch.cuda.is_available():
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))  # one GPU a process
        dist.init_process_group("nccl" if device.startswith("cuda") else "gloo")
        joined = True
    yield dist.get_rank() if dist.is_initialized() else 0
    if joined:  # not reached on an error: torchrun stops the other processes then
        dist.barrier()
        dist.destroy_process_group()


def _cmd_evaluate(args: argparse.Namespace) -> int:
    if args.list_attacks:
        from jumprelu.attacks import describe_attacks

        for name, doc, defaults in describe_attacks():
            opts = ", ".join(f"{k}={v}" for k, v in defaults.items())
            print(f"{name:18s} {doc}\n{'':18s} {opts}")
        return 0
    _need_source_and_out(args)
    if args.val_data is not None:
        raise JumpReLUError("--val-data goes with tune: evaluate has no validation step")
    from jumprelu.cli.jobs import run_evaluate

    with _distributed(args.device) as rank:
        with bars(args.quiet or rank != 0) as progress:
            result = run_evaluate(eval_config(args), args.out, progress=progress)
        if rank == 0:
            print_sites(result["provenance"])
            print_results(result, args.out)
            _render(args, args.out)
    return 0


def _need_source_and_out(args: argparse.Namespace) -> None:
    if not (args.dataset or args.data):
        raise JumpReLUError(f"{args.command} needs --dataset (or --data)")
    if not args.out:
        raise JumpReLUError(f"{args.command} needs --out (the run directory)")


def _cmd_tune(args: argparse.Namespace) -> int:
    from jumprelu.cli.jobs import run_tune

    _need_source_and_out(args)
    quantiles = per_layer_quantiles(args)
    steps = learn_steps(args)
    with _distributed(args.device) as rank:
        with bars(args.quiet or rank != 0) as progress:
            doc = run_tune(
                eval_config(args),
                args.out,
                max_drop=args.max_drop,
                per_layer_quantiles=quantiles,
                learn_steps=steps,
                progress=progress,
            )
        if rank == 0:
            print_sites(doc["provenance"])
            print_tuning(doc["provenance"]["tuning"], args.out)
            print_results(doc, args.out)
            _render(args, args.out)
    return 0
