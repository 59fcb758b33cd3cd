"""Figure plumbing shared by the charts and image grids: Agg figures (no pyplot), PNG bytes."""

from __future__ import annotations

import io
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from jumprelu.report.load import THREAT_LABELS, fmt_jump
from jumprelu.report.theme import THREAT_DASHES, threat_color

__all__ = [
    "DPI",
    "Plot",
    "chosen_line",
    "figure_png",
    "legend_below",
    "new_figure",
    "panels",
    "style_axes",
    "threat_handles",
]

DPI = 110


@dataclass(frozen=True)
class Plot:
    """One rendered chart.

    Attributes:
        name: file stem (``report_files/NAME.png``) and HTML anchor.
        title: heading.
        caption: what is drawn and how it was computed.
        png: the PNG bytes.
        threat: the threat model shown, when one (for its colour).
    """

    name: str
    title: str
    caption: str
    png: bytes
    threat: str | None = None


@contextmanager
def new_figure(width: float, height: float, *, layout: bool = True) -> Iterator[Figure]:
    """A free-standing Agg figure (pyplot and its figure registry are never touched).

    Args:
        width: inches.
        height: inches.
        layout: use matplotlib's constrained layout (off for hand-placed axes).

    Yields:
        The figure (no global matplotlib state is read or changed); cleared on exit.
    """
    fig = Figure(
        figsize=(width, height),
        dpi=DPI,
        layout="constrained" if layout else None,
        facecolor="white",
    )
    FigureCanvasAgg(fig)
    try:
        yield fig
    finally:
        fig.clear()


def figure_png(fig: Figure) -> bytes:
    """Render a figure to PNG bytes (no timestamp or software tag, so output is reproducible)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()


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
