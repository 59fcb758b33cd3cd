"""What each sanity flag means and what to do about it (the report prints these texts)."""

from __future__ import annotations

__all__ = ["EXPLANATIONS"]


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
