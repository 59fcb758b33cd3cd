"""Figure plumbing shared by the charts and image grids: ``Plot``, Agg figures (no pyplot),
PNG bytes. What goes on a chart's axes lives in ``axes``."""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = ["DPI", "Plot", "figure_png", "new_figure"]

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
