"""Everything a report shows, computed once from the results and rendered as HTML or Markdown."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jumprelu import __version__
from jumprelu.evaluation.checks import EXPLANATIONS
from jumprelu.report.figures import Plot
from jumprelu.report.images import build_example_grids
from jumprelu.report.load import Doc, chosen_jump, fmt_jump, jump_key, jumps, threats, units
from jumprelu.report.plots import build_plots
from jumprelu.report.settings import jump_map_table, settings_table, tuning_table
from jumprelu.report.tables import Table, fmt_value, overview_table, threat_table

__all__ = ["FlagGroup", "Report", "build_report", "build_tables"]


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


@dataclass(frozen=True)
class Report:
    """The report's content, independent of the output format.

    Attributes:
        title: the report's heading.
        facts: ``(label, value)`` pairs summarising the run (shown at the top).
        flags: sanity flags grouped by code.
        tables: overview, per threat model, settings, tuning.
        plots: the charts.
        examples: the adversarial example grids.
        config: ``(key, value)`` of the evaluation config.
        provenance: ``(key, value)``: seed, versions, machine, data and checkpoint hashes.
        conventions: ``(name, definition)`` of the averaging conventions.
    """

    title: str
    facts: tuple[tuple[str, str], ...]
    flags: tuple[FlagGroup, ...]
    tables: tuple[Table, ...]
    plots: tuple[Plot, ...]
    examples: tuple[Plot, ...]
    config: tuple[tuple[str, str], ...]
    provenance: tuple[tuple[str, str], ...]
    conventions: tuple[tuple[str, str], ...]
    generator: str = f"jumprelu {__version__}"


def _flags(doc: Doc) -> tuple[FlagGroup, ...]:
    groups: dict[str, list[tuple[str, str]]] = {}
    explain: dict[str, str] = {}
    for f in doc["flags"]:
        groups.setdefault(f["code"], []).append((str(f["where"]), str(f["message"])))
        explain.setdefault(f["code"], f.get("explanation") or EXPLANATIONS.get(f["code"], ""))
    return tuple(FlagGroup(c, explain[c], tuple(h)) for c, h in groups.items())


def _text(value: Any) -> str:
    if isinstance(value, Mapping | list):
        return json.dumps(value, sort_keys=True)
    return "none" if value is None else fmt_value(value)


def _facts(doc: Doc) -> tuple[tuple[str, str], ...]:
    cfg, prov = doc["config"], doc["provenance"]
    n = doc["clean"][0]["n"] if doc["clean"] else doc["cells"][0]["metrics"]["n"]
    chosen = chosen_jump(doc)
    model = cfg.get("arch") or "?"
    ckpt = cfg.get("checkpoint")
    facts = [
        ("data", f"{cfg.get('dataset', '?')} / {cfg.get('split', '?')}, n = {n}"),
        ("model", f"{model}, {Path(ckpt).name if ckpt else 'shipped default model'}"),
        ("protocol", f"{cfg.get('protocol', '?')} ({doc['conventions'].get('space', '?')})"),
        ("jumps", ", ".join(fmt_jump(j) for j in jumps(doc))),
        ("threat models", ", ".join(threats(doc))),
        ("attacks", ", ".join(dict.fromkeys(a for _, a in units(doc)))),
        ("seed", str(cfg.get("seed", prov.get("seed", "?")))),
        ("created", str(prov.get("created", "?"))),
    ]
    if chosen is not None:
        facts.insert(4, ("chosen jump", f"{fmt_jump(chosen)} (by tune, on validation data)"))
    return tuple(facts)


def _provenance(doc: Doc) -> tuple[tuple[str, str], ...]:
    prov = doc["provenance"]
    rows = [("seed", _text(prov.get("seed"))), ("created", _text(prov.get("created")))]
    rows += [(f"version: {k}", str(v)) for k, v in (prov.get("versions") or {}).items()]
    rows.append(("machine", _text(prov.get("machine"))))
    rows.append(("data sha256", _text(prov.get("data_sha256"))))
    rows.append(("checkpoint", _text(prov.get("checkpoint"))))
    rows.append(("checkpoint sha256", _text(prov.get("checkpoint_sha256"))))
    if prov.get("checkpoint_meta") is not None:
        rows.append(("checkpoint metadata", _text(prov["checkpoint_meta"])))
    rows.append(
        ("jump 0 reproduces the original logits bit for bit", _text(prov.get("jump0_bitwise")))
    )
    rows.append(("config digest", _text(doc.get("config_digest"))))
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
    rows += [(k, _text(v)) for k, v in prov.items() if k not in known]
    return tuple(rows)


def suite_table(doc: Doc) -> Table | None:
    """The adaptive suite's cascade: per cell and stage, points attacked and broken."""
    rows = []
    for c in doc["cells"]:
        for st in c.get("stages") or []:
            rows.append(
                (
                    str(c["attack"]),
                    fmt_jump(jump_key(c["jump"])),
                    str(st["stage"]),
                    str(st["attacked"]),
                    str(st["broken"]),
                    f"{float(st['seconds']):.1f}",
                )
            )
    if not rows:
        return None
    return Table(
        key="suite-stages",
        title="Adaptive suite: the cascade stage by stage",
        header=("suite", "jump", "stage", "attacked", "broken", "seconds"),
        rows=tuple(rows),
        notes=(
            "Each stage attacks only the points every earlier stage left robust (a broken point "
            "is never attacked again); the suite's robust accuracy is the points no stage broke. "
            "bpda-S: the stage's gradient through BPDA surrogate S.",
        ),
        labels=3,
        threat="adaptive",
    )


def build_tables(doc: Doc) -> list[Table]:
    """Every table of the report, in display order.

    Args:
        doc: a validated results document.

    Returns:
        The overview, the per-layer jumps (grids with mappings), one table per threat model,
        the attack settings and (for tuned runs) the jump selection.
    """
    tables = [overview_table(doc)]
    maps = jump_map_table(doc)
    if maps is not None:
        tables.append(maps)
    tables += [threat_table(doc, t) for t in threats(doc)]
    stages = suite_table(doc)
    if stages is not None:
        tables.append(stages)
    tables.append(settings_table(doc))
    tuning = tuning_table(doc)
    return [*tables, tuning] if tuning is not None else tables


def build_report(doc: Doc) -> Report:
    """Compute every table, chart and image grid of a report.

    Args:
        doc: a validated results document (see ``load_run``).

    Returns:
        The format-independent report.
    """
    cfg = doc["config"]
    title = (
        f"JumpReLU robustness report: {cfg.get('dataset', '?')}, {cfg.get('arch') or 'model'}, "
        f"{cfg.get('protocol', '?')} protocol"
    )
    return Report(
        title=title,
        facts=_facts(doc),
        flags=_flags(doc),
        tables=tuple(build_tables(doc)),
        plots=tuple(build_plots(doc)),
        examples=tuple(build_example_grids(doc)),
        config=tuple((k, _text(v)) for k, v in cfg.items()),
        provenance=_provenance(doc),
        conventions=tuple((k, str(v)) for k, v in doc["conventions"].items()),
    )
