"""The adaptive suite against AutoAttack's reference attacks through the same surrogates.

For the JumpReLU authors' MNIST LeNet (standard protocol: [0, 1] pixels, [0, 1] box) or their
CIFAR-10 ResNet-20 (``--checkpoint resnet20-baseline|resnet20-robust``; the paper protocol's
threat model: normalised inputs in the box of the evaluated images' global min and max, which
both attacks see as the unit box of an affine reparametrisation) at several jumps, runs
jumprelu's adaptive suite (a cascade of APGD-CE, APGD-T, FMN and Square through every BPDA
surrogate, each stage only on the points still robust) and, from
AutoAttack's reference code (github.com/fra31/auto-attack, imported only when present),
APGD-CE, APGD-T (9 targets) and Square (5,000 queries, p_init 0.8) through the same
surrogates (BPDA is a property of the model, so AutoAttack attacks the surrogate unchanged),
and prints robust accuracy (per-sample worst case), time and the suite's stages, with the cost
of one PGD-L-inf run (40 steps) over the same images as the unit, the machine and the date.
``--every-point`` also runs every stage on every correctly classified point (no cascade).

The suite runs with its own stage defaults (``units.SUITE_SETTINGS``: APGD-T on the top 3
classes by logit, APGD and Square with A3-style discarding); ``--autoattack-settings`` runs it with
AutoAttack's (9 targets, no discarding) instead, to measure what they buy.

Usage (the reference comparison needs AutoAttack's code on PYTHONPATH, never installed into the
project's environment; from the repository root):
    OMP_NUM_THREADS=1 PYTHONPATH=src:AUTOATTACK_CHECKOUT python benchmarks/compare_suite.py \\
        --n 500 --jumps 0,1,1.5 [--checkpoint robust] [--every-point] [--out FILE]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

from jumprelu.attacks import make_attack
from jumprelu.attacks.base import lp_norm
from jumprelu.datasets.core import load_split
from jumprelu.evaluation.clean import predict
from jumprelu.evaluation.suite import run_suite, suite_plan
from jumprelu.evaluation.threats import run_attack
from jumprelu.evaluation.units import SUITE_SETTINGS, SUITE_SURROGATES
from jumprelu.models.checkpoints import load_checkpoint
from jumprelu.models.normalize import mean_std_of
from jumprelu.retrofit import retrofit, set_gradient

SHARED = Path(__file__).resolve().parents[2] / "shared"
EPS = {"linf": 0.1, "l2": 1.5}
CIFAR_EPS = {"linf": 8 / 255, "l2": 0.5}  # pixels; the paper protocol divides by the mean std


class UnitBox(nn.Module):
    """``net(lo + (hi - lo) u)`` for u in [0, 1]: the paper protocol's box as the unit box."""

    def __init__(self, net: nn.Module, lo: float, hi: float) -> None:
        super().__init__()
        self.net, self.lo, self.span = net, lo, hi - lo

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.net(self.lo + self.span * u)
        return out


SUITE_DEFAULTS = True  # False: AutoAttack's settings for APGD-T and Square (--autoattack-settings)


def _settings(name: str) -> dict[str, Any]:
    if not name.startswith(("apgd", "square")):
        return {}
    return {"seed": 0, **(SUITE_SETTINGS.get(name, {}) if SUITE_DEFAULTS else {})}


def reference_cascade(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, norm: str, eps: float, grads: list[str]
) -> tuple[torch.Tensor, float] | None:
    """AutoAttack's APGD-CE and APGD-T through every surrogate, then Square; robust mask."""
    try:
        from autoattack.autopgd_base import APGDAttack, APGDAttack_targeted
        from autoattack.square import SquareAttack
    except ImportError:
        return None
    name = {"linf": "Linf", "l2": "L2"}[norm]
    start = time.perf_counter()
    robust = predict(model, x) == y
    common = {"norm": name, "eps": eps, "n_restarts": 1, "seed": 0, "device": "cpu"}
    stages: list[tuple[Any, str | None]] = []
    for g in grads:
        stages.append((APGDAttack(model, loss="ce", n_iter=100, **common), g))
    for g in grads:
        stages.append((APGDAttack_targeted(model, n_target_classes=9, n_iter=100, **common), g))
    stages.append((SquareAttack(model, p_init=0.8, n_queries=5000, verbose=False, **common), None))
    for attack, g in stages:
        idx = robust.nonzero().squeeze(1)
        if len(idx) == 0:
            break
        set_gradient(model, g or "exact")
        x_adv = attack.perturb(x[idx].clone(), y[idx].clone()).detach()
        fits = lp_norm(x_adv - x[idx], norm) <= eps * (1 + 1e-5)
        broken = (predict(model, x_adv) != y[idx]) & fits
        robust[idx[broken]] = False
    set_gradient(model, "exact")
    return robust, time.perf_counter() - start


