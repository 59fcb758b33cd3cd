"""The report's result tables: accuracy under attack by jump, and every metric per threat.

Tables are plain strings (see ``formatting``), shared by the HTML and Markdown renderers.
"""

from __future__ import annotations

from typing import Any

from jumprelu.report.doc import (
    THREAT_LABELS,
    Doc,
    cell_index,
    chosen_jump,
    fmt_jump,
    jump_key,
    jump_maps,
    jumps,
    parameter,
    units,
)
from jumprelu.report.formatting import MISSING, Table, fmt_cell, fmt_settings, jump_label, pct
from jumprelu.report.theme import RHO

__all__ = [
    "BUDGET_LABEL",
    "METRIC_COLUMNS",
    "THREAT_NOTES",
    "budget_norms",
    "overview_table",
    "threat_table",
]

THREAT_NOTES = {
    "white": "the attack differentiates the JumpReLU model itself (native gradient 1[x > jump])",
    "gray": "inputs crafted once on the original ReLU model (jump 0), evaluated at every jump",
    "adaptive": "gradient attacks with BPDA (forward JumpReLU, backward ReLU) and gradient-free "
    "attacks querying the JumpReLU model",
}
#: Per-threat table columns after attack and jump: (header, metric key, format).
METRIC_COLUMNS = (
    ("n", "n", "int"),
    ("clean %", "clean_accuracy", "pct"),
    ("accuracy %", "adv_accuracy", "pct"),
    ("success %", "success_rate", "pct"),
    (RHO + "₂ all", "rho2_all", "num"),
    (RHO + "∞ all", "rhoinf_all", "num"),
    (RHO + "₂ fooled", "rho2_success", "num"),
    (RHO + "∞ fooled", "rhoinf_success", "num"),
    ("‖δ‖₂ fooled", "l2_success", "num"),
    ("‖δ‖∞ fooled", "linf_success", "num"),
    ("zero-grad %", "zero_grad_fraction", "pct"),
    ("grad evals", "grad_evals", "int"),
    ("time s", "seconds", "sec"),
)


def _conventions(doc: Doc) -> tuple[str, ...]:
    conv = doc["conventions"]
    return (
        f"Protocol {doc['config'].get('protocol', '?')}: perturbations measured in "
        f"{conv.get('space', '?')}.",
        f"accuracy: {conv.get('adv_accuracy', '')}.",
        f"{RHO} all: {conv.get('rho_all', '')}.",
        f"{RHO} fooled: {conv.get('rho_success', '')}; ‖δ‖ fooled: mean absolute norm over "
        "the same points; success: fraction of originally correct points fooled.",
        "zero-grad: fraction of points the attack abandoned on an exactly zero gradient.",
    )


BUDGET_LABEL = {"linf": "L∞", "l2": "L2"}


def budget_norms(doc: Doc) -> dict[str, float]:
    """The budgets of the within-budget ensembles, {norm: eps in the attacked space}."""
    rows = [e.get("budget") for e in doc["ensemble"]]
    if not rows or not all(rows):
        return {}
    return {n: float(b["eps_attack_space"]) for n, b in rows[0].items() if n in BUDGET_LABEL}


