"""The ``Table`` of the report and its number formatting, shared by every table builder and
both renderers.

Every number is formatted here once, so both formats show the same digits: accuracies and
rates in percent with two decimals, relative perturbations (rho) and norms with four decimals.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from jumprelu.report.doc import JumpKey, fmt_jump

__all__ = [
    "CHOSEN",
    "MISSING",
    "Table",
    "fmt_cell",
    "fmt_settings",
    "fmt_value",
    "jump_label",
    "num",
    "pct",
]

#: Appended to the jump chosen by ``jumprelu tune``.
CHOSEN = " ★"
MISSING = "\N{EN DASH}"


@dataclass(frozen=True)
class Table:
    """One table of the report.

    Attributes:
        key: identifier (HTML id, PNG-free anchor).
        title: heading shown above the table.
        header: column names.
        rows: cell texts, one tuple per row.
        notes: sentences shown under the table (conventions, settings).
        labels: leading columns that are labels rather than numbers.
        threat: the threat model the table is about (for its colour), if one.
        column_threats: per column, the threat model it shows (for header colours).
        marked: indices of rows at the chosen jump.
    """

    key: str
    title: str
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    notes: tuple[str, ...] = ()
    labels: int = 1
    threat: str | None = None
    column_threats: tuple[str | None, ...] = ()
    marked: frozenset[int] = field(default_factory=frozenset)


def pct(value: float | None) -> str:
    """A fraction in percent with two decimals (an en dash for None)."""
    return MISSING if value is None else f"{100 * value:.2f}"


def num(value: float | None) -> str:
    """A relative perturbation or norm with four decimals (an en dash for None)."""
    return MISSING if value is None else f"{value:.4f}"


def fmt_cell(value: Any, kind: str) -> str:
    """A metric value as displayed.

    Args:
        value: the number (None where no point qualified).
        kind: "pct" (percent, 2 decimals), "num" (4 decimals), "sec" (1 decimal) or "int".

    Returns:
        The text (an en dash for None).
    """
    if value is None:
        return MISSING
    if kind == "pct":
        return pct(value)
    if kind == "num":
        return num(value)
    if kind == "sec":
        return f"{value:.1f}"
    return f"{int(value):d}"


def fmt_value(value: Any) -> str:
    """A setting's value: floats to six significant digits, the rest as JSON."""
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, str):
        return value
    return json.dumps(value)


def fmt_settings(settings: Mapping[str, Any]) -> str:
    """Settings as ``key=value`` pairs sorted by key (``defaults`` when empty)."""
    if not settings:
        return "defaults"
    return ", ".join(f"{k}={fmt_value(settings[k])}" for k in sorted(settings))


def jump_label(jump: JumpKey, chosen: JumpKey | None) -> str:
    """A jump (or a mapping's label) as a row label, starred when it is the chosen one."""
    return fmt_jump(jump) + (CHOSEN if chosen is not None and jump == chosen else "")
