"""The adaptive Trust-Region attack under BPDA, and against DeepFool on the plain network.

Yao, Gholami, Xu, Keutzer and Mahoney, "Trust Region Based Adversarial Attack on Neural
Networks", CVPR 2019 (arXiv 1812.06371). Standard protocol: the JumpReLU authors' MNIST LeNet
(``../shared/reference/lenet_mnist_baseline.pkl``, normalisation in the model so it takes
[0,1] images), the first ``n`` test images, attacked in [0,1] pixel space with the [0,1] box,
unbounded (no ``max_norm``).

Part 1: jump 1.5 (``retrofit(model, 1.5)``) with the BPDA gradients ``set_gradient(jm,
"relu")`` (straight-through) and ``"smooth"`` (sigmoid surrogate): success of tr-adaptive-l2
and tr-adaptive-linf on the correctly classified points (target: >= 90%), with the old
fixed-radius TR for reference. Part 2: jump 0, tr-adaptive vs DeepFool (success, median
norm of the successful perturbations). Times, machine and date are printed.

Usage: python benchmarks/compare_tr.py [--n 200] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

from jumprelu.attacks.base import MinimalAttack
from jumprelu.attacks.deepfool import DeepFool
from jumprelu.attacks.trust_region import TrustRegion
from jumprelu.datasets.core import load_split
from jumprelu.models.checkpoints import load_checkpoint
from jumprelu.retrofit import retrofit, set_gradient

SHARED = Path(__file__).resolve().parents[2] / "shared"
CHECKPOINT = SHARED / "reference" / "lenet_mnist_baseline.pkl"


def measure(
    attack: MinimalAttack, model: nn.Module, x: torch.Tensor, y: torch.Tensor
) -> dict[str, Any]:
    """Success on the correctly classified points, median norms of the successes, time."""
    start = time.perf_counter()
    res = attack(model, x, y)
    seconds = time.perf_counter() - start
    ok = res.clean_correct
    hit = res.success & ok
    norm = getattr(res, attack.norm)
    return {
        "attack": attack.name,
        "norm": attack.norm,
        "correct": int(ok.sum()),
        "success": float(hit.sum()) / max(int(ok.sum()), 1),
        "median_norm": float(norm[hit].median()) if hit.any() else float("nan"),
        "median_l2": float(res.l2[hit].median()) if hit.any() else float("nan"),
        "median_linf": float(res.linf[hit].median()) if hit.any() else float("nan"),
        "mean_iterations": float(res.iterations[ok].float().mean()),
        "zero_grad": int(res.zero_grad.sum()),
        "seconds": seconds,
    }


def show(tag: str, row: dict[str, Any]) -> None:
    print(
        f"{tag:<16} {row['attack']:<18} success {100 * row['success']:6.1f}% "
        f"of {row['correct']:4d}  median {row['norm']:<4} "
        f"{row['median_norm']:.4f}  iters {row['mean_iterations']:6.1f}  "
        f"zero-grad {row['zero_grad']:3d}  {row['seconds']:6.1f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="first n MNIST test images")
    parser.add_argument("--jump", type=float, default=1.5)
    parser.add_argument("--out", type=Path, default=None, help="also write the rows as JSON")
    args = parser.parse_args()
    torch.set_num_threads(1)
    model, _ = load_checkpoint(CHECKPOINT, arch="lenet", mean=(0.1307,), std=(0.3081,))
    split = load_split("mnist", "test", data_dir=SHARED / "data").take(args.n)
    x, y = split.x, split.y
    print(
        f"date {dt.datetime.now().isoformat(timespec='seconds')}, machine {platform.node()} "
        f"({platform.processor() or platform.machine()}, torch {torch.__version__}, 1 thread)"
    )
    print(f"LeNet {CHECKPOINT.name}, first {args.n} MNIST test images, [0,1] box, unbounded")
    rows: list[dict[str, Any]] = []
    jm = retrofit(model, args.jump)
    for gradient in ("relu", "smooth"):
        set_gradient(jm, gradient)
        tag = f"jump {args.jump:g} {gradient}"
        for attack in (
            TrustRegion(norm="l2", adaptive=True),
            TrustRegion(norm="linf", adaptive=True),
            TrustRegion(norm="l2"),
        ):
            row = measure(attack, jm, x, y)
            row.update(jump=args.jump, gradient=gradient)
            show(tag, row)
            rows.append(row)
    attacks: tuple[MinimalAttack, ...] = (
        TrustRegion(norm="l2", adaptive=True),
        DeepFool(norm="l2"),
        TrustRegion(norm="linf", adaptive=True),
        DeepFool(norm="linf"),
    )
    for baseline in attacks:
        row = measure(baseline, model, x, y)
        row.update(jump=0.0, gradient="exact")
        show("jump 0", row)
        rows.append(row)
    for norm in ("l2", "linf"):
        tr, df = (r for r in rows if r["jump"] == 0.0 and r["norm"] == norm)
        ratio = tr["median_norm"] / df["median_norm"]
        print(f"jump 0 {norm}: median TR / median DeepFool = {ratio:.3f}")
    if args.out is not None:
        args.out.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
