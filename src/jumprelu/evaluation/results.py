"""The results document: a versioned JSON schema (see docs/results-schema.md) plus CSV.

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
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np
import torch

from jumprelu import __version__
from jumprelu._util import atomic_write
from jumprelu.evaluation.metrics import Metrics

__all__ = [
    "SCHEMA",
    "SCHEMA_VERSION",
    "file_sha256",
    "provenance",
    "tensor_sha256",
    "write_json",
    "write_results",
]

SCHEMA = "jumprelu.results"
SCHEMA_VERSION = 2
#: Example images beside results.json: ``clean`` (first images) and ``cellI`` (cell I's).
EXAMPLES_FILE = "examples.npz"
CSV_COLUMNS = ("protocol", "threat", "attack", "jump", *(f.name for f in fields(Metrics)))


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
    for cell in document["cells"]:
        row = {**cell, **cell["metrics"], "protocol": document["config"]["protocol"]}
        if "jump_map" in cell:
            row["jump_map"] = json.dumps(cell["jump_map"], sort_keys=True, separators=(",", ":"))
        writer.writerow(row)
    atomic_write(out_dir / "results.csv", lambda tmp: _write_text(tmp, buf.getvalue()))


def _write_text(path: str, text: str) -> None:
    Path(path).write_text(text)
