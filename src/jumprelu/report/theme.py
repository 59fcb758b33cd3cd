"""One palette for the whole report: each threat model has the same colour in tables and plots."""

from __future__ import annotations

__all__ = [
    "CLEAN",
    "ENSEMBLE",
    "MARKERS",
    "RHO",
    "THREAT_COLORS",
    "THREAT_DASHES",
    "threat_color",
]

#: Colour-blind-safe (Okabe-Ito based) colours per threat model.
THREAT_COLORS = {"white": "#0072B2", "gray": "#6E6E6E", "adaptive": "#D55E00"}
#: Line styles per threat model, so the plots read in greyscale too.
THREAT_DASHES = {"white": "-", "gray": "--", "adaptive": "-."}
#: Clean accuracy and the per-sample worst case over every attack.
CLEAN = "#111111"
ENSEMBLE = "#CC79A7"
#: The Greek letter of the paper's relative perturbation.
RHO = "\N{GREEK SMALL LETTER RHO}"
#: Markers told apart by attack.
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")


def threat_color(threat: str) -> str:
    """The colour of a threat model (a neutral one for unknown names).

    Args:
        threat: "white", "gray" or "adaptive".

    Returns:
        A ``#rrggbb`` colour.
    """
    return THREAT_COLORS.get(threat, "#009E73")
