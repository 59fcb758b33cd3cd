"""The report's text rows: the run's facts, its sanity flags by code, and its provenance.

Also the sentences both renderers show around the flags, so the two formats say the same.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jumprelu.defences import DEFENCES
from jumprelu.evaluation.checks import EXPLANATIONS
from jumprelu.report.doc import Doc, chosen_jump, fmt_jump, jumps, threats, units
from jumprelu.report.formatting import fmt_value

__all__ = [
    "FLAGS_NOTE",
    "NO_FLAGS",
    "FlagGroup",
    "facts",
    "flag_groups",
    "provenance_rows",
    "text",
]

#: Shown when no check fired: a bold lead, then the sentence.
NO_FLAGS = (
    "No sanity flags.",
    "None of the checks for gradient masking or a stalled attack fired.",
)
#: Shown above the flags.
FLAGS_NOTE = (
    "These checks point at gradient masking or stalled attacks, where the numbers below may "
    "overstate robustness."
)


@dataclass(frozen=True)
class FlagGroup:
    """The sanity flags of one code.

    Attributes:
        code: the flag's code (see ``jumprelu.evaluation.checks``).
        explanation: why it matters.
        hits: ``(where, message)`` per occurrence.
    """

    code: str
    explanation: str
    hits: tuple[tuple[str, str], ...]


def flag_groups(doc: Doc) -> tuple[FlagGroup, ...]:
    """The sanity flags grouped by code, in the order the codes first appear."""
    groups: dict[str, list[tuple[str, str]]] = {}
    explain: dict[str, str] = {}
    for f in doc["flags"]:
        groups.setdefault(f["code"], []).append((str(f["where"]), str(f["message"])))
        explain.setdefault(f["code"], f.get("explanation") or EXPLANATIONS.get(f["code"], ""))
    return tuple(FlagGroup(c, explain[c], tuple(h)) for c, h in groups.items())


def text(value: Any) -> str:
    """A config or provenance value as shown: JSON for objects and lists, ``none`` for null."""
    if isinstance(value, Mapping | list):
        return json.dumps(value, sort_keys=True)
    return "none" if value is None else fmt_value(value)


def facts(doc: Doc) -> tuple[tuple[str, str], ...]:
    """``(label, value)`` pairs summarising the run, shown at the top of the report."""
    cfg, prov = doc["config"], doc["provenance"]
    n = doc["clean"][0]["n"] if doc["clean"] else doc["cells"][0]["metrics"]["n"]
    chosen = chosen_jump(doc)
    ckpt = cfg.get("checkpoint")
    if cfg.get("model"):  # the user's callable, with weights from --checkpoint or its own
        where = f"weights {Path(ckpt).name}" if ckpt else "its own weights"
        model = f"{cfg['model']} ({where})"
    else:
        model = f"{cfg.get('arch') or '?'}, {Path(ckpt).name if ckpt else 'shipped default model'}"
    rows = [
        ("data", f"{cfg.get('dataset', '?')} / {cfg.get('split', '?')}, n = {n}"),
        ("model", model),
        ("defence", _defence(cfg, prov)),
        ("protocol", f"{cfg.get('protocol', '?')} ({doc['conventions'].get('space', '?')})"),
        ("jumps", ", ".join(fmt_jump(j) for j in jumps(doc))),
        ("threat models", ", ".join(threats(doc))),
        ("attacks", ", ".join(dict.fromkeys(a for _, a in units(doc)))),
        ("seed", str(cfg.get("seed", prov.get("seed", "?")))),
        ("created", str(prov.get("created", "?"))),
    ]
    if chosen is not None:
        rows.insert(5, ("chosen jump", f"{fmt_jump(chosen)} (by tune, on validation data)"))
    return tuple(rows)


def provenance_rows(doc: Doc) -> tuple[tuple[str, str], ...]:
    """``(key, value)``: seed, versions, machine, data and checkpoint hashes, and the rest."""
    prov = doc["provenance"]
    rows = [("seed", text(prov.get("seed"))), ("created", text(prov.get("created")))]
    rows += [(f"version: {k}", str(v)) for k, v in (prov.get("versions") or {}).items()]
    rows.append(("machine", text(prov.get("machine"))))
    rows.append(("data sha256", text(prov.get("data_sha256"))))
    rows.append(("checkpoint", text(prov.get("checkpoint"))))
    rows.append(("checkpoint sha256", text(prov.get("checkpoint_sha256"))))
    if prov.get("checkpoint_meta") is not None:
        rows.append(("checkpoint metadata", text(prov["checkpoint_meta"])))
    rows.append(
        ("jump 0 reproduces the original logits bit for bit", text(prov.get("jump0_bitwise")))
    )
    rows.append(("config digest", text(doc.get("config_digest"))))
    known = {
        "seed",
        "created",
        "versions",
        "machine",
        "data_sha256",
        "checkpoint",
        "checkpoint_sha256",
        "checkpoint_meta",
        "jump0_bitwise",
    }
    rows += [(k, text(v)) for k, v in prov.items() if k not in known]
    return tuple(rows)


def _defence(cfg: Doc, prov: Doc) -> str:
    """The retrofit and what its grid values are."""
    defence = DEFENCES.get(str(cfg.get("retrofit", "jumprelu")), DEFENCES["jumprelu"])
    text = f"{defence.title} ({defence.paper}); the grid's values are {defence.meaning}"
    if not defence.calibrated:
        return text
    calib = prov.get("calibration") or {}
    n = calib.get("n", "?") if isinstance(calib, dict) else "?"
    return f"{text}; statistics of {n} training images"
