"""Sanity flags fire on the symptoms they describe, and only then."""

from __future__ import annotations

from typing import Any

import pytest

from jumprelu.evaluation.checks import EXPLANATIONS, sanity_flags


def cell(threat: str, attack: str, jump: float, acc: float, **kw: Any) -> dict[str, Any]:
    metrics = {
        "n": 100,
        "adv_accuracy": acc,
        "zero_grad_fraction": kw.pop("zero", 0.0),
        "success_rate": kw.pop("success", 1.0),
    }
    return {
        "threat": threat,
        "attack": attack,
        "jump": jump,
        "metrics": metrics,
        "family": kw.pop("family", "fixed-budget"),
        "settings": kw.pop("settings", {"eps": 0.1}),
        **kw,
    }


def codes(cells: list[dict[str, Any]], **kw: Any) -> list[str]:
    return [f["code"] for f in sanity_flags({"cells": cells}, **kw)]


def test_clean_document_has_no_flags() -> None:
    cells = [
        cell("white", "pgd-linf", 1.0, 0.2),
        cell("gray", "pgd-linf", 1.0, 0.4),
        cell("adaptive", "square-linf", 1.0, 0.3),
    ]
    assert codes(cells) == []


def test_each_symptom_raises_its_flag() -> None:
    assert codes(
        [
            cell(
                "white",
                "deepfool-l2",
                1.0,
                0.5,
                zero=0.3,
                success=0.8,
                family="minimal",
                settings={},
            )
        ]
    ) == ["zero-gradients", "unbounded-below-100"]
    assert codes([cell("white", "pgd-linf", 1.0, 0.6), cell("gray", "pgd-linf", 1.0, 0.4)]) == [
        "gray-beats-white"
    ]
    assert codes(
        [cell("white", "pgd-linf", 1.0, 0.6), cell("adaptive", "square-linf", 1.0, 0.3)]
    ) == ["gradient-free-beats-gradient"]
    assert codes([], jump0_matches=False) == ["jump0-mismatch"]


SOUND_CHECKS = {
    "n": 100,
    "eps": 0.1,
    "accuracy_vs_eps": [[0.1, 0.5], [0.2, 0.1], [1.0, 0.0]],
    "unbounded_success": 1.0,
    "more_steps_broken": 0,
}
SOUND_INDICATORS = {
    "n_correct": 100,
    "n_fooled": 50,
    "zero_grad_any": 0,
    "silent": 0,
    "improving": 0,
    "unstable": 0,
}


@pytest.mark.parametrize(
    ("code", "indicators", "checks"),
    [
        ("zero-gradients", {"zero_grad_any": 30}, {}),
        ("silent-success", {"silent": 2}, {}),
        ("incomplete-optimisation", {"improving": 5}, {}),
        ("unstable-predictions", {"unstable": 10}, {}),
        ("unbounded-attack-fails", {}, {"unbounded_success": 0.93}),
        ("more-steps-helps", {}, {"more_steps_broken": 3}),
        ("accuracy-not-decreasing", {}, {"accuracy_vs_eps": [[0.1, 0.5], [0.2, 0.6], [1, 0]]}),
    ],
)
def test_each_indicator_of_attack_failure_fires_only_on_its_symptom(
    code: str, indicators: dict[str, Any], checks: dict[str, Any]
) -> None:
    def one(ind: dict[str, Any], chk: dict[str, Any]) -> list[str]:
        c = cell("adaptive", "bpda:pgd-linf", 1.0, 0.5, indicators=ind, checks=chk)
        c["metrics"]["n"] = 100
        return codes([c])

    assert one(SOUND_INDICATORS, SOUND_CHECKS) == []
    assert one({**SOUND_INDICATORS, **indicators}, {**SOUND_CHECKS, **checks}) == [code]
    # gray-box cells evaluate transferred inputs: the per-sample indicators do not apply
    if indicators:
        gray = cell("gray", "pgd-linf", 1.0, 0.5, indicators={**SOUND_INDICATORS, **indicators})
        gray["metrics"]["n"] = 100
        assert codes([gray]) == []


def test_every_flag_has_a_paragraph() -> None:
    for text in EXPLANATIONS.values():
        assert len(text.split()) > 25
