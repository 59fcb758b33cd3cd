"""Input normalisation as a model layer, so models take images in [0, 1].

The paper's protocol works in normalised space; ``NormalizedModel.net`` keeps the bare network
reachable for it, while ``NormalizedModel`` itself is the [0, 1] -> logits model everything else
uses. Checking and reading back the statistics lives in ``stats`` (both re-exported here).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from jumprelu.models.stats import check_mean_std, tensor_to_stats

__all__ = ["Normalize", "NormalizedModel", "check_mean_std", "mean_std_of", "tensor_to_stats"]


class Normalize(nn.Module):
    """Per-channel ``(x - mean) / std`` with buffers of shape (1, C, 1, 1).

    Args:
        mean: per-channel means (length C).
        std: per-channel standard deviations (length C, all > 0).
    """

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        mean_t, std_t = check_mean_std(mean, std)
        self.register_buffer("mean", torch.tensor(mean_t, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std_t, dtype=torch.float32).view(1, -1, 1, 1))

    @property
    def channels(self) -> int:
        """Number of channels the statistics describe."""
        return int(self.mean.shape[1])

    def stats(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """Return the statistics as plain tuples.

        The buffers are float32; each value is given as the shortest decimal that rounds to
        the same float32 (so ``Normalize((0.1307,), ...)`` gives back ``0.1307``).

        Returns:
            ``(mean, std)`` as tuples of floats.
        """
        return tensor_to_stats(self.mean), tensor_to_stats(self.std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise a batch.

        Args:
            x: images of shape (N, C, H, W), usually in [0, 1].

        Returns:
            ``(x - mean) / std``.
        """
        return (x - self.mean) / self.std

    def extra_repr(self) -> str:
        mean, std = self.stats()
        return f"mean={mean}, std={std}"


class NormalizedModel(nn.Module):
    """A network preceded by its input normalisation: ``net(normalize(x))``.

    Args:
        net: the bare network, working in normalised space.
        mean: per-channel means of the training data.
        std: per-channel standard deviations of the training data.

    Attributes:
        normalize: the ``Normalize`` layer.
        net: the bare network (the paper's attacks run on it in normalised space).
    """

    def __init__(self, net: nn.Module, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        self.normalize = Normalize(mean, std)
        self.net = net

    @property
    def mean(self) -> tuple[float, ...]:
        """Per-channel means as a tuple."""
        return self.normalize.stats()[0]

    @property
    def std(self) -> tuple[float, ...]:
        """Per-channel standard deviations as a tuple."""
        return self.normalize.stats()[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Compute logits.

        Args:
            x: images of shape (N, C, H, W) in [0, 1].

        Returns:
            Logits of shape (N, num_classes).
        """
        out: torch.Tensor = self.net(self.normalize(x))
        return out


def mean_std_of(model: nn.Module) -> float:
    """The mean over channels of the std of the model's own ``Normalize`` layer.

    The paper protocol converts pixel budgets to normalised units with it, so the conversion
    always matches the statistics the model actually applies (never the dataset's).

    Args:
        model: a model, usually a ``NormalizedModel`` (retrofitted or not).

    Returns:
        The mean std of its first ``Normalize`` layer; 1.0 when it has none (the model then
        works in pixel units).
    """
    layer = next((m for m in model.modules() if isinstance(m, Normalize)), None)
    if layer is None:
        return 1.0
    std = layer.stats()[1]
    return sum(std) / len(std)
