"""Sanity flags: signs that an evaluation may overstate robustness, each with an explanation.

Several are the indicators of attack failure of Pintor et al. ("Indicators of Attack Failure",
NeurIPS 2022, arXiv 2106.09947) and the checks of Carlini et al. ("On Evaluating Adversarial
Robustness", arXiv 1902.06705); the per-sample ones come from the runner (``threats.py``), the
re-runs from ``indicators.py``.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from typing import Any

from jumprelu.attacks import ATTACKS
from jumprelu.evaluation.units import split_unit

__all__ = ["EXPLANATIONS", "grid_flags", "sanity_flags"]

#: What each sanity flag means and what to do about it (the report prints these texts).
EXPLANATIONS = {
    "zero-gradients": (
        "Many inputs met an exactly zero input gradient under this attack, at the start or at "
        "any later iterate (unavailable gradients). JumpReLU's "
        "gradient is 1[x > jump]: when every unit of some layer sits below the jump, no "
        "gradient flows back and gradient attacks stall (or, in the paper's code, divide by "
        "zero). Their low success then reflects gradient masking, not robustness; trust the "
        "adaptive (BPDA and gradient-free) rows instead."
    ),
    "gray-beats-white": (
        "Adversarial inputs crafted on the undefended model (gray-box) fool the JumpReLU model "
        "more often than attacks that see the JumpReLU model itself (white-box). A white-box "
        "attacker knows strictly more, so the white-box attack is being misled by the "
        "defence's gradients: a classic symptom of gradient masking."
    ),
    "gradient-free-beats-gradient": (
        "A gradient-free attack (it only queries the model's outputs) succeeds more often than "
        "the gradient attacks with the same budget. With informative gradients the gradient "
        "attacks should be at least as strong, so the gradients are masked or obfuscated and "
        "gradient-based numbers overstate robustness."
    ),
    "accuracy-not-decreasing": (
        "Accuracy under a fixed-budget attack re-run at twice the budget, or with an "
        "unbounded budget, is higher than at the budget itself. A larger "
        "budget contains every smaller one, so a correct attack can only do better with it; "
        "a flat or rising curve means the attack fails to use its budget (for example stuck "
        "on masked gradients)."
    ),
    "unbounded-below-100": (
        "An unbounded minimal-perturbation attack did not fool every correctly classified "
        "point. Without a budget some perturbation always changes the prediction (at worst "
        "the image of another class), so failures reveal the attack stalling rather than "
        "robustness."
    ),
    "silent-success": (
        "The attack found an adversarial input at an intermediate iterate but returned a "
        "non-adversarial one. The reported accuracy overstates robustness: an attack must "
        "keep the best point it found (silent success)."
    ),
    "incomplete-optimisation": (
        "For many points the attack's objective was still improving at its last iteration: "
        "the attack stopped before converging, and more iterations may break more points. The "
        "robust accuracy reported is then an upper bound that a longer run would lower."
    ),
    "unstable-predictions": (
        "Many adversarial inputs lose their effect under tiny random input noise (1% of the "
        "budget): the model's output is unstable around them, which is typical of randomised "
        "or discontinuous defences, where the loss the attack sees is unreliable. Attacks that "
        "stop at the first adversarial iterate (APGD, PGD's early successes) also leave points "
        "just past the boundary, so compare the share with the same attack at jump 0: a larger "
        "share at a positive jump points at the jump's discontinuity."
    ),
    "unbounded-attack-fails": (
        "Re-run with a budget covering the whole input box, this fixed-budget attack still did "
        "not fool every point. With such a budget an image of another class is reachable, so "
        "the failure is the optimisation's (masked or obfuscated gradients, too few steps), "
        "not robustness."
    ),
    "more-steps-helps": (
        "Re-running the attack with four times the iterations broke points the original run "
        "left robust: the reported robust accuracy is not converged (Carlini et al.: more "
        "steps or restarts must not change the result)."
    ),
    "jump0-mismatch": (
        "The retrofitted model at jump 0 does not reproduce the original model's logits bit "
        "for bit, so differences across jumps may not be due to the jump alone."
    ),
}


ZERO_GRAD_LIMIT = 0.05
MARGIN = 0.01
#: Shares above which a per-sample indicator raises its flag: robust points still improving
#: (of the correctly classified), adversarial inputs unstable under noise (of the fooled).
IMPROVING_LIMIT, UNSTABLE_LIMIT = 0.01, 0.05
#: ... and never on fewer points than this (one point of a small run is noise).
MIN_POINTS = 3


def _flag(code: str, where: str, message: str) -> dict[str, str]:
    return {"code": code, "where": where, "message": message, "explanation": EXPLANATIONS[code]}


def sanity_flags(doc: dict[str, Any], *, jump0_matches: bool = True) -> list[dict[str, str]]:
    """Inspect a results document and return its sanity flags.

    Args:
        doc: the results document (``cells`` with ``metrics``).
        jump0_matches: whether jump 0 reproduced the original logits exactly.

    Returns:
        A list of ``{"code", "where", "message", "explanation"}``.
    """
    flags = []
    if not jump0_matches:
        flags.append(_flag("jump0-mismatch", "jump 0", "jump 0 logits differ from the original"))
    by_jump: dict[float, list[dict[str, Any]]] = defaultdict(list)
    for cell in doc["cells"]:
        by_jump[cell["jump"]].append(cell)
        flags += _cell_flags(cell)
    for jump, cells in sorted(by_jump.items()):
        flags += _jump_flags(jump, cells)
    return flags


def _cell_flags(cell: dict[str, Any]) -> list[dict[str, str]]:
    """The flags one cell raises on its own."""
    flags = []
    m, where = cell["metrics"], f"{cell['threat']}/{cell['attack']} at jump {cell['jump']:g}"
    ind = cell.get("indicators") or {}
    n = max(int(m["n"]), 1)
    gray = cell["threat"] == "gray"
    zero = max(m["zero_grad_fraction"], (ind.get("zero_grad_any") or 0) / n)
    if not gray and zero > ZERO_GRAD_LIMIT:
        flags.append(
            _flag(
                "zero-gradients",
                where,
                f"{100 * zero:.1f}% of inputs met an exactly zero gradient",
            )
        )
    if not gray and (ind.get("silent") or 0) > 0:
        flags.append(_flag("silent-success", where, f"{ind['silent']} point(s) found and lost"))
    correct = max(int(ind.get("n_correct") or 0), 1)
    improving = ind.get("improving") or 0
    if not gray and improving >= MIN_POINTS and improving > IMPROVING_LIMIT * correct:
        flags.append(
            _flag(
                "incomplete-optimisation",
                where,
                f"{ind['improving']} robust point(s) with the objective still improving",
            )
        )
    fooled = int(ind.get("n_fooled") or 0)
    unstable = ind.get("unstable") or 0
    if not gray and unstable >= MIN_POINTS and unstable > UNSTABLE_LIMIT * fooled:
        flags.append(
            _flag(
                "unstable-predictions",
                where,
                f"{ind['unstable']} of {fooled} adversarial inputs flip back under noise",
            )
        )
    unbounded = cell["family"] == "minimal" and cell["settings"].get("max_norm") is None
    if unbounded and not gray and (m["success_rate"] or 0.0) < 1.0:
        flags.append(
            _flag(
                "unbounded-below-100",
                where,
                f"success {100 * (m['success_rate'] or 0.0):.2f}% of correct points",
            )
        )
    flags += _check_flags(cell.get("checks") or {}, where)
    return flags


def _check_flags(checks: dict[str, Any], where: str) -> list[dict[str, str]]:
    """Flags from the re-run indicators of a cell (``indicators.cell_checks``)."""
    flags: list[dict[str, str]] = []
    if not checks.get("n"):
        return flags
    got = checks.get("unbounded_success")
    if got is not None and got < 1.0:
        flags.append(
            _flag(
                "unbounded-attack-fails",
                where,
                f"{100 * got:.1f}% success with the whole box as budget ({checks['n']} points)",
            )
        )
    if (checks.get("more_steps_broken") or 0) > 0:
        flags.append(
            _flag(
                "more-steps-helps",
                where,
                f"{checks['more_steps_broken']} more of {checks['n']} points broken with "
                "4x the iterations",
            )
        )
    curve = checks.get("accuracy_vs_eps") or []
    accs = [a for _, a in sorted(curve)]
    if any(b > a + MARGIN for a, b in itertools.pairwise(accs)):
        shown = ", ".join(f"{100 * a:.1f}% at {e:g}" for e, a in sorted(curve))
        flags.append(_flag("accuracy-not-decreasing", where, f"robust accuracy {shown}"))
    return flags


def _jump_flags(jump: float, cells: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Flags comparing the cells of one jump."""
    flags = []
    acc = {(c["threat"], c["attack"]): c["metrics"]["adv_accuracy"] for c in cells}
    for (threat, attack), value in acc.items():
        white = acc.get(("white", attack))
        if threat == "gray" and white is not None and value < white - MARGIN:
            flags.append(
                _flag(
                    "gray-beats-white",
                    f"{attack} at jump {jump:g}",
                    f"gray-box accuracy {100 * value:.2f}% < white-box {100 * white:.2f}%",
                )
            )
    specs = {c["attack"]: ATTACKS.get(split_unit(c["attack"])[0]) for c in cells}  # suites: None
    for norm in ("linf", "l2"):
        free = [
            c for c in cells if (s := specs[c["attack"]]) and s.gradient_free and s.norm == norm
        ]
        if not free:
            continue
        eps = free[0]["settings"].get("eps")
        grad = [
            c
            for c in cells
            if c["family"] == "fixed-budget"
            and (s := specs[c["attack"]]) is not None
            and not s.gradient_free
            and s.norm == norm
            and c["settings"].get("eps") == eps
        ]
        if grad:
            best = min(c["metrics"]["adv_accuracy"] for c in grad)
            got = free[0]["metrics"]["adv_accuracy"]
            if got < best - MARGIN:
                flags.append(
                    _flag(
                        "gradient-free-beats-gradient",
                        f"jump {jump:g}",
                        f"{free[0]['attack']} accuracy {100 * got:.2f}% < best gradient "
                        f"attack {100 * best:.2f}% at the same eps",
                    )
                )
    return flags


#: Stands in for a mapping point's jump while the sanity flags are computed (never a jump).
_SENTINEL = -1.0


def grid_flags(doc: dict[str, Any], *, jump0_matches: bool) -> list[dict[str, str]]:
    """The sanity flags of a results document whose cells may hold mapping points.

    A document without mapping points gets exactly ``sanity_flags``; otherwise each
    mapping point's cells are checked on their own and its flags name it by its label.
    """
    labels = list(dict.fromkeys(c["jump"] for c in doc["cells"] if isinstance(c["jump"], str)))
    if not labels:
        return sanity_flags(doc, jump0_matches=jump0_matches)
    scalar = [c for c in doc["cells"] if not isinstance(c["jump"], str)]
    flags = sanity_flags({"cells": scalar}, jump0_matches=jump0_matches)
    for label in labels:
        cells = [{**c, "jump": _SENTINEL} for c in doc["cells"] if c["jump"] == label]
        for flag in sanity_flags({"cells": cells}):
            flag["where"] = flag["where"].replace(f"jump {_SENTINEL:g}", f"jump {label}")
            flags.append(flag)
    return flags
