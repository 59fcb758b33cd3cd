"""A self-contained HTML report: inline CSS, images as base64 data URIs, no scripts or fonts."""

from __future__ import annotations

import base64
from html import escape

from jumprelu.report.content import Report
from jumprelu.report.facts import FLAGS_NOTE, NO_FLAGS
from jumprelu.report.figures import Plot
from jumprelu.report.formatting import Table
from jumprelu.report.theme import CLEAN, ENSEMBLE, THREAT_COLORS, threat_color

__all__ = ["CSS", "render_html"]

CSS = """
:root { --ink: #1f2328; --muted: #59636e; --line: #d8dee4; --bg: #f6f8fa; --card: #ffffff;
  --warn: #b35900; --warn-bg: #fff4e5; --ok: #1b7f3b; --ok-bg: #e9f7ef; --mark: #fff8d6; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--ink);
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
  sans-serif; }
main { max-width: 1320px; margin: 0 auto; padding: 28px 24px 48px; }
h1 { font-size: 1.65rem; margin: 0 0 6px; }
h2 { font-size: 1.3rem; margin: 36px 0 12px; padding-bottom: 6px;
  border-bottom: 1px solid var(--line); }
h3 { font-size: 1.05rem; margin: 22px 0 8px; }
a { color: #0969da; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 10px;
  padding: 16px 20px; margin: 14px 0; box-shadow: 0 1px 2px rgba(0,0,0,.04); }
.facts { display: grid; grid-template-columns: max-content 1fr; gap: 4px 18px; margin: 0; }
.facts dt { color: var(--muted); }
.facts dd { margin: 0; }
nav ul { list-style: none; padding: 0; margin: 10px 0 0; display: flex; flex-wrap: wrap;
  gap: 6px 16px; font-size: .92rem; }
.flags { border-left: 6px solid var(--warn); background: var(--warn-bg); }
.flags h2 { color: var(--warn); border: 0; margin-top: 0; }
.flag h3 { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
  color: var(--warn); margin-top: 14px; }
.flag p { margin: 4px 0; }
.flag ul { margin: 4px 0 0; padding-left: 20px; font-size: .92rem; }
.noflags { border-left: 6px solid var(--ok); background: var(--ok-bg); color: var(--ok); }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-size: .84rem; min-width: 60%; }
caption { text-align: left; font-weight: 600; padding: 0 0 8px; font-size: 1rem; }
th, td { padding: 4px 9px; border-bottom: 1px solid var(--line); white-space: nowrap; }
thead th { background: #eef1f4; text-align: right; white-space: normal; vertical-align: bottom;
  position: sticky; top: 0; }
thead th.label { text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.label { text-align: left; }
td.wrap { white-space: normal; max-width: 520px; font-family: ui-monospace, SFMono-Regular,
  Menlo, Consolas, monospace; font-size: .8rem; }
tbody tr:nth-child(even) { background: #fafbfc; }
tbody tr.chosen { background: var(--mark); font-weight: 600; }
.notes { color: var(--muted); font-size: .85rem; margin: 10px 0 0; padding-left: 18px; }
.threat { border-left: 6px solid var(--tc); }
.threat caption { color: var(--tc); }
th.t-white, th.t-gray, th.t-adaptive { border-bottom: 3px solid var(--tc); min-width: 5.5em; }
tr.group td { border-top: 2px solid #c4ccd4; }
.card > h3:first-child { margin-top: 0; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 999px; color: #fff;
  font-size: .8rem; margin-right: 6px; background: var(--tc); }
figure { margin: 0; }
figure img { max-width: 100%; height: auto; display: block; margin: 0 auto; }
figcaption { color: var(--muted); font-size: .88rem; margin-top: 8px; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(540px, 1fr)); gap: 14px;
  align-items: start; }
.grid h3 { color: var(--tc); }
.grid .card { margin: 0; border-top: 4px solid var(--tc); }
.kv { width: 100%; }
.kv td:first-child { color: var(--muted); width: 15em; }
.kv td + td { white-space: normal; overflow-wrap: anywhere; }
footer { color: var(--muted); font-size: .82rem; margin-top: 36px; }
"""


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
