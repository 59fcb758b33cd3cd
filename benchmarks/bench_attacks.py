"""Attack speed and strength against baselines measured in the same run.

Times jumprelu's attacks per image on the JumpReLU authors' MNIST LeNet (``../shared``) and
compares them with (a) the straightforward DeepFool the paper's code uses (one backward pass
per class with a retained graph) and (b) foolbox, torchattacks and ART when installed
(``pip install '.[peers]'`` and ``pip install --no-deps torchattacks``: torchattacks declares a
torchvision dependency it does not need here, and torchvision would replace the CPU torch).

Usage: python benchmarks/bench_attacks.py [--n 1000] [--attacks deepfool-l2,...] [--out FILE]
Prints a table (seconds per image, success rate, mean L2 / Linf of successful perturbations)
with ratios against jumprelu's time, the machine and the date.
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

from jumprelu.attacks import make_attack
from jumprelu.datasets.core import load_split
from jumprelu.models.checkpoints import load_checkpoint

SHARED = Path(__file__).resolve().parents[2] / "shared"
CHECKPOINT = SHARED / "reference" / "lenet_mnist_baseline.pkl"
STEPS, OVERSHOOT = 50, 0.02

Runner = Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]


def naive_deepfool(norm: str) -> Runner:
    """DeepFool as the paper's code computes it: one backward pass per class, retained graph."""

    def run(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        x_adv = x.clone()
        with torch.no_grad():
            ref = model(x).argmax(1)
        active = ref == y
        r_tot = torch.zeros_like(x)
        for _ in range(STEPS):
            if not active.any():
                break
            xa = x_adv.clone().requires_grad_(True)
            logits = model(xa)
            grads = []
            for k in range(logits.shape[1]):
                (g,) = torch.autograd.grad(logits[:, k].sum(), xa, retain_graph=True)
                grads.append(g)
            w = torch.stack(grads, 1)  # (N, K, ...)
            f = logits.detach()
            idx = torch.arange(len(x))
            w_diff = (w - w[idx, ref].unsqueeze(1)).flatten(2)
            f_diff = (f - f[idx, ref].unsqueeze(1)).abs()
            dual = w_diff.norm(p=2 if norm == "l2" else 1, dim=2)
            dist = (f_diff + 1e-4) / dual.clamp_min(1e-12)
            dist[idx, ref] = float("inf")
            k_best = dist.argmin(1)
            wb = w_diff[idx, k_best].view_as(x)
            step = dist[idx, k_best].view(-1, *[1] * (x.dim() - 1))
            if norm == "l2":
                r = step * wb / wb.flatten(1).norm(dim=1).clamp_min(1e-12).view_as(step)
            else:
                r = step * wb.sign()
            r_tot = r_tot + r * active.view_as(step)
            x_adv = (x + (1 + OVERSHOOT) * r_tot).clamp(0, 1)
            with torch.no_grad():
                active &= model(x_adv).argmax(1) == y
        return x_adv

    return run


def peers(name: str) -> dict[str, Runner]:
    """Peer implementations of ``name`` that are installed, by label."""
    out: dict[str, Runner] = {}
    try:
        import foolbox as fb

        fb_attacks = {
            "deepfool-l2": lambda: fb.attacks.L2DeepFoolAttack(steps=STEPS, overshoot=OVERSHOOT),
            "deepfool-linf": lambda: fb.attacks.LinfDeepFoolAttack(
                steps=STEPS, overshoot=OVERSHOOT
            ),
            "fgsm": lambda: fb.attacks.FGSM(),
            "pgd-linf": lambda: fb.attacks.LinfPGD(steps=40, rel_stepsize=2.5 / 40),
            "cw-l2": lambda: fb.attacks.L2CarliniWagnerAttack(steps=100, binary_search_steps=5),
        }
        if name in fb_attacks:
            attack, eps = fb_attacks[name](), EPS.get(name)

            def run_fb(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
                fmodel = fb.PyTorchModel(model, bounds=(0, 1))
                _, adv, _ = attack(fmodel, x, y, epsilons=eps)
                return adv

            out[f"foolbox {fb.__version__}"] = run_fb
    except ImportError:
        pass
    try:
        import torchattacks as ta

        ta_attacks = {
            "deepfool-l2": lambda m: ta.DeepFool(m, steps=STEPS, overshoot=OVERSHOOT),
            "fgsm": lambda m: ta.FGSM(m, eps=EPS["fgsm"]),
            "pgd-linf": lambda m: ta.PGD(
                m,
                eps=EPS["pgd-linf"],
                alpha=2.5 * EPS["pgd-linf"] / 40,
                steps=40,
                random_start=True,
            ),
            "cw-l2": lambda m: ta.CW(m, steps=100),
        }
        if name in ta_attacks:
            make = ta_attacks[name]
            out[f"torchattacks {ta.__version__}"] = lambda m, x, y: make(m)(x, y)
    except ImportError:
        pass
    try:
        import numpy as np
        from art.attacks.evasion import DeepFool as ArtDeepFool
        from art.estimators.classification import PyTorchClassifier

        if name == "deepfool-l2":

            def run_art(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
                clf = PyTorchClassifier(
                    model,
                    loss=nn.CrossEntropyLoss(),
                    input_shape=(1, 28, 28),
                    nb_classes=10,
                    clip_values=(0.0, 1.0),
                )
                attack = ArtDeepFool(
                    clf,
                    max_iter=STEPS,
                    epsilon=OVERSHOOT,
                    nb_grads=10,
                    batch_size=len(x),
                    verbose=False,
                )
                return torch.from_numpy(attack.generate(x.numpy().astype(np.float32)))

            import art

            out[f"ART {art.__version__}"] = run_art
    except ImportError:
        pass
    return out


EPS = {"fgsm": 0.1, "pgd-linf": 0.1, "deepfool-l2": None, "deepfool-linf": None, "cw-l2": None}
OURS = {
    "deepfool-l2": dict(steps=STEPS),
    "deepfool-linf": dict(steps=STEPS),
    "fgsm": dict(eps=0.1),
    "pgd-linf": dict(eps=0.1, steps=40),
    "cw-l2": dict(steps=100, binary_search_steps=5),
}


def measure(run: Runner, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    start = time.perf_counter()
    x_adv = run(model, x, y).detach().float()
    seconds = time.perf_counter() - start
    with torch.no_grad():
        success = model(x_adv).argmax(1) != y
        clean_ok = model(x).argmax(1) == y
    fooled = success & clean_ok
    delta = (x_adv - x).flatten(1)
    return {
        "ms_per_image": 1000 * seconds / len(x),
        "success": float(success.float().mean()),
        "mean_l2": float(delta.norm(dim=1)[fooled].mean()) if fooled.any() else float("nan"),
        "mean_linf": float(delta.abs().amax(1)[fooled].mean()) if fooled.any() else float("nan"),
        "in_box": bool(((x_adv >= 0) & (x_adv <= 1)).all()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--attacks", default="deepfool-l2,deepfool-linf,fgsm,pgd-linf")
    parser.add_argument("--out", help="also write the rows as JSON")
    args = parser.parse_args()
    if not CHECKPOINT.is_file():
        raise SystemExit(f"skipped: {CHECKPOINT} not found (needs ../shared beside the repo)")
    torch.manual_seed(0)
    model, _ = load_checkpoint(CHECKPOINT, arch="lenet", mean=(0.1307,), std=(0.3081,))
    data = load_split("mnist", "test", data_dir=SHARED / "data").take(args.n)
    x, y = data.x, data.y
    print(
        f"# {dt.date.today()} | {platform.processor() or platform.machine()} | "
        f"{os.cpu_count()} CPUs | torch {torch.__version__} threads {torch.get_num_threads()} | "
        f"authors' LeNet, first {args.n} MNIST test images, [0,1] box"
    )
    rows = []
    for name in args.attacks.split(","):
        ours = make_attack(name, **OURS[name])
        runners: dict[str, Runner] = {"jumprelu": lambda m, x, y, a=ours: a(m, x, y).x_adv}
        if name.startswith("deepfool"):
            runners["naive (paper's code)"] = naive_deepfool(name.split("-")[1])
        runners.update(peers(name))
        base = None
        for label, run in runners.items():
            run(model, x[:8], y[:8])  # warm-up: first-call initialisation is not timed
            r = measure(run, model, x, y) | {"attack": name, "impl": label}
            base = base or r["ms_per_image"]
            r["slowdown_vs_jumprelu"] = r["ms_per_image"] / base
            rows.append(r)
            print(
                f"{name:14s} {label:24s} {r['ms_per_image']:9.3f} ms/img"
                f"  x{r['slowdown_vs_jumprelu']:6.2f}  success {100 * r['success']:6.2f}%"
                f"  L2 {r['mean_l2']:.4f}  Linf {r['mean_linf']:.4f}  in-box {r['in_box']}",
                flush=True,
            )
    if args.out:
        Path(args.out).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
