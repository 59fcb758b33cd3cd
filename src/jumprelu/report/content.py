"""Everything a report shows, computed once from the results and rendered as HTML or Markdown.

``build_report`` gathers the tables (``tables``, ``settings``, the suite's stages here), the
charts (``plots``), the example grids (``images``) and the text rows (``facts``).
"""

from __future__ import annotations

from dataclasses import dataclass

from jumprelu import __version__
from jumprelu.report.doc import Doc, fmt_jump, jump_key, threats
from jumprelu.report.facts import FlagGroup, facts, flag_groups, provenance_rows, text
from jumprelu.report.figures import Plot
from jumprelu.report.formatting import Table
from jumprelu.report.images import build_example_grids
from jumprelu.report.plots import build_plots
from jumprelu.report.settings import jump_map_table, settings_table, tuning_table
from jumprelu.report.tables import overview_table, threat_table

__all__ = ["FlagGroup", "Report", "build_report", "build_tables"]


@dataclass(frozen=True)
class Report:
    """The report's content, independent of the output format.

    Attributes:
        title: the report's heading.
        facts: ``(label, value)`` pairs summarising the run (shown at the top).
        flags: sanity flags grouped by code.
        tables: overview, per threat model, settings, tuning.
        plots: the charts.
        examples: the adversarial example grids.
        config: ``(key, value)`` of the evaluation config.
        provenance: ``(key, value)``: seed, versions, machine, data and checkpoint hashes.
        conventions: ``(name, definition)`` of the averaging conventions.
    """

    title: str
    facts: tuple[tuple[str, str], ...]
    flags: tuple[FlagGroup, ...]
    tables: tuple[Table, ...]
    plots: tuple[Plot, ...]
    examples: tuple[Plot, ...]
    config: tuple[tuple[str, str], ...]
    provenance: tuple[tuple[str, str], ...]
    conventions: tuple[tuple[str, str], ...]
    generator: str = f"jumprelu {__version__}"

    @property
    def flag_count(self) -> int:
        """Number of sanity flags (every occurrence of every code)."""
        return sum(len(g.hits) for g in self.flags)


def suite_table(doc: Doc) -> Table | None:
    """The adaptive suite's cascade: per cell and stage, points attacked and broken."""
    rows = []
    for c in doc["cells"]:
        stages = c.get("stages") or []
        for st in stages:
            rows.append(
                (
                    str(c["attack"]),
                    fmt_jump(jump_key(c["jump"])),
                    str(st["stage"]),
                    str(st["attacked"]),
                    str(st["broken"]),
                    f"{float(st['seconds']):.1f}",
                )
            )
        if stages:  # what the cell cost, stage by stage above
            rows.append(
                (
                    str(c["attack"]),
                    fmt_jump(jump_key(c["jump"])),
                    "all stages",
                    str(stages[0]["attacked"]),
                    str(sum(int(st["broken"]) for st in stages)),
                    f"{sum(float(st['seconds']) for st in stages):.1f}",
                )
            )
    if not rows:
        return None
    return Table(
        key="suite-stages",
        title="Adaptive suite: the cascade stage by stage",
        header=("suite", "jump", "stage", "attacked", "broken", "seconds"),
        rows=tuple(rows),
        notes=(
            "Each stage attacks only the points every earlier stage left robust (a broken point "
            "is never attacked again); the suite's robust accuracy is the points no stage broke. "
            "bpda-S: the stage's gradient through BPDA surrogate S; seconds: each stage's "
            "wall time, and the cell's in its 'all stages' row. A ':full' stage runs again, to "
            "the full budget, the points Square dropped early once Square broke a point.",
        ),
        labels=3,
        threat="adaptive",
    )


def build_tables(doc: Doc) -> list[Table]:
    """Every table of the report, in display order.

    Args:
        doc: a validated results document.

    Returns:
        The overview, the per-layer jumps (grids with mappings), one table per threat model,
        the attack settings and (for tuned runs) the jump selection.
    """
    tables = [overview_table(doc)]
    maps = jump_map_table(doc)
    if maps is not None:
        tables.append(maps)
    tables += [threat_table(doc, t) for t in threats(doc)]
    stages = suite_table(doc)
    if stages is not None:
        tables.append(stages)
    tables.append(settings_table(doc))
    tuning = tuning_table(doc)
    return [*tables, tuning] if tuning is not None else tables


def build_report(doc: Doc) -> Report:
    """Compute every table, chart and image grid of a report.

    Args:
        doc: a validated results document (see ``load_run``).

    Returns:
        The format-independent report.
    """
    cfg = doc["config"]
    title = (
        f"JumpReLU robustness report: {cfg.get('dataset', '?')}, {cfg.get('arch') or 'model'}, "
        f"{cfg.get('protocol', '?')} protocol"
    )
    return Report(
        title=title,
        facts=facts(doc),
        flags=flag_groups(doc),
        tables=tuple(build_tables(doc)),
        plots=tuple(build_plots(doc)),
        examples=tuple(build_example_grids(doc)),
        config=tuple((k, text(v)) for k, v in cfg.items()),
        provenance=provenance_rows(doc),
        conventions=tuple((k, str(v)) for k, v in doc["conventions"].items()),
    )
