"""Grids of clean and adversarial examples with labels and predictions, one per attack.

Each cell stores its first adversarial inputs (``examples``, in the attacked space) and the
evaluated model's predictions on them (``examples_pred``); the top-level ``examples`` holds the
same first clean inputs in [0, 1] pixels and their labels (``display`` turns inputs into images
and labels into class names). Older documents without these show what they have.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from jumprelu.report.display import class_name, clean_examples, to_display
from jumprelu.report.doc import THREAT_LABELS, Doc, JumpKey, cell_index, fmt_jump, jumps, units
from jumprelu.report.figures import DPI, Plot, figure_png, new_figure

__all__ = ["N_SHOW", "build_example_grids", "clean_examples", "to_display"]

#: Samples shown per attack.
N_SHOW = 6
#: Approximate size of one sample in pixels, the gap between samples and the row-label width.
CELL, GAP, LABEL_PX = 84, 8, 120
OK, WRONG = "#1B7F3B", "#C0392B"


#: A grid row: its name, the images, and per image an optional (caption, colour).
Row = tuple[str, npt.NDArray[np.float64], list[tuple[str, str]] | None]


def _tile(img: npt.NDArray[np.float64], size: int) -> npt.NDArray[np.float64]:
    """An image as RGB, enlarged by an integer factor (nearest neighbour) to about ``size``."""
    rgb = np.repeat(img[..., None], 3, axis=-1) if img.ndim == 2 else img
    k = max(1, size // max(rgb.shape[:2]))
    return np.repeat(np.repeat(rgb, k, axis=0), k, axis=1)


def _grid(rows: Sequence[Row]) -> bytes:
    """One mosaic image drawn in a single axes (far faster than an axes per sample)."""
    ncols = min(N_SHOW, *(len(r[1]) for r in rows))
    tiles = [[_tile(r[1][k], CELL) for k in range(ncols)] for r in rows]
    th, tw = tiles[0][0].shape[:2]
    cap = 16 if any(r[2] is not None for r in rows) else 0
    step_x, step_y = tw + GAP, th + GAP + cap
    mosaic = np.ones((len(rows) * step_y + GAP, ncols * step_x + GAP, 3))
    for r, row in enumerate(tiles):
        for k, tile in enumerate(row):
            y, x = r * step_y + GAP + cap, k * step_x + GAP
            mosaic[y : y + tile.shape[0], x : x + tile.shape[1]] = tile
    left = LABEL_PX
    height, width = mosaic.shape[:2]
    with new_figure((width + left) / DPI, height / DPI, layout=False) as fig:
        ax = fig.add_axes((left / (width + left), 0.0, width / (width + left), 1.0))
        ax.imshow(mosaic, interpolation="nearest", aspect="equal")
        ax.set_axis_off()
        for r, (name, _, captions) in enumerate(rows):
            top = r * step_y + GAP + cap
            ax.text(-8, top + th / 2, name, ha="right", va="center", fontsize=9, clip_on=False)
            for k, (text, tint) in enumerate((captions or [])[:ncols]):
                x = k * step_x + GAP + tw / 2
                ax.text(x, top - 3, text, ha="center", va="bottom", fontsize=8, color=tint)
        return figure_png(fig)


def _caption_for(doc: Doc, pred: int, label: int | None) -> tuple[str, str]:
    colour = "#333333" if label is None else (OK if pred == label else WRONG)
    return f"pred {class_name(doc, pred)}", colour


def _rows(doc: Doc, threat: str, present: list[tuple[JumpKey, dict[str, Any]]]) -> list[Row]:
    shown = clean_examples(doc)
    labels = shown.get("labels")
    rows: list[Row] = []
    if shown.get("x") is not None:
        caps = None
        if labels is not None:
            caps = [(f"label {class_name(doc, int(v))}", "#333333") for v in labels]
        rows.append(("clean", to_display(doc, shown["x"], pixels=True), caps))
    with_pred = any(c.get("examples_pred") is not None for _, c in present)
    if threat == "gray" and not with_pred:
        present = present[:1]  # crafted once on jump 0: the same inputs at every jump
    for j, c in present:
        name = "crafted at jump 0" if threat == "gray" and not with_pred else f"jump {fmt_jump(j)}"
        preds = c.get("examples_pred")
        caps = None
        if preds is not None:
            caps = [
                _caption_for(doc, int(p), int(labels[k]) if labels and k < len(labels) else None)
                for k, p in enumerate(preds)
            ]
        rows.append((name, to_display(doc, c["examples"]), caps))
    return rows


def build_example_grids(doc: Doc) -> list[Plot]:
    """One grid per threat model and attack: the clean inputs, then one row per jump.

    Args:
        doc: a validated results document.

    Returns:
        The grids (empty when the cells hold no examples).
    """
    cells, out = cell_index(doc), []
    for t, a in units(doc):
        present = [(j, cells[(t, a, j)]) for j in jumps(doc) if (t, a, j) in cells]
        present = [(j, c) for j, c in present if c.get("examples")]
        if not present:
            continue
        rows = _rows(doc, t, present)
        count = min(N_SHOW, *(len(r[1]) for r in rows))
        if any(r[2] is not None for r in rows[1:]):
            note = (
                " Over each adversarial input: the prediction of the model evaluated at that "
                "jump, green when it is still the true label, red when the attack fooled it."
            )
        else:
            note = " This results document records no predictions."
        if t == "gray":
            note += " Gray-box inputs are crafted once, on the jump-0 model."
        out.append(
            Plot(
                name="examples-" + re.sub(r"[^a-z0-9]+", "-", f"{t}-{a}".lower()).strip("-"),
                title=f"{THREAT_LABELS.get(t, t)}: {a}",
                caption=f"The first {count} test inputs: clean with their labels (when recorded), "
                f"then adversarial per jump.{note}",
                png=_grid(rows),
                threat=t,
            )
        )
    return out