def overview_table(doc: Doc) -> Table:
    """Accuracy under every attack per jump, with clean accuracy and the ensemble."""
    cells, chosen = cell_index(doc), chosen_jump(doc)
    clean = {jump_key(c["jump"]): c for c in doc["clean"]}
    ens = {jump_key(e["jump"]): e for e in doc["ensemble"]}
    us = units(doc)
    budgets = budget_norms(doc)
    rows, marked = [], set()
    for i, j in enumerate(jumps(doc)):
        row = [jump_label(j, chosen), str(clean[j]["n"]) if j in clean else MISSING]
        row.append(pct(clean[j]["accuracy"]) if j in clean else MISSING)
        for t, a in us:
            c = cells.get((t, a, j))
            row.append(pct(c["metrics"]["adv_accuracy"]) if c else MISSING)
        for norm in budgets:
            b = ens.get(j, {}).get("budget", {}).get(norm)
            row.append(pct(b["adv_accuracy"]) if b else MISSING)
        row.append(pct(ens[j]["adv_accuracy"]) if j in ens else MISSING)
        rows.append(tuple(row))
        if j == chosen:
            marked.add(i)
    notes = [
        "Accuracy in % over all n points; clean: without attack; ensemble: per-sample worst "
        "case over every attack and threat model in this table.",
        f"accuracy: {doc['conventions'].get('adv_accuracy', '')}.",
    ]
    if budgets:
        notes.append(
            "L∞ ≤ ε, L2 ≤ ε: robust accuracy within the budget (units of the attacked space): "
            "per-sample worst case over every attack and threat whose perturbation, in that "
            "norm, fits the budget (fixed-budget attacks always, minimal ones where small enough)."
        )
    if chosen is not None:
        notes.append(f"★ marks the jump chosen by tune on validation data ({fmt_jump(chosen)}).")
    if jump_maps(doc):
        notes.append(
            "layers-…: a per-layer jump mapping (its jump per site in the table 'Per-layer "
            "jumps'; sites it does not name at jump 0)."
        )
    return Table(
        key="overview",
        title=f"Accuracy under attack by {parameter(doc)}",
        header=(
            parameter(doc),
            "n",
            "clean %",
            *(f"{t}/{a}" for t, a in us),
            *(f"{BUDGET_LABEL[n]} ≤ {eps:.4g} %" for n, eps in budgets.items()),
            "ensemble %",
        ),
        rows=tuple(rows),
        notes=tuple(notes),
        column_threats=(None, None, None, *(t for t, _ in us), *(None for _ in budgets), None),
        marked=frozenset(marked),
    )


def threat_table(doc: Doc, threat: str) -> Table:
    """Every metric of one threat model's cells, with its conventions and settings.

    Args:
        doc: a validated results document.
        threat: "white", "gray" or "adaptive".

    Returns:
        One row per (attack, jump).
    """
    cells, chosen = cell_index(doc), chosen_jump(doc)
    rows: list[tuple[str, ...]] = []
    marked: set[int] = set()
    settings: dict[str, Any] = {}
    for t, a in units(doc, threat):
        for j in jumps(doc):
            c = cells.get((t, a, j))
            if c is None:
                continue
            settings[a] = c["settings"]
            m = c["metrics"]
            row = [a, jump_label(j, chosen)]
            row += [fmt_cell(m.get(key), kind) for _, key, kind in METRIC_COLUMNS]
            if j == chosen:
                marked.add(len(rows))
            rows.append(tuple(row))
            own = c.get("own_gradient_accuracy")
            if own is not None:  # the suite's pass through the defence's own gradient
                mine = {"n": m.get("n"), "clean_accuracy": m.get("clean_accuracy")}
                mine["adv_accuracy"] = own
                rows.append(
                    (
                        f"{a} (own gradient only)",
                        jump_label(j, chosen),
                        *(fmt_cell(mine.get(key), kind) for _, key, kind in METRIC_COLUMNS),
                    )
                )
    protocol = doc["config"].get("protocol", "?")
    own = any(r[0].endswith("(own gradient only)") for r in rows)
    notes = (
        f"{THREAT_LABELS.get(threat, threat)}: {THREAT_NOTES.get(threat, threat)}.",
        *(
            [
                "A suite run through the surrogate exact beside others first runs every stage "
                "through the defence's own gradient (what a plain AutoAttack run sees): its "
                "'(own gradient only)' row; the suite's row adds the other surrogates."
            ]
            if own
            else []
        ),
        *_conventions(doc),
        "Settings: " + "; ".join(f"{a}: {fmt_settings(s)}" for a, s in settings.items()) + ".",
    )
    return Table(
        key=f"threat-{threat}",
        title=f"{THREAT_LABELS.get(threat, threat)} threat model, {protocol} protocol",
        header=("attack", parameter(doc), *(h for h, _, _ in METRIC_COLUMNS)),
        rows=tuple(rows),
        notes=notes,
        labels=2,
        threat=threat,
        marked=frozenset(marked),
    )
