"""jumprelu: retrofit trained PyTorch networks with JumpReLU, J(x) = x if x > jump else 0.

Erichson, Yao and Mahoney, "JumpReLU: A Retrofit Defense Strategy for Adversarial Attacks",
ICPRAM 2020 (arXiv 1904.03750).
"""

from __future__ import annotations

__version__ = "0.1.0"

from jumprelu.activation import JumpReLU, jump_relu
from jumprelu.datasets.core import DATASETS, DatasetInfo, Split, load_split
from jumprelu.errors import JumpReLUError
from jumprelu.evaluation.clean import clean_accuracy_sweep, predict
from jumprelu.evaluation.config import EvalConfig
from jumprelu.evaluation.runner import evaluate
from jumprelu.models import ARCHS, build_model
from jumprelu.models.checkpoints import CheckpointMeta, load_checkpoint, save_checkpoint
from jumprelu.retrofit import jump_sites, retrofit, retrofit_with_report, set_jump
from jumprelu.training.loop import TrainConfig, train
from jumprelu.tuning import tune

__all__ = [
    "ARCHS",
    "DATASETS",
    "CheckpointMeta",
    "DatasetInfo",
    "EvalConfig",
    "JumpReLU",
    "JumpReLUError",
    "Split",
    "TrainConfig",
    "__version__",
    "build_model",
    "clean_accuracy_sweep",
    "evaluate",
    "jump_relu",
    "jump_sites",
    "load_checkpoint",
    "load_split",
    "predict",
    "retrofit",
    "retrofit_with_report",
    "save_checkpoint",
    "set_jump",
    "train",
    "tune",
]
