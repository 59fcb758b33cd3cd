"""Report rendering: every table number matches results.json, self-contained HTML, atomic writes."""

from __future__ import annotations

import base64
import io
import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pytest
from PIL import Image

from jumprelu.cli.loading import load_data, load_model
from jumprelu.datasets.core import load_split
from jumprelu.evaluation.config import EvalConfig
from jumprelu.evaluation.results import load_results
from jumprelu.evaluation.runner import evaluate
from jumprelu.report import ReportError, ReportFiles, render_report
from jumprelu.report import write as report_write
from jumprelu.report.images import build_example_grids, to_display
from jumprelu.report.load import load_run
from jumprelu.tuning import tune

Doc = dict[str, Any]
JUMPS = [0.0, 0.5, 1.0]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
RHO = "\N{GREEK SMALL LETTER RHO}"
THREAT_TITLES = {"white": "White-box", "gray": "Gray-box", "adaptive": "Adaptive"}
#: Per-threat table columns -> (metric, decimals; None for integers).
METRIC_COLUMNS = {
    "n": ("n", None),
    "clean %": ("clean_accuracy", 2),
    "accuracy %": ("adv_accuracy", 2),
    "success %": ("success_rate", 2),
    RHO + "₂ all": ("rho2_all", 4),
    RHO + "∞ all": ("rhoinf_all", 4),
    RHO + "₂ fooled": ("rho2_success", 4),
    RHO + "∞ fooled": ("rhoinf_success", 4),
    "‖δ‖₂ fooled": ("l2_success", 4),
    "‖δ‖∞ fooled": ("linf_success", 4),
    "zero-grad %": ("zero_grad_fraction", 2),
    "grad evals": ("grad_evals", None),
    "time s": ("seconds", 1),
}
PERCENT = {"clean_accuracy", "adv_accuracy", "success_rate", "zero_grad_fraction"}


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Doc, ReportFiles]:
    """A real evaluation of the shipped digits model (white/gray/adaptive; FGSM and DeepFool),
    as produced by ``jumprelu tune``, and its rendered report."""
    out = tmp_path_factory.mktemp("report") / "run"
    cfg = EvalConfig(
        dataset="digits",
        jumps=JUMPS,
        attacks=["fgsm", "deepfool-l2"],
        n=24,
        batch_size=24,
        settings={"square-linf": {"queries": 40}, "deepfool-l2": {"steps": 15}},
    )
    cfg.validate()
    model, extra, cfg = load_model(cfg)
    extra["tuning"] = tune(model, load_split("digits", "val"), JUMPS).to_dict()
    evaluate(cfg, model, load_data(cfg), out, extra=extra)
    doc = load_results(out)  # the summary with the images of examples.npz put back in
    return out, doc, render_report(out)


# ----------------------------------------------------------------------------- parsing helpers


def md_tables(text: str) -> dict[str, list[list[str]]]:
    """Markdown pipe tables keyed by the heading above them: [header, *rows] of cell texts."""
    tables: dict[str, list[list[str]]] = {}
    heading, lines = "", text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("#"):
            heading = _md_unescape(line.lstrip("#").strip())
        elif (
            line.startswith("|") and i + 1 < len(lines) and re.match(r"^\|[:\-|]+\|$", lines[i + 1])
        ):
            rows = [_md_cells(line)]
            i += 2
            while i < len(lines) and lines[i].startswith("|"):
                rows.append(_md_cells(lines[i]))
                i += 1
            assert heading not in tables, f"two tables under {heading!r}"
            tables[heading] = rows
            continue
        i += 1
    return tables


def _md_unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def _md_cells(line: str) -> list[str]:
    cells = re.split(r"(?<!\\)\|", line.strip())[1:-1]
    return [_md_unescape(c.strip().removeprefix("**").removesuffix("**")) for c in cells]


