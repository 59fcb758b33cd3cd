"""Sanity flags fire on the symptoms they describe, and only then."""

from __future__ import annotations

from typing import Any

from jumprelu.checks import EXPLANATIONS, sanity_flags


def cell(threat: str, attack: str, jump: float, acc: float, **kw: Any) -> dict[str, Any]:
    metrics = {
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
    curve = {"norm": "l2", "points": [[0.0, 0.9], [1.0, 0.5], [2.0, 0.7]]}
    assert codes(
        [cell("white", "deepfool-l2", 1.0, 0.0, family="minimal", settings={}, curve=curve)]
    ) == ["accuracy-not-decreasing"]
    assert codes([], jump0_matches=False) == ["jump0-mismatch"]


def test_every_flag_has_a_paragraph() -> None:
    for text in EXPLANATIONS.values():
        assert len(text.split()) > 25
