"""Points of a jump grid: their exact labels, values, levels, applying one to a model, flags."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from torch import nn

from jumprelu.evaluation.checks import sanity_flags
from jumprelu.retrofit import set_jump

__all__ = [
    "MAP_PREFIX",
    "Point",
    "apply_point",
    "canonical",
    "grid_flags",
    "point_label",
    "point_level",
    "point_value",
]


#: A grid point: one jump for every site, or ``{site name: jump}``.
Point = float | dict[str, float]


#: Prefix of a mapping point's label (and cell-file key).
MAP_PREFIX = "layers-"


#: Stands in for a mapping point's jump while the sanity flags are computed (never a jump).
_SENTINEL = -1.0


def canonical(mapping: Mapping[str, float]) -> str:
    """The canonical JSON of a mapping (sorted keys, no spaces): what its label hashes."""
    return json.dumps(
        {k: float(v) for k, v in mapping.items()}, sort_keys=True, separators=(",", ":")
    )


def point_label(point: Point | Mapping[str, float]) -> str:
    """``"0.5"`` for a jump, ``"layers-<sha8>"`` for a mapping (cell-file key and display).

    A jump's label is exact: ``%g`` when that reads back as the same float, else the shortest
    decimal that does (``0.5000001``), so two jumps never share a label or a cell file.
    """
    if isinstance(point, Mapping):
        return MAP_PREFIX + hashlib.sha256(canonical(point).encode()).hexdigest()[:8]
    short = f"{point:g}"
    return short if float(short) == point else repr(float(point))


def point_value(point: Point) -> float | str:
    """What results record as the point's ``jump``: the number, or a mapping's label."""
    return point_label(point) if isinstance(point, Mapping) else point


def point_level(point: Point) -> float:
    """The largest jump of the point (0 exactly when the model is the original ReLU one)."""
    return max(point.values(), default=0.0) if isinstance(point, Mapping) else point


def apply_point(model: nn.Module, point: Point) -> None:
    """Set a retrofitted model's jumps to ``point`` (sites a mapping omits: jump 0)."""
    if isinstance(point, Mapping):
        set_jump(model, 0.0)
    set_jump(model, point)


def grid_flags(doc: dict[str, Any], *, jump0_matches: bool) -> list[dict[str, str]]:
    """The sanity flags of a results document whose cells may hold mapping points.

    A document without mapping points gets exactly ``checks.sanity_flags``; otherwise each
    mapping point's cells are checked on their own and its flags name it by its label.
    """
    labels = list(dict.fromkeys(c["jump"] for c in doc["cells"] if isinstance(c["jump"], str)))
    if not labels:
        return sanity_flags(doc, jump0_matches=jump0_matches)
    scalar = [c for c in doc["cells"] if not isinstance(c["jump"], str)]
    flags = sanity_flags({"cells": scalar}, jump0_matches=jump0_matches)
    for label in labels:
        cells = [{**c, "jump": _SENTINEL} for c in doc["cells"] if c["jump"] == label]
        for flag in sanity_flags({"cells": cells}):
            flag["where"] = flag["where"].replace(f"jump {_SENTINEL:g}", f"jump {label}")
            flags.append(flag)
    return flags
