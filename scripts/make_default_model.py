"""Train the embedded default model shipped as ``src/jumprelu/assets/digitsnet.pt``.

Usage: python scripts/make_default_model.py [--out PATH]
Deterministic on the CPU: the same command reproduces the same weights.
"""

from __future__ import annotations

import argparse

import torch

from jumprelu.datasets.core import DATASETS, load_split
from jumprelu.evaluation.clean import predict
from jumprelu.models import build_model
from jumprelu.models.checkpoints import CheckpointMeta, save_checkpoint
from jumprelu.training.loop import TrainConfig, train

CONFIG = TrainConfig(epochs=30, lr=0.05, batch_size=64, milestones=(20,), gamma=0.1, seed=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="src/jumprelu/assets/digitsnet.pt")
    args = parser.parse_args()
    torch.manual_seed(CONFIG.seed)
    info = DATASETS["digits"]
    model = build_model("digitsnet", mean=info.mean, std=info.std)
    tr, val = load_split("digits", "train"), load_split("digits", "val")
    result = train(model, tr, val, CONFIG)
    test = load_split("digits", "test")
    acc = float((predict(model, test.x) == test.y).float().mean())
    meta = CheckpointMeta(
        arch="digitsnet",
        dataset="digits",
        training={
            "recipe": "plain",
            "config": CONFIG.to_dict(),
            "val_accuracy": result.val_accuracy[-1],
            "test_accuracy": acc,
            "command": "python scripts/make_default_model.py",
        },
    )
    save_checkpoint(model, args.out, meta)
    print(
        f"val accuracy {result.val_accuracy[-1]:.4f}, test accuracy {acc:.4f}, "
        f"{result.seconds:.1f} s -> {args.out}"
    )


if __name__ == "__main__":
    main()
