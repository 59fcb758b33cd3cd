"""Recorded inputs as displayable images, and labels as class names.

Each cell stores its first adversarial inputs in the attacked space; the top-level
``examples`` holds the same first clean inputs in [0, 1] pixels, their labels and the
normalisation that maps the paper protocol's inputs back to pixels.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from jumprelu.datasets.core import DATASETS
from jumprelu.report.doc import Doc

__all__ = ["class_name", "clean_examples", "to_display"]


def clean_examples(doc: Doc) -> dict[str, Any]:
    """The top-level ``examples`` (clean inputs, labels, normalisation), or {} when absent."""
    shown = doc.get("examples")
    return shown if isinstance(shown, dict) else {}


def _stats(doc: Doc) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]] | None:
    shown = clean_examples(doc)
    meta = doc["provenance"].get("checkpoint_meta") or {}
    mean, std = shown.get("mean"), shown.get("std")
    if mean is None or std is None:
        mean, std = meta.get("mean"), meta.get("std")
    info = DATASETS.get(doc["config"].get("dataset", ""))
    if (mean is None or std is None) and info is not None:
        mean, std = info.mean, info.std
    if mean is None or std is None:
        return None
    return np.asarray(mean, dtype=np.float64), np.asarray(std, dtype=np.float64)


def to_display(doc: Doc, images: Any, *, pixels: bool = False) -> npt.NDArray[np.float64]:
    """Inputs as displayable images in [0, 1], shape (N, H, W) or (N, H, W, 3).

    Args:
        doc: the results document (protocol and normalisation statistics).
        images: nested lists or an array of shape (N, C, H, W), in the attacked space.
        pixels: the images are [0, 1] pixels already (the clean ``examples.x``).

    Returns:
        The images; the paper protocol's normalised inputs are mapped back to pixels (or, with
        no statistics recorded, rescaled to the range of the batch shown).
    """
    x = np.asarray(images, dtype=np.float64)
    if x.ndim == 3:
        x = x[:, None]
    if doc["config"].get("protocol") == "paper" and not pixels:
        stats = _stats(doc)
        if stats is not None:
            mean, std = stats
            x = x * std.reshape(1, -1, 1, 1) + mean.reshape(1, -1, 1, 1)
        else:
            x = (x - x.min()) / max(float(x.max() - x.min()), 1e-12)
    x = np.clip(x, 0.0, 1.0)
    return x[:, 0] if x.shape[1] == 1 else np.transpose(x[:, :3], (0, 2, 3, 1))


def class_name(doc: Doc, label: int) -> str:
    """A label as the dataset's class name (the number itself for unknown datasets)."""
    info = DATASETS.get(doc["config"].get("dataset", ""))
    if info is not None and 0 <= label < len(info.classes):
        return info.classes[label]
    return str(label)
