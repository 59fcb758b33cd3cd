"""The report's charts, drawn with matplotlib's Agg canvas (no pyplot) into PNG bytes."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import matplotlib as mpl
from matplotlib.lines import Line2D

from jumprelu.report.figures import (
    Plot,
    chosen_line,
    figure_png,
    legend_below,
    new_figure,
    panels,
    style_axes,
    threat_handles,
)
from jumprelu.report.load import (
    THREAT_LABELS,
    Doc,
    JumpKey,
    base_attack,
    cell_index,
    chosen_jump,
    fmt_jump,
    jump_key,
    jump_maps,
    jump_x,
    jumps,
    units,
)
from jumprelu.report.theme import CLEAN, ENSEMBLE, MARKERS, RHO, THREAT_DASHES, threat_color

__all__ = ["build_plots"]

#: Marker of a per-layer mapping's point, drawn alone at its mean jump.
MAP_MARKER = "D"
MAP_NOTE = (
    " Hollow diamonds: per-layer jump mappings (layers-…), drawn at their mean jump and not "
    "joined to the lines."
)


def _draw(ax: Any, doc: Doc, pts: Mapping[JumpKey, float], **style: Any) -> None:
    """A line through the scalar jumps; per-layer mappings as lone markers at their mean jump."""
    line = [(k, v) for k, v in pts.items() if not isinstance(k, str)]
    lone = [(jump_x(doc, k), v) for k, v in pts.items() if isinstance(k, str)]
    if line:
        ax.plot(*zip(*line, strict=True), **style)
    if lone:
        color = style.get("color")
        ax.plot(*zip(*lone, strict=True), color=color, ls="", marker=MAP_MARKER, ms=7, mfc="none")


def _chosen(ax: Any, doc: Doc) -> None:
    """The chosen-jump line (a chosen mapping: at its mean jump, named by its label)."""
    chosen = chosen_jump(doc)
    if isinstance(chosen, str):
        chosen_line(ax, jump_x(doc, chosen), chosen)
    else:
        chosen_line(ax, chosen)


def _map_handle(doc: Doc) -> list[Line2D]:
    """The legend entry of the per-layer mappings' markers (none without mappings)."""
    if not jump_maps(doc):
        return []
    return [
        Line2D([], [], color="#444444", ls="", marker=MAP_MARKER, mfc="none", ms=7,
               label="per-layer jumps (at mean)"),
    ]  # fmt: skip


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
            _draw(ax, doc, clean, color=CLEAN, lw=1.2, marker=".")
            _draw(ax, doc, ens, color=ENSEMBLE, lw=2.2, ls=":", marker=".")
            if linf:
                _draw(ax, doc, linf, color=ENSEMBLE, lw=2.2, marker="s", ms=3)
            for t, a in units(doc):
                if base_attack(a) != name:
                    continue
                pts = {
                    j: 100 * cells[(t, a, j)]["metrics"]["adv_accuracy"]
                    for j in js
                    if (t, a, j) in cells
                }
                smooth = a.startswith("bpda-smooth:")
                _draw(
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
            _chosen(ax, doc)
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
        handles += _map_handle(doc)
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
                    _draw(
                        ax,
                        doc,
                        pts,
                        color=threat_color(t),
                        ls=THREAT_DASHES.get(t, "-"),
                        marker=marker[base_attack(a)],
                        ms=5,
                    )
            _chosen(ax, doc)
            ax.set(
                title=f"mean relative perturbation {label} (all points)",
                xlabel="jump",
                ylabel=label,
            )
        handles = threat_handles([t for t in THREAT_LABELS if any(u[0] == t for u in us)])
        handles += [
            Line2D([], [], color="#444444", ls="", marker=marker[a], label=a) for a in attacks
        ]
        handles += _map_handle(doc)
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


def _curve_plot(doc: Doc) -> Plot | None:
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


def _tuning_plot(doc: Doc) -> Plot | None:
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
        _chosen(ax, doc)
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


def build_plots(doc: Doc) -> list[Plot]:
    """Every chart of the report, in display order.

    Args:
        doc: a validated results document.

    Returns:
        Accuracy and rho against the jump, robust accuracy against eps (when a minimal attack
        ran) and the jump selection (tuned runs).
    """
    plots = [_accuracy_plot(doc), _rho_plot(doc), _curve_plot(doc), _tuning_plot(doc)]
    return [p for p in plots if p is not None]
