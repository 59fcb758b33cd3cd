"""Print a results.json as Markdown tables (one per threat model), as used in docs/results.md.

Usage: python scripts/results_table.py OUT_DIR [OUT_DIR ...]
"""

from __future__ import annotations

import sys

from jumprelu.evaluation.results import load_results


def fmt(v: float | None, pct: bool = False) -> str:
    if v is None:
        return "-"
    return f"{100 * v:.2f}" if pct else f"{v:.4f}"


def table(path: str) -> None:
    doc = load_results(path)
    cfg = doc["config"]
    print(
        f"**{cfg['checkpoint'] or 'shipped model'}**, {cfg['dataset']}/{cfg['split']} "
        f"n={doc['clean'][0]['n']}, protocol `{cfg['protocol']}`, seed {cfg['seed']}; "
        f"accuracy in %, rho = mean relative perturbation over all points (paper convention), "
        f"rho(succ) over fooled points only.\n"
    )
    clean = {c["jump"]: c["accuracy"] for c in doc["clean"]}
    for threat in cfg["threats"]:
        cells = [c for c in doc["cells"] if c["threat"] == threat]
        if not cells:
            continue
        print(f"{threat}-box:\n" if threat != "adaptive" else "adaptive:\n")
        print("| jump | clean | attack | acc | rho-inf | rho2 | rho2 (succ) | zero-grad % |")
        print("|---|---|---|---|---|---|---|---|")
        for c in cells:
            m = c["metrics"]
            print(
                f"| {c['jump']:g} | {fmt(clean[c['jump']], True)} | {c['attack']} | "
                f"{fmt(m['adv_accuracy'], True)} | {fmt(m['rhoinf_all'])} | {fmt(m['rho2_all'])} | "
                f"{fmt(m['rho2_success'])} | {100 * m['zero_grad_fraction']:.2f} |"
            )
        print()
    suites = [c for c in doc["cells"] if c.get("stages")]
    if suites:
        print("adaptive suite, stage by stage (points attacked / broken):\n")
        print("| jump | suite | robust acc | stages |")
        print("|---|---|---|---|")
        for c in suites:
            stages = "; ".join(f"{s['stage']} {s['attacked']}/{s['broken']}" for s in c["stages"])
            print(
                f"| {c['jump']:g} | {c['attack']} (ε {c['settings']['eps']:g}) | "
                f"{fmt(c['metrics']['adv_accuracy'], True)} | {stages} |"
            )
        print()
    budget = doc["ensemble"][0].get("budget", {})
    extra = "".join(
        f" L{'∞' if n == 'linf' else '2'} ≤ {b['eps']:g} px |" for n, b in budget.items()
    )
    print(f"| jump | ensemble (worst case over every attack and threat above) |{extra}")
    print("|---|---|" + "---|" * len(budget))
    for e in doc["ensemble"]:
        within = "".join(f" {100 * b['adv_accuracy']:.2f} |" for b in e.get("budget", {}).values())
        print(f"| {e['jump']:g} | {100 * e['adv_accuracy']:.2f} |{within}")
    print()
    for f in doc["flags"]:
        print(f"- flag `{f['code']}` ({f['where']}): {f['message']}")
    print()


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        table(arg)
