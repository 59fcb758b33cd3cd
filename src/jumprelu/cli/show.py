"""What the commands print: clean sweeps, run results and the demo's summary (stdout)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jumprelu.evaluation.clean import CleanSweep

__all__ = [
    "print_demo",
    "print_results",
    "print_sites",
    "print_sweep",
    "print_tuning",
    "tuned_text",
]


def print_sweep(sweep: CleanSweep) -> None:
    meta = "".join(f", {k}={v}" for k, v in sweep.meta.items())
    print(f"clean accuracy on {sweep.dataset}/{sweep.split} (n={sweep.rows[0].n}){meta}")
    print(f"JumpReLU sites ({len(sweep.sites)}): {', '.join(sweep.sites)}")
    print(f"{'jump':>8}  {'accuracy':>9}  {'correct':>8}")
    for row in sweep.rows:
        print(f"{row.jump:>8g}  {100 * row.accuracy:>8.2f}%  {row.correct:>8d}")


def print_demo(summary: Any) -> None:
    """The demo's summary: the chosen jump, accuracies at jump 0 and at it, the flags."""
    j = f"jump {summary.jump:g}"

    def pair(v: dict[str, float], unit: str = "%") -> str:
        scale, fmt = (100, ".2f") if unit == "%" else (1, ".4f")
        a, b = f"{scale * v['jump 0']:{fmt}}{unit}", f"{scale * v['chosen']:{fmt}}{unit}"
        return f"{a:>8s} at jump 0 -> {b:>8s} at {j}"

    print(
        f"chosen {j} on validation data (largest jump within {100 * summary.max_drop:g} "
        "point(s) of jump 0's clean accuracy)"
    )
    print(f"clean accuracy                        {pair(summary.clean_accuracy)}")
    print(f"under attack, L-inf eps = {summary.eps:g} (lowest over the fixed-budget attacks):")
    for threat, acc in summary.robust_accuracy.items():
        print(f"  {threat:9s}                           {pair(acc)}")
    print(f"  adaptive suite (cascade)            {pair(summary.suite)}")
    print(f"  worst case, every attack within eps {pair(summary.within_budget)}")
    print("DeepFool-L2 mean relative perturbation rho2 (all points; larger = more robust):")
    for threat, rho in summary.rho2.items():
        print(f"  {threat:9s}                           {pair(rho, '')}")
    print(f"ensemble over every attack, unbounded {pair(summary.ensemble)}")
    groups: dict[str, list[str]] = {}
    for flag in summary.flags:  # "code (where)"
        code, _, where = flag.partition(" ")
        groups.setdefault(code, []).append(where.strip("()"))
    for code, places in groups.items():
        more = f", +{len(places) - 2} more" if len(places) > 2 else ""
        print(f"FLAG {code} x{len(places)}: {'; '.join(places[:2])}{more}")
    print(f"report: {summary.report} (every flag, with its explanation)")


def print_sites(prov: dict[str, Any]) -> None:
    sites = prov.get("retrofit", {}).get("sites", [])
    print(f"JumpReLU sites ({len(sites)}): {', '.join(sites)}")


def print_results(doc: dict[str, Any], out: str) -> None:
    cfg = doc["config"]
    print(f"{cfg['dataset']}/{cfg['split']} n={doc['clean'][0]['n']}, protocol {cfg['protocol']}")
    w = max([6, *(len(_jump_text(c["jump"])) for c in doc["clean"])])
    print(
        f"{'threat':9s} {'attack':22s} {'jump':>{w}s} {'clean':>7s} {'adv acc':>8s} "
        f"{'rho2(all)':>9s} {'rhoinf(all)':>11s}"
    )
    clean = {c["jump"]: c["accuracy"] for c in doc["clean"]}
    for cell in doc["cells"]:
        m = cell["metrics"]
        print(
            f"{cell['threat']:9s} {cell['attack']:22s} {_jump_text(cell['jump']):>{w}s} "
            f"{100 * clean[cell['jump']]:6.2f}% {100 * m['adv_accuracy']:7.2f}% "
            f"{m['rho2_all']:9.4f} {m['rhoinf_all']:11.4f}"
        )
        if cell.get("own_gradient_accuracy") is not None:
            own = 100 * cell["own_gradient_accuracy"]
            print(f"{'':9s} {'  own gradient only':22s} {'':>{w}s} {'':7s} {own:7.2f}%")
    for e in doc["ensemble"]:
        print(
            f"ensemble (worst case over all attacks) jump {_jump_text(e['jump'])}: "
            f"{100 * e['adv_accuracy']:.2f}%"
        )
    for flag in doc["flags"]:
        print(f"FLAG {flag['code']} ({flag['where']}): {flag['message']}")
    for c in doc["clean"]:
        if "jump_map" in c:
            per = c.get("jump_channels", {})
            sites = ", ".join(
                f"{k} {v:g}" + (f" (mean of {per[k]} channels)" if k in per else "")
                for k, v in c["jump_map"].items()
            )
            print(f"jump {c['jump']}: per-layer jumps {sites}")
    print(f"results: {Path(out) / 'results.json'}")


def _jump_text(jump: float | str) -> str:
    """A grid point as printed: the jump, or a per-layer mapping's label."""
    return jump if isinstance(jump, str) else f"{jump:g}"


def print_tuning(tuning: dict[str, Any], out: str) -> None:
    """What ``tune`` chose and on what (``tuning``: the results' ``provenance.tuning``)."""
    print(
        f"{tuned_text(tuning, out)} (validation accuracy {100 * tuning['baseline_accuracy']:.2f}% "
        f"at jump 0, max drop {100 * tuning['max_drop']:.2f} points, n={tuning['n']})"
    )


def tuned_text(tuning: dict[str, Any], out: str) -> str:
    """What ``tune`` chose, as printed (``tuning``: the results' ``provenance.tuning``)."""
    if tuning["jump"] is not None:
        return f"chosen jump {tuning['jump']:g}"
    if tuning.get("learned"):
        return (
            f"learned per-channel jumps {tuning['label']} (validation accuracy "
            f"{100 * tuning['accuracy']:.2f}%), written to {Path(out) / 'jumps.json'}"
        )
    if tuning.get("site_jumps"):
        return (
            f"chosen per-layer jumps: quantile {tuning['quantile']:g} of each site's positive "
            f"activations, written to {Path(out) / 'jumps.json'}"
        )
    return "no per-layer quantile admissible: jump 0 kept, no jumps.json written"
