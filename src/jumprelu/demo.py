"""The main job on the embedded default: the shipped digits model, retrofitted, per jump.

Runs offline: the data (scikit-learn's bundled handwritten digits) and the model
(``assets/digitsnet.pt``, made by ``scripts/make_default_model.py``) ship inside the package.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import resources

from .checkpoints import load_checkpoint
from .clean import CleanSweep, clean_accuracy_sweep
from .data import load_split

__all__ = ["DEFAULT_MODEL", "default_model_path", "run_demo"]

#: File name of the shipped default model inside ``jumprelu/assets``.
DEFAULT_MODEL = "digitsnet.pt"


def default_model_path() -> str:
    """Path of the shipped default model (a project-format checkpoint)."""
    return str(resources.files("jumprelu") / "assets" / DEFAULT_MODEL)


def run_demo(
    jumps: Sequence[float] | str = "0,0.25,0.5,0.75,1.0", device: str = "cpu"
) -> CleanSweep:
    """Retrofit the shipped digits model and measure clean test accuracy per jump.

    Args:
        jumps: the jump grid.
        device: "cpu" or "cuda".

    Returns:
        The sweep on the embedded digits test split.
    """
    model, meta = load_checkpoint(default_model_path(), device=device)
    data = load_split("digits", "test")
    return clean_accuracy_sweep(
        model, data, jumps, meta={"arch": meta.arch, "model": DEFAULT_MODEL}
    )
