"""Speed of jumprelu's attacks and evaluation grid, as ratios to baselines timed in the same run.

Issue 11. On the JumpReLU authors' MNIST LeNet (``../shared``) and the first ``--n`` test images:

1. DeepFool-L2 (40 iterations, overshoot 0.02): jumprelu vs the per-class-backward DeepFool of
   the paper's code (``bench_attacks.naive_deepfool``) and foolbox's ``L2DeepFoolAttack``.
2. PGD-Linf (eps 0.3, 40 steps of 2.5 * eps / 40, random start): jumprelu vs torchattacks' PGD
   and foolbox's LinfPGD.
3. The paper-protocol grid (ifgsm, deepfool-linf, deepfool-l2, tr-l2 x jumps 0, 0.5, 1, 1.5 x
   threats white, gray; the job ``jumprelu -q evaluate ... --protocol paper`` runs, without
   its HTML report) vs ONE run of the per-class-backward DeepFool-L2 over the same images.
4. A torch.profiler breakdown of one PGD forward + input-backward pass at batch 1000, and its
   GFLOP/s against the FLOP count of the layers and a large matrix product on the same cores.

jumprelu runs in channels_last on the CPU (``_util.fast_layout``, as the evaluation runner) and
in the default NCHW; the baselines run as a user runs them (NCHW) and in channels_last. Times
are the best of ``--repeats`` interleaved rounds after one warm-up (wall clock, and the process's
CPU time, which other jobs on a shared machine disturb less); the grid and its reference run once.
On a machine shared with other jobs, ``--threads 1`` gives steadier ratios (OpenMP threads that
wait for each other on busy cores make multi-threaded times swing several-fold).

Usage (from the repository root; BENCH_VENV is a separate virtual environment with foolbox 3.3.4
and torchattacks 3.5.1, never the project's own):
    PYTHONPATH=src BENCH_VENV/bin/python benchmarks/bench_speed.py \\
        [--n 1000] [--threads T] [--repeats 3] [--device cpu|cuda] [--no-grid]
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import math
import os
import platform
import tempfile
import time
from argparse import RawTextHelpFormatter
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import bench_attacks  # same folder: the paper's per-class-backward DeepFool
import torch
from bench_attacks import naive_deepfool
from torch import nn

from jumprelu._util import fast_layout
from jumprelu.attacks import make_attack
from jumprelu.attacks.grad import loss_gradient
from jumprelu.datasets import load_split
from jumprelu.models.checkpoints import load_checkpoint

SHARED = Path(__file__).resolve().parents[2] / "shared"
CHECKPOINT = SHARED / "reference" / "lenet_mnist_baseline.pkl"
STEPS, OVERSHOOT, EPS = 40, 0.02, 0.3
ALPHA = 2.5 * EPS / STEPS  # jumprelu's default PGD step size, given to every PGD
bench_attacks.STEPS = STEPS  # naive_deepfool reads it at call time (50 there; the paper: 40)

Batch = tuple[torch.Tensor, torch.Tensor]
Make = Callable[[nn.Module], Callable[[torch.Tensor, torch.Tensor], torch.Tensor]]


def timed(run: Callable[[], Any], dev: torch.device) -> tuple[float, float, Any]:
    """Wall and process CPU seconds of one call of ``run`` (CUDA synchronised), its result."""
    if dev.type == "cuda":
        torch.cuda.synchronize()
    start, cpu = time.perf_counter(), time.process_time()
    out = run()
    if dev.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start, time.process_time() - cpu, out


def cpu_name() -> str:
    info = Path("/proc/cpuinfo")
    lines = info.read_text().splitlines() if info.is_file() else []
    names = [ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("model name")]
    return names[0] if names else platform.processor() or platform.machine()


def implementations(task: str, settings: dict[str, Any]) -> dict[str, Make]:
    """jumprelu and the installed baselines of ``task``: label -> (model -> attack(x, y))."""
    ours = make_attack(task, **settings)
    out: dict[str, Make] = {"jumprelu": lambda m: lambda x, y: ours(m, x, y).x_adv}
    if task == "deepfool-l2":
        out["paper code (per-class backward)"] = lambda m: partial(naive_deepfool("l2"), m)
    try:
        import foolbox as fb

        df = fb.attacks.L2DeepFoolAttack(steps=STEPS, candidates=10, overshoot=OVERSHOOT)
        pgd = fb.attacks.LinfPGD(abs_stepsize=ALPHA, steps=STEPS, random_start=True)
        fba, eps = (df, None) if task == "deepfool-l2" else (pgd, EPS)
        out[f"foolbox {fb.__version__}"] = lambda m: (
            lambda x, y: fba(fb.PyTorchModel(m, bounds=(0, 1)), x, y, epsilons=eps)[1]
        )
    except ImportError:
        print(f"# foolbox is not installed: no foolbox row for {task}")
    if task == "pgd-linf":
        try:
            import torchattacks as ta

            out[f"torchattacks {ta.__version__}"] = lambda m: ta.PGD(
                m, eps=EPS, alpha=ALPHA, steps=STEPS, random_start=True
            )
        except ImportError:
            print("# torchattacks is not installed: no torchattacks row")
    return out


def sanity(model: nn.Module, x: torch.Tensor, y: torch.Tensor, adv: torch.Tensor) -> str:
    """Success rate (all images) and mean L2 / Linf over the images fooled from correct."""
    with torch.no_grad():
        ok, fooled = model(x).argmax(1) == y, model(adv).argmax(1) != y
    d, hit = (adv - x).flatten(1), ok & fooled
    l2, linf = d.norm(dim=1)[hit].mean().item(), d.abs().amax(1)[hit].mean().item()
    return f"success {100 * fooled.float().mean().item():5.1f}%  L2 {l2:.3f}  Linf {linf:.3f}"


def attack_table(task: str, models: dict[str, nn.Module], data: dict[str, Batch], args: Any):
    """Time every implementation of ``task`` in every layout; print rows, return the times."""
    settings: dict[str, Any] = {"steps": STEPS, "overshoot": OVERSHOOT}
    if task == "pgd-linf":
        settings = {"eps": EPS, "steps": STEPS, "step_size": ALPHA, "random_start": True}
    runs = {}  # (label, layout) -> attack(x, y), each warmed up once
    for label, make in implementations(task, settings).items():
        for layout, model in models.items():
            runs[label, layout] = make(model)
            runs[label, layout](data[layout][0][:64], data[layout][1][:64])
    times, advs = dict.fromkeys(runs, (math.inf, math.inf)), {}
    for _ in range(args.repeats):  # interleaved rounds: load from other jobs hits all alike
        for key, attack in runs.items():
            wall, cpu, advs[key] = timed(lambda a=attack, b=data[key[1]]: a(*b), args.dev)
            times[key] = (min(times[key][0], wall), min(times[key][1], cpu))
    print(f"\n## {task} {settings}: {args.n} images, best of {args.repeats} (wall s, CPU s)")
    ref = times["jumprelu", args.fast][0]
    for (label, layout), (wall, cpu) in times.items():
        check = sanity(models["nchw"], *data["nchw"], advs[label, layout].contiguous())
        print(
            f"{label:32s} {layout:13s} {wall:7.2f} s {cpu:7.2f} s cpu {1000 * wall / args.n:6.2f}"
            f" ms/img x{wall / ref:5.2f}  {check}"
        )
    return times


def target(what: str, slow: Sequence[float], fast: Sequence[float], goal: float) -> None:
    """Print the wall (and CPU) time ratio ``slow / fast`` against a goal (>= goal; <= if < 0)."""
    ratio, cpu, sign = slow[0] / fast[0], slow[1] / fast[1], ">=" if goal > 0 else "<="
    met = ratio >= goal if goal > 0 else ratio <= -goal
    verdict = "met" if met else "MISSED"
    print(f"{what:64s} {ratio:5.2f} (CPU {cpu:5.2f}; target {sign} {abs(goal):g}: {verdict})")


def layer_flops(model: nn.Module, x: torch.Tensor) -> int:
    """Forward FLOPs per image of the Conv2d and Linear layers (2 per multiply-add)."""
    macs: list[int] = []
    layers = [m for m in model.modules() if isinstance(m, nn.Conv2d | nn.Linear)]
    hooks = [
        m.register_forward_hook(lambda m, i, o: macs.append(o[0].numel() * m.weight[0].numel()))
        for m in layers
    ]
    with torch.no_grad():
        model(x[:1])
    for h in hooks:
        h.remove()
    return 2 * sum(macs)


def profile(models: dict[str, nn.Module], data: dict[str, Batch], args: Any) -> None:
    """Where one PGD step (forward + CE + input backward) goes, and its GFLOP/s."""
    n, fwd = min(args.n, 1000), layer_flops(models["nchw"], data["nchw"][0])
    step = 2 * fwd  # + every layer's input gradient; an attack computes no weight gradient
    print(f"\n## profile: one PGD step (forward + CE + input backward), batch {n}")
    print(
        f"LeNet {fwd / 1e6:.2f} MFLOP/img forward, {step / 1e6:.2f} forward + input-backward "
        "(the issue's ~3 MFLOP also counts weight gradients, which attacks do not compute)"
    )
    a = torch.randn(2048, 2048, device=args.dev)
    peak = 2 * 2048**3 / min(timed(lambda: a @ a, args.dev)[0] for _ in range(5)) / 1e9
    chunk = min(256, n) if args.dev.type == "cpu" else n  # DeepFool's CPU_BATCH
    print(f"2048x2048 float32 matmul, same threads: {peak:.1f} GFLOP/s (the practical peak)")
    for layout, model in models.items():
        x, y = data[layout][0][:n], data[layout][1][:n]
        for size in dict.fromkeys((n, chunk)):
            parts = list(zip(torch.split(x, size), torch.split(y, size), strict=True))
            run = partial(lambda m, p: [loss_gradient(m, *b) for b in p], model, parts)
            t = min(timed(run, args.dev)[0] for _ in range(10))
            gf = step * n / t / 1e9
            print(
                f"{layout:13s} passes of {size:4d}: {1000 * t:7.2f} ms/step, {gf:5.2f} GFLOP/s = "
                f"{100 * gf / peak:4.1f}% of the matmul; x40 = {40 * t:.2f} s"
            )
    acts = [torch.profiler.ProfilerActivity.CPU]
    if args.dev.type == "cuda":
        acts.append(torch.profiler.ProfilerActivity.CUDA)
    model, (x, y) = models[args.fast], data[args.fast]
    with torch.profiler.profile(activities=acts) as prof:
        for _ in range(5):
            loss_gradient(model, x[:n], y[:n])
    events = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    total = sum(e.self_cpu_time_total for e in events)
    print(f"top ops ({args.fast}; share of self CPU time, calls per step):")
    for e in events[:10]:
        print(f"  {e.key:44s} {100 * e.self_cpu_time_total / total:5.1f}%  {e.count // 5:3d}")


def grid(model: nn.Module, x: torch.Tensor, y: torch.Tensor, args: Any) -> None:
    """The paper-protocol grid (the CLI's job) vs one run of the per-class-backward DeepFool."""
    from jumprelu.cli.jobs import run_evaluate
    from jumprelu.evaluation import EvalConfig

    config = EvalConfig(
        dataset="mnist",
        jumps=[0.0, 0.5, 1.0, 1.5],
        attacks=["ifgsm", "deepfool-linf", "deepfool-l2", "tr-l2"],
        threats=["white", "gray"],
        protocol="paper",
        n=args.n,
        checkpoint=str(CHECKPOINT),
        data_dir=str(SHARED / "data"),
        device=args.device,
    )  # = the CLI's config for the arguments printed below (its defaults are EvalConfig's)
    print(
        f"\n## grid: jumprelu -q evaluate --checkpoint {CHECKPOINT} --dataset mnist --data-dir "
        f"{config.data_dir} --jumps 0,0.5,1,1.5 --attacks {','.join(config.attacks)} --threats "
        f"white,gray --protocol paper --n {args.n} --device {args.device} --out TMP\n"
        "   (the CLI's job, run_evaluate, in this process; without the CLI's HTML report)"
    )
    with tempfile.TemporaryDirectory() as tmp:
        *t_grid, _ = timed(lambda: run_evaluate(config, tmp), args.dev)
    *t_naive, adv = timed(lambda: naive_deepfool("l2")(model, x, y), args.dev)
    print(f"grid {t_grid[0]:.1f} s (CPU {t_grid[1]:.1f} s); paper-code DeepFool-L2 (40 it., NCHW)")
    print(f"once {t_naive[0]:.1f} s (CPU {t_naive[1]:.1f} s), {sanity(model, x, y, adv)}")
    target("grid / one per-class-backward DeepFool-L2", t_grid, t_naive, -5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=RawTextHelpFormatter)
    parser.add_argument("--n", type=int, default=1000, help="first N MNIST test images")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="torch threads")
    parser.add_argument("--repeats", type=int, default=3, help="best of R for attack timings")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--no-grid", action="store_true", help="skip the (long) grid timing")
    args = parser.parse_args()
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit("--device cuda: CUDA is not available here")
    args.dev = torch.device(args.device)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = load_checkpoint(CHECKPOINT, device=args.dev)[0].eval()
    split = load_split("mnist", "test", data_dir=SHARED / "data").take(args.n)
    x, y = split.x.to(args.dev), split.y.to(args.dev)
    models, data, args.fast = {}, {}, "nchw"
    if args.dev.type == "cpu":  # fast_layout changes nothing on CUDA
        cl_model, cl_x = fast_layout(copy.deepcopy(model), x)
        models["channels_last"], data["channels_last"] = cl_model, (cl_x, y)
        args.fast = "channels_last"
    models["nchw"], data["nchw"] = model, (x, y)
    gpu = torch.cuda.get_device_name() if args.dev.type == "cuda" else "no GPU"
    print(
        f"# {dt.datetime.now():%Y-%m-%d %H:%M} | {cpu_name()} | {os.cpu_count()} cores | "
        f"torch {torch.__version__} | {torch.get_num_threads()} threads | {args.device} ({gpu})"
    )
    print(
        f"# authors' LeNet, first {args.n} MNIST test images, [0,1] box; 'x' = wall time / "
        f"jumprelu's {args.fast} wall time (jumprelu as the evaluation runner runs it)"
    )
    df = attack_table("deepfool-l2", models, data, args)
    pgd = attack_table("pgd-linf", models, data, args)
    print("\n## targets: baseline time / jumprelu time")
    goals = {"paper code": 3, "foolbox": 4}, {"torchattacks": 1.5}
    for times, task_goals in zip((df, pgd), goals, strict=True):
        for (label, base), t in times.items():
            goal = next((g for prefix, g in task_goals.items() if label.startswith(prefix)), 0)
            for ours in dict.fromkeys((args.fast, base)) if goal else ():  # + same layout
                target(f"{label} ({base}) / jumprelu ({ours})", t, times["jumprelu", ours], goal)
    profile(models, data, args)
    if not args.no_grid:
        grid(model, x, y, args)


if __name__ == "__main__":
    main()
