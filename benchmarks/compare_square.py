"""jumprelu's Square attack against AutoAttack's reference implementation.

Andriushchenko, Croce, Flammarion and Hein, "Square Attack: a query-efficient black-box
adversarial attack via random search", ECCV 2020 (arXiv 1912.00049); reference: AutoAttack's
``autoattack.square.SquareAttack`` (github.com/fra31/auto-attack), imported only when present.

On the JumpReLU authors' MNIST LeNet (``../shared``; a Normalize layer in front, so it takes
[0, 1] images) at jumps 0 and 1.5, on the first ``--n`` test images: L-inf eps 0.3 and 0.1 and
L2 eps 1.5, 5000 queries, p_init 0.8, one restart, for both implementations. Prints robust
accuracy, mean queries per attacked (clean-correct) image, seconds, the machine and the date.

Usage (from the repository root; AUTOATTACK_CHECKOUT is a checkout of github.com/fra31/auto-attack
at commit a392200, on PYTHONPATH only, never installed into the project's environment):
    PYTHONPATH=src:AUTOATTACK_CHECKOUT python benchmarks/compare_square.py --n 200
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import torch
from torch import nn

from jumprelu.attacks.square import SquareAttack
from jumprelu.datasets.core import load_split
from jumprelu.models.checkpoints import load_checkpoint
from jumprelu.retrofit import retrofit

SHARED = Path(__file__).resolve().parents[2] / "shared"
CHECKPOINT = SHARED / "reference" / "lenet_mnist_baseline.pkl"
SETTINGS = (("linf", 0.3), ("linf", 0.1), ("l2", 1.5))
QUERIES, P_INIT = 5000, 0.8


class Counted(nn.Module):
    """Counts the images forwarded through ``model``."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.images = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.images += len(x)
        out: torch.Tensor = self.model(x)
        return out


def reference() -> Callable[..., Any] | None:
    """AutoAttack's SquareAttack class, or None when it is not importable."""
    try:
        from autoattack.square import SquareAttack as Reference
    except ImportError:
        return None
    return Reference  # type: ignore[no-any-return]


def run_ours(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, norm: str, eps: float
) -> tuple[torch.Tensor, float]:
    res = SquareAttack(eps=eps, norm=norm, queries=QUERIES, p_init=P_INIT)(model, x, y)
    attacked = res.clean_correct
    return res.x_adv, float(res.iterations[attacked].float().mean())


def run_reference(
    ref: Callable[..., Any],
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    norm: str,
    eps: float,
) -> tuple[torch.Tensor, float]:
    counted = Counted(model)
    attack = ref(
        counted,
        norm={"linf": "Linf", "l2": "L2"}[norm],
        eps=eps,
        n_queries=QUERIES,
        p_init=P_INIT,
        n_restarts=1,
        device=x.device,
    )
    with torch.no_grad():
        attacked = int((model(x).argmax(1) == y).sum())
        x_adv = attack.perturb(x, y)
    # perturb forwards all n images once (clean check) and the attacked ones once more (check
    # of the result); the rest are the attack's queries.
    queries = (counted.images - len(x) - attacked) / max(attacked, 1)
    return x_adv, queries


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--jumps", default="0,1.5")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if not CHECKPOINT.is_file():
        raise SystemExit(f"skipped: {CHECKPOINT} not found (needs ../shared beside the repo)")
    base, _ = load_checkpoint(CHECKPOINT, arch="lenet", mean=(0.1307,), std=(0.3081,))
    data = load_split("mnist", "test", data_dir=SHARED / "data").take(args.n)
    x, y = data.x, data.y
    ref = reference()
    print(
        f"Square attack, first {args.n} MNIST test images, LeNet baseline; {QUERIES} queries, "
        f"p_init {P_INIT}, 1 restart"
    )
    print(
        f"machine: {platform.machine()} {platform.processor() or ''} {os.cpu_count()} cores, "
        f"torch {torch.__version__}, 1 thread; date {dt.date.today().isoformat()}"
    )
    if ref is None:
        print("AutoAttack not importable: reference rows skipped (PYTHONPATH=.../auto-attack)")
    header = f"{'jump':>5} {'norm':>5} {'eps':>5} {'impl':>10} {'clean%':>7} {'robust%':>8}"
    print(header + f" {'queries':>8} {'seconds':>8}")
    for jump in [float(j) for j in args.jumps.split(",")]:
        model = retrofit(base, jump) if jump > 0 else base
        model.eval()
        with torch.no_grad():
            clean = float((model(x).argmax(1) == y).float().mean())
        for norm, eps in SETTINGS:
            runs: list[tuple[str, Callable[[], tuple[torch.Tensor, float]]]] = [
                ("jumprelu", partial(run_ours, model, x, y, norm, eps))
            ]
            if ref is not None:
                runs.append(("autoattack", partial(run_reference, ref, model, x, y, norm, eps)))
            for label, run in runs:
                start = time.perf_counter()
                x_adv, queries = run()
                seconds = time.perf_counter() - start
                with torch.no_grad():
                    robust = float((model(x_adv).argmax(1) == y).float().mean())
                delta = (x_adv - x).flatten(1)
                size = delta.abs().amax(1) if norm == "linf" else delta.norm(dim=1)
                assert float(size.max()) <= eps * (1 + 1e-4) + 1e-6, (label, float(size.max()))
                assert float(x_adv.min()) >= 0 and float(x_adv.max()) <= 1
                print(
                    f"{jump:>5g} {norm:>5} {eps:>5g} {label:>10} {100 * clean:>7.2f} "
                    f"{100 * robust:>8.2f} {queries:>8.1f} {seconds:>8.1f}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