class _HTMLTables(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.imgs: list[str] = []
        self.refs: list[tuple[str, str, str]] = []
        self._table: str | None = None
        self._row: list[str] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        for key in ("src", "href", "srcset", "action", "data"):
            if key in a:
                self.refs.append((tag, key, a[key]))
        if tag == "img":
            self.imgs.append(a.get("src", ""))
        if tag == "table":
            self._table = a.get("id", f"anonymous-{len(self.tables)}")
            self.tables[self._table] = []
        elif tag == "tr" and self._table is not None:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None and self._table is not None:
            self.tables[self._table].append(self._row)
            self._row = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def html_parse(text: str) -> _HTMLTables:
    parser = _HTMLTables()
    parser.feed(text)
    parser.close()
    return parser


def tables_by_key(out: Path, doc: Doc) -> dict[str, dict[str, list[list[str]]]]:
    """{"md": {key: rows}, "html": {key: rows}} with keys overview, threat-*, settings, tuning."""
    protocol = doc["config"]["protocol"]
    titles = {
        "overview": "Accuracy under attack by kappa",
        "settings": "Attack settings",
        "tuning": "Jump selection on validation data",
        **{
            f"threat-{t}": f"{label} threat model, {protocol} protocol"
            for t, label in THREAT_TITLES.items()
        },
    }
    md = md_tables((out / "report.md").read_text())
    html = html_parse((out / "report.html").read_text()).tables
    return {
        "md": {k: md[t] for k, t in titles.items() if t in md},
        "html": {k: html[k] for k in titles if k in html},
    }


def assert_shows(shown: str, value: float | int | None, decimals: int | None, pct: bool) -> None:
    """``shown`` is ``value`` as displayed: same rounding, nothing else."""
    if value is None:
        assert shown == "\N{EN DASH}", shown
        return
    if decimals is None:
        assert shown == str(int(value)), (shown, value)
        return
    assert re.fullmatch(rf"-?\d+\.\d{{{decimals}}}", shown), (shown, decimals)
    expected = 100 * value if pct else value
    assert abs(float(shown) - expected) <= 0.5 * 10**-decimals + 1e-9, (shown, expected)


def jump_of(text: str) -> float:
    return float(text.replace("★", "").strip())


# ----------------------------------------------------------------------------- (1) numbers


@pytest.mark.parametrize("fmt", ["md", "html"])
def test_every_table_number_matches_results(run: tuple[Path, Doc, ReportFiles], fmt: str) -> None:
    out, doc, _ = run
    tables = tables_by_key(out, doc)[fmt]
    threats = doc["config"]["threats"]
    assert set(tables) == {"overview", "settings", "tuning", *(f"threat-{t}" for t in threats)}
    cells = {(c["threat"], c["attack"], c["jump"]): c for c in doc["cells"]}
    clean = {c["jump"]: c for c in doc["clean"]}
    ensemble = {e["jump"]: e for e in doc["ensemble"]}
    chosen = doc["provenance"]["tuning"]["jump"]

    # overview: one row per jump; clean, every (threat, attack) and the ensemble per column
    header, *rows = tables["overview"]
    assert header[:3] == ["kappa", "n", "clean %"] and header[-1] == "ensemble %"
    assert header[-3:-1] == ["L∞ ≤ 0.1 %", "L2 ≤ 1 %"]  # within-budget ensembles
    units = [tuple(h.split("/", 1)) for h in header[3:-3]]
    assert sorted(units) == sorted({(t, a) for t, a, _ in cells})
    assert sorted(jump_of(r[0]) for r in rows) == sorted(clean)
    checked = 0
    for row in rows:
        j = jump_of(row[0])
        assert ("★" in row[0]) == (j == chosen)
        assert_shows(row[1], clean[j]["n"], None, False)
        assert_shows(row[2], clean[j]["accuracy"], 2, True)
        for (t, a), shown in zip(units, row[3:-3], strict=True):
            assert_shows(shown, cells[(t, a, j)]["metrics"]["adv_accuracy"], 2, True)
            checked += 1
        assert_shows(row[-3], ensemble[j]["budget"]["linf"]["adv_accuracy"], 2, True)
        assert_shows(row[-2], ensemble[j]["budget"]["l2"]["adv_accuracy"], 2, True)
        assert_shows(row[-1], ensemble[j]["adv_accuracy"], 2, True)
    assert checked == len(cells)

    # one table per threat model: every metric column of every cell
    seen = set()
    for threat in threats:
        header, *rows = tables[f"threat-{threat}"]
        assert header[:2] == ["attack", "kappa"]
        assert set(header[2:]) == set(METRIC_COLUMNS)
        for row in rows:
            key = (threat, row[0], jump_of(row[1]))
            assert key in cells and key not in seen, key
            seen.add(key)
            m = cells[key]["metrics"]
            for col, shown in zip(header[2:], row[2:], strict=True):
                metric, decimals = METRIC_COLUMNS[col]
                assert_shows(shown, m[metric], decimals, metric in PERCENT)
    assert seen == set(cells)

    # attack settings as recorded, per attack
    header, *rows = tables["settings"]
    assert header[:4] == ["attack", "family", "threat models", "recorded settings"]
    recorded = {(r[0], r[3]) for r in rows}
    for c in doc["cells"]:
        s = c["settings"]
        text = (
            ", ".join(
                f"{k}={s[k]:.6g}" if isinstance(s[k], float) else f"{k}={s[k]}" for k in sorted(s)
            )
            or "defaults"
        )
        assert (c["attack"].split(":", 1)[-1], text) in recorded
        assert any(r[0] == c["attack"].split(":", 1)[-1] and r[1] == c["family"] for r in rows)

    # jump selection
    tuning = doc["provenance"]["tuning"]
    header, *rows = tables["tuning"]
    assert header[:4] == ["jump", "val accuracy %", "drop (points)", "admissible"]
    assert len(rows) == len(tuning["rows"])
    for row, r in zip(rows, tuning["rows"], strict=True):
        assert jump_of(row[0]) == r["jump"] and ("★" in row[0]) == (r["jump"] == chosen)
        assert_shows(row[1], r["accuracy"], 2, True)
        assert_shows(row[2], r["drop"], 2, True)
        assert row[3] == ("yes" if r["drop"] <= tuning["max_drop"] + 1e-12 else "no")


def test_markdown_and_html_show_the_same_tables(run: tuple[Path, Doc, ReportFiles]) -> None:
    out, doc, _ = run
    both = tables_by_key(out, doc)
    assert both["md"] == both["html"]


def test_results_table_script_prints_the_reports_own_tables(
    run: tuple[Path, Doc, ReportFiles], capsys: pytest.CaptureFixture[str]
) -> None:
    """scripts/results_table.py renders through report/: its tables are report.md's."""
    import runpy
    import sys

    out, _, files = run
    argv = sys.argv
    sys.argv = ["results_table.py", str(out)]
    try:
        with pytest.raises(SystemExit) as done:
            runpy.run_path(
                str(Path(__file__).parent.parent / "scripts" / "results_table.py"),
                run_name="__main__",
            )
    finally:
        sys.argv = argv
    assert done.value.code == 0
    printed = capsys.readouterr().out
    assert files.markdown is not None
    report = files.markdown.read_text()
    tables = [b for b in printed.split("\n\n") if b.startswith("| ")]
    assert tables and all(t in report for t in tables)


def test_markdown_escapes_copied_text() -> None:
    from jumprelu.report.markdown import md_code, md_text

    text = "a|b *c* _d_ `e` <script> [x](y) \\ ~z~"
    escaped = md_text(text)
    assert _md_unescape(escaped) == text
    assert not re.search(r"(?<!\\)[|*_`<\[~]", escaped)  # every special character escaped
    code = md_code("x`y|z")
    assert code == "``x`y\\|z``"


def test_flags_conventions_and_provenance_are_shown(run: tuple[Path, Doc, ReportFiles]) -> None:
    out, doc, files = run
    assert files.flags == len(doc["flags"])
    md = (out / "report.md").read_text()
    page = (out / "report.html").read_text()
    from html import unescape

    text = unescape(re.sub(r"<[^>]+>", " ", page))
    for body in (_md_unescape(md), text):
        flat = " ".join(body.split())
        first_table = flat.index("Accuracy under attack by kappa")
        if doc["flags"]:
            assert flat.index("Sanity flags") < first_table  # prominently, near the top
        for f in doc["flags"]:
            for part in (f["code"], f["where"], f["message"], f["explanation"]):
                assert " ".join(part.split()) in flat
        for definition in doc["conventions"].values():
            assert definition in flat
        prov = doc["provenance"]
        for value in (
            prov["data_sha256"],
            prov["checkpoint_sha256"],
            doc["config_digest"],
            prov["versions"]["torch"],
            prov["versions"]["jumprelu"],
            prov["created"],
        ):
            assert value in flat[first_table:]  # at the end
    assert not doc["flags"] or 'class="card flags"' in page


# ----------------------------------------------------------------------------- (2) self-contained


def _png_ok(data: bytes) -> tuple[int, int]:
    assert data.startswith(PNG_MAGIC) and len(data) > 100
    with Image.open(io.BytesIO(data)) as im:
        im.load()
        assert im.format == "PNG" and im.width > 0 and im.height > 0
        assert np.asarray(im).std() > 0  # not a blank image
        return im.size


def test_html_is_self_contained(run: tuple[Path, Doc, ReportFiles]) -> None:
    out, doc, _ = run
    page = (out / "report.html").read_text()
    parsed = html_parse(page)
    for tag, key, value in parsed.refs:
        if key == "href":
            assert value.startswith("#"), (tag, value)  # in-page links only
        else:
            assert value.startswith("data:image/png;base64,"), (tag, value[:40])
    assert not re.search(r"https?://|<script|<link|@import|url\(|<iframe", page, re.I)
    units = {(c["threat"], c["attack"]) for c in doc["cells"]}
    assert len(parsed.imgs) >= 3 + len(units)  # the charts and one example grid per unit
    for src in parsed.imgs:
        _png_ok(base64.b64decode(src.removeprefix("data:image/png;base64,"), validate=True))


# ----------------------------------------------------------------------------- (3) errors


def test_missing_results_is_a_clear_error_and_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match="no results found") as err:
        render_report(tmp_path)
    assert "\n" not in str(err.value)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"schema_version": 99}, "schema version 99"),
        ({"schema": "something.else"}, "not a jumprelu results document"),
        ({"cells": []}, "no cells"),
    ],
)
def test_wrong_schema_is_a_clear_error_and_writes_nothing(
    tmp_path: Path, run: tuple[Path, Doc, ReportFiles], change: Doc, match: str
) -> None:
    (tmp_path / "results.json").write_text(json.dumps({**run[1], **change}))
    with pytest.raises(ReportError, match=match) as err:
        render_report(tmp_path)
    assert "\n" not in str(err.value)
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]


