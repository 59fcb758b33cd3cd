"""Jump tuning on validation data."""

from __future__ import annotations

import pytest
import torch

from jumprelu.datasets.core import Split, load_split
from jumprelu.errors import ConfigError
from jumprelu.evaluation.clean import predict
from jumprelu.models.checkpoints import default_model_path, load_checkpoint
from jumprelu.retrofit import retrofit, set_jump
from jumprelu.tuning import tune

JUMPS = [0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0]


@pytest.fixture(scope="module")
def setup() -> tuple[torch.nn.Module, object]:
    model, _ = load_checkpoint(default_model_path())
    return model, load_split("digits", "val")


def val_acc(model: torch.nn.Module, val: object, jump: float) -> float:
    jm = retrofit(model, jump)
    return float((predict(jm, val.x) == val.y).float().mean())  # type: ignore[attr-defined]


def test_largest_jump_within_budget(setup: tuple[torch.nn.Module, object]) -> None:
    model, val = setup
    res = tune(model, val, JUMPS, max_drop=0.01)  # type: ignore[arg-type]
    base = val_acc(model, val, 0.0)
    admissible = [j for j in JUMPS if base - val_acc(model, val, j) <= 0.01 + 1e-12]
    assert res.jump == max(admissible)
    assert res.baseline_accuracy == base and res.n == len(val)  # type: ignore[arg-type]
    assert [r["jump"] for r in res.rows] == JUMPS
    strict = tune(model, val, JUMPS, max_drop=0.0)  # type: ignore[arg-type]
    assert strict.jump is not None and strict.jump <= res.jump


def test_robustness_metric_chooses_among_admissible(setup: tuple[torch.nn.Module, object]) -> None:
    model, val = setup
    # a metric that prefers the smallest jump: the choice must follow it, within the budget
    res = tune(
        model,
        val,
        JUMPS,
        max_drop=0.05,
        robustness=lambda m: -max(float(s.jump) for s in m.modules() if hasattr(s, "jump")),
        metric="neg-jump",
    )  # type: ignore[arg-type]
    assert res.jump == 0.0 and res.metric == "neg-jump"


def test_per_layer_quantiles(setup: tuple[torch.nn.Module, object]) -> None:
    model, val = setup
    res = tune(model, val, JUMPS, max_drop=0.01, per_layer_quantiles=[0.0, 0.1, 0.3, 0.6])  # type: ignore[arg-type]
    assert res.quantile is not None and set(res.site_jumps) == {"net.act1", "net.act2", "net.act3"}
    jm = retrofit(model, 0.0)
    set_jump(jm, res.site_jumps)
    acc = float((predict(jm, val.x) == val.y).float().mean())  # type: ignore[attr-defined]
    assert res.baseline_accuracy - acc <= 0.01 + 1e-12
    quantiles = [r["quantile"] for r in res.rows]
    assert quantiles == sorted(quantiles)


def test_bad_budget(setup: tuple[torch.nn.Module, object]) -> None:
    model, val = setup
    with pytest.raises(ConfigError):
        tune(model, val, JUMPS, max_drop=-0.1)  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        tune(model, val, [], max_drop=0.01)  # type: ignore[arg-type]


def test_empty_validation_split_is_refused(setup: tuple[torch.nn.Module, object]) -> None:
    model, val = setup
    with pytest.raises(ConfigError, match="validation split is empty"):
        tune(model, val.take(0), JUMPS)  # type: ignore[attr-defined]


def test_validation_labels_outside_the_model_are_refused(
    setup: tuple[torch.nn.Module, object],
) -> None:
    model, val = setup
    y = val.y.clone()  # type: ignore[attr-defined]
    y[0] = 15  # a 10-class model
    bad = Split(val.x, y, val.info, "val")  # type: ignore[attr-defined]
    with pytest.raises(ConfigError, match=r"validation data: labels must lie in \[0, 9\]"):
        tune(model, bad, JUMPS)
    other = Split(val.x[:, :, :4, :4], val.y, val.info, "val")  # type: ignore[attr-defined]
    with pytest.raises(ConfigError, match="validation data: images of shape"):
        tune(model, other, JUMPS)
    assert tune(model, val, [0.0]).n == len(val)  # type: ignore[arg-type]  # model unchanged
