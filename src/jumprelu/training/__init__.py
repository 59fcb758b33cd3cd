"""Training: the loop, its config, resume state, adversarial batches and augmentation."""

from __future__ import annotations

from jumprelu.training.config import TrainConfig
from jumprelu.training.loop import train

__all__ = ["TrainConfig", "train"]
