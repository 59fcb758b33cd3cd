"""jumprelu: retrofit trained PyTorch networks with JumpReLU, J(x) = x if x > jump else 0,
and measure honestly how robust they are.

Erichson, Yao and Mahoney, "JumpReLU: A Retrofit Defense Strategy for Adversarial Attacks",
ICPRAM 2020 (arXiv 1904.03750).

The public API::

    model, _ = jumprelu.load_checkpoint(jumprelu.default_model_path())
    test = jumprelu.load_split("digits", "test")
    r = jumprelu.adaptive_suite(model, test.x, test.y, eps=0.1, jumps=[0.0, 1.0])

- the honest number: ``adaptive_suite`` (-> ``SuiteResult``), the attack registry ``ATTACKS``
  and ``make_attack``;
- the defence: ``JumpReLU``, ``retrofit``, ``set_jump``, ``jump_sites``, ``bpda`` (attack
  through a surrogate gradient), ``tune`` (choose the jump on validation data),
  ``learn_thresholds`` (learn one jump per channel, weights frozen), ``clean_accuracy_sweep``;
- models and data: ``load_checkpoint``, ``save_checkpoint``, ``default_model_path``,
  ``load_split``, ``train`` with ``TrainConfig``;
- whole grids with files and reports (what the CLI runs): ``evaluate`` with ``EvalConfig``;
- ``JumpReLUError``: every error the library raises for bad input.
"""

from __future__ import annotations

__version__ = "0.1.0"

from jumprelu.activation import JumpReLU
from jumprelu.attacks import ATTACKS, make_attack
from jumprelu.datasets.core import load_split
from jumprelu.errors import JumpReLUError
from jumprelu.evaluation.adaptive import SuiteResult, adaptive_suite
from jumprelu.evaluation.clean import clean_accuracy_sweep
from jumprelu.evaluation.config import EvalConfig
from jumprelu.evaluation.runner import evaluate
from jumprelu.learn import learn_thresholds
from jumprelu.models.checkpoints import default_model_path, load_checkpoint, save_checkpoint
from jumprelu.retrofit import bpda, jump_sites, retrofit, set_jump
from jumprelu.training.loop import TrainConfig, train
from jumprelu.tuning import tune

__all__ = [
    "ATTACKS",
    "EvalConfig",
    "JumpReLU",
    "JumpReLUError",
    "SuiteResult",
    "TrainConfig",
    "__version__",
    "adaptive_suite",
    "bpda",
    "clean_accuracy_sweep",
    "default_model_path",
    "evaluate",
    "jump_sites",
    "learn_thresholds",
    "load_checkpoint",
    "load_split",
    "make_attack",
    "retrofit",
    "save_checkpoint",
    "set_jump",
    "train",
    "tune",
]
