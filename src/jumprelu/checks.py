"""Sanity flags: signs that an evaluation may overstate robustness, each with an explanation."""

from __future__ import annotations

import itertools
from collections import defaultdict
from typing import Any

__all__ = ["EXPLANATIONS", "sanity_flags"]

EXPLANATIONS = {
    "zero-gradients": (
        "Many inputs have an exactly zero input gradient under this attack. JumpReLU's "
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
        "Accuracy under attack does not decrease as the perturbation budget grows. A larger "
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
    "jump0-mismatch": (
        "The retrofitted model at jump 0 does not reproduce the original model's logits bit "
        "for bit, so differences across jumps may not be due to the jump alone."
    ),
}
ZERO_GRAD_LIMIT = 0.05
MARGIN = 0.01


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
        m, where = cell["metrics"], f"{cell['threat']}/{cell['attack']} at jump {cell['jump']:g}"
        if cell["threat"] == "white" and m["zero_grad_fraction"] > ZERO_GRAD_LIMIT:
            flags.append(
                _flag(
                    "zero-gradients",
                    where,
                    f"{100 * m['zero_grad_fraction']:.1f}% of inputs had a zero gradient",
                )
            )
        unbounded = cell["family"] == "minimal" and cell["settings"].get("max_norm") is None
        if unbounded and cell["threat"] != "gray" and (m["success_rate"] or 0.0) < 1.0:
            flags.append(
                _flag(
                    "unbounded-below-100",
                    where,
                    f"success {100 * (m['success_rate'] or 0.0):.2f}% of correct points",
                )
            )
    for jump, cells in sorted(by_jump.items()):
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
        free = [c for c in cells if c["attack"] == "square-linf"]
        grad = [
            c
            for c in cells
            if c["family"] == "fixed-budget"
            and c["attack"] != "square-linf"
            and c["settings"].get("eps") == (free[0]["settings"].get("eps") if free else None)
            and c["attack"].endswith("linf")
        ]
        if free and grad:
            best = min(c["metrics"]["adv_accuracy"] for c in grad)
            got = free[0]["metrics"]["adv_accuracy"]
            if got < best - MARGIN:
                flags.append(
                    _flag(
                        "gradient-free-beats-gradient",
                        f"jump {jump:g}",
                        f"square-linf accuracy {100 * got:.2f}% < best gradient "
                        f"attack {100 * best:.2f}% at the same eps",
                    )
                )
        for c in cells:
            points = c.get("curve", {}).get("points", [])
            accs = [a for _, a in points]
            if any(b > a + 1e-12 for a, b in itertools.pairwise(accs)):
                flags.append(
                    _flag(
                        "accuracy-not-decreasing",
                        f"{c['threat']}/{c['attack']} at jump {jump:g}",
                        "robust accuracy rises with eps",
                    )
                )
    return flags
