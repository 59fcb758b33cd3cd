"""The parser class and the argparse ``type=`` functions: each value is checked where it enters.

A ``type=`` function raises ``argparse.ArgumentTypeError`` with what is wrong; ``Parser.error``
prints it as one line ``jumprelu: error: ...`` and exits with status 2.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import NoReturn

from jumprelu.models.checkpoint_meta import MAX_CLASSES

__all__ = [
    "MAX_SEED",
    "Parser",
    "bad",
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


def bad(text: str) -> argparse.ArgumentTypeError:
    """The error a ``type=`` function raises (argparse shows it as one line)."""
    return argparse.ArgumentTypeError(text)


def _int(text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise bad(f"{what} must be an integer, got {text!r}") from None


def seed(text: str) -> int:
    """A seed: an integer in [0, 2**63 - 1]."""
    value = _int(text, "the seed")
    if not 0 <= value <= MAX_SEED:
        raise bad(f"the seed must be in [0, 2**63 - 1], got {text}")
    return value


def _at_least(text: str, low: int) -> int:
    value = _int(text, "the value")
    if value < low:
        raise bad(f"expected an integer >= {low}, got {text}")
    return value


def count(text: str) -> int:
    """An integer >= 0."""
    return _at_least(text, 0)


def positive(text: str) -> int:
    """An integer >= 1."""
    return _at_least(text, 1)


def class_count(text: str) -> int:
    """A number of classes: an integer in [2, MAX_CLASSES]."""
    value = _int(text, "the number of classes")
    if not 2 <= value <= MAX_CLASSES:
        raise bad(f"the number of classes must be in [2, {MAX_CLASSES}], got {text}")
    return value


def device(text: str) -> str:
    """A device name: ``cpu``, ``cuda`` or ``cuda:N`` (whether CUDA is present is checked later)."""
    kind, sep, index = text.partition(":")
    if kind == "cpu" and not sep:
        return text
    if kind == "cuda" and (not sep or index.isdigit()):
        return text
    raise bad(f"the device must be cpu, cuda or cuda:N, got {text!r}")


def finite(text: str) -> float:
    """A finite number (ranges are checked by the config that takes it)."""
    try:
        value = float(text)
    except ValueError:
        raise bad(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise bad(f"expected a finite number, got {text}")
    return value


def floats(text: str) -> list[float]:
    """Comma-separated finite numbers (at least one)."""
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise bad(f"expected comma-separated numbers, got {text!r}") from None
    if not values or not all(map(math.isfinite, values)):
        raise bad(f"expected comma-separated finite numbers, got {text!r}")
    return values


def milestones(text: str) -> tuple[int, ...]:
    """Comma-separated epochs >= 1 ('' for none)."""
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise bad(f"milestones must be comma-separated epochs, got {text!r}") from None
    if any(v < 1 for v in values):
        raise bad(f"milestones must be epochs >= 1, got {text!r}")
    return values


def run_dir(text: str) -> str:
    """A run directory: missing or a directory, never an existing file."""
    path = Path(text)
    if not text:
        raise bad("the run directory is empty")
    if path.exists() and not path.is_dir():
        raise bad(f"{text} exists and is not a directory")
    if any(p.exists() and not p.is_dir() for p in path.parents):
        raise bad(f"{text}: a parent of it is a file")
    return text


def checkpoint_out(text: str) -> str:
    """A checkpoint to write: not a directory (an existing file is checked by the trainer)."""
    path = Path(text)
    if not text or path.is_dir() or text.endswith(("/", "\\")):
        raise bad(f"{text or repr(text)} is a directory; give the checkpoint's file name")
    if any(p.exists() and not p.is_dir() for p in path.parents):
        raise bad(f"{text}: a parent of it is a file")
    return text
