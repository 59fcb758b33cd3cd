"""The parser class and the argparse ``type=`` functions: each value is checked where it enters.

A ``type=`` function raises ``argparse.ArgumentTypeError`` with what is wrong; ``Parser.error``
prints it as one line ``jumprelu: error: ...`` and exits with status 2.
"""

from __future__ import annotations

import argparse
import json
import math
import types
import typing
from pathlib import Path
from typing import Any, NoReturn

from jumprelu.models.checkpoint_meta import MAX_CLASSES

__all__ = [
    "MAX_SEED",
    "Parser",
    "attack_setting",
    "checkpoint_out",
    "class_count",
    "count",
    "device",
    "finite",
    "floats",
    "milestones",
    "positive",
    "run_dir",
    "seed",
]

#: Largest seed accepted (torch generators take 64-bit seeds; numpy's and ours fit in 63 bits).
MAX_SEED = 2**63 - 1


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line on stderr, exit status 2."""

    def error(self, message: str) -> NoReturn:
        """Print ``jumprelu: error: MESSAGE`` (no usage block) and exit with status 2."""
        text = " ".join(message.split())
        self.exit(2, f"jumprelu: error: {text} (see {self.prog} --help)\n")


def _bad(text: str) -> argparse.ArgumentTypeError:
    return argparse.ArgumentTypeError(text)


def _int(text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise _bad(f"{what} must be an integer, got {text!r}") from None


def seed(text: str) -> int:
    """A seed: an integer in [0, 2**63 - 1]."""
    value = _int(text, "the seed")
    if not 0 <= value <= MAX_SEED:
        raise _bad(f"the seed must be in [0, 2**63 - 1], got {text}")
    return value


def count(text: str) -> int:
    """An integer >= 0."""
    value = _int(text, "the value")
    if value < 0:
        raise _bad(f"expected an integer >= 0, got {text}")
    return value


def positive(text: str) -> int:
    """An integer >= 1."""
    value = _int(text, "the value")
    if value < 1:
        raise _bad(f"expected an integer >= 1, got {text}")
    return value


def class_count(text: str) -> int:
    """A number of classes: an integer in [2, MAX_CLASSES]."""
    value = _int(text, "the number of classes")
    if not 2 <= value <= MAX_CLASSES:
        raise _bad(f"the number of classes must be in [2, {MAX_CLASSES}], got {text}")
    return value


def device(text: str) -> str:
    """A device name: ``cpu``, ``cuda`` or ``cuda:N`` (whether CUDA is present is checked later)."""
    kind, sep, index = text.partition(":")
    if kind == "cpu" and not sep:
        return text
    if kind == "cuda" and (not sep or index.isdigit()):
        return text
    raise _bad(f"the device must be cpu, cuda or cuda:N, got {text!r}")


def finite(text: str) -> float:
    """A finite number (ranges are checked by the config that takes it)."""
    try:
        value = float(text)
    except ValueError:
        raise _bad(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise _bad(f"expected a finite number, got {text}")
    return value


def floats(text: str) -> list[float]:
    """Comma-separated finite numbers (at least one)."""
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise _bad(f"expected comma-separated numbers, got {text!r}") from None
    if not values or not all(map(math.isfinite, values)):
        raise _bad(f"expected comma-separated finite numbers, got {text!r}")
    return values


def milestones(text: str) -> tuple[int, ...]:
    """Comma-separated epochs >= 1 ('' for none)."""
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise _bad(f"milestones must be comma-separated epochs, got {text!r}") from None
    if any(v < 1 for v in values):
        raise _bad(f"milestones must be epochs >= 1, got {text!r}")
    return values


def run_dir(text: str) -> str:
    """A run directory: missing or a directory, never an existing file."""
    path = Path(text)
    if not text:
        raise _bad("the run directory is empty")
    if path.exists() and not path.is_dir():
        raise _bad(f"{text} exists and is not a directory")
    if any(p.exists() and not p.is_dir() for p in path.parents):
        raise _bad(f"{text}: a parent of it is a file")
    return text


def checkpoint_out(text: str) -> str:
    """A checkpoint to write: not a directory (an existing file is checked by the trainer)."""
    path = Path(text)
    if not text or path.is_dir() or text.endswith(("/", "\\")):
        raise _bad(f"{text or repr(text)} is a directory; give the checkpoint's file name")
    if any(p.exists() and not p.is_dir() for p in path.parents):
        raise _bad(f"{text}: a parent of it is a file")
    return text


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
        raise _bad(f"expected ATTACK.KEY=VALUE, got {text!r}")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    if value is None:  # never differs from leaving it out, except where the run sets it
        raise _bad(f"{key} cannot be null: leave the setting out for its default")
    if isinstance(value, float) and not math.isfinite(value):
        raise _bad(f"{key} must be finite, got {raw}")
    hint = _setting_hint(attack, name)
    if hint is not None and _accepts(hint, value) is False:
        raise _bad(f"{key} takes {_hint_text(hint)}, got {_json_type(value)}")
    return attack, name, value


def _hint_text(hint: Any) -> str:
    names: dict[Any, str] = {bool: "a boolean", int: "an integer", float: "a number"}
    names.update({str: "a string", type(None): "null"})
    parts = typing.get_args(hint) if typing.get_args(hint) else (hint,)
    words = [names[p] for p in parts if p in names]
    return " or ".join(dict.fromkeys(words))
