"""Print every adaptive-suite cell of some runs as one Markdown table (docs/results.md's verdict).

One row per run and suite cell: the defence and its parameter value, clean accuracy, the
suite's robust accuracy through its surrogates, and, where the surrogates included ``exact``,
the robust accuracy after the pass through the defence's own gradient.

Usage: python scripts/verdict_rows.py OUT_DIR [OUT_DIR ...]
"""

from __future__ import annotations

import sys
from typing import Any

from jumprelu.defences import DEFENCES
from jumprelu.report.load import load_run


def _pct(value: Any) -> str:
    return "\u2013" if value is None else f"{100 * float(value):.2f}"


def main(paths: list[str]) -> int:
    """Print the rows of each run directory (or results.json) in ``paths``."""
    print("| run | defence | value | clean | suite | eps | surrogates | own gradient | suite |")
    print("|---|---|---|---|---|---|---|---|---|")
    for path in paths:
        doc = load_run(path)
        record = DEFENCES[doc["config"].get("retrofit", "jumprelu")]  # documents before 21
        defence = doc.get("defence") or {"name": record.name, "parameter": record.parameter}
        surrogates = ",".join(doc["config"].get("surrogates") or ["default sweep"])
        clean = {str(c["jump"]): c["accuracy"] for c in doc["clean"]}
        for c in doc["cells"]:
            if not c["attack"].startswith("suite-"):
                continue
            print(
                f"| {path} | {defence['name']} | {defence['parameter']} = {c['jump']} "
                f"| {_pct(clean[str(c['jump'])])} | {c['attack']} | {c['settings']['eps']:.4g} "
                f"| {surrogates} | {_pct(c.get('own_gradient_accuracy'))} "
                f"| {_pct(c['metrics']['adv_accuracy'])} |"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
