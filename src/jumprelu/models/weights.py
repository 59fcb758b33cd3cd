"""Checks of a state_dict against a model: every weight finite, present, expected, of its shape
and floating point where the model's is (``load_state_dict`` would silently cast it)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from jumprelu.errors import CheckpointError

__all__ = ["check_finite", "check_fits", "non_float", "short_list"]


def short_list(items: Sequence[str], limit: int = 8) -> str:
    """The first ``limit`` items, comma-separated, then ``and N more``."""
    shown = ", ".join(items[:limit])
    return f"{shown} and {len(items) - limit} more" if len(items) > limit else shown


def non_float(expected: Mapping[str, torch.Tensor], state: Mapping[str, torch.Tensor]) -> list[str]:
    """Keys whose saved tensor is not floating point where the model's is (e.g. int64
    weights, which ``load_state_dict`` would silently cast), as ``"key (dtype)"``."""
    return [
        f"{k} ({str(state[k].dtype).removeprefix('torch.')})"
        for k, v in expected.items()
        if k in state and v.is_floating_point() and not state[k].is_floating_point()
    ]


def check_finite(state: Mapping[str, torch.Tensor], what: str) -> None:
    """Raise CheckpointError naming the tensors with NaN or inf values (``what``: whose)."""
    bad = [
        k
        for k, v in state.items()
        if (v.is_floating_point() or v.is_complex()) and not bool(torch.isfinite(v).all())
    ]
    if bad:
        raise CheckpointError(f"{what} has non-finite (NaN or inf) values in: {short_list(bad)}")


def check_fits(net: nn.Module, state: Mapping[str, torch.Tensor], arch: str, what: str) -> None:
    """Raise CheckpointError naming missing, unexpected, mis-shaped and non-float keys.

    Args:
        net: a freshly built network of the architecture.
        state: the weights meant for it.
        arch: the architecture's name, for the message.
        what: whose weights, for the message.
    """
    expected = net.state_dict()
    missing = [k for k in expected if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in expected]
    shapes = [
        f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state and state[k].shape != v.shape
    ]
    parts = [
        f"{label}: {short_list(items)}"
        for label, items in (
            ("missing keys", missing),
            ("unexpected keys", unexpected),
            ("shape mismatch", shapes),
            ("not floating point", non_float(expected, state)),
        )
        if items
    ]
    if parts:
        raise CheckpointError(f"{what} does not fit arch {arch!r}: {'; '.join(parts)}")
