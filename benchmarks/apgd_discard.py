"""What APGD's ``discard`` saves and what it loses, run for real on the authors' MNIST LeNet.

For one checkpoint, jump and norm: APGD-CE (100 steps) through each BPDA surrogate of the suite
on every correctly classified point, then APGD-T (3 targets) through each surrogate on the
points no APGD-CE run broke, once per ``--thresholds`` value (0: no discarding, the
reference). Each run attacks the same points, so the table compares like with like: points
broken (any surrogate), points the threshold lost against no discarding, input gradients and
time relative to no discarding (measured in the same process). Standard protocol, first
``--n`` test images, seed 0. docs/benchmarks.md quotes its output.

Usage (from the repository root):
    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/apgd_discard.py \\
        --checkpoint baseline --jump 1 --norm linf --thresholds 0,0.5,0.6,0.7
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import time
from pathlib import Path

import torch

from jumprelu.attacks import make_attack
from jumprelu.datasets.core import load_split
from jumprelu.evaluation.clean import predict
from jumprelu.evaluation.threats import run_attack
from jumprelu.evaluation.units import SUITE_SURROGATES
from jumprelu.models.checkpoints import load_checkpoint
from jumprelu.retrofit import retrofit

SHARED = Path(__file__).resolve().parents[2] / "shared"
EPS = {"linf": 0.1, "l2": 1.5}


def stage(
    name: str, model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, idx: torch.Tensor,
    discard: float, eps: float,
) -> tuple[torch.Tensor, int, float]:  # fmt: skip
    """Points of ``idx`` broken through any surrogate, gradients, seconds."""
    broken = torch.zeros(len(idx), dtype=torch.bool)
    grads, seconds = 0, 0.0
    extra = {"n_targets": 3} if name.startswith("apgd-t") else {}
    for surrogate in SUITE_SURROGATES:
        attack = make_attack(name, eps=eps, seed=0, discard=discard, **extra)
        out = run_attack(attack, model, x[idx], y[idx], batch_size=500, bpda=surrogate, index=idx)
        broken |= ~out.adv_correct
        grads, seconds = grads + out.grad_evals, seconds + out.seconds
    return broken, grads, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default="baseline", choices=("baseline", "robust"))
    parser.add_argument("--jump", type=float, default=1.0)
    parser.add_argument("--norm", default="linf", choices=("linf", "l2"))
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--thresholds", default="0,0.5,0.6,0.7")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    path = SHARED / "reference" / f"lenet_mnist_{args.checkpoint}.pkl"
    base, _ = load_checkpoint(path, arch="lenet", mean=(0.1307,), std=(0.3081,))
    data = load_split("mnist", "test", data_dir=SHARED / "data").take(args.n)
    model = retrofit(base, args.jump).eval()
    x, y, eps = data.x.float(), data.y.long(), EPS[args.norm]
    print(
        f"# {dt.datetime.now().isoformat(timespec='seconds')} | "
        f"{platform.processor() or platform.machine()} | {os.cpu_count()} cores, "
        f"{args.threads} thread(s) | torch {torch.__version__} | the authors' LeNet "
        f"{args.checkpoint}, jump {args.jump:g}, {args.norm} eps {eps:g}, first {args.n} images"
    )
    correct = (predict(model, x) == y).nonzero().squeeze(1)
    ce0, _, _ = stage(f"apgd-ce-{args.norm}", model, x, y, correct, 0.0, eps)
    left = correct[~ce0]
    print("| attack | discard | points | broken | lost | gradients | time |")
    print("|---|---|---|---|---|---|---|")
    for name, idx in ((f"apgd-ce-{args.norm}", correct), (f"apgd-t-{args.norm}", left)):
        ref: tuple[torch.Tensor, int, float] | None = None
        for d in (float(t) for t in args.thresholds.split(",")):
            start = time.perf_counter()
            broken, grads, _ = stage(name, model, x, y, idx, d, eps)
            seconds = time.perf_counter() - start
            ref = ref or (broken, grads, seconds)
            lost = int((ref[0] & ~broken).sum())
            print(
                f"| {name} | {d:g} | {len(idx)} | {int(broken.sum())} | {lost} | "
                f"{grads / ref[1]:.2f} | {seconds / ref[2]:.2f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
