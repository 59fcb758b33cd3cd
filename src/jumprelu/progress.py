"""Progress reporting hooks: the library calls them, the CLI draws bars with them.

Long loops (evaluation cells and their batches, training epochs and their batches) report
through a ``Progress`` object; the default does nothing, so the library never prints.
"""

from __future__ import annotations

__all__ = ["NULL_PROGRESS", "Progress"]


class Progress:
    """Receives progress of a job made of units (cells, epochs), each made of steps.

    Subclass it and override what you need; every method here does nothing.
    """

    def plan(self, units: int, done: int = 0) -> None:
        """The job has ``units`` units in total, ``done`` of them already finished (resume).

        Args:
            units: total number of units.
            done: units finished before this run started.
        """

    def start(self, label: str, total: int) -> None:
        """A unit (or a stage of one) starts.

        Args:
            label: what is running, e.g. ``"white/pgd-linf jump 0.5"``.
            total: its number of steps (examples or batches).
        """

    def advance(self, steps: int) -> None:
        """``steps`` more steps of the current unit are finished."""

    def finish(self, label: str) -> None:
        """The unit ``label`` is finished."""

    def close(self) -> None:
        """The job is over (or failed): release whatever displays progress."""


#: The do-nothing progress object used when none is given.
NULL_PROGRESS = Progress()
