"""The types of a results document (docs/results-schema.md), as a table checked on load.

``TYPES`` maps a path to the kinds of value allowed there: ``a.b`` is key ``b`` of object
``a``, ``a[]`` every item of list ``a``, ``a.*`` every value of object ``a``. Kinds: ``object``,
``list``, ``str``, ``int``, ``number`` (finite, not a boolean), ``bool``, ``null``, ``array`` (a
rectangular nested list of numbers), and ``absent`` (the key may be missing). Keys the table
does not name are allowed (documents may carry more than the report reads). Adjusting the
schema is editing a row.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any

from jumprelu.errors import JumpReLUError

__all__ = ["TYPES", "check_document"]

_M = "cells[].metrics."
_OPT = "number null absent"  # a measured value that may be missing or undefined

TYPES: dict[str, str] = {
    "config": "object",
    "config.dataset": "str",
    "config.split": "str absent",
    "config.protocol": "str absent",
    "config.n": "int null absent",
    "config.jumps": "list absent",
    "config.attacks": "list absent",
    "config.attacks[]": "str",
    "config.threats": "list absent",
    "config.threats[]": "str",
    "config.eps": _OPT,
    "config.eps_l2": _OPT,
    "config.seed": "int absent",
    "config.settings": "object absent",
    "config.settings.*": "object",
    "config.arch": "str null absent",
    "config.checkpoint": "str null absent",
    "provenance": "object",
    "provenance.seed": "int null absent",
    "provenance.created": "str absent",
    "provenance.machine": "str absent",
    "provenance.versions": "object absent",
    "provenance.versions.*": "str null",
    "provenance.checkpoint_meta": "object null absent",
    "provenance.checkpoint_meta.mean": "list null absent",
    "provenance.checkpoint_meta.mean[]": "number",
    "provenance.checkpoint_meta.std": "list null absent",
    "provenance.checkpoint_meta.std[]": "number",
    "provenance.tuning": "object null absent",
    "provenance.tuning.jump": _OPT,
    "provenance.tuning.quantile": _OPT,
    "provenance.tuning.max_drop": "number absent",
    "provenance.tuning.baseline_accuracy": "number absent",
    "provenance.tuning.n": "int absent",
    "provenance.tuning.metric": "str null absent",
    "provenance.tuning.site_jumps": "object null absent",
    "provenance.tuning.site_jumps.*": "number",
    "provenance.tuning.rows": "list absent",
    "provenance.tuning.rows[]": "object",
    "provenance.tuning.rows[].jump": _OPT,
    "provenance.tuning.rows[].quantile": _OPT,
    "provenance.tuning.rows[].accuracy": "number",
    "provenance.tuning.rows[].drop": "number",
    "provenance.tuning.rows[].robust": _OPT,
    "conventions": "object",
    "conventions.*": "str",
    "clean": "list",
    "clean[]": "object",
    "clean[].jump": "number str",
    "clean[].jump_map": "object absent",
    "clean[].jump_map.*": "number",
    "clean[].accuracy": "number",
    "clean[].n": "int",
    "clean[].examples_pred": "list absent",
    "clean[].examples_pred[]": "int",
    "examples": "object absent",
    "examples.x": "array absent",
    "examples.labels": "list absent",
    "examples.labels[]": "int",
    "examples.mean": "list null absent",
    "examples.mean[]": "number",
    "examples.std": "list null absent",
    "examples.std[]": "number",
    "cells": "list",
    "cells[]": "object",
    "cells[].threat": "str",
    "cells[].attack": "str",
    "cells[].jump": "number str",
    "cells[].jump_map": "object absent",
    "cells[].jump_map.*": "number",
    "cells[].family": "str",
    "cells[].settings": "object",
    "cells[].metrics": "object",
    _M + "n": "int",
    _M + "clean_accuracy": "number",
    _M + "adv_accuracy": "number",
    **{
        _M + key: "number null"
        for key in (
            "success_rate",
            "rho2_all",
            "rhoinf_all",
            "rho2_success",
            "rhoinf_success",
            "median_rho2_success",
            "median_rhoinf_success",
            "l2_success",
            "linf_success",
        )
    },
    _M + "zero_grad_fraction": "number",
    _M + "grad_evals": "int",
    _M + "seconds": "number",
    "cells[].curve": "object absent",
    "cells[].curve.norm": "str absent",
    "cells[].curve.points": "list",
    "cells[].curve.points[]": "list",
    "cells[].curve.points[][]": "number",
    "cells[].indicators": "object null absent",
    "cells[].indicators.*": "int null",
    "cells[].checks": "object absent",
    "cells[].checks.n": "int absent",
    "cells[].checks.attack": "str absent",
    "cells[].checks.eps": _OPT,
    "cells[].checks.accuracy_vs_eps": "list absent",
    "cells[].checks.accuracy_vs_eps[]": "list",
    "cells[].checks.accuracy_vs_eps[][]": "number null",
    "cells[].checks.unbounded_success": _OPT,
    "cells[].checks.more_steps_broken": "int null absent",
    "cells[].stages": "list absent",
    "cells[].stages[]": "object",
    "cells[].stages[].stage": "str",
    "cells[].stages[].attacked": "int",
    "cells[].stages[].broken": "int",
    "cells[].stages[].seconds": "number absent",
    "cells[].examples": "array absent",
    "cells[].examples_pred": "list absent",
    "cells[].examples_pred[]": "int",
    "ensemble": "list",
    "ensemble[]": "object",
    "ensemble[].jump": "number str",
    "ensemble[].jump_map": "object absent",
    "ensemble[].jump_map.*": "number",
    "ensemble[].adv_accuracy": "number",
    "ensemble[].n": "int",
    "ensemble[].over": "list absent",
    "ensemble[].over[]": "str",
    "ensemble[].budget": "object absent",
    "ensemble[].budget.*": "object",
    "ensemble[].budget.*.eps": "number",
    "ensemble[].budget.*.eps_attack_space": "number",
    "ensemble[].budget.*.adv_accuracy": "number null",
    "flags": "list",
    "flags[]": "object",
    "flags[].code": "str",
    "flags[].where": "str",
    "flags[].message": "str",
    "flags[].explanation": "str",
}

_WORDS = {
    "object": "an object",
    "list": "a list",
    "str": "a string",
    "int": "an integer",
    "number": "a finite number",
    "bool": "a boolean",
    "null": "null",
    "array": "a rectangular array of numbers",
}


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


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
    "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": _is_number,
    "bool": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "array": lambda v: isinstance(v, list) and _shape(v) is not None,
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
        JumpReLUError: ``SOURCE: PATH must be KIND, got VALUE``, or ``SOURCE: PATH is missing``.
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
                want = " or ".join(_WORDS[k] for k in allowed if k != "absent")
                raise JumpReLUError(
                    f"{source}: {where} must be {want}, got {_found(value, 'array' in allowed)}"
                )
