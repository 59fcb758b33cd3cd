"""What goes on a chart's axes: the report's look, panel grids, the chosen-jump marker,
legends, and results drawn against the jump (per-layer mappings as lone markers)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from jumprelu.report.doc import (
    THREAT_LABELS,
    Doc,
    JumpKey,
    chosen_jump,
    fmt_jump,
    jump_maps,
    jump_x,
)
from jumprelu.report.theme import THREAT_DASHES, threat_color

__all__ = [
    "MAP_NOTE",
    "chosen_line",
    "draw_points",
    "legend_below",
    "map_handle",
    "mark_chosen",
    "panels",
    "style_axes",
    "threat_handles",
]


def style_axes(ax: Axes) -> None:
    """The report's look: light grid behind the data, no top or right spine."""
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(True, color="#dddddd", linewidth=0.6)
    ax.set_axisbelow(True)
    ax.tick_params(labelsize=8)


def panels(fig: Figure, n: int, ncols: int) -> list[Axes]:
    """``n`` styled axes on a grid of ``ncols`` columns; spare grid places are hidden.

    Args:
        fig: the figure.
        n: panels needed.
        ncols: columns at most.

    Returns:
        The ``n`` axes, row by row.
    """
    ncols = max(1, min(ncols, n))
    axes = fig.subplots(math.ceil(n / ncols), ncols, squeeze=False).ravel().tolist()
    for ax in axes[n:]:
        ax.set_visible(False)
    for ax in axes[:n]:
        style_axes(ax)
    return axes[:n]


def chosen_line(ax: Axes, chosen: float | None, text: str | None = None) -> None:
    """Mark the jump chosen by ``tune`` with a dotted vertical line and a label.

    Call it after the data are drawn, so the label goes on the roomier side of the line.

    Args:
        ax: the axes (jump on the x axis).
        chosen: the chosen jump (a per-layer mapping: its mean jump); None draws nothing.
        text: what the label names (default: the jump).
    """
    if chosen is None:
        return
    ax.axvline(chosen, color="#222222", lw=1.0, ls=":", zorder=0)
    low, high = ax.get_xlim()
    right = chosen > (low + high) / 2
    ax.annotate(
        f"chosen {fmt_jump(chosen) if text is None else text}",
        (chosen, 1.0),
        xycoords=("data", "axes fraction"),
        xytext=(-3 if right else 3, -10),
        textcoords="offset points",
        ha="right" if right else "left",
        fontsize=8,
        color="#222222",
    )


def legend_below(fig: Figure, handles: list[Line2D], ncols: int) -> None:
    """One legend for the whole figure, centred below the panels.

    Args:
        fig: the figure (constrained layout makes room for the legend).
        handles: the entries.
        ncols: entries per legend row.
    """
    fig.legend(handles=handles, loc="outside lower center", frameon=False, ncols=max(1, ncols))


def threat_handles(threats: list[str]) -> list[Line2D]:
    """Legend entries for threat models in their colours and line styles."""
    return [
        Line2D(
            [],
            [],
            color=threat_color(t),
            ls=THREAT_DASHES.get(t, "-"),
            lw=2,
            label=THREAT_LABELS.get(t, t),
        )
        for t in threats
    ]


#: Marker of a per-layer mapping's point, drawn alone at its mean jump.
MAP_MARKER = "D"
MAP_NOTE = (
    " Hollow diamonds: per-layer jump mappings (layers-…), drawn at their mean jump and not "
    "joined to the lines."
)


def draw_points(ax: Any, doc: Doc, pts: Mapping[JumpKey, float], **style: Any) -> None:
    """A line through the scalar jumps; per-layer mappings as lone markers at their mean jump."""
    line = [(k, v) for k, v in pts.items() if not isinstance(k, str)]
    lone = [(jump_x(doc, k), v) for k, v in pts.items() if isinstance(k, str)]
    if line:
        ax.plot(*zip(*line, strict=True), **style)
    if lone:
        color = style.get("color")
        ax.plot(*zip(*lone, strict=True), color=color, ls="", marker=MAP_MARKER, ms=7, mfc="none")


def mark_chosen(ax: Any, doc: Doc) -> None:
    """The chosen-jump line (a chosen mapping: at its mean jump, named by its label)."""
    chosen = chosen_jump(doc)
    if isinstance(chosen, str):
        chosen_line(ax, jump_x(doc, chosen), chosen)
    else:
        chosen_line(ax, chosen)


def map_handle(doc: Doc) -> list[Line2D]:
    """The legend entry of the per-layer mappings' markers (none without mappings)."""
    if not jump_maps(doc):
        return []
    return [
        Line2D([], [], color="#444444", ls="", marker=MAP_MARKER, mfc="none", ms=7,
               label="per-layer jumps (at mean)"),
    ]  # fmt: skip
