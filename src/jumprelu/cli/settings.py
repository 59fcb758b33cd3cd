"""``--set ATTACK.KEY=VALUE``: an attack setting parsed as JSON (else taken as a string) and
checked against the type hint of the attack's parameter where it enters."""

from __future__ import annotations

import json
import math
import types
import typing
from typing import Any

from jumprelu.cli.args import bad

__all__ = ["attack_setting"]


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return f"the string {value!r}"
    return "a list" if isinstance(value, list) else "an object"


def _accepts(hint: Any, value: Any) -> bool | None:
    """Whether ``value`` (from JSON) fits a type hint; None when the hint is not understood."""
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        verdicts = [_accepts(a, value) for a in args]
        return True if any(verdicts) else (None if None in verdicts else False)
    if typing.get_origin(hint) is typing.Literal:
        return value in args
    simple: dict[Any, Any] = {
        type(None): value is None,
        bool: isinstance(value, bool),
        int: isinstance(value, int) and not isinstance(value, bool),
        float: isinstance(value, int | float) and not isinstance(value, bool),
        str: isinstance(value, str),
    }
    if hint in simple:
        return bool(simple[hint])
    return None if typing.get_origin(hint) is None and not isinstance(hint, type) else False


def _setting_hint(attack: str, key: str) -> Any:
    """The type hint of an attack's setting, or None when unknown (the config reports it)."""
    import inspect
    from functools import partial

    from jumprelu.attacks import ATTACKS

    factory = ATTACKS.get(attack)
    if factory is None:
        return None
    target = factory.func if isinstance(factory, partial) else factory
    if key not in inspect.signature(target).parameters:
        return None
    try:
        return inspect.signature(target, eval_str=True).parameters[key].annotation
    except Exception:  # an annotation that does not resolve: leave the check to the config
        return None


def attack_setting(text: str) -> tuple[str, str, Any]:
    """``ATTACK.KEY=VALUE``: VALUE is JSON (else a string) of the type the setting takes, not
    null (a setting left out gets its default)."""
    key, sep, raw = text.partition("=")
    attack, dot, name = key.partition(".")
    if not (sep and dot and attack and name):
        raise bad(f"expected ATTACK.KEY=VALUE, got {text!r}")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    if value is None:  # never differs from leaving it out, except where the run sets it
        raise bad(f"{key} cannot be null: leave the setting out for its default")
    if isinstance(value, float) and not math.isfinite(value):
        raise bad(f"{key} must be finite, got {raw}")
    hint = _setting_hint(attack, name)
    if hint is not None and _accepts(hint, value) is False:
        raise bad(f"{key} takes {_hint_text(hint)}, got {_json_type(value)}")
    return attack, name, value


def _hint_text(hint: Any) -> str:
    names: dict[Any, str] = {bool: "a boolean", int: "an integer", float: "a number"}
    names.update({str: "a string", type(None): "null"})
    parts = typing.get_args(hint) if typing.get_args(hint) else (hint,)
    words = [names[p] for p in parts if p in names]
    return " or ".join(dict.fromkeys(words))
