"""The Markdown report: tables inline, charts as PNG files linked relatively."""

from __future__ import annotations

import re

from jumprelu.report.content import Report, build_tables
from jumprelu.report.doc import Doc
from jumprelu.report.facts import FLAGS_NOTE, NO_FLAGS
from jumprelu.report.figures import Plot
from jumprelu.report.formatting import Table

__all__ = [
    "ASSET_DIR",
    "asset_name",
    "markdown_tables",
    "md_code",
    "md_text",
    "render_markdown",
]

#: Folder next to ``report.md`` holding its PNG files.
ASSET_DIR = "report_files"


def asset_name(plot: Plot) -> str:
    """The file name of a chart inside ``ASSET_DIR``."""
    return f"{plot.name}.png"


#: Characters with a meaning in (GitHub-flavoured) Markdown, escaped in every text we copy.
_SPECIAL = re.compile(r"([\\`*_\[\]<>|~])")


def md_text(text: str) -> str:
    """Text as literal Markdown on one line: special characters backslash-escaped."""
    return _SPECIAL.sub(r"\\\1", " ".join(str(text).split()))


def md_code(text: str) -> str:
    """Text as an inline code span (a fence longer than any backtick run; pipes escaped)."""
    flat = " ".join(str(text).split()).replace("|", "\\|")
    fence = "`" * (max((len(r) for r in re.findall("`+", flat)), default=0) + 1)
    pad = " " if flat.startswith("`") or flat.endswith("`") else ""
    return f"{fence}{pad}{flat}{pad}{fence}"


def _cell(text: str) -> str:
    return md_text(text)


def _table(t: Table, level: str = "###") -> str:
    head = "| " + " | ".join(_cell(h) for h in t.header) + " |"
    align = "|" + "|".join(":---" if i < t.labels else "---:" for i in range(len(t.header))) + "|"
    rows = []
    for r, row in enumerate(t.rows):
        cells = [_cell(v) for v in row]
        if r in t.marked:
            cells = [f"**{c}**" for c in cells]
        rows.append("| " + " | ".join(cells) + " |")
    notes = "\n".join(f"- {md_text(n)}" for n in t.notes)
    return f"{level} {md_text(t.title)}\n\n{head}\n{align}\n" + "\n".join(rows) + f"\n\n{notes}\n"


def _kv(rows: tuple[tuple[str, str], ...], code: bool = True) -> str:
    value = md_code if code else md_text
    body = "\n".join(f"| {md_text(k)} | {value(v)} |" for k, v in rows)
    return f"| field | value |\n|:---|:---|\n{body}\n"


def _image(p: Plot, level: str = "###") -> str:
    title = md_text(p.title)
    return f"{level} {title}\n\n![{title}]({ASSET_DIR}/{asset_name(p)})\n\n{md_text(p.caption)}\n"


def _flags(report: Report) -> str:
    if not report.flags:
        lead, rest = NO_FLAGS
        return f"> **{lead}** {rest}\n"
    out = [f"## ⚠ Sanity flags ({report.flag_count})\n", f"{FLAGS_NOTE}\n"]
    for g in report.flags:
        out.append(f"> **{md_code(g.code)}** ({len(g.hits)}): {md_text(g.explanation)}\n>")
        out += [f"> - **{md_text(w)}**: {md_text(m)}" for w, m in g.hits]
        out.append("")
    return "\n".join(out)


def render_markdown(report: Report) -> str:
    """Render the report as Markdown.

    Args:
        report: the report content.

    Returns:
        The document; charts are linked as ``report_files/NAME.png`` (see ``asset_name``).
    """
    facts = "\n".join(f"- **{md_text(k)}**: {md_text(v)}" for k, v in report.facts)
    overview, rest = report.tables[0], report.tables[1:]
    parts = [
        f"# {md_text(report.title)}\n",
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
        f"_Rendered by {md_text(report.generator)} from results.json._\n",
    ]
    return "\n".join(parts)


def markdown_tables(doc: Doc) -> str:
    """The report's tables alone, as Markdown (what docs/results.md quotes).

    Args:
        doc: a validated results document (``jumprelu.report.load.load_run``).

    Returns:
        Every table of the report, in display order, with its notes.
    """
    return "\n".join(_table(t) for t in build_tables(doc))
