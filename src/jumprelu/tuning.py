"""Choose the jump on validation data: the largest jump whose clean-accuracy drop fits a budget.

Optionally, among the admissible jumps, the one maximising a robustness metric (accuracy under
a given attack on the validation split); optionally per layer, each site's jump set to the same
quantile of that site's positive activations on validation data. Test data is never used here.
"""

from __future__ import annotations

import logging
import numbers
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from jumprelu._util import check_model, model_device
from jumprelu.datasets.core import Split
from jumprelu.errors import ConfigError
from jumprelu.evaluation.clean import accuracy, check_split, check_tensors, jump_list, predict
from jumprelu.meansparse import set_alpha
from jumprelu.retrofit import jump_sites, retrofit, set_jump

__all__ = ["TuneResult", "site_quantiles", "tune"]

log = logging.getLogger(__name__)


@dataclass
class TuneResult:
    """The chosen jump and the evidence.

    Attributes:
        jump: the chosen global jump (None when per-layer tuning chose ``site_jumps``).
        site_jumps: per-site jumps when tuned per layer.
        quantile: the chosen activation quantile (per-layer tuning).
        max_drop: the clean-accuracy budget (fraction, e.g. 0.01 = 1 point).
        baseline_accuracy: validation accuracy at jump 0.
        rows: per candidate ``{"jump" or "quantile", "accuracy", "drop", "robust"}``.
        metric: robustness metric used to choose among admissible jumps, if any.
        n: validation examples.
    """

    jump: float | None
    max_drop: float
    baseline_accuracy: float
    rows: list[dict[str, Any]]
    n: int
    metric: str | None = None
    site_jumps: dict[str, float] = field(default_factory=dict)
    quantile: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict."""
        return asdict(self)


def _check_val(model: nn.Module, val: Split) -> None:
    """``check_tensors`` on the validation split (labels in the model's classes, and so on)."""
    try:
        check_tensors(model, val.x, val.y, model_device(model))
    except ConfigError as exc:
        raise ConfigError(f"validation data: {exc}") from None


def site_quantiles(model: nn.Module, data: Split, q: float) -> dict[str, float]:
    """Per site, the ``q`` quantile of the positive inputs of a retrofitted model's JumpReLUs.

    Args:
        model: a retrofitted model (its current jumps are used while recording).
        data: validation examples.
        q: quantile in [0, 1).

    Returns:
        ``{site name: quantile}``.
    """
    values: dict[str, list[torch.Tensor]] = {name: [] for name in jump_sites(model)}
    hooks = [
        site.register_forward_hook(
            lambda m, inp, out, name=name: values[name].append(
                inp[0].detach().flatten()[inp[0].detach().flatten() > 0].cpu()
            )
        )
        for name, site in jump_sites(model).items()
    ]
    try:
        predict(model, data.x)
    finally:
        for h in hooks:
            h.remove()
    gen = torch.Generator().manual_seed(0)
    out = {}
    for name, parts in values.items():
        v = torch.cat(parts) if parts else torch.zeros(1)
        if v.numel() > 1_000_000:  # torch.quantile's input limit: a seeded subsample
            v = v[torch.randperm(v.numel(), generator=gen)[:1_000_000]]
        out[name] = float(torch.quantile(v, q)) if v.numel() else 0.0
    return out


def _quantiles(per_layer_quantiles: object) -> list[float]:
    """The candidate quantiles, sorted: numbers in [0, 1), at least one."""
    given = per_layer_quantiles
    if isinstance(given, str) or not isinstance(given, Iterable) or isinstance(given, Mapping):
        raise ConfigError(f"quantiles must be a list of numbers in [0, 1), got {given!r}")
    values = list(given)
    if any(isinstance(q, bool) or not isinstance(q, numbers.Real) for q in values):
        raise ConfigError(f"quantiles must be numbers in [0, 1), got {given!r}")
    qs = sorted(float(q) for q in values)
    if not qs or any(not 0 <= q < 1 for q in qs):
        raise ConfigError(f"quantiles must lie in [0, 1), got {given}")
    return qs


def tune(
    model: nn.Module,
    val: Split,
    jumps: Sequence[float] | str,
    *,
    max_drop: float = 0.01,
    robustness: Callable[[nn.Module], float] | None = None,
    metric: str | None = None,
    per_layer_quantiles: Sequence[float] | None = None,
    calibration: torch.Tensor | None = None,
) -> TuneResult:
    """Pick the jump on validation data.

    Args:
        model: the trained ReLU model (not modified).
        calibration: MeanSparse instead of JumpReLU: the training images its statistics come
            from; ``jumps`` are then its bands alpha (``retrofit(kind="meansparse")``).
        val: validation split (carved from the training set): at least one example, checked
            against the model (``evaluation.clean.check_tensors``: labels in its classes).
        jumps: candidate global jumps.
        max_drop: allowed clean-accuracy drop (fraction of examples) relative to jump 0.
        robustness: optional score of a retrofitted model (higher is more robust); when given,
            the admissible jump with the highest score is chosen, ties to the larger jump.
        metric: name of that score, for the record.
        per_layer_quantiles: tune per layer instead: candidate activation quantiles.

    Returns:
        A ``TuneResult``.

    Raises:
        ConfigError: a bad max_drop or quantile, an empty validation split, or validation
            data the model cannot take (labels outside its classes, images of another shape).

    Example:
        >>> import jumprelu
        >>> model, _ = jumprelu.load_checkpoint(jumprelu.default_model_path())
        >>> val = jumprelu.load_split("digits", "val")
        >>> result = jumprelu.tune(model, val, [0.0, 0.5, 1.0], max_drop=0.01)
        >>> [row["jump"] for row in result.rows], result.n
        ([0.0, 0.5, 1.0], 288)
        >>> result.jump  # the largest jump costing at most 1 point of validation accuracy
        1.0
    """
    check_model(model)
    check_split(val, "val")
    number = isinstance(max_drop, numbers.Real) and not isinstance(max_drop, bool)
    if not number or not 0 <= max_drop < 1:
        raise ConfigError(f"max drop must be a number in [0, 1), got {max_drop!r}")
    if robustness is not None and not callable(robustness):
        raise ConfigError(f"robustness must be a callable (model -> score), got {robustness!r}")
    per_layer = per_layer_quantiles is not None
    grid = [] if per_layer else sorted(jump_list(jumps))
    qs = _quantiles(per_layer_quantiles) if per_layer else []
    if len(val) == 0:
        raise ConfigError("the validation split is empty: tune needs examples to choose on")
    if calibration is not None and per_layer_quantiles is not None:
        raise ConfigError("per-layer tuning sets JumpReLU's jumps; MeanSparse takes one alpha")
    kind = "jumprelu" if calibration is None else "meansparse"
    jm = retrofit(model, 0.0, kind=kind, calibration=calibration)
    choose = set_jump if calibration is None else set_alpha
    _check_val(jm, val)
    base = accuracy(jm, val)
    rows: list[dict[str, Any]] = []
    if per_layer:
        best_q, best_sites = None, {}
        for q in qs:
            set_jump(jm, 0.0)
            sites = site_quantiles(jm, val, q)
            set_jump(jm, sites)
            acc = accuracy(jm, val)
            rows.append({"quantile": q, "accuracy": acc, "drop": base - acc, "site_jumps": sites})
            if base - acc <= max_drop + 1e-12:
                best_q, best_sites = q, sites
        return TuneResult(
            None, max_drop, base, rows, len(val), site_jumps=best_sites, quantile=best_q
        )
    chosen, best_score = 0.0, float("-inf")
    for jump in grid:
        choose(jm, jump)
        acc = accuracy(jm, val)
        row: dict[str, Any] = {"jump": jump, "accuracy": acc, "drop": base - acc}
        if base - acc <= max_drop + 1e-12:
            score = robustness(jm) if robustness else jump
            row["robust"] = score if robustness else None
            if score >= best_score:
                chosen, best_score = jump, score
        rows.append(row)
        log.info("tune jump %g: val accuracy %.4f", jump, acc)
    return TuneResult(chosen, max_drop, base, rows, len(val), metric=metric)
