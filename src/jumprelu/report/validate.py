"""Check a results document against the ``schema.TYPES`` table, value by value.

Every place a table path names is visited (``a[]``: each item, ``a.*``: each value); the first
value of a wrong kind (a type, or a value out of its range: a fraction above 1, a negative
jump, an unknown threat, an empty list the report needs), or a missing key the table does not
allow to be absent, is reported with its concrete path, e.g. ``cells[3].metrics.n must be an
integer >= 1, got the string '5'``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from typing import Any

from jumprelu.errors import JumpReLUError
from jumprelu.evaluation.jump_grid import MAP_PREFIX
from jumprelu.evaluation.threats import PROTOCOLS, THREATS
from jumprelu.report.schema import TYPES

__all__ = ["check_document"]

_WORDS = {
    "object": "an object",
    "list": "a list",
    "str": "a string",
    "int": "an integer",
    "number": "a finite number",
    "bool": "a boolean",
    "null": "null",
    "array": "a rectangular array of numbers",
    "items": "a non-empty list",
    "fraction": "a number in [0, 1]",
    "nonneg": "a finite number >= 0",
    "count": "an integer >= 0",
    "size": "an integer >= 1",
    "jump": f"a jump (a finite number >= 0, or a label {MAP_PREFIX}<8 hex digits>)",
    "threat": f"a threat ({', '.join(THREATS)})",
    "protocol": f"a protocol ({', '.join(PROTOCOLS)})",
}
#: A per-layer point's label: ``layers-`` and the first 8 hex digits of its mapping's SHA-256.
_LABEL = re.compile(re.escape(MAP_PREFIX) + "[0-9a-f]{8}")


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_label(v: str) -> bool:
    return _LABEL.fullmatch(v) is not None


def _shape(v: Any) -> tuple[int, ...] | None:
    """The shape of a rectangular nested list of numbers, or None."""
    if _is_number(v):
        return ()
    if not isinstance(v, list):
        return None
    shapes = {_shape(item) for item in v}
    inner = shapes.pop() if len(shapes) == 1 else () if not shapes else None
    return None if inner is None else (len(v), *inner)


_CHECKS: dict[str, Callable[[Any], bool]] = {
    "object": lambda v: isinstance(v, dict),
    "list": lambda v: isinstance(v, list),
    "str": lambda v: isinstance(v, str),
    "int": _is_int,
    "number": _is_number,
    "bool": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "array": lambda v: isinstance(v, list) and _shape(v) is not None,
    "items": lambda v: isinstance(v, list) and len(v) > 0,
    "fraction": lambda v: _is_number(v) and 0 <= v <= 1,
    "nonneg": lambda v: _is_number(v) and v >= 0,
    "count": lambda v: _is_int(v) and v >= 0,
    "size": lambda v: _is_int(v) and v >= 1,
    "jump": lambda v: (_is_number(v) and v >= 0) or (isinstance(v, str) and _is_label(v)),
    "threat": lambda v: isinstance(v, str) and v in THREATS,
    "protocol": lambda v: isinstance(v, str) and v in PROTOCOLS,
}


def _found(v: Any, array: bool) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return f"the boolean {str(v).lower()}"
    if isinstance(v, str):
        return f"the string {v[:40]!r}"
    if isinstance(v, int | float):
        return f"the number {v}"
    if isinstance(v, list):
        return ("a ragged or non-numeric list" if array else "a list") if v else "an empty list"
    return "an object"


def _steps(path: str) -> list[str]:
    """``a[].b.*`` -> ``["a", "[]", "b", "*"]``."""
    out: list[str] = []
    for part in path.split("."):
        name = part.rstrip("[]")
        out += ([name] if name else []) + ["[]"] * ((len(part) - len(name)) // 2)
    return out


def _values(doc: Any, steps: list[str], where: str = "") -> Iterator[tuple[str, Any, bool]]:
    """``(concrete path, value, present)`` for every place a table path names."""
    if not steps:
        yield where, doc, True
        return
    step, rest = steps[0], steps[1:]
    if step == "[]":
        if isinstance(doc, list):
            for i, item in enumerate(doc):
                yield from _values(item, rest, f"{where}[{i}]")
    elif step == "*":
        if isinstance(doc, dict):
            for key, item in doc.items():
                yield from _values(item, rest, f"{where}.{key}" if where else key)
    elif isinstance(doc, dict):
        here = f"{where}.{step}" if where else step
        if step in doc:
            yield from _values(doc[step], rest, here)
        elif not rest:
            yield here, None, False


def check_document(doc: Any, source: str) -> None:
    """Check every value ``TYPES`` names; the first wrong one is reported with its path.

    Args:
        doc: the parsed document.
        source: the file, for the message.

    Raises:
        JumpReLUError: ``SOURCE: PATH must be KIND, got VALUE``, ``SOURCE: PATH is missing``, or
            ``SOURCE: PATH is empty`` (a list the report needs items of).
    """
    if not isinstance(doc, dict):
        raise JumpReLUError(f"{source}: the document is not an object")
    for path, kinds in TYPES.items():
        allowed = kinds.split()
        for where, value, present in _values(doc, _steps(path)):
            if not present:
                if "absent" not in allowed:
                    raise JumpReLUError(f"{source}: {where} is missing")
                continue
            if not any(_CHECKS[k](value) for k in allowed if k != "absent"):
                if value == [] and "items" in allowed:
                    raise JumpReLUError(f"{source}: {where} is empty: the results hold no {where}")
                want = " or ".join(_WORDS[k] for k in allowed if k != "absent")
                raise JumpReLUError(
                    f"{source}: {where} must be {want}, got {_found(value, 'array' in allowed)}"
                )
