"""jumprelu's APGD against AutoAttack's reference implementation, on the authors' MNIST LeNet.

Croce and Hein, "Reliable evaluation of adversarial robustness with an ensemble of diverse
parameter-free attacks", ICML 2020 (arXiv 2003.01690); reference code: AutoAttack
(github.com/fra31/auto-attack, ``autoattack.autopgd_base``), imported only when present.

Runs APGD-CE and APGD-T (9 target classes) from both libraries with the same settings (100
steps, one restart) for L-inf eps 0.1 and L2 eps 1.5 in [0, 1] pixel space, on the first n
MNIST test images, and prints the robust accuracy of each, of each library's per-sample worst
case (CE and T together) and of all four together, with times, the machine and the date.

Usage (from the repository root; AUTOATTACK_CHECKOUT is a checkout of github.com/fra31/auto-attack
at commit a392200, BENCH_VENV a separate virtual environment, never the project's own):
    PYTHONPATH=src:AUTOATTACK_CHECKOUT BENCH_VENV/bin/python \\
        benchmarks/compare_apgd.py --n 500 [--jump 1.0 --gradient smooth] [--out FILE]

With ``--jump K`` both libraries attack the JumpReLU retrofit of the LeNet; ``--gradient``
chooses its backward pass (e.g. "smooth" or "relu" for BPDA), a property of the model that
AutoAttack sees too.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from jumprelu.attacks.apgd import APGD
from jumprelu.datasets.core import load_split
from jumprelu.models.checkpoints import load_checkpoint
from jumprelu.retrofit import retrofit, set_gradient

SHARED = Path(__file__).resolve().parents[2] / "shared"
CHECKPOINT = SHARED / "reference" / "lenet_mnist_baseline.pkl"
SETTINGS = (("linf", 0.1), ("l2", 1.5))

Runner = Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]


def ours(norm: str, eps: float, targeted: bool, steps: int) -> Runner:
    attack = APGD(
        eps=eps, norm=norm, loss="dlr" if targeted else "ce", targeted=targeted, steps=steps
    )

    def run(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return attack(model, x, y).x_adv

    return run


def reference(norm: str, eps: float, targeted: bool, steps: int) -> Runner | None:
    """AutoAttack's APGD / APGD-T, or None when AutoAttack is not importable."""
    try:
        from autoattack.autopgd_base import APGDAttack, APGDAttack_targeted
    except ImportError:
        return None
    name = {"linf": "Linf", "l2": "L2"}[norm]

    def run(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        common = {"norm": name, "eps": eps, "n_iter": steps, "n_restarts": 1, "seed": 0}
        if targeted:
            attack = APGDAttack_targeted(model, n_target_classes=9, device="cpu", **common)
        else:
            attack = APGDAttack(model, loss="ce", device="cpu", **common)
        out: torch.Tensor = attack.perturb(x, y)
        return out

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=500, help="first n MNIST test images")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--jump", type=float, default=0.0, help="JumpReLU threshold (0: ReLU)")
    parser.add_argument("--gradient", default="exact", help="backward of the JumpReLU sites")
    parser.add_argument("--out", type=Path, help="also write the results as JSON")
    args = parser.parse_args()
    torch.set_num_threads(1)

    model: nn.Module
    model, _ = load_checkpoint(CHECKPOINT, arch="lenet", mean=(0.1307,), std=(0.3081,))
    if args.jump > 0:
        model = retrofit(model, args.jump)
        set_gradient(model, args.gradient)
    model.eval()
    data = load_split("mnist", "test", data_dir=SHARED / "data").take(args.n)
    x, y = data.x.float(), data.y.long()
    with torch.no_grad():
        clean = model(x).argmax(1) == y
    print(
        f"# {dt.datetime.now().isoformat(timespec='seconds')} | "
        f"{platform.processor() or platform.machine()} | {os.cpu_count()} cores, 1 thread | "
        f"torch {torch.__version__}"
    )
    gradient = f", gradient {args.gradient}" if args.jump > 0 else ""
    print(
        f"# LeNet (lenet_mnist_baseline.pkl), jump {args.jump:g}{gradient}, first {args.n} "
        f"MNIST test images, clean accuracy {100 * clean.float().mean():.2f} %, "
        f"steps {args.steps}, 1 restart, APGD-T over 9 target classes"
    )
    if reference("linf", 0.1, False, 1) is None:
        print(
            "# AutoAttack is not importable (add a checkout of github.com/fra31/auto-attack "
            "to PYTHONPATH): running jumprelu only"
        )
    rows: list[dict[str, object]] = []
    print(f"{'norm':5} {'eps':>5} {'attack':26} {'robust acc %':>12} {'max norm':>9} {'s':>7}")
    for norm, eps in SETTINGS:
        robust: dict[str, torch.Tensor] = {}
        for targeted in (False, True):
            runners = {"jumprelu": ours(norm, eps, targeted, args.steps)}
            ref = reference(norm, eps, targeted, args.steps)
            if ref is not None:
                runners["autoattack"] = ref
            for impl, run in runners.items():
                label = f"{impl} apgd-{'t' if targeted else 'ce'}"
                start = time.perf_counter()
                x_adv = run(model, x.clone(), y.clone()).detach()
                seconds = time.perf_counter() - start
                delta = (x_adv - x).flatten(1)
                size = delta.abs().amax(1) if norm == "linf" else delta.norm(dim=1)
                with torch.no_grad():
                    ok = (model(x_adv).argmax(1) == y) & clean
                robust[label] = ok
                row = {"norm": norm, "eps": eps, "attack": label, "seconds": seconds}
                row |= {"robust_acc": 100 * float(ok.float().mean())}
                row |= {"max_norm": float(size.max()), "in_box": bool(x_adv.min() >= 0)}
                rows.append(row)
                print(
                    f"{norm:5} {eps:5g} {label:26} {row['robust_acc']:12.2f} "
                    f"{row['max_norm']:9.4f} {seconds:7.1f}"
                )
        for impl in ("jumprelu", "autoattack"):
            both = [v for k, v in robust.items() if k.startswith(impl)]
            if len(both) == 2:
                acc = 100 * float((both[0] & both[1]).float().mean())
                rows.append(
                    {"norm": norm, "eps": eps, "attack": f"{impl} worst", "robust_acc": acc}
                )
                print(f"{norm:5} {eps:5g} {impl + ' worst (ce, t)':26} {acc:12.2f}")
        if len(robust) == 4:
            every = torch.stack(list(robust.values())).all(0)
            acc = 100 * float(every.float().mean())
            rows.append({"norm": norm, "eps": eps, "attack": "all four", "robust_acc": acc})
            print(f"{norm:5} {eps:5g} {'worst of all four':26} {acc:12.2f}")
    if args.out:
        args.out.write_text(json.dumps({"n": args.n, "jump": args.jump, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
