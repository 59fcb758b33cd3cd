"""The results document: a versioned JSON schema (see docs/results-schema.md) plus CSV,
written and read (its schema checked, its images put back, version 1 migrated).

Writes are atomic, so an interrupted run never leaves a half-written file.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import platform
import sys
import zipfile
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np
import torch

from jumprelu import __version__
from jumprelu._util import atomic_write
from jumprelu.errors import JumpReLUError
from jumprelu.evaluation.metrics import Metrics

__all__ = [
    "SCHEMA",
    "SCHEMA_VERSION",
    "V1_ALIASES",
    "file_sha256",
    "load_results",
    "provenance",
    "tensor_sha256",
    "write_json",
    "write_results",
]

SCHEMA = "jumprelu.results"
SCHEMA_VERSION = 2
#: Example images beside results.json: ``clean`` (first images) and ``cellI`` (cell I's).
EXAMPLES_FILE = "examples.npz"
CSV_COLUMNS = (
    "protocol",
    "threat",
    "attack",
    "defence",
    "parameter",
    "jump",
    *(f.name for f in fields(Metrics)),
)


def tensor_sha256(*tensors: torch.Tensor) -> str:
    """SHA-256 of tensors' bytes (shape and dtype included)."""
    h = hashlib.sha256()
    for t in tensors:
        arr = t.detach().cpu().contiguous().numpy()
        h.update(f"{arr.dtype}{arr.shape}".encode())
        h.update(arr.tobytes())
    return h.hexdigest()


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def provenance(seed: int) -> dict[str, Any]:
    """Versions, machine and time of a run."""
    return {
        "seed": seed,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "versions": {
            "jumprelu": __version__,
            "torch": torch.__version__,
            "numpy": np.__version__,
            "python": sys.version.split()[0],
        },
        "machine": f"{platform.machine()} {platform.system()}, torch threads "
        f"{torch.get_num_threads()}, cuda {torch.cuda.is_available()}",
    }


def write_json(path: Path, document: dict[str, Any]) -> None:
    """Write a JSON document atomically."""
    text = json.dumps(document, indent=1, allow_nan=False)
    atomic_write(path, lambda tmp: _write_text(tmp, text))


def write_results(
    out_dir: Path, document: dict[str, Any], examples: dict[str, np.ndarray] | None = None
) -> None:
    """Write ``results.json``, ``examples.npz`` and ``results.csv`` (one row per cell) atomically.

    Args:
        out_dir: the run directory.
        document: the results document (no images in it).
        examples: images for the report, stored as float16: ``clean`` and ``cellI`` per cell.

    A run with per-layer jump mappings gets one more column, ``jump_map``: the mapping as
    compact JSON in those rows (their ``jump`` holds its label ``layers-<sha8>``), empty
    elsewhere.
    """
    if examples is not None:
        arrays: dict[str, Any] = {k: v.astype(np.float16) for k, v in examples.items()}

        def save(tmp: str) -> None:
            with open(tmp, "wb") as fh:
                np.savez_compressed(fh, **arrays)

        atomic_write(out_dir / EXAMPLES_FILE, save)
    write_json(out_dir / "results.json", document)
    buf = io.StringIO()
    mapped = any("jump_map" in cell for cell in document["cells"])
    columns = (*CSV_COLUMNS, "jump_map") if mapped else CSV_COLUMNS
    writer = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    defence = document.get("defence") or {}
    for cell in document["cells"]:
        row = {**cell, **cell["metrics"], "protocol": document["config"]["protocol"]}
        row.update(defence=defence.get("name"), parameter=defence.get("parameter"))
        if "jump_map" in cell:
            row["jump_map"] = json.dumps(cell["jump_map"], sort_keys=True, separators=(",", ":"))
        writer.writerow(row)
    atomic_write(out_dir / "results.csv", lambda tmp: _write_text(tmp, buf.getvalue()))


def _write_text(path: str, text: str) -> None:
    Path(path).write_text(text)


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
    except OSError as exc:
        raise JumpReLUError(f"{p} is unreadable: {exc.strerror or exc}") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise JumpReLUError(f"{p} is not valid JSON: {exc}") from exc
    except RecursionError as exc:
        raise JumpReLUError(f"{p} is not valid JSON: nested too deep") from exc
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
    """Put the images of ``examples.npz`` back into the document (absent file: none).

    Raises:
        JumpReLUError: an unreadable file, or an entry the document uses (``clean``, ``cellI``)
            that is not a batch of finite images ``(N >= 1, C, H, W)`` of one image shape.
    """
    if not path.is_file():
        return
    cells: list[Any] = doc["cells"] if isinstance(doc.get("cells"), list) else []
    used = ["clean", *(f"cell{i}" for i in range(len(cells)))]
    try:
        with np.load(path, allow_pickle=False) as z:
            raw = {k: z[k] for k in z.files if k in used}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise JumpReLUError(f"{path} is unreadable ({exc}); run the evaluation again") from exc
    arrays: dict[str, np.ndarray] = {}
    for key in (k for k in used if k in raw):
        problem = _not_images(raw[key], next(iter(arrays.items()), None))
        if problem is not None:
            raise JumpReLUError(
                f"{path}: entry {key!r} is {problem}; run the evaluation again to rewrite it"
            )
        arrays[key] = raw[key].astype(np.float32)
    if "clean" in arrays and isinstance(doc.get("examples"), dict):
        doc["examples"]["x"] = arrays["clean"].tolist()
    for i, cell in enumerate(cells):
        if isinstance(cell, dict) and f"cell{i}" in arrays:
            cell["examples"] = arrays[f"cell{i}"].tolist()


def _not_images(a: np.ndarray, first: tuple[str, np.ndarray] | None) -> str | None:
    """What makes ``a`` no batch of images like ``first`` (an entry read before), or None."""
    if a.dtype.kind not in "biuf":
        return f"of type {a.dtype}, not numbers"
    if a.ndim != 4 or 0 in a.shape:
        return f"of shape {a.shape}, not images (N >= 1, C, H, W)"
    if first is not None and a.shape[1:] != first[1].shape[1:]:
        return f"of images {a.shape[1:]}, but {first[0]!r} of images {first[1].shape[1:]}"
    if not np.isfinite(a).all():
        return "not finite everywhere"
    return None


def _migrate_v1(doc: dict[str, Any]) -> dict[str, Any]:
    """A version-1 document in version 2's shape (its images were inline; aliases dropped)."""
    for cell in doc.get("cells") or []:
        if isinstance(cell, dict) and isinstance(cell.get("metrics"), dict):
            for alias in V1_ALIASES:
                cell["metrics"].pop(alias, None)
    doc["schema_version"] = SCHEMA_VERSION
    return doc
