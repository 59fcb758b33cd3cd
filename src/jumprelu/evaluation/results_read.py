"""Reading a results document: its schema checked, its images put back, version 1 migrated."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from jumprelu.errors import JumpReLUError
from jumprelu.evaluation.results import EXAMPLES_FILE, SCHEMA, SCHEMA_VERSION

__all__ = ["V1_ALIASES", "load_results"]


#: Metric names that version 1 repeated under a second name (dropped on migration).
V1_ALIASES = ("rho_l2_mean", "rho_linf_mean", "rho_l2_mean_successful", "rho_linf_mean_successful")


def load_results(path: str | Path) -> dict[str, Any]:
    """Read a results document, checking its schema and version.

    Args:
        path: ``results.json`` or the directory holding it.

    Returns:
        The document.

    Raises:
        JumpReLUError: missing file, invalid JSON, another schema or version.
    """
    p = Path(path)
    if p.is_dir():
        p = p / "results.json"
    if not p.is_file():
        raise JumpReLUError(f"no results found: {p} does not exist")
    try:
        doc = json.loads(p.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise JumpReLUError(f"{p} is not valid JSON: {exc}") from exc
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        raise JumpReLUError(f"{p} is not a jumprelu results document")
    version = doc.get("schema_version")
    if version == 1:
        return _migrate_v1(doc)
    if version != SCHEMA_VERSION:
        raise JumpReLUError(
            f"{p} has results schema version {version!r}; this jumprelu reads versions 1 and "
            f"{SCHEMA_VERSION}: run the same `jumprelu evaluate` command again to regenerate it"
        )
    _read_examples(doc, p.parent / EXAMPLES_FILE)
    return doc


def _read_examples(doc: dict[str, Any], path: Path) -> None:
    """Put the images of ``examples.npz`` back into the document (absent file: none)."""
    if not path.is_file():
        return
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k].astype(np.float32) for k in z.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise JumpReLUError(f"{path} is unreadable ({exc}); run the evaluation again") from exc
    if "clean" in arrays and isinstance(doc.get("examples"), dict):
        doc["examples"]["x"] = arrays["clean"].tolist()
    for i, cell in enumerate(doc.get("cells") or []):
        if isinstance(cell, dict) and f"cell{i}" in arrays:
            cell["examples"] = arrays[f"cell{i}"].tolist()


def _migrate_v1(doc: dict[str, Any]) -> dict[str, Any]:
    """A version-1 document in version 2's shape (its images were inline; aliases dropped)."""
    for cell in doc.get("cells") or []:
        if isinstance(cell, dict) and isinstance(cell.get("metrics"), dict):
            for alias in V1_ALIASES:
                cell["metrics"].pop(alias, None)
    doc["schema_version"] = SCHEMA_VERSION
    return doc
