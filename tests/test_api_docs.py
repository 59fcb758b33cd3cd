"""Every public name of ``jumprelu`` carries a docstring example, and the examples pass."""

from __future__ import annotations

import doctest
import io
from typing import Any

import pytest

import jumprelu
from jumprelu.attacks import AttackSpec
from jumprelu.evaluation.adaptive import SuiteResult

#: Objects documented elsewhere: ``ATTACKS`` is a dict, its records' class holds the example.
_STAND_INS: dict[str, Any] = {"ATTACKS": AttackSpec}

#: Examples beyond the public names themselves.
_EXTRA: dict[str, Any] = {"SuiteResult.to_dict": SuiteResult.to_dict}


def _targets() -> list[tuple[str, Any]]:
    names = [n for n in jumprelu.__all__ if n != "__version__"]
    out = [(n, _STAND_INS.get(n, getattr(jumprelu, n))) for n in names]
    return out + list(_EXTRA.items())


@pytest.mark.parametrize(("name", "obj"), _targets(), ids=[n for n, _ in _targets()])
def test_docstring_example_runs(name: str, obj: Any) -> None:
    """The docstring has a ``>>>`` example and it passes under doctest."""
    doc = getattr(obj, "__doc__", None) or ""
    assert ">>>" in doc, f"{name} has no docstring example"
    tests = doctest.DocTestFinder(recurse=False).find(obj, name, globs={})
    assert tests and any(t.examples for t in tests), f"doctest found no example in {name}"
    report = io.StringIO()
    runner = doctest.DocTestRunner(
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False
    )
    for t in tests:
        runner.run(t, out=report.write)
    result = runner.summarize(verbose=False)
    assert result.attempted > 0, f"{name}: no example ran"
    assert result.failed == 0, f"{name}: examples failed\n{report.getvalue()}"


def test_the_public_api_stays_small() -> None:
    """About 15-20 names (../shared/design.md): the one-call suite, the defence, models, data."""
    assert 15 <= len([n for n in jumprelu.__all__ if n != "__version__"]) <= 21
