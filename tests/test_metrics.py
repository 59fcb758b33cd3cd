"""Metrics: both averaging conventions, robust accuracy from minimal norms."""

from __future__ import annotations

import pytest
import torch

from jumprelu.evaluation.metrics import robust_accuracy_curve, summarize

T, F = True, False


def outcomes() -> dict[str, torch.Tensor]:
    return {
        "clean_correct": torch.tensor([T, T, T, F]),
        "adv_correct": torch.tensor([T, F, F, F]),
        "l2_rel": torch.tensor([0.0, 0.2, 0.4, 0.0]),
        "linf_rel": torch.tensor([0.0, 0.5, 0.7, 0.0]),
        "l2": torch.tensor([0.0, 2.0, 4.0, 0.0]),
        "linf": torch.tensor([0.0, 0.1, 0.3, 0.0]),
    }


def test_conventions_differ_as_documented() -> None:
    m = summarize(**outcomes(), zero_grad=torch.tensor([F, F, F, T]), grad_evals=12, seconds=1.5)
    assert (m.n, m.clean_accuracy, m.adv_accuracy) == (4, 0.75, 0.25)
    assert m.success_rate == pytest.approx(2 / 3)
    assert m.rho2_all == pytest.approx(0.15)  # paper: mean over all four points
    assert m.rho2_success == pytest.approx(0.3)  # ART: over the two fooled points
    assert m.rhoinf_all == pytest.approx(0.3) and m.rhoinf_success == pytest.approx(0.6)
    assert m.median_rho2_success == pytest.approx(0.2)  # lower median of two
    assert m.l2_success == pytest.approx(3.0) and m.linf_success == pytest.approx(0.2)
    assert m.zero_grad_fraction == 0.25 and m.grad_evals == 12
    assert m.to_dict()["rho2_all"] == pytest.approx(0.15)


def test_no_success_gives_none_not_nan() -> None:
    o = outcomes()
    o["adv_correct"] = o["clean_correct"].clone()
    m = summarize(**o)
    assert m.success_rate == 0.0 and m.rho2_success is None and m.l2_success is None


def test_robust_accuracy_curve_is_monotone_and_bounded() -> None:
    o = outcomes()
    curve = robust_accuracy_curve(o["l2"], o["clean_correct"], o["adv_correct"], [0, 1, 3, 10])
    assert curve == [(0.0, 0.75), (1.0, 0.75), (3.0, 0.5), (10.0, 0.25)]
    accs = [a for _, a in curve]
    assert accs == sorted(accs, reverse=True)
