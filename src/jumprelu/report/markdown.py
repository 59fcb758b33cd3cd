"""The Markdown report: tables inline, charts as PNG files linked relatively."""

from __future__ import annotations

from jumprelu.report.content import Report
from jumprelu.report.figures import Plot
from jumprelu.report.tables import Table

__all__ = ["ASSET_DIR", "asset_name", "render_markdown"]

#: Folder next to ``report.md`` holding its PNG files.
ASSET_DIR = "report_files"


def asset_name(plot: Plot) -> str:
    """The file name of a chart inside ``ASSET_DIR``."""
    return f"{plot.name}.png"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _table(t: Table, level: str = "###") -> str:
    head = "| " + " | ".join(_cell(h) for h in t.header) + " |"
    align = "|" + "|".join(":---" if i < t.labels else "---:" for i in range(len(t.header))) + "|"
    rows = []
    for r, row in enumerate(t.rows):
        cells = [_cell(v) for v in row]
        if r in t.marked:
            cells = [f"**{c}**" for c in cells]
        rows.append("| " + " | ".join(cells) + " |")
    notes = "\n".join(f"- {' '.join(n.split())}" for n in t.notes)
    return f"{level} {t.title}\n\n{head}\n{align}\n" + "\n".join(rows) + f"\n\n{notes}\n"


def _kv(rows: tuple[tuple[str, str], ...], code: bool = True) -> str:
    tick = "`" if code else ""
    body = "\n".join(f"| {_cell(k)} | {tick}{_cell(v)}{tick} |" for k, v in rows)
    return f"| field | value |\n|:---|:---|\n{body}\n"


def _image(p: Plot, level: str = "###") -> str:
    return f"{level} {p.title}\n\n![{p.title}]({ASSET_DIR}/{asset_name(p)})\n\n{p.caption}\n"


def _flags(report: Report) -> str:
    if not report.flags:
        return (
            "> **No sanity flags.** None of the checks for gradient masking or a stalled "
            "attack fired.\n"
        )
    total = sum(len(g.hits) for g in report.flags)
    out = [
        f"## ⚠ Sanity flags ({total})\n",
        "These checks point at gradient masking or stalled attacks, where the numbers below "
        "may overstate robustness.\n",
    ]
    for g in report.flags:
        out.append(f"> **`{g.code}`** ({len(g.hits)}): {g.explanation}\n>")
        out += [f"> - **{w}**: {m}" for w, m in g.hits]
        out.append("")
    return "\n".join(out)


def render_markdown(report: Report) -> str:
    """Render the report as Markdown.

    Args:
        report: the report content.

    Returns:
        The document; charts are linked as ``report_files/NAME.png`` (see ``asset_name``).
    """
    facts = "\n".join(f"- **{k}**: {v}" for k, v in report.facts)
    overview, rest = report.tables[0], report.tables[1:]
    parts = [
        f"# {report.title}\n",
        facts + "\n",
        _flags(report),
        "## Overview\n",
        _table(overview),
        "## Plots\n",
        *(_image(p) for p in report.plots),
        "## Tables\n",
        *(_table(t) for t in rest),
        "### Averaging conventions\n",
        _kv(report.conventions, code=False),
        "## Adversarial examples\n",
        *(_image(p) for p in report.examples),
        "## Provenance\n",
        "### Configuration\n",
        _kv(report.config),
        "### Seed, versions, data and checkpoint\n",
        _kv(report.provenance),
        f"_Rendered by {report.generator} from results.json._\n",
    ]
    return "\n".join(parts)
