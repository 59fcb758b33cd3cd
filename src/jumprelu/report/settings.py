"""Tables of how the numbers were obtained: attack settings, per-layer jumps, jump selection."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from jumprelu import __version__
from jumprelu.attacks import describe_attacks
from jumprelu.report.doc import Doc, base_attack, chosen_jump, fmt_jump, jump_maps, jump_x
from jumprelu.report.formatting import MISSING, Table, fmt_cell, fmt_settings, jump_label, pct

__all__ = ["jump_map_table", "settings_table", "tuning_table"]


def jump_map_table(doc: Doc) -> Table | None:
    """The jump of every site under each per-layer mapping of the grid (None without any)."""
    maps = jump_maps(doc)
    if not maps:
        return None
    chosen = chosen_jump(doc)
    sites = list(dict.fromkeys(s for m in maps.values() for s in m))
    rows = [
        (s, *(f"{m[s]:.6g}" if s in m else "0 (not named)" for m in maps.values())) for s in sites
    ]
    rows.append(("mean", *(f"{jump_x(doc, k):.6g}" for k in maps)))
    return Table(
        key="jump-maps",
        title="Per-layer jumps",
        header=("site", *(jump_label(k, chosen) for k in maps)),
        rows=tuple(rows),
        notes=(
            "Each column is one grid point whose jump differs per JumpReLU site (a per-layer "
            "mapping, e.g. from tune --per-layer); it is labelled layers-<first 8 hex digits "
            "of the SHA-256 of its canonical JSON> in the tables and results, and drawn at its "
            "mean jump (the last row) in the charts."
            + (
                " A site with per-channel jumps (tune --learn-thresholds) shows their mean."
                if any(r.get("jump_channels") for r in doc["clean"])
                else ""
            ),
        ),
    )


def settings_table(doc: Doc) -> Table:
    """Each attack's recorded settings, the threat models it ran under, and its defaults."""
    defaults = {name: d for name, _, d in describe_attacks()}
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    for c in doc["cells"]:
        name = base_attack(c["attack"])
        key = (name, json.dumps(c["settings"], sort_keys=True))
        g = groups.setdefault(
            key, {"family": c["family"], "threats": [], "settings": c["settings"]}
        )
        label = c["threat"] + (" (BPDA)" if c["attack"].startswith("bpda") else "")
        if label not in g["threats"]:
            g["threats"].append(label)
    rows = []
    for (name, _), g in groups.items():
        other = {k: v for k, v in defaults.get(name, {}).items() if k not in g["settings"]}
        rows.append(
            (
                name,
                g["family"],
                ", ".join(g["threats"]),
                fmt_settings(g["settings"]),
                fmt_settings(other) if other else MISSING,
            )
        )
    return Table(
        key="settings",
        title="Attack settings",
        header=("attack", "family", "threat models", "recorded settings", "other settings"),
        rows=tuple(rows),
        notes=(
            "Recorded settings are those in results.json, in units of the attacked space; "
            f"other settings are the attack's defaults in jumprelu {__version__}.",
        ),
        labels=5,
    )


def tuning_table(doc: Doc) -> Table | None:
    """The candidates ``jumprelu tune`` tried on validation data (None for untuned runs)."""
    tuning = doc["provenance"].get("tuning")
    if not isinstance(tuning, Mapping) or not tuning.get("rows"):
        return None
    max_drop = float(tuning.get("max_drop", 0.0))
    by = next(k for k in ("quantile", "step", "jump") if k in tuning["rows"][0])
    rows, marked = [], set()
    if by == "step":  # learned thresholds: the last admissible check
        admissible = [r["step"] for r in tuning["rows"] if r["drop"] <= max_drop + 1e-12]
        pick = admissible[-1] if admissible else None
    else:
        pick = tuning.get("quantile") if by == "quantile" else tuning.get("jump")
    for i, r in enumerate(tuning["rows"]):
        ok = r["drop"] <= max_drop + 1e-12
        rows.append(
            (
                jump_label(r[by], pick),
                pct(r["accuracy"]),
                pct(r["drop"]),
                "yes" if ok else "no",
                fmt_cell(r.get("robust"), "num"),
            )
        )
        if r[by] == pick:
            marked.add(i)
    chosen = MISSING if pick is None else fmt_jump(pick)
    learned = tuning.get("settings")
    objective = learned.get("objective", MISSING) if isinstance(learned, Mapping) else MISSING
    return Table(
        key="tuning",
        title="Jump selection on validation data",
        header=(by, "val accuracy %", "drop (points)", "admissible", "robustness"),
        rows=tuple(rows),
        notes=(
            (
                f"tune learned per-channel jumps (--learn-thresholds; objective: {objective}) "
                f"and kept those of the last admissible check, step {chosen}"
                if by == "step"
                else f"tune chose {by} {chosen}: "
                + (
                    f"the admissible {by} with the highest {tuning['metric']}"
                    if tuning.get("metric")
                    else f"the largest admissible {by}"
                )
            )
            + f"; admissible: validation accuracy drop of at most {pct(max_drop)} points "
            f"relative to jump 0 (baseline {pct(tuning.get('baseline_accuracy'))} %, "
            f"n={tuning.get('n', '?')}).",
            "The test-split numbers above were computed after the choice.",
        ),
        marked=frozenset(marked),
    )
