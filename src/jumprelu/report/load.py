"""Read a run's ``results.json`` for the report and check it holds what the report shows.

What the renderers read off the document (its grid, cells and tuning) lives in ``doc``.
"""

from __future__ import annotations

from pathlib import Path

from jumprelu.errors import JumpReLUError
from jumprelu.evaluation.results import load_results
from jumprelu.report.doc import Doc
from jumprelu.report.validate import check_document

__all__ = ["ReportError", "load_run", "results_path"]


class ReportError(JumpReLUError):
    """A report cannot be made: no results, another schema, or a malformed document."""


def results_path(run: str | Path) -> Path:
    """The ``results.json`` of a run directory (or the file itself when given one).

    Args:
        run: a run directory or a ``results.json`` path.

    Returns:
        The path of the results document.
    """
    p = Path(run)
    return p if p.suffix == ".json" else p / "results.json"


def load_run(run: str | Path) -> Doc:
    """Load a run's results and check that it holds everything the report shows.

    Args:
        run: a run directory or its ``results.json``.

    Returns:
        The results document.

    Raises:
        ReportError: missing file, invalid JSON, another schema or version, a field missing, of
            the wrong type or out of its range anywhere (an accuracy outside [0, 1], a negative
            jump or n, an unknown threat, no cells: named by its path, see ``report.schema``),
            or an ``examples.npz`` entry that is not a batch of images.
    """
    path = results_path(run)
    try:
        doc = load_results(path)
        check_document(doc, str(path))
    except ReportError:
        raise
    except JumpReLUError as exc:
        raise ReportError(str(exc)) from exc
    return doc
