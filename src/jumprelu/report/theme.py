"""The report's look: one palette (each threat model has the same colour in tables and plots)
and the stylesheet of the HTML page."""

from __future__ import annotations

__all__ = [
    "CLEAN",
    "CSS",
    "ENSEMBLE",
    "MARKERS",
    "RHO",
    "THREAT_COLORS",
    "THREAT_DASHES",
    "threat_color",
]

#: Colour-blind-safe (Okabe-Ito based) colours per threat model.
THREAT_COLORS = {"white": "#0072B2", "gray": "#6E6E6E", "adaptive": "#D55E00"}
#: Line styles per threat model, so the plots read in greyscale too.
THREAT_DASHES = {"white": "-", "gray": "--", "adaptive": "-."}
#: Clean accuracy and the per-sample worst case over every attack.
CLEAN = "#111111"
ENSEMBLE = "#CC79A7"
#: The Greek letter of the paper's relative perturbation.
RHO = "\N{GREEK SMALL LETTER RHO}"
#: Markers told apart by attack.
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")


def threat_color(threat: str) -> str:
    """The colour of a threat model (a neutral one for unknown names).

    Args:
        threat: "white", "gray" or "adaptive".

    Returns:
        A ``#rrggbb`` colour.
    """
    return THREAT_COLORS.get(threat, "#009E73")


#: The HTML page's stylesheet (threat colours reach it as the ``--tc`` custom property).
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
