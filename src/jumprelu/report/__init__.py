"""Render a run's ``results.json`` as a self-contained HTML page and a Markdown file.

``render_report(run_dir)`` writes ``report.html`` (images embedded as data URIs, no external
resources) and ``report.md`` (charts in ``report_files/``, linked relatively) next to the
results: sanity flags first, then the accuracy overview, charts against the jump and against
epsilon, one table per threat model with its averaging conventions and attack settings, the
adversarial examples, and the config, seed, versions and hashes. Nothing is printed; the files
are written all together or not at all.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jumprelu._util import run_lock
from jumprelu.report.load import ReportError, load_run, results_path
from jumprelu.report.write import write_all

if TYPE_CHECKING:
    from jumprelu.report.content import Report, build_report
    from jumprelu.report.html import render_html
    from jumprelu.report.markdown import ASSET_DIR, render_markdown

__all__ = [
    "ASSET_DIR",
    "FORMATS",
    "Report",
    "ReportError",
    "ReportFiles",
    "build_report",
    "load_run",
    "render_html",
    "render_markdown",
    "render_report",
]

log = logging.getLogger(__name__)

#: Names of the renderers, imported on first use: matplotlib (which writes its cache under
#: MPLCONFIGDIR) is loaded only once a document has passed its checks.
_LAZY = {
    "Report": "content",
    "build_report": "content",
    "render_html": "html",
    "render_markdown": "markdown",
    "ASSET_DIR": "markdown",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"jumprelu.report.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'jumprelu.report' has no attribute {name!r}")


#: Output formats: ``html`` -> ``report.html``, ``md`` -> ``report.md`` + ``report_files/``.
FORMATS = ("html", "md")


@dataclass(frozen=True)
class ReportFiles:
    """What ``render_report`` wrote.

    Attributes:
        html: ``report.html`` (None when not requested).
        markdown: ``report.md`` (None when not requested).
        assets: the PNG files ``report.md`` links to.
        flags: number of sanity flags in the results.
    """

    html: Path | None
    markdown: Path | None
    assets: tuple[Path, ...]
    flags: int


def render_report(
    run_dir: str | Path,
    *,
    formats: Sequence[str] = FORMATS,
    out_dir: str | Path | None = None,
) -> ReportFiles:
    """Render the report of an evaluation run.

    Args:
        run_dir: the run directory (or its ``results.json``).
        formats: any of "html" and "md".
        out_dir: where to write (default: the directory holding ``results.json``).

    Returns:
        The files written.

    Raises:
        ReportError: no results, another schema or version, a malformed document, an unknown
            format, or the report cannot be written (then nothing was written).
        ConfigError: another process holds the output directory (``run_lock``).
    """
    wanted = list(dict.fromkeys(formats))
    unknown = [f for f in wanted if f not in FORMATS]
    if unknown or not wanted:
        raise ReportError(
            f"unknown report format {', '.join(map(repr, unknown)) or '(none given)'}; "
            f"known: {', '.join(FORMATS)}"
        )
    source = results_path(run_dir)
    if not source.is_file():  # before the lock, which would create the directory
        raise ReportError(f"no results found: {source} does not exist")
    out = Path(out_dir) if out_dir is not None else source.parent
    with run_lock(out):  # held from the read to the write: no other report runs here
        return _render(source, out, wanted)


def _render(source: Path, out: Path, wanted: list[str]) -> ReportFiles:
    doc = load_run(source)  # checked before matplotlib is imported (it writes a font cache)
    from jumprelu.report.content import build_report
    from jumprelu.report.html import render_html
    from jumprelu.report.markdown import ASSET_DIR, asset_name, render_markdown

    report = build_report(doc)
    files: dict[str, bytes] = {}
    folders: dict[str, dict[str, bytes]] = {}
    if "md" in wanted:
        files["report.md"] = render_markdown(report).encode("utf-8")
        folders[ASSET_DIR] = {asset_name(p): p.png for p in (*report.plots, *report.examples)}
    if "html" in wanted:
        files["report.html"] = render_html(report).encode("utf-8")
    write_all(out, files, folders)
    log.info("report of %s written to %s (%s)", source, out, ", ".join(wanted))
    assets = sorted(out / ASSET_DIR / name for name in folders.get(ASSET_DIR, {}))
    return ReportFiles(
        html=out / "report.html" if "html" in wanted else None,
        markdown=out / "report.md" if "md" in wanted else None,
        assets=tuple(assets),
        flags=report.flag_count,
    )
