"""The types of a results document (docs/results-schema.md), as a table checked on load.

``TYPES`` maps a path to the kinds of value allowed there: ``a.b`` is key ``b`` of object
``a``, ``a[]`` every item of list ``a``, ``a.*`` every value of object ``a``. Kinds: ``object``,
``list``, ``str``, ``int``, ``number`` (finite, not a boolean), ``bool``, ``null``, ``array`` (a
rectangular nested list of numbers), and ``absent`` (the key may be missing); kinds that also
bound the value: ``items`` (a non-empty list), ``fraction`` (a number in [0, 1]: accuracies,
success rates), ``nonneg`` (a finite number >= 0), ``count`` (an integer >= 0), ``size`` (an
integer >= 1: a number of points ``n``), ``jump`` (a number >= 0, or a per-layer point's label
``layers-<8 hex digits>``), ``threat`` (``evaluation.threats.THREATS``) and ``protocol``
(``PROTOCOLS``). Keys the table does not name are allowed (documents may carry more than the
report reads). Adjusting the schema is editing a row; ``validate.check_document`` applies the
table.
"""

from __future__ import annotations

import dataclasses

from jumprelu.evaluation.metrics import Metrics

__all__ = ["TYPES"]

_M = "cells[].metrics."
#: The schema kind of each type a ``Metrics`` field is annotated with.
_KINDS = {"int": "int", "float": "number", "float | None": "number null"}
#: ``Metrics`` fields whose range is narrower than their type (the others are sizes >= 0).
_RANGES = {
    "n": "size",
    "clean_accuracy": "fraction",
    "adv_accuracy": "fraction",
    "success_rate": "fraction null",
    "zero_grad_fraction": "fraction",
}
_OPT = "number null absent"  # a measured value that may be missing or undefined


def _metric(name: str, kind: str) -> str:
    """A ``Metrics`` field's kinds: its range, else its type's (numbers are >= 0)."""
    by_type = " ".join({"int": "count", "number": "nonneg"}.get(k, k) for k in kind.split())
    return _RANGES.get(name, by_type)


TYPES: dict[str, str] = {
    "config": "object",
    "config.dataset": "str",
    "config.split": "str absent",
    "config.protocol": "protocol absent",
    "config.n": "size null absent",
    "config.jumps": "list absent",
    "config.jumps[]": "nonneg object",
    "config.jumps[].*": "nonneg list",
    "config.jumps[].*[]": "nonneg",
    "config.attacks": "list absent",
    "config.attacks[]": "str",
    "config.threats": "items absent",
    "config.threats[]": "threat",
    "config.eps": "nonneg null absent",
    "config.eps_l2": "nonneg null absent",
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
    "provenance.tuning.jump": "nonneg null absent",
    "provenance.tuning.quantile": "fraction null absent",
    "provenance.tuning.max_drop": "nonneg absent",
    "provenance.tuning.baseline_accuracy": "fraction absent",
    "provenance.tuning.n": "size absent",
    "provenance.tuning.metric": "str null absent",
    "provenance.tuning.site_jumps": "object null absent",
    "provenance.tuning.site_jumps.*": "nonneg",
    "provenance.tuning.rows": "list absent",
    "provenance.tuning.rows[]": "object",
    "provenance.tuning.rows[].jump": "nonneg null absent",
    "provenance.tuning.rows[].quantile": "fraction null absent",
    "provenance.tuning.rows[].accuracy": "fraction",
    "provenance.tuning.rows[].drop": "number",
    "provenance.tuning.rows[].robust": _OPT,
    "conventions": "object",
    "conventions.*": "str",
    "clean": "items",
    "clean[]": "object",
    "clean[].jump": "jump",
    "clean[].jump_map": "object absent",
    "clean[].jump_map.*": "nonneg",
    "clean[].accuracy": "fraction",
    "clean[].n": "size",
    "clean[].examples_pred": "list absent",
    "clean[].examples_pred[]": "count",
    "examples": "object absent",
    "examples.x": "array absent",
    "examples.labels": "list absent",
    "examples.labels[]": "count",
    "examples.mean": "list null absent",
    "examples.mean[]": "number",
    "examples.std": "list null absent",
    "examples.std[]": "number",
    "cells": "items",
    "cells[]": "object",
    "cells[].threat": "threat",
    "cells[].attack": "str",
    "cells[].jump": "jump",
    "cells[].jump_map": "object absent",
    "cells[].jump_map.*": "nonneg",
    "cells[].family": "str",
    "cells[].settings": "object",
    "cells[].metrics": "object",
    **{_M + f.name: _metric(f.name, _KINDS[str(f.type)]) for f in dataclasses.fields(Metrics)},
    "cells[].curve": "object absent",
    "cells[].curve.norm": "str absent",
    "cells[].curve.points": "list",
    "cells[].curve.points[]": "list",
    "cells[].curve.points[][]": "number",
    "cells[].indicators": "object null absent",
    "cells[].indicators.*": "count null",
    "cells[].checks": "object absent",
    "cells[].checks.n": "count absent",
    "cells[].checks.attack": "str absent",
    "cells[].checks.eps": "nonneg null absent",
    "cells[].checks.accuracy_vs_eps": "list absent",
    "cells[].checks.accuracy_vs_eps[]": "list",
    "cells[].checks.accuracy_vs_eps[][]": "number null",
    "cells[].checks.unbounded_success": "fraction null absent",
    "cells[].checks.more_steps_broken": "count null absent",
    "cells[].stages": "list absent",
    "cells[].stages[]": "object",
    "cells[].stages[].stage": "str",
    "cells[].stages[].attacked": "count",
    "cells[].stages[].broken": "count",
    "cells[].stages[].seconds": "nonneg absent",
    "cells[].examples": "array absent",
    "cells[].examples_pred": "list absent",
    "cells[].examples_pred[]": "count",
    "ensemble": "items",
    "ensemble[]": "object",
    "ensemble[].jump": "jump",
    "ensemble[].jump_map": "object absent",
    "ensemble[].jump_map.*": "nonneg",
    "ensemble[].adv_accuracy": "fraction",
    "ensemble[].n": "size",
    "ensemble[].over": "list absent",
    "ensemble[].over[]": "str",
    "ensemble[].budget": "object absent",
    "ensemble[].budget.*": "object",
    "ensemble[].budget.*.eps": "nonneg",
    "ensemble[].budget.*.eps_attack_space": "nonneg",
    "ensemble[].budget.*.adv_accuracy": "fraction null",
    "flags": "list",
    "flags[]": "object",
    "flags[].code": "str",
    "flags[].where": "str",
    "flags[].message": "str",
    "flags[].explanation": "str",
}
