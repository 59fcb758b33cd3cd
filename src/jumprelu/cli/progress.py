"""Progress bars at the CLI edge: a ``Progress`` drawn with tqdm on stderr.

Bars appear only when stderr is a terminal and ``--quiet`` is not given; the library itself
only calls the ``Progress`` hooks.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import Any

from tqdm import tqdm

from jumprelu._util import NULL_PROGRESS, Progress

__all__ = ["TqdmProgress", "bars", "make_progress"]


class TqdmProgress(Progress):
    """Two bars: units (cells, epochs) with rate and ETA, and steps inside the current unit.

    Args:
        unit_name: what a unit is called ("cell", "epoch").
        step_name: what a step is called ("img", "batch").
    """

    def __init__(self, unit_name: str = "cell", step_name: str = "img") -> None:
        self.unit_name, self.step_name = unit_name, step_name
        self.outer: tqdm[Any] | None = None
        self.inner: tqdm[Any] | None = None

    def plan(self, units: int, done: int = 0) -> None:
        """Open the outer bar (``done`` units already finished, e.g. on resume)."""
        self.close()
        self.outer = tqdm(
            total=units, initial=done, unit=self.unit_name, desc=f"{self.unit_name}s",
            file=sys.stderr, dynamic_ncols=True,
        )  # fmt: skip

    def start(self, label: str, total: int) -> None:
        """Open a fresh inner bar for ``label``."""
        if self.inner is not None:
            self.inner.close()
        self.inner = tqdm(
            total=total, unit=self.step_name, desc=label, leave=False, file=sys.stderr,
            dynamic_ncols=True, position=1,
        )  # fmt: skip

    def advance(self, steps: int) -> None:
        """Move the inner bar."""
        if self.inner is not None:
            self.inner.update(steps)

    def finish(self, label: str) -> None:
        """Close the inner bar, move the outer one."""
        if self.inner is not None:
            self.inner.close()
            self.inner = None
        if self.outer is not None:
            self.outer.set_postfix_str(label, refresh=False)
            self.outer.update(1)

    def close(self) -> None:
        """Close both bars."""
        for bar in (self.inner, self.outer):
            if bar is not None:
                bar.close()
        self.inner = self.outer = None


def make_progress(quiet: bool, unit_name: str = "cell", step_name: str = "img") -> Progress:
    """Bars when stderr is a terminal and not ``quiet``; otherwise the silent ``Progress``."""
    if quiet or not sys.stderr.isatty():
        return NULL_PROGRESS
    return TqdmProgress(unit_name, step_name)


@contextlib.contextmanager
def bars(quiet: bool, unit: str = "cell") -> Iterator[Progress]:
    """``make_progress`` for units of ``unit`` (epochs of batches, else cells of images),
    closed however the job ends."""
    progress = make_progress(quiet, unit, "batch" if unit == "epoch" else "img")
    try:
        yield progress
    finally:
        progress.close()
