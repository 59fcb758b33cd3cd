"""The report's charts against the jump, drawn with matplotlib's Agg canvas into PNG bytes.

``build_plots`` gives every chart in display order; robust accuracy against eps and the jump
selection are drawn in ``curves``.
"""

from __future__ import annotations

import math

from matplotlib.lines import Line2D

from jumprelu.report.axes import (
    MAP_NOTE,
    draw_points,
    legend_below,
    map_handle,
    mark_chosen,
    panels,
    threat_handles,
)
from jumprelu.report.curves import curve_plot, tuning_plot
from jumprelu.report.doc import (
    THREAT_LABELS,
    Doc,
    base_attack,
    cell_index,
    jump_key,
    jump_maps,
    jumps,
    units,
)
from jumprelu.report.figures import Plot, figure_png, new_figure
from jumprelu.report.theme import CLEAN, ENSEMBLE, MARKERS, RHO, THREAT_DASHES, threat_color

__all__ = ["build_plots"]


def _accuracy_plot(doc: Doc) -> Plot:
    cells, js = cell_index(doc), jumps(doc)
    attacks = list(dict.fromkeys(base_attack(a) for _, a in units(doc)))
    clean = {jump_key(c["jump"]): 100 * c["accuracy"] for c in doc["clean"]}
    ens = {jump_key(e["jump"]): 100 * e["adv_accuracy"] for e in doc["ensemble"]}
    linf = {
        jump_key(e["jump"]): 100 * e["budget"]["linf"]["adv_accuracy"]
        for e in doc["ensemble"]
        if "linf" in e.get("budget", {})
    }
    seen: list[str] = []
    any_smooth = False
    with new_figure(4.0 * min(3, len(attacks)), 0.6 + 3.0 * math.ceil(len(attacks) / 3)) as fig:
        for ax, name in zip(panels(fig, len(attacks), 3), attacks, strict=True):
            draw_points(ax, doc, clean, color=CLEAN, lw=1.2, marker=".")
            draw_points(ax, doc, ens, color=ENSEMBLE, lw=2.2, ls=":", marker=".")
            if linf:
                draw_points(ax, doc, linf, color=ENSEMBLE, lw=2.2, marker="s", ms=3)
            for t, a in units(doc):
                if base_attack(a) != name:
                    continue
                pts = {
                    j: 100 * cells[(t, a, j)]["metrics"]["adv_accuracy"]
                    for j in js
                    if (t, a, j) in cells
                }
                smooth = a.startswith("bpda-smooth:")
                draw_points(
                    ax,
                    doc,
                    pts,
                    color=threat_color(t),
                    ls=(0, (1, 1)) if smooth else THREAT_DASHES.get(t, "-"),
                    lw=1.8,
                    marker="^" if smooth else "o",
                    ms=4,
                )
                any_smooth = any_smooth or smooth
                seen += [t] if t not in seen else []
            mark_chosen(ax, doc)
            ax.set(title=name, xlabel="jump", ylabel="accuracy (%)", ylim=(-3, 103))
        handles = [
            Line2D([], [], color=CLEAN, lw=1.2, marker=".", label="clean"),
            *threat_handles(seen),
            Line2D([], [], color=ENSEMBLE, lw=2.2, ls=":", label="ensemble (worst case)"),
        ]
        if any_smooth:
            handles.insert(
                -1,
                Line2D([], [], color=threat_color("adaptive"), lw=1.8, ls=(0, (1, 1)),
                       marker="^", ms=4, label="Adaptive, smooth BPDA"),
            )  # fmt: skip
        if linf:
            handles.append(
                Line2D([], [], color=ENSEMBLE, lw=2.2, marker="s", ms=3, label="worst case, L∞ ≤ ε")
            )
        handles += map_handle(doc)
        legend_below(fig, handles, len(handles))
        png = figure_png(fig)
    return Plot(
        "accuracy-vs-jump",
        "Accuracy against the jump, per attack and threat model",
        "Clean accuracy and accuracy under each attack (all n points, %) against the jump; one "
        "panel per attack with white-box, gray-box and adaptive (BPDA or gradient-free) lines; "
        "the ensemble is the per-sample worst case over every attack and threat model; "
        "'worst case, L∞ ≤ ε' counts only perturbations within the L∞ budget."
        + (MAP_NOTE if jump_maps(doc) else ""),
        png,
    )


def _rho_plot(doc: Doc) -> Plot | None:
    cells, js = cell_index(doc), jumps(doc)
    us = units(doc)
    attacks = list(dict.fromkeys(base_attack(a) for _, a in us))
    marker = {a: MARKERS[i % len(MARKERS)] for i, a in enumerate(attacks)}
    drawn = False
    with new_figure(11.0, 4.0) as fig:
        axes = panels(fig, 2, 2)
        labels = (r"$\rho_2$", r"$\rho_\infty$")
        for ax, key, label in zip(axes, ("rho2_all", "rhoinf_all"), labels, strict=True):
            for t, a in us:
                pts = {
                    j: cells[(t, a, j)]["metrics"][key]
                    for j in js
                    if (t, a, j) in cells and cells[(t, a, j)]["metrics"][key] is not None
                }
                if pts:
                    drawn = True
                    draw_points(
                        ax,
                        doc,
                        pts,
                        color=threat_color(t),
                        ls=THREAT_DASHES.get(t, "-"),
                        marker=marker[base_attack(a)],
                        ms=5,
                    )
            mark_chosen(ax, doc)
            ax.set(
                title=f"mean relative perturbation {label} (all points)",
                xlabel="jump",
                ylabel=label,
            )
        handles = threat_handles([t for t in THREAT_LABELS if any(u[0] == t for u in us)])
        handles += [
            Line2D([], [], color="#444444", ls="", marker=marker[a], label=a) for a in attacks
        ]
        handles += map_handle(doc)
        legend_below(fig, handles, len(handles))
        png = figure_png(fig)
    if not drawn:
        return None
    return Plot(
        "rho-vs-jump",
        "Mean relative perturbation against the jump",
        f"{RHO}_p = mean over all n points of ‖x_adv - x‖_p / ‖x‖_p, unchanged points counting "
        "as 0 (the paper's convention); colour and line style: threat model; marker: attack. "
        "Fixed-budget attacks are capped by their budget." + (MAP_NOTE if jump_maps(doc) else ""),
        png,
    )


def build_plots(doc: Doc) -> list[Plot]:
    """Every chart of the report, in display order.

    Args:
        doc: a validated results document.

    Returns:
        Accuracy and rho against the jump, robust accuracy against eps (when a minimal attack
        ran) and the jump selection (tuned runs).
    """
    plots = [_accuracy_plot(doc), _rho_plot(doc), curve_plot(doc), tuning_plot(doc)]
    return [p for p in plots if p is not None]