def every_point(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, norm: str, eps: float, jump: float
) -> tuple[torch.Tensor, float]:
    """Every stage of the suite on every correctly classified point (no cascade)."""
    start = time.perf_counter()
    correct = predict(model, x) == y
    idx = correct.nonzero().squeeze(1)
    robust = correct.clone()
    for name, surrogate in suite_plan(norm, list(SUITE_SURROGATES), jump):
        s = _settings(name)
        if not name.startswith("fmn"):
            s["eps"] = eps
        out = run_attack(
            make_attack(name, **s),
            model,
            x[idx],
            y[idx],
            batch_size=500,
            bpda=surrogate,
            index=idx,
        )
        fits = lp_norm(out.x_adv - x[idx], norm) <= eps * (1 + 1e-6)
        robust[idx[~out.adv_correct & fits]] = False
    return robust, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=500, help="first n MNIST test images")
    parser.add_argument("--jumps", default="0,1,1.5")
    parser.add_argument("--norms", default="linf,l2")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--no-reference", action="store_true")
    parser.add_argument("--every-point", action="store_true", help="also run without cascade")
    parser.add_argument(
        "--exhaustive", action="store_true", help="every stage through every surrogate"
    )
    parser.add_argument(
        "--checkpoint", default="baseline",
        choices=("baseline", "robust", "resnet20-baseline", "resnet20-robust"),
        help="the authors' LeNet (plain or FGSM-trained) or CIFAR-10 ResNet-20",
    )  # fmt: skip
    parser.add_argument("--eps", type=float, help="L-inf budget in pixels (default per dataset)")
    parser.add_argument("--eps-l2", type=float, help="L2 budget in pixels (default per dataset)")
    parser.add_argument(
        "--autoattack-settings", action="store_true",
        help="the suite with AutoAttack's settings: 9 APGD-T targets, no discarding",
    )  # fmt: skip
    parser.add_argument("--out", type=Path, help="also write the results as JSON")
    args = parser.parse_args()
    global SUITE_DEFAULTS
    SUITE_DEFAULTS = not args.autoattack_settings
    torch.set_num_threads(args.threads)
    cifar = args.checkpoint.startswith("resnet20")
    if cifar:
        name = args.checkpoint.removeprefix("resnet20-")
        base, _ = load_checkpoint(SHARED / "reference" / f"resnet20_cifar10_{name}.pkl")
        data = load_split("cifar10", "test", data_dir=SHARED / "data").take(args.n)
        pixels = {"linf": args.eps or CIFAR_EPS["linf"], "l2": args.eps_l2 or CIFAR_EPS["l2"]}
        with torch.no_grad():
            xn = base.normalize(data.x.float())
        lo, hi = float(xn.min()), float(xn.max())
        x = (xn - lo) / (hi - lo)
        eps_of = {k: v / mean_std_of(base) / (hi - lo) for k, v in pixels.items()}
        what = f"ResNet-20 {name}, first {args.n} CIFAR-10 test images, paper protocol"
    else:
        checkpoint = SHARED / "reference" / f"lenet_mnist_{args.checkpoint}.pkl"
        base, _ = load_checkpoint(checkpoint, arch="lenet", mean=(0.1307,), std=(0.3081,))
        data = load_split("mnist", "test", data_dir=SHARED / "data").take(args.n)
        x = data.x.float()
        pixels = {"linf": args.eps or EPS["linf"], "l2": args.eps_l2 or EPS["l2"]}
        eps_of = dict(pixels)
        what = f"LeNet {args.checkpoint}, first {args.n} MNIST test images, standard protocol"
    y = data.y.long()
    print(
        f"# {dt.datetime.now().isoformat(timespec='seconds')} | "
        f"{platform.processor() or platform.machine()} | {os.cpu_count()} cores, "
        f"{args.threads} thread(s) | torch {torch.__version__} | the authors' {what}"
    )
    rows = []
    for jump in [float(j) for j in args.jumps.split(",")]:
        model = retrofit(base, jump).eval()
        if cifar:
            model = UnitBox(model.net, lo, hi).eval()
        grads = list(SUITE_SURROGATES[:1] if jump == 0 else SUITE_SURROGATES)
        set_gradient(model, "relu")
        start = time.perf_counter()
        pgd = make_attack("pgd-linf", eps=eps_of["linf"], steps=40)
        run_attack(pgd, model, x, y, batch_size=500)
        pgd_s = time.perf_counter() - start
        set_gradient(model, "exact")
        for norm in args.norms.split(","):
            eps = eps_of[norm]
            start = time.perf_counter()
            out = run_suite(
                norm,
                model,
                x,
                y,
                eps=eps,
                jump=jump,
                surrogates=list(SUITE_SURROGATES),
                settings=_settings,
                batch_size=500,
                select=not args.exhaustive,
            )
            row: dict[str, Any] = {
                "jump": jump,
                "norm": norm,
                "eps": pixels[norm],
                "pgd_linf_40_seconds": pgd_s,
                "suite_acc": 100 * float(out.adv_correct.float().mean()),
                "suite_seconds": time.perf_counter() - start,
                "stages": out.stages,
            }
            if args.every_point:
                ok, sec = every_point(model, x, y, norm, eps, jump)
                row["every_point_acc"], row["every_point_seconds"] = (
                    100 * float(ok.float().mean()),
                    sec,
                )
            ref = None if args.no_reference else reference_cascade(model, x, y, norm, eps, grads)
            if ref is not None:
                row["autoattack_acc"] = 100 * float(ref[0].float().mean())
                row["autoattack_seconds"] = ref[1]
            rows.append(row)
            line = (
                f"jump {jump:g} {norm} eps {pixels[norm]:g}: suite {row['suite_acc']:.2f}% in "
                f"{row['suite_seconds']:.0f} s ({row['suite_seconds'] / pgd_s:.1f}x PGD-Linf-40 "
                f"{pgd_s:.1f} s)"
            )
            if "every_point_acc" in row:
                line += (
                    f"; every stage on every point {row['every_point_acc']:.2f}% in "
                    f"{row['every_point_seconds']:.0f} s "
                    f"({row['every_point_seconds'] / row['suite_seconds']:.1f}x the cascade)"
                )
            if "autoattack_acc" in row:
                line += (
                    f"; AutoAttack through the same surrogates {row['autoattack_acc']:.2f}% in "
                    f"{row['autoattack_seconds']:.0f} s ({row['autoattack_seconds'] / pgd_s:.1f}x "
                    f"PGD; suite/AutoAttack time "
                    f"{row['suite_seconds'] / row['autoattack_seconds']:.2f}"
                    f", accuracy difference {row['suite_acc'] - row['autoattack_acc']:+.2f} points)"
                )
            print(line, flush=True)
            for st in out.stages:
                print(
                    f"    {st['stage']:34s} attacked {st['attacked']:5d} broken {st['broken']:5d}"
                    f" {st['seconds']:7.1f} s"
                )
    if any("autoattack_seconds" in r for r in rows):
        suite_s = sum(r["suite_seconds"] for r in rows if "autoattack_seconds" in r)
        aa_s = sum(r["autoattack_seconds"] for r in rows)
        worst = max(r["suite_acc"] - r["autoattack_acc"] for r in rows if "autoattack_acc" in r)
        print(
            f"total: suite {suite_s:.0f} s, AutoAttack {aa_s:.0f} s, ratio {suite_s / aa_s:.3f} "
            f"(1/{aa_s / suite_s:.1f}); largest suite - AutoAttack accuracy {worst:+.2f} points"
        )
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