def test_unknown_format_is_refused(tmp_path: Path, run: tuple[Path, Doc, ReportFiles]) -> None:
    shutil.copy(run[0] / "results.json", tmp_path / "results.json")
    with pytest.raises(ReportError, match="unknown report format 'pdf'"):
        render_report(tmp_path, formats=("html", "pdf"))
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]


def _failing_on(n: int) -> Callable[[Path, bytes], None]:
    calls = []
    real = report_write._write

    def write(path: Path, data: bytes) -> None:
        calls.append(path)
        if len(calls) == n:
            raise OSError(28, "No space left on device")
        real(path, data)

    return write


def test_failed_write_leaves_no_half_written_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = {"report.md": b"new md", "report.html": b"new html"}
    folders = {"report_files": {"a.png": b"new a", "b.png": b"new b"}}
    report_write.write_all(tmp_path, {"report.md": b"old md"}, {"report_files": {"a.png": b"old"}})
    before = {p.relative_to(tmp_path): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    for n in range(1, 5):
        monkeypatch.setattr(report_write, "_write", _failing_on(n))
        with pytest.raises(ReportError, match="No space left on device; nothing was changed"):
            report_write.write_all(tmp_path, files, folders)
        after = {
            p.relative_to(tmp_path): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()
        }
        assert after == before  # the old report, untouched; no staging folder left over
    monkeypatch.undo()
    report_write.write_all(tmp_path, files, folders)
    assert (tmp_path / "report.html").read_bytes() == b"new html"
    assert sorted(p.name for p in (tmp_path / "report_files").iterdir()) == ["a.png", "b.png"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "report.html",
        "report.md",
        "report_files",
    ]


def test_failed_swap_restores_the_previous_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    report_write.write_all(tmp_path, {"report.md": b"old", "report.html": b"old"}, {})
    real = os.replace
    calls = []

    def replace(src: Any, dst: Any) -> None:
        calls.append(dst)
        if len(calls) == 4:  # after report.md was swapped in, while swapping report.html
            raise OSError(5, "Input/output error")
        real(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(ReportError, match="Input/output error"):
        report_write.write_all(tmp_path, {"report.md": b"new", "report.html": b"new"}, {})
    monkeypatch.undo()
    assert (tmp_path / "report.md").read_bytes() == b"old"
    assert (tmp_path / "report.html").read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html", "report.md"]


def test_failed_rendering_writes_nothing(
    tmp_path: Path, run: tuple[Path, Doc, ReportFiles], monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copy(run[0] / "results.json", tmp_path / "results.json")

    def broken(doc: Doc) -> list[Any]:
        raise RuntimeError("boom")

    monkeypatch.setattr("jumprelu.report.content.build_plots", broken)
    with pytest.raises(RuntimeError, match="boom"):
        render_report(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]


# ----------------------------------------------------------------------------- (4) markdown links


def test_markdown_links_exist(run: tuple[Path, Doc, ReportFiles]) -> None:
    out, _, files = run
    md = (out / "report.md").read_text()
    links = re.findall(r"\]\(([^)\s]+)\)", md)
    assert links and all(not re.match(r"[a-z]+:", link) for link in links)  # relative only
    for link in links:
        path = out / link
        assert path.is_file(), link
        _png_ok(path.read_bytes())
    assert {out / link for link in links} == set(files.assets)
    assert set((out / "report_files").iterdir()) == set(files.assets)  # nothing stale


# ----------------------------------------------------------------------------- library hygiene


def test_no_printing_and_no_global_matplotlib_state(
    tmp_path: Path, run: tuple[Path, Doc, ReportFiles], capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copy(run[0] / "results.json", tmp_path / "results.json")
    rc = dict(matplotlib.rcParams)
    backend = matplotlib.get_backend()
    files = render_report(tmp_path, formats=("md",))
    assert files.html is None and files.markdown is not None and files.assets
    assert not (tmp_path / "report.html").exists()
    assert capsys.readouterr() == ("", "")
    assert dict(matplotlib.rcParams) == rc and matplotlib.get_backend() == backend
    import sys

    if "matplotlib.pyplot" in sys.modules:
        assert not sys.modules["matplotlib.pyplot"].get_fignums()


def test_example_grids_show_clean_inputs_and_predictions(
    run: tuple[Path, Doc, ReportFiles],
) -> None:
    _, doc, _ = run
    assert doc["examples"]["labels"] and all("examples_pred" in c for c in doc["cells"])
    grids = build_example_grids(doc)
    assert len(grids) == len({(c["threat"], c["attack"]) for c in doc["cells"]})
    assert all("green when" in g.caption for g in grids)
    old = {
        **doc,
        "cells": [{k: v for k, v in c.items() if k != "examples_pred"} for c in doc["cells"]],
    }
    old.pop("examples")
    assert all("records no predictions" in g.caption for g in build_example_grids(old))


def test_paper_protocol_examples_are_mapped_back_to_pixels(
    run: tuple[Path, Doc, ReportFiles],
) -> None:
    _, doc, _ = run
    x = np.asarray(doc["examples"]["x"])
    mean = np.asarray(doc["examples"]["mean"]).reshape(1, -1, 1, 1)
    std = np.asarray(doc["examples"]["std"]).reshape(1, -1, 1, 1)
    paper = {**doc, "config": {**doc["config"], "protocol": "paper"}}
    np.testing.assert_allclose(to_display(paper, (x - mean) / std), x[:, 0], atol=1e-6)
    np.testing.assert_allclose(to_display(doc, x), x[:, 0])


# ----------------------------------------------------------------------------- (5) browser


def _browser() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


def test_images_render_in_headless_chromium(
    tmp_path: Path, run: tuple[Path, Doc, ReportFiles]
) -> None:
    browser = _browser()
    if browser is None:
        pytest.skip("no chromium, chromium-browser or google-chrome on PATH")
    out, _, _ = run
    probe = (
        "<script>window.addEventListener('load', () => { const s = document.createElement('pre');"
        " s.id = 'probe'; s.textContent = JSON.stringify([...document.images].map("
        "i => [i.complete, i.naturalWidth, i.naturalHeight])); document.body.append(s); });"
        "</script></body>"
    )
    page = tmp_path / "report.html"  # a copy with the probe; the report itself has no script
    page.write_text((out / "report.html").read_text().replace("</body>", probe))
    done = subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--virtual-time-budget=10000",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    found = re.search(r'<pre id="probe">(.*?)</pre>', done.stdout, re.S)
    assert found, done.stdout[-2000:]
    sizes = json.loads(found.group(1))
    assert len(sizes) == len(html_parse((out / "report.html").read_text()).imgs)
    for complete, width, height in sizes:
        assert complete and width > 0 and height > 0


# ------------------------------------------------------------- (issue 20) ranges, not only types


def _changed(doc: Doc, path: str, value: Any) -> Doc:
    """A deep copy of ``doc`` with the dotted ``path`` (``cells.0.jump``) set to ``value``."""
    doc = json.loads(json.dumps(doc))
    *parents, last = path.split(".")
    obj: Any = doc
    for p in parents:
        obj = obj[int(p)] if isinstance(obj, list) else obj[p]
    obj[int(last) if isinstance(obj, list) else last] = value
    return doc


@pytest.mark.parametrize(
    ("path", "value", "match"),
    [
        ("cells.0.metrics.clean_accuracy", -3.0, r"cells\[0\]\.metrics\.clean_accuracy must"),
        ("cells.0.metrics.adv_accuracy", 5.0, r"must be a number in \[0, 1\], got the number 5.0"),
        ("cells.1.metrics.n", -5, r"cells\[1\]\.metrics\.n must be an integer >= 1"),
        ("cells.0.metrics.grad_evals", -1, r"grad_evals must be an integer >= 0"),
        ("clean.0.jump", -1.0, r"clean\[0\]\.jump must be a jump"),
        ("cells.2.threat", "purple", r"cells\[2\]\.threat must be a threat \(white, gray, adap"),
        ("config.protocol", "mine", r"config\.protocol must be a protocol \(standard, paper\)"),
        ("ensemble", [], "ensemble is empty"),
        ("clean", [], "clean is empty"),
        ("provenance.tuning.rows.0.accuracy", 1.5, r"provenance\.tuning\.rows\[0\]\.accuracy"),
    ],
)
def test_values_out_of_range_are_refused(
    tmp_path: Path, run: tuple[Path, Doc, ReportFiles], path: str, value: Any, match: str
) -> None:
    (tmp_path / "results.json").write_text(json.dumps(_changed(run[1], path, value)))
    with pytest.raises(ReportError, match=match) as err:
        render_report(tmp_path)
    assert "\n" not in str(err.value)
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]


def test_per_layer_labels_are_jumps(tmp_path: Path, run: tuple[Path, Doc, ReportFiles]) -> None:
    doc = _changed(run[1], "cells.0.jump", "layers-0123abcd")
    doc["cells"][0]["jump_map"] = {"net.act1": 0.5}
    (tmp_path / "results.json").write_text(json.dumps(doc))
    assert load_run(tmp_path)["cells"][0]["jump"] == "layers-0123abcd"


def test_examples_file_of_other_images_is_refused(
    tmp_path: Path, run: tuple[Path, Doc, ReportFiles]
) -> None:
    shutil.copy(run[0] / "results.json", tmp_path / "results.json")
    arrays = dict(np.load(run[0] / "examples.npz"))
    np.savez(tmp_path / "examples.npz", **{**arrays, "cell1": arrays["cell1"][:, :, :4]})
    with pytest.raises(ReportError, match=r"examples\.npz: entry 'cell1' is of images") as err:
        render_report(tmp_path)
    assert "\n" not in str(err.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["examples.npz", "results.json"]


def test_a_refused_document_leaves_no_matplotlib_cache(tmp_path: Path) -> None:
    """matplotlib is imported only after the checks: a fresh MPLCONFIGDIR stays absent."""
    import os
    import subprocess
    import sys

    run = tmp_path / "run"
    run.mkdir()
    (run / "results.json").write_text('{"schema": "jumprelu.results", "schema_version": 2}')
    env = {**os.environ, "MPLCONFIGDIR": str(tmp_path / "fresh")}
    done = subprocess.run(
        [sys.executable, "-m", "jumprelu", "report", str(run)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 2 and done.stderr.startswith("jumprelu: error: ")
    assert not (tmp_path / "fresh").exists()
