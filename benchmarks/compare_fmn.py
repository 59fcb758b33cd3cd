"""jumprelu's FMN against adv-lib's reference ``adv_lib.attacks.fmn`` on the authors' LeNet.

Pintor, Roli, Brendel and Biggio, "Fast Minimum-norm Adversarial Attacks through Adaptive Norm
Constraints", NeurIPS 2021 (arXiv 2102.12827). Both attacks run with the same number of steps
and the reference's defaults (alpha 1 -> 0.01, gamma 0.05 -> 0.001, start from x) on the first
``n`` MNIST test images in the [0, 1] box, with the JumpReLU authors' LeNet at jump 0 (its
``Normalize`` layer takes [0, 1] inputs). Prints, per norm and implementation, the success rate,
the median norm (over the clean-correct images; inf where not fooled), robust accuracy at
several eps (clean-correct and not fooled within eps, over all n images), the time, the
machine and the date. jumprelu's FMN runs with its defaults (box-aware steps, see the module
``jumprelu.attacks.fmn``), as the paper's Algorithm 1 (``paper_exact=True``) and, for L2,
emulating adv-lib's L2 projection (which rescales every perturbation onto the eps-sphere, see
``SphereFMN``): that emulation must reproduce adv-lib's numbers, which checks the rest.

Usage (from the repository root; BENCH_VENV is a separate virtual environment with adv-lib 0.2.8,
``pip install --no-deps adv-lib==0.2.8``, without torchvision):
    PYTHONPATH=src BENCH_VENV/bin/python benchmarks/compare_fmn.py --n 500
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import sys
import time
import types
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path

import torch
from torch import nn

from jumprelu.attacks.base import lp_norm
from jumprelu.attacks.fmn import FMN
from jumprelu.datasets.core import load_split
from jumprelu.models.checkpoints import load_checkpoint
from jumprelu.retrofit import retrofit

SHARED = Path(__file__).resolve().parents[2] / "shared"
CHECKPOINT = SHARED / "reference" / "lenet_mnist_baseline.pkl"
EPS = {"l2": (0.5, 1.0, 1.5, 2.0), "linf": (0.05, 0.1, 0.15, 0.2)}
P = {"l2": 2.0, "linf": float("inf")}

Runner = Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]


def reference_fmn() -> tuple[Callable[..., torch.Tensor], str] | None:
    """adv-lib's ``fmn`` and its version, or None when adv-lib is not installed.

    ``adv_lib.attacks/__init__`` imports every attack, some needing torchvision; the module
    ``fast_minimum_norm`` needs only torch, so the package is registered without running it.
    """
    try:
        import adv_lib
    except ImportError:
        return None
    if "adv_lib.attacks" not in sys.modules:
        pkg = types.ModuleType("adv_lib.attacks")
        pkg.__path__ = [str(Path(adv_lib.__file__).parent / "attacks")]
        sys.modules["adv_lib.attacks"] = pkg
    from adv_lib.attacks.fast_minimum_norm import fmn

    return fmn, version("adv-lib")


class SphereFMN(FMN):
    """FMN with adv-lib 0.2.8's L2 "projection", which rescales every delta to norm eps.

    adv-lib's ``l2_projection_`` multiplies delta by ``eps / ||delta||`` and then clamps the
    *elements* of delta at 1 (not the factor), so a delta inside the ball is pushed out to its
    sphere. With ``paper_exact=True`` and no final bisection this reproduces adv-lib's results.
    """

    def _project(self, delta: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        size = lp_norm(delta, "l2").clamp_min(1e-12).view(-1, *([1] * (delta.dim() - 1)))
        return delta * eps.view_as(size) / size


def ours(attack: FMN) -> Runner:
    def run(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return attack(model, x, y).x_adv

    return run


def runners(norm: str, steps: int) -> dict[str, Runner]:
    attacks = {
        "jumprelu (default)": FMN(norm=norm, steps=steps),
        "jumprelu paper_exact": FMN(norm=norm, steps=steps, paper_exact=True),
    }
    if norm == "l2":
        attacks["adv-lib emulation"] = SphereFMN(
            norm=norm, steps=steps, paper_exact=True, binary_search_steps=0
        )
    out: dict[str, Runner] = {label: ours(attack) for label, attack in attacks.items()}
    ref = reference_fmn()
    if ref is not None:
        fmn, ver = ref
        out[f"adv-lib {ver}"] = lambda m, x, y: fmn(m, x, y, norm=P[norm], steps=steps).detach()
    return out


def measure(run: Runner, model: nn.Module, x: torch.Tensor, y: torch.Tensor, norm: str) -> str:
    start = time.perf_counter()
    x_adv = run(model, x, y)
    seconds = time.perf_counter() - start
    with torch.no_grad():
        correct = model(x).argmax(1) == y
        fooled = (model(x_adv).argmax(1) != y) & correct
    size = (x_adv - x).flatten(1).norm(p=P[norm], dim=1)
    size = torch.where(fooled, size, torch.full_like(size, float("inf")))
    in_box = bool(((x_adv >= 0) & (x_adv <= 1)).all())
    robust = [100 * float((correct & (size > e)).float().mean()) for e in EPS[norm]]
    return (
        f"success {100 * float(fooled.sum()) / max(int(correct.sum()), 1):6.2f}%"
        f"  median {float(size[correct].median()):.4f}  robust acc "
        + " ".join(f"{e:g}:{r:5.1f}" for e, r in zip(EPS[norm], robust, strict=True))
        + f"  {seconds:6.1f} s  in-box {in_box}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--norms", default="l2,linf")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if not CHECKPOINT.is_file():
        raise SystemExit(f"skipped: {CHECKPOINT} not found (needs ../shared beside the repo)")
    base, _ = load_checkpoint(CHECKPOINT, arch="lenet", mean=(0.1307,), std=(0.3081,))
    model = retrofit(base, 0.0).eval()
    data = load_split("mnist", "test", data_dir=SHARED / "data").take(args.n)
    x, y = data.x, data.y
    with torch.no_grad():
        clean = 100 * float((model(x).argmax(1) == y).float().mean())
    print(
        f"# {dt.datetime.now():%Y-%m-%d %H:%M} | {platform.processor() or platform.machine()} | "
        f"{os.cpu_count()} CPUs | torch {torch.__version__} threads {torch.get_num_threads()} | "
        f"authors' LeNet at jump 0, first {args.n} MNIST test images (clean acc {clean:.1f}%), "
        f"[0,1] box, {args.steps} steps"
    )
    if reference_fmn() is None:
        print("# adv-lib not installed: reference skipped")
    for norm in args.norms.split(","):
        for label, run in runners(norm, args.steps).items():
            run(model, x[:8], y[:8])  # warm-up
            print(f"fmn-{norm:5s} {label:20s} {measure(run, model, x, y, norm)}", flush=True)


if __name__ == "__main__":
    main()
