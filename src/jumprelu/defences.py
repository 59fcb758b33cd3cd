"""The retrofit family: what each post-training defence is and what its grid values mean.

A defence is chosen by name (``retrofit(kind=...)``, ``EvalConfig.retrofit``, ``--retrofit``);
its record says what its strength is called, so reports, results.json and the CSV name it
without a name check elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass

from jumprelu.errors import ConfigError

__all__ = ["DEFENCES", "Defence", "check_defence"]


@dataclass(frozen=True)
class Defence:
    """One retrofit.

    Attributes:
        name: its ``kind``.
        title: how reports name it.
        parameter: what a grid value is (the defence's strength; 0 is the plain network).
        meaning: the parameter in words, for reports.
        calibrated: needs training images for statistics (``calibration``).
        per_site: takes per-site (and per-channel) mappings as grid points.
        paper: where it comes from.
    """

    name: str
    title: str
    parameter: str
    meaning: str
    calibrated: bool
    per_site: bool
    paper: str


#: The defences by name.
DEFENCES: dict[str, Defence] = {
    d.name: d
    for d in (
        Defence(
            "jumprelu",
            "JumpReLU",
            "kappa",
            "jumps kappa (per site or per channel for mappings)",
            False,
            True,
            "Erichson, Yao and Mahoney, ICPRAM 2020 (arXiv 1904.03750)",
        ),
        Defence(
            "meansparse",
            "MeanSparse",
            "alpha",
            "bands alpha, in channel standard deviations",
            True,
            False,
            "Amini et al. 2024 (arXiv 2406.05927)",
        ),
    )
}


def check_defence(name: object) -> Defence:
    """The record of a defence named ``name``.

    Raises:
        ConfigError: an unknown name.
    """
    if not isinstance(name, str) or name not in DEFENCES:
        raise ConfigError(f"unknown retrofit {name!r}; known: {', '.join(DEFENCES)}")
    return DEFENCES[name]
