"""The docs run: every ```python block of README.md and docs/*.md executes, and every
``jumprelu.*`` name they mention resolves."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _blocks() -> list[tuple[str, str]]:
    """Per page with Python: its blocks in order, as one program (a reader runs them so)."""
    out = []
    for page in PAGES:
        found = re.findall(r"^```python\n(.*?)^```", page.read_text(), re.S | re.M)
        if found:
            out.append((str(page.relative_to(ROOT)), "\n".join(found)))
    return out


def _names() -> list[str]:
    found = set()
    for page in PAGES:
        found |= set(re.findall(r"\bjumprelu(?:\.[A-Za-z_]\w*)+", page.read_text()))
    return sorted(found)


def test_the_docs_have_python_blocks_and_names() -> None:
    assert _blocks(), "README.md and docs/ should show the Python API"
    assert "jumprelu.adaptive_suite" in _names() or any(
        "adaptive_suite" in code for _, code in _blocks()
    )


@pytest.mark.parametrize(("where", "code"), _blocks(), ids=[w for w, _ in _blocks()])
def test_python_block_runs(
    where: str, code: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run a page's blocks in order in an empty directory (they write only there)."""
    monkeypatch.chdir(tmp_path)
    exec(compile(code, where, "exec"), {"__name__": "__docs__"})


@pytest.mark.parametrize("name", _names())
def test_named_object_resolves(name: str) -> None:
    """``jumprelu.a.b.c``: the longest importable module prefix, then attributes."""
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attr in parts[cut:]:
            assert hasattr(obj, attr), f"{name}: {'.'.join(parts[:cut])} has no {attr}"
            obj = getattr(obj, attr)
        return
    pytest.fail(f"{name} does not resolve")
