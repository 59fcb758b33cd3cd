"""The JumpReLU authors' own attack code against jumprelu on their CIFAR-10 ResNet-20.

Runs the authors' IFGSM, DeepFool (L-inf, L2) and Trust-Region (L2) from their public
repository (erichson/JumpReLU, commit c7efdac; it has no licence, so it is never copied here:
pass a checkout with ``--authors``) on the first N CIFAR-10 test images, paper protocol
(normalised space with their statistics, batches of 500, IFGSM and DeepFool 7 iterations, TR
40, step 0.01), white-box at each jump and gray-box (crafted at jump 0), and prints accuracy
and rho beside jumprelu's numbers for the same cells. Their file calls ``.cuda()``; on a CPU
this script makes ``Tensor.cuda`` return a copy (what it does on a GPU for a CPU tensor), so
their algorithms run unchanged.

Usage (about 30 min for 1,000 images on 2 CPU cores; AUTHORS_CHECKOUT is a checkout of
github.com/erichson/JumpReLU at commit c7efdac, outside this repository):
    git clone https://github.com/erichson/JumpReLU AUTHORS_CHECKOUT
    git -C AUTHORS_CHECKOUT checkout c7efdac
    python benchmarks/compare_paper_cifar.py --authors AUTHORS_CHECKOUT [--n 1000]
        [--attacks ifgsm,df-linf,df-l2,tr-l2] [--checkpoint ../shared/reference/...pkl]
"""

from __future__ import annotations

import argparse
import datetime as dt
import platform
import sys
import tempfile
from pathlib import Path

import torch

from jumprelu.cli.jobs import run_evaluate
from jumprelu.datasets import load_split
from jumprelu.evaluation.config import EvalConfig

SHARED = Path(__file__).resolve().parents[2] / "shared"
MEAN = torch.tensor((0.4914, 0.4822, 0.4465)).view(1, 3, 1, 1)
STD = torch.tensor((0.2023, 0.1994, 0.2010)).view(1, 3, 1, 1)
JUMPS = (0.0, 0.09)
OURS = {"ifgsm": "ifgsm", "df-linf": "deepfool-linf", "df-l2": "deepfool-l2", "tr-l2": "tr-l2"}


def authors_attack(
    name: str, model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor
) -> torch.Tensor:
    """Their attack on one batch, with the settings of their CIFAR-10 protocol file."""
    import attack_method as am  # the authors' module, found through --authors

    if name == "ifgsm":
        out = am.fgsm_adaptive_iter(model, x, y, 0.01, iterations=7)
    elif name in ("df-linf", "df-l2"):
        out = am.deep_fool_iter(model, x, y, c=9, p=1 if name == "df-linf" else 2, iterations=7)
    else:
        out = am.tr_attack_iter(model, x, y, 0.01, c=9, p=2, iterations=40)
    return out[0].detach().clone()


def measure(
    model: torch.nn.Module, x: torch.Tensor, xa: torch.Tensor, y: torch.Tensor
) -> tuple[float, float, float]:
    """Accuracy (%), rho-inf and rho-2 over all points (NaN images count as fooled, unchanged)."""
    nan = torch.isnan(xa.flatten(1)).any(1)
    with torch.no_grad():
        pred = torch.cat([model(part).argmax(1) for part in torch.split(xa, 100)])
    acc = 100 * float(((pred == y) & ~nan).float().mean())
    d = torch.where(nan[:, None], 0.0, (xa - x).flatten(1))
    flat = x.flatten(1)
    rinf = float((d.abs().amax(1) / flat.abs().amax(1)).mean())
    r2 = float((d.norm(dim=1) / flat.norm(dim=1)).mean())
    return acc, rinf, r2


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--authors", required=True, help="a checkout of erichson/JumpReLU")
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--attacks", default="ifgsm,df-linf,df-l2,tr-l2")
    p.add_argument(
        "--checkpoint", default=str(SHARED / "reference" / "resnet20_cifar10_baseline.pkl")
    )
    args = p.parse_args()
    sys.path.insert(0, args.authors)
    torch.Tensor.cuda = lambda self, *a, **k: self.clone()  # type: ignore[method-assign]
    from models.ResNet import ResNet  # the authors' model (their JumpReLU inside)

    split = load_split("cifar10", "test", data_dir=SHARED / "data").take(args.n)
    x, y = ((split.x - MEAN) / STD).contiguous(), split.y.long()
    models = {}
    for jump in JUMPS:
        net = torch.nn.DataParallel(ResNet(depth=20, jump=jump))
        net.load_state_dict(torch.load(args.checkpoint, map_location="cpu", weights_only=True))
        models[jump] = net.eval()
    attacks = args.attacks.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        ours = run_evaluate(
            EvalConfig(
                dataset="cifar10",
                jumps=list(JUMPS),
                attacks=[OURS[a] for a in attacks],
                threats=["white", "gray"],
                protocol="paper",
                n=args.n,
                checkpoint=args.checkpoint,
                data_dir=str(SHARED / "data"),
            ),
            Path(tmp) / "run",
        )
    cells = {(c["threat"], c["attack"], c["jump"]): c["metrics"] for c in ours["cells"]}
    print(
        f"# {dt.date.today()} {platform.machine()} {platform.system()}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads; first {args.n} CIFAR-10 test images"
    )
    print(f"{'cell':32} {'authors: acc (rho-inf, rho-2)':32} jumprelu")
    for name in attacks:
        crafted = torch.cat(
            [
                authors_attack(name, models[0.0], xb.clone(), yb)
                for xb, yb in zip(torch.split(x, 500), torch.split(y, 500), strict=True)
            ]
        )
        for threat, jump in [("white", 0.0), ("gray", 0.0), ("white", 0.09), ("gray", 0.09)]:
            if threat == "white" and jump != 0.0:
                xa = torch.cat(
                    [
                        authors_attack(name, models[jump], xb.clone(), yb)
                        for xb, yb in zip(torch.split(x, 500), torch.split(y, 500), strict=True)
                    ]
                )
            else:
                xa = crafted
            acc, rinf, r2 = measure(models[jump], x, xa, y)
            m = cells[(threat, OURS[name], jump)]
            print(
                f"{threat + ' ' + OURS[name] + f' k={jump:g}':32} {acc:6.2f} ({rinf:.4f}, {r2:.4f})"
                f"{'':9} {100 * m['adv_accuracy']:6.2f}"
                f" ({m['rhoinf_all']:.4f}, {m['rho2_all']:.4f})"
            )


if __name__ == "__main__":
    main()
