"""A self-contained HTML report: inline CSS (``theme.CSS``), images as base64 data URIs, no
scripts or fonts."""

from __future__ import annotations

import base64
from html import escape

from jumprelu.report.content import Report
from jumprelu.report.facts import FLAGS_NOTE, NO_FLAGS
from jumprelu.report.figures import Plot
from jumprelu.report.formatting import Table
from jumprelu.report.theme import CLEAN, CSS, ENSEMBLE, THREAT_COLORS, threat_color

__all__ = ["CSS", "render_html"]


def _tc(threat: str | None) -> str:
    return f' style="--tc: {threat_color(threat)}"' if threat else ""


def _table(t: Table) -> str:
    cls = ' class="card threat"' if t.threat else ' class="card"'
    head = []
    for i, h in enumerate(t.header):
        ct = t.column_threats[i] if i < len(t.column_threats) else None
        kind = "label" if i < t.labels else ("t-" + ct if ct else "")
        text = escape(h).replace("/", "/<wbr>") if ct else escape(h)
        head.append(f'<th class="{kind}"{_tc(ct)} scope="col">{text}</th>')
    body = []
    for r, row in enumerate(t.rows):
        cells = []
        for i, v in enumerate(row):
            kind = "label" if i < t.labels else "num"
            if i < t.labels and len(v) > 60:
                kind = "label wrap"
            cells.append(f'<td class="{kind}">{escape(v)}</td>')
        classes = ["chosen"] if r in t.marked else []
        if t.labels > 1 and r > 0 and row[0] != t.rows[r - 1][0]:
            classes.append("group")
        mark = f' class="{" ".join(classes)}"' if classes else ""
        body.append(f"<tr{mark}>{''.join(cells)}</tr>")
    notes = "".join(f"<li>{escape(n)}</li>" for n in t.notes)
    return (
        f'<section{cls}{_tc(t.threat)}><div class="scroll"><table id="{escape(t.key)}">'
        f"<caption>{escape(t.title)}</caption><thead><tr>{''.join(head)}</tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table></div>"
        + (f'<ul class="notes">{notes}</ul>' if notes else "")
        + "</section>"
    )


def data_uri(png: bytes) -> str:
    """A PNG as a ``data:image/png;base64,`` URI."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _figure(p: Plot) -> str:
    title = f"<h3>{escape(p.title)}</h3>"
    return (
        f'<figure class="card" id="{escape(p.name)}"{_tc(p.threat)}>{title}'
        f'<img src="{data_uri(p.png)}" alt="{escape(p.title)}">'
        f"<figcaption>{escape(p.caption)}</figcaption></figure>"
    )


def _kv(rows: tuple[tuple[str, str], ...], key: str) -> str:
    body = "".join(
        f'<tr><td class="label">{escape(k)}</td><td class="label">{escape(v)}</td></tr>'
        for k, v in rows
    )
    return f'<div class="card"><table class="kv" id="{key}"><tbody>{body}</tbody></table></div>'


def _flags(report: Report) -> str:
    if not report.flags:
        lead, rest = NO_FLAGS
        return f'<section class="card noflags" id="flags"><strong>{lead}</strong> {rest}</section>'
    parts = [
        f'<section class="card flags" id="flags"><h2>Sanity flags ({report.flag_count})</h2>',
        f"<p>{FLAGS_NOTE}</p>",
    ]
    for g in report.flags:
        hits = "".join(f"<li><b>{escape(w)}</b>: {escape(m)}</li>" for w, m in g.hits)
        parts.append(
            f'<div class="flag"><h3>{escape(g.code)} ({len(g.hits)})</h3>'
            f"<p>{escape(g.explanation)}</p><ul>{hits}</ul></div>"
        )
    return "".join(parts) + "</section>"


def _legend() -> str:
    badges = "".join(f'<span class="badge"{_tc(t)}>{escape(t)}</span>' for t in THREAT_COLORS)
    extra = (
        f'<span class="badge" style="--tc: {CLEAN}">clean</span>'
        f'<span class="badge" style="--tc: {ENSEMBLE}">ensemble</span>'
    )
    return f"<p>Colours: {badges}{extra}</p>"


def render_html(report: Report) -> str:
    """Render the report as one self-contained HTML page.

    Args:
        report: the report content.

    Returns:
        The page (UTF-8 text); it references nothing outside itself.
    """
    facts = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in report.facts)
    sections = [
        ("flags", "Sanity flags"),
        ("overview", "Overview"),
        ("plots", "Plots"),
        ("tables", "Tables"),
        ("examples", "Examples"),
        ("provenance", "Provenance"),
    ]
    nav = "".join(f'<li><a href="#{k}">{v}</a></li>' for k, v in sections)
    overview, rest = report.tables[0], report.tables[1:]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(report.title)}</title><style>{CSS}</style></head><body><main>",
        f'<header><h1>{escape(report.title)}</h1><div class="card"><dl class="facts">{facts}'
        f"</dl><nav><ul>{nav}</ul></nav></div></header>",
        _flags(report),
        f'<h2 id="overview">Overview</h2>{_legend()}{_table(overview)}',
        '<h2 id="plots">Plots</h2>',
        *(_figure(p) for p in report.plots),
        '<h2 id="tables">Tables</h2>',
        *(_table(t) for t in rest),
        "<h3>Averaging conventions</h3>",
        _kv(report.conventions, "conventions"),
        '<h2 id="examples">Adversarial examples</h2>',
        '<div class="grid">' + "".join(_figure(p) for p in report.examples) + "</div>"
        if report.examples
        else "<p>The results hold no examples.</p>",
        '<h2 id="provenance">Provenance</h2><h3>Configuration</h3>',
        _kv(report.config, "config"),
        "<h3>Seed, versions, data and checkpoint</h3>",
        _kv(report.provenance, "provenance-table"),
        f"<footer>Rendered by {escape(report.generator)} from results.json.</footer>",
        "</main></body></html>",
    ]
    return "\n".join(parts) + "\n"
