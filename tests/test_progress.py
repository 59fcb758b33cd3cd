"""Progress bars: drawn on a terminal, silent otherwise or with --quiet."""

from __future__ import annotations

import io

import pytest

from jumprelu._util import NULL_PROGRESS
from jumprelu.cli import progress as cli_progress
from jumprelu.cli.progress import TqdmProgress, make_progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_bars_only_on_a_terminal_and_not_quiet(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli_progress.sys, "stderr", io.StringIO())
    assert make_progress(quiet=False) is NULL_PROGRESS
    monkeypatch.setattr(cli_progress.sys, "stderr", Terminal())
    assert make_progress(quiet=True) is NULL_PROGRESS
    assert isinstance(make_progress(quiet=False), TqdmProgress)


def test_bars_count_units_and_steps(monkeypatch: pytest.MonkeyPatch) -> None:
    term = Terminal()
    monkeypatch.setattr(cli_progress.sys, "stderr", term)
    bars = make_progress(quiet=False)
    bars.plan(3, done=1)  # resumed: one cell already finished
    for jump in (0.5, 1.0):
        bars.start(f"white/pgd-linf jump {jump}", 100)
        bars.advance(60)
        bars.advance(40)
        bars.finish(f"white/pgd-linf/{jump}")
    bars.close()
    text = term.getvalue()
    assert "1/3" in text and "3/3" in text  # outer bar: resumed at 1, ends at 3
    assert "white/pgd-linf jump 0.5" in text and "/100" in text and "img/s" in text
