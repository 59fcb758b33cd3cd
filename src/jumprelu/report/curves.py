"""The charts beside those against the jump: robust accuracy against eps (minimal attacks)
and the jump selection on validation data."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import matplotlib as mpl
from matplotlib.lines import Line2D

from jumprelu.report.axes import legend_below, mark_chosen, panels, style_axes
from jumprelu.report.doc import THREAT_LABELS, Doc, chosen_jump, fmt_jump, jump_key, jumps
from jumprelu.report.figures import Plot, figure_png, new_figure
from jumprelu.report.theme import CLEAN, threat_color

__all__ = ["curve_plot", "tuning_plot"]


def curve_plot(doc: Doc) -> Plot | None:
    """Robust accuracy against eps per minimal attack, a line per jump (None without curves)."""
    curved = [c for c in doc["cells"] if isinstance(c.get("curve"), Mapping)]
    if not curved:
        return None
    pairs = list(dict.fromkeys((c["threat"], c["attack"]) for c in curved))
    js, chosen = jumps(doc), chosen_jump(doc)
    cmap = mpl.colormaps["viridis"]
    colour = {j: cmap(0.85 * i / max(1, len(js) - 1)) for i, j in enumerate(js)}
    ncols = min(3, len(pairs))
    with new_figure(4.0 * ncols, 0.6 + 3.0 * math.ceil(len(pairs) / ncols)) as fig:
        for ax, (t, a) in zip(panels(fig, len(pairs), ncols), pairs, strict=True):
            norm = "l2"
            for c in curved:
                if (c["threat"], c["attack"]) != (t, a):
                    continue
                curve: dict[str, Any] = c["curve"]
                norm = curve.get("norm", norm)
                pts = [(float(e), 100 * float(v)) for e, v in curve["points"]]
                if pts:
                    j = jump_key(c["jump"])
                    ax.plot(
                        *zip(*pts, strict=True),
                        color=colour[j],
                        marker=".",
                        lw=2.6 if j == chosen else 1.5,
                    )
            ax.set_title(f"{THREAT_LABELS.get(t, t)}: {a}", color=threat_color(t))
            sub = "2" if norm == "l2" else r"\infty"
            ax.set(
                xlabel=rf"$\varepsilon$ ($\|\delta\|_{{{sub}}}$)",
                ylabel="robust accuracy (%)",
                ylim=(-3, 103),
            )
        handles = [
            Line2D(
                [],
                [],
                color=colour[j],
                lw=2.6 if j == chosen else 1.5,
                label=f"jump {fmt_jump(j)}" + (" (chosen)" if j == chosen else ""),
            )
            for j in js
        ]
        legend_below(fig, handles, len(handles))
        png = figure_png(fig)
    space = doc["conventions"].get("space", "the attacked space")
    return Plot(
        "robust-accuracy-vs-eps",
        "Robust accuracy against ε from the minimal-perturbation attacks",
        "A point counts as robust at ε when it is classified correctly and the attack found no "
        f"adversarial input within norm ε (units: {space}); an upper bound on the true robust "
        "accuracy. Points at the 0, 10, ..., 100 % quantiles of the found norms.",
        png,
    )


def tuning_plot(doc: Doc) -> Plot | None:
    """Validation accuracy per candidate jump of ``tune`` (None for untuned runs)."""
    tuning = doc["provenance"].get("tuning")
    if not isinstance(tuning, Mapping) or not tuning.get("rows") or "jump" not in tuning["rows"][0]:
        return None
    rows = tuning["rows"]
    floor = 100 * (float(tuning["baseline_accuracy"]) - float(tuning["max_drop"]))
    with new_figure(5.5, 3.4) as fig:
        ax = fig.subplots()
        style_axes(ax)
        ax.plot(
            [r["jump"] for r in rows],
            [100 * r["accuracy"] for r in rows],
            color=CLEAN,
            marker="o",
            label="validation accuracy",
        )
        ax.axhline(floor, color="#B22222", ls="--", lw=1, label="admissible above")
        mark_chosen(ax, doc)
        ax.set(xlabel="jump", ylabel="accuracy (%)", title="Jump selection (validation split)")
        ax.legend(loc="best", frameon=False, fontsize=8)
        png = figure_png(fig)
    return Plot(
        "tuning",
        "Jump selection on validation data",
        "Validation accuracy per candidate jump; a jump is admissible when its drop from jump 0 "
        "is within the budget (dashed line). The test numbers were computed after the choice.",
        png,
    )
