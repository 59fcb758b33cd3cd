"""The ``jumprelu train`` subcommand: arguments -> ``TrainJob`` -> ``run_training``.

Settings start from the paper's recipe for the dataset (``paper_recipe``) and are overridden
by the options given.
"""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import sys
from typing import Any

from jumprelu._util import Progress
from jumprelu.cli.args import checkpoint_out, count, device, finite, milestones, positive, seed

__all__ = ["add_train_parser"]


def add_train_parser(sub: Any) -> None:
    """Register ``train`` on the subparsers object ``sub``."""
    p = sub.add_parser(
        "train",
        help="train a model (plain, the paper's FGSM mix, or PGD); checkpoints every epoch",
        description="Settings default to the paper's recipe for the dataset "
        "(MNIST: 90 epochs, lr 0.02 x0.2 at 30/60/80, batch 128, wd 5e-4).",
    )
    p.add_argument("--arch", required=True, help="registered architecture, e.g. lenet")
    p.add_argument("--dataset", required=True, help="mnist, cifar10 or digits")
    p.add_argument("--data-dir", help="data directory (default: $JUMPRELU_DATA)")
    p.add_argument(
        "--out",
        type=checkpoint_out,
        required=True,
        help="final checkpoint; per-epoch files in OUT.epochs/ (an existing file is replaced "
        "only when it is a jumprelu checkpoint)",
    )
    p.add_argument("--epochs", type=int)
    p.add_argument("--lr", type=finite)
    p.add_argument("--batch-size", type=int)
    p.add_argument(
        "--milestones",
        type=milestones,
        help="comma-separated epochs where the lr decays ('' for none)",
    )
    p.add_argument("--gamma", type=finite, help="lr decay factor at each milestone")
    p.add_argument("--weight-decay", type=finite)
    p.add_argument("--augment", action=argparse.BooleanOptionalAction, default=None,
                   help="random crop (padding 4) and horizontal flip")  # fmt: skip
    p.add_argument("--adv", choices=["none", "fgsm", "pgd"],
                   help="adversarial training (fgsm if --adv-ratio/--adv-eps given)")  # fmt: skip
    p.add_argument("--adv-ratio", type=finite, help="fraction of each batch made adversarial")
    p.add_argument("--adv-eps", type=finite, help="adversarial budget (see --eps-units)")
    p.add_argument("--eps-units", choices=["normalized", "pixel"],
                   help="units of --adv-eps (default normalized, as in the paper)")  # fmt: skip
    p.add_argument("--pgd-steps", type=int)
    p.add_argument("--pgd-step-size", type=finite)
    p.add_argument("--seed", type=seed, default=0)
    p.add_argument("--val-size", type=int, help="validation images carved from train")
    p.add_argument("--limit", type=positive, help="train on the first N training images only")
    p.add_argument("--keep-epochs", type=count, help="per-epoch checkpoints kept (default all)")
    p.add_argument("--resume", action="store_true", help="continue from OUT.epochs/resume.pt")
    p.add_argument("--no-test", action="store_true", help="skip the final test accuracy")
    p.add_argument("--device", type=device, default="cpu", help="cpu or cuda")
    p.set_defaults(func=_cmd_train)


def _train_config(args: argparse.Namespace) -> Any:
    from jumprelu.training.config import paper_recipe

    cfg = paper_recipe(args.dataset.lower())
    changes: dict[str, Any] = {
        k: getattr(args, k)
        for k in ("epochs", "lr", "batch_size", "gamma", "weight_decay", "augment", "seed",
                  "adv_ratio", "adv_eps", "eps_units", "pgd_steps", "pgd_step_size")
        if getattr(args, k) is not None
    }  # fmt: skip
    if args.milestones is not None:
        changes["milestones"] = args.milestones
    adv = args.adv or ("fgsm" if args.adv_ratio is not None or args.adv_eps is not None else None)
    if adv is not None:
        changes["adv"] = adv
    return dataclasses.replace(cfg, **changes)


class _TrainBars:
    """Turns ``TrainProgress`` events into ``Progress`` calls (epochs of batches)."""

    def __init__(self, bars: Progress) -> None:
        self.bars, self.planned, self.epoch = bars, False, 0

    def __call__(self, event: Any) -> None:
        if not self.planned:
            self.bars.plan(event.epochs, done=event.epoch - 1)
            self.planned = True
        if event.kind == "batch":
            if event.epoch != self.epoch:
                self.epoch = event.epoch
                self.bars.start(f"epoch {event.epoch}/{event.epochs}", event.batches)
            self.bars.advance(1)
        else:
            val = "" if event.val_accuracy is None else f" val {100 * event.val_accuracy:.2f}%"
            self.bars.finish(f"loss {event.loss:.4f}{val}")


def _cmd_train(args: argparse.Namespace) -> int:
    from jumprelu.cli.progress import bars
    from jumprelu.training.job import TrainJob, run_training

    job = TrainJob(
        arch=args.arch,
        dataset=args.dataset.lower(),
        out=args.out,
        config=_train_config(args),
        data_dir=args.data_dir,
        val_size=args.val_size,
        limit=args.limit,
        device=args.device,
        resume=args.resume,
        test=not args.no_test,
        keep_epochs=args.keep_epochs,
        command=shlex.join(["jumprelu", *sys.argv[1:]]),
    )
    with bars(args.quiet, "epoch") as progress:
        result = run_training(job, progress=_TrainBars(progress))
    for i, loss in enumerate(result.train_loss, 1):
        val = result.val_accuracy[i - 1] if i <= len(result.val_accuracy) else None
        shown = "" if val is None else f"  val {100 * val:.2f}%"
        print(f"epoch {i:3d}  loss {loss:.4f}{shown}")
    if result.test_accuracy is not None:
        print(f"test accuracy {100 * result.test_accuracy:.2f}%")
    print(f"{result.seconds:.1f} s; checkpoint: {result.final_path}")
    return 0
