"""Evaluation: the grid of jumps x threats x attacks, its cells, metrics, checks and results.

``evaluate(config, model, data, out)`` runs a grid (``runner``); ``config`` holds ``EvalConfig``;
``jobs`` loads the model and data a config names (what the CLI calls).
"""

from __future__ import annotations

from jumprelu.evaluation.config import EvalConfig
from jumprelu.evaluation.runner import evaluate

__all__ = ["EvalConfig", "evaluate"]
