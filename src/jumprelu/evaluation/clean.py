"""Clean accuracy of retrofitted models across a grid of jumps, and batched predictions."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from jumprelu._util import check_model, eval_mode, fast_layout, model_device
from jumprelu.attacks.norms import check_count
from jumprelu.datasets.core import Split
from jumprelu.errors import ConfigError
from jumprelu.evaluation.jump_grid import parse_jumps
from jumprelu.retrofit import jump_sites, retrofit, set_jump

__all__ = [
    "CleanSweep",
    "JumpAccuracy",
    "accuracy",
    "check_split",
    "check_tensors",
    "clean_accuracy_sweep",
    "jump_list",
    "predict",
]

log = logging.getLogger(__name__)


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor, *, batch_size: int = 1000) -> torch.Tensor:
    """Top-1 predictions of ``model`` (in eval mode) on ``x``.

    Args:
        model: a classifier; evaluated in eval mode, its previous mode restored.
        x: inputs (N, C, H, W).
        batch_size: examples per forward pass (each sent to the model's device).

    Returns:
        int64 predictions (N,) on the CPU.

    Raises:
        ConfigError: a model that is not an ``nn.Module``, inputs that are not a tensor, or a
            batch size that is not an integer >= 1.
    """
    check_model(model)
    if not isinstance(x, torch.Tensor):
        raise ConfigError(f"x must be a torch.Tensor of inputs (N, ...), got a {type(x).__name__}")
    check_count("batch size", batch_size)
    dev = model_device(model)
    with eval_mode(model), torch.no_grad():
        preds = [
            model(x[i : i + batch_size].to(dev)).argmax(1).cpu()
            for i in range(0, len(x), batch_size)
        ]
    return torch.cat(preds) if preds else torch.zeros(0, dtype=torch.long)


@dataclass(frozen=True)
class JumpAccuracy:
    """Clean accuracy at one jump.

    Attributes:
        jump: the threshold applied at every site.
        correct: correctly classified examples.
        n: examples evaluated.
        accuracy: ``correct / n`` in [0, 1].
    """

    jump: float
    correct: int
    n: int
    accuracy: float


@dataclass
class CleanSweep:
    """Clean accuracy of a retrofitted model per jump.

    Attributes:
        dataset: dataset name.
        split: split evaluated ("test", "val", ...).
        sites: JumpReLU site names the jump was applied to.
        rows: one ``JumpAccuracy`` per jump, in the order given.
        meta: free-form description (architecture, checkpoint, ...).
    """

    dataset: str
    split: str
    sites: list[str]
    rows: list[JumpAccuracy]
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict."""
        return asdict(self)


def accuracy(model: nn.Module, data: Split) -> float:
    """The fraction of ``data`` that ``model`` classifies correctly (``predict``)."""
    return float((predict(model, data.x) == data.y).float().mean())


def check_split(data: object, name: str = "data") -> Split:
    """Raise ConfigError unless ``data`` is a ``Split`` (``load_split`` returns one).

    Args:
        data: what was given.
        name: the argument's name, for the message.

    Returns:
        The split.
    """
    if not isinstance(data, Split):
        raise ConfigError(
            f"{name} must be a jumprelu Split (from load_split), got a {type(data).__name__}"
        )
    return data


def jump_list(jumps: object) -> list[float]:
    """Validate a grid of global jumps: numbers, or a comma-separated string of them.

    Returns:
        The jumps as floats (``parse_jumps``).

    Raises:
        ConfigError: not a list or string, empty, or an invalid jump.
    """
    if isinstance(jumps, str):
        return parse_jumps(jumps)
    if not isinstance(jumps, Iterable) or isinstance(jumps, Mapping):
        raise ConfigError(
            f"jumps must be a list of numbers or a comma-separated string, "
            f"got a {type(jumps).__name__}"
        )
    return parse_jumps(list(jumps))


def clean_accuracy_sweep(
    model: nn.Module,
    data: Split,
    jumps: Sequence[float] | str,
    *,
    eval_only: bool = True,
    batch_size: int = 1000,
    meta: dict[str, Any] | None = None,
) -> CleanSweep:
    """Retrofit ``model`` once and measure clean accuracy at each jump.

    Args:
        model: a trained ReLU model taking the split's images; not modified.
        data: the examples to classify.
        jumps: the jump grid.
        eval_only: apply the jump at inference only (the paper's setting); accuracy is measured
            in eval mode either way.
        batch_size: examples per forward pass (run on the model's device).
        meta: description stored in the result.

    Returns:
        A ``CleanSweep``.

    Example:
        >>> import jumprelu
        >>> model, _ = jumprelu.load_checkpoint(jumprelu.default_model_path())
        >>> test = jumprelu.load_split("digits", "test")
        >>> sweep = jumprelu.clean_accuracy_sweep(model, test, [0.0, 1.0])
        >>> sweep.sites
        ['net.act1', 'net.act2', 'net.act3']
        >>> [(row.jump, row.n, row.accuracy > 0.9) for row in sweep.rows]
        [(0.0, 359, True), (1.0, 359, True)]
    """
    check_model(model)
    check_split(data)
    grid = jump_list(jumps)
    check_count("batch size", batch_size)
    # The layout evaluate runs in (channels_last on the CPU), so both report the same clean
    # accuracy: an activation within float32 rounding of the jump can fall on either side of
    # it depending on the layout (one CIFAR-10 image of the authors' ResNet-20 at jump 0.06 on
    # an AMD EPYC did).
    jm, x = fast_layout(retrofit(model, 0.0, eval_only=eval_only), data.x)
    rows = []
    for jump in grid:
        set_jump(jm, jump)
        correct = int((predict(jm, x, batch_size=batch_size) == data.y).sum())
        rows.append(JumpAccuracy(jump, correct, len(data), correct / max(len(data), 1)))
        log.info("jump %g: clean accuracy %.4f", jump, rows[-1].accuracy)
    return CleanSweep(data.info.name, data.split, list(jump_sites(jm)), rows, dict(meta or {}))


def check_tensors(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    dev: torch.device,
    *,
    batch_size: int = 500,
) -> int:
    """Check images and labels against the model before any work, on a first batch of the
    size the run will use.

    Returns:
        The model's number of classes.

    Raises:
        ConfigError: no examples, NaN or out-of-range pixels, labels of the wrong shape or
            outside the model's classes, a model on the meta device, images the model cannot
            take, or logits that are not finite floats of shape (N, classes).
    """
    if len(x) == 0:
        raise ConfigError("no examples to evaluate")
    if not x.dtype.is_floating_point or not torch.isfinite(x).all():
        raise ConfigError("images must be finite floating-point values")
    if float(x.min()) < 0 or float(x.max()) > 1:
        raise ConfigError(
            f"images must lie in [0, 1], got [{float(x.min()):g}, {float(x.max()):g}]"
        )
    if y.shape != (len(x),) or y.dtype.is_floating_point or y.dtype == torch.bool:
        raise ConfigError(f"labels must be {len(x)} integers, got {tuple(y.shape)} {y.dtype}")
    model_device(model)  # not on the meta device
    probe = x[:batch_size]
    try:
        with torch.no_grad():
            logits = model.to(dev).eval()(probe.to(dev))
    except (Exception, SystemExit) as exc:  # the user's model: its failure, in one line
        first = (str(exc).strip().splitlines() or [""])[0]
        shape = tuple(probe.shape[1:])
        raise ConfigError(
            f"images of shape {shape} do not fit the model (a batch of {len(probe)}): "
            f"{type(exc).__name__}: {first}"
        ) from None
    if not isinstance(logits, torch.Tensor) or logits.dim() != 2 or logits.shape[-1] < 2:
        got = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
        raise ConfigError(f"the model's output must be (N, classes), got {got}")
    if logits.shape[0] != len(probe):
        raise ConfigError(
            f"the model returns {logits.shape[0]} rows for a batch of {len(probe)} images"
        )
    if not logits.dtype.is_floating_point:
        raise ConfigError(f"the model's logits must be floating point, got {logits.dtype}")
    if not bool(torch.isfinite(logits).all()):
        raise ConfigError("the model returns NaN or infinite logits")
    k = int(logits.shape[-1])
    if int(y.min()) < 0 or int(y.max()) >= k:
        raise ConfigError(f"labels must lie in [0, {k - 1}], got [{int(y.min())}, {int(y.max())}]")
    return k
