"""The command line: one module per command group; progress bars live here only."""

from __future__ import annotations

from jumprelu.cli.main import main

__all__ = ["main"]
