"""Print a run's tables as Markdown (the report's own tables, as quoted in docs/results.md).

Usage: python scripts/results_table.py OUT_DIR [OUT_DIR ...]
"""

from __future__ import annotations

import sys

from jumprelu.report.load import load_run
from jumprelu.report.markdown import markdown_tables


def main(paths: list[str]) -> int:
    """Print the tables of each run directory (or results.json) in ``paths``."""
    for path in paths:
        print(f"## {path}\n")
        print(markdown_tables(load_run(path)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
