"""What the report reads off a results document: its grid of jumps, threat models and attacks,
its cells by key, and the jump ``tune`` chose; and how a jump is displayed everywhere."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jumprelu.evaluation.jump_grid import point_label
from jumprelu.evaluation.units import split_unit

__all__ = [
    "THREAT_LABELS",
    "Doc",
    "JumpKey",
    "base_attack",
    "cell_index",
    "chosen_jump",
    "fmt_jump",
    "jump_key",
    "jump_maps",
    "jump_x",
    "jumps",
    "parameter",
    "threats",
    "units",
]

#: A results document (docs/results-schema.md), as read from JSON.
Doc = dict[str, Any]
#: A grid point as the report keys it: the jump, or a per-layer mapping's label.
JumpKey = float | str

#: Display names of the threat models.
THREAT_LABELS = {"white": "White-box", "gray": "Gray-box", "adaptive": "Adaptive"}


def threats(doc: Doc) -> list[str]:
    """Threat models present in the cells, in the config's order."""
    seen = {c["threat"] for c in doc["cells"]}
    order = [t for t in doc["config"].get("threats", []) if t in seen]
    return order + sorted(seen - set(order))


def units(doc: Doc, threat: str | None = None) -> list[tuple[str, str]]:
    """``(threat, attack)`` pairs in the order the cells first list them.

    Args:
        doc: the results document.
        threat: only this threat model.

    Returns:
        The pairs, grouped by threat in ``threats(doc)`` order.
    """
    found: list[tuple[str, str]] = []
    for c in doc["cells"]:
        key = (c["threat"], c["attack"])
        if key not in found:
            found.append(key)
    rank = {t: i for i, t in enumerate(threats(doc))}
    found.sort(key=lambda u: rank[u[0]])
    return [u for u in found if threat is None or u[0] == threat]


def jump_key(jump: Any) -> JumpKey:
    """A recorded ``jump`` as the report keys it: a float, or a mapping's label as is."""
    return jump if isinstance(jump, str) else float(jump)


def jumps(doc: Doc) -> list[JumpKey]:
    """The evaluated grid points: the jumps ascending, then per-layer mappings' labels."""
    keys = [jump_key(c["jump"]) for c in [*doc["cells"], *doc["clean"]]]
    labels = [k for k in dict.fromkeys(keys) if isinstance(k, str)]
    return sorted({k for k in keys if not isinstance(k, str)}) + labels


def jump_maps(doc: Doc) -> dict[str, dict[str, float]]:
    """The per-layer mappings of the grid, ``{label: {site: jump}}`` (empty without any)."""
    rows = [*doc["clean"], *doc["cells"], *doc["ensemble"]]
    return {
        str(r["jump"]): dict(r["jump_map"]) for r in rows if isinstance(r.get("jump_map"), Mapping)
    }


def parameter(doc: Doc) -> str:
    """What the grid's values are called: the defence's parameter (``kappa``, ``alpha``), or
    ``jump`` for documents written before the defence was recorded."""
    defence = doc.get("defence")
    name = defence.get("parameter") if isinstance(defence, Mapping) else None
    return name if isinstance(name, str) and name else "jump"


def jump_x(doc: Doc, key: JumpKey) -> float:
    """Where a grid point sits on a jump axis: the jump, or a mapping's mean jump."""
    if not isinstance(key, str):
        return key
    values = list(jump_maps(doc).get(key, {}).values())
    return sum(values) / len(values) if values else 0.0


def cell_index(doc: Doc) -> dict[tuple[str, str, JumpKey], dict[str, Any]]:
    """Cells keyed by ``(threat, attack, jump key)``."""
    return {(c["threat"], c["attack"], jump_key(c["jump"])): c for c in doc["cells"]}


def base_attack(attack: str) -> str:
    """The attack's name without the ``bpda:`` / ``bpda-smooth:`` prefix of adaptive attacks."""
    return split_unit(attack)[0]


def chosen_jump(doc: Doc) -> JumpKey | None:
    """What ``jumprelu tune`` chose (``provenance.tuning``): the jump, or the label of the
    per-layer mapping ``site_jumps``; None for untuned runs."""
    tuning = doc["provenance"].get("tuning")
    if not isinstance(tuning, Mapping):
        return None
    if isinstance(tuning.get("jump"), int | float):
        return float(tuning["jump"])
    if isinstance(tuning.get("label"), str):  # learned thresholds (their file: jumps.json)
        return str(tuning["label"])
    sites = tuning.get("site_jumps")
    return point_label(dict(sites)) if isinstance(sites, Mapping) and sites else None


def fmt_jump(jump: JumpKey) -> str:
    """A jump (or a per-layer mapping's label) as displayed everywhere in the report."""
    return jump if isinstance(jump, str) else f"{jump:g}"
