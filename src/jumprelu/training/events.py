"""What a training run reports: a ``TrainProgress`` event after every batch and epoch, and the
per-epoch ``TrainResult`` (what a resume state stores as its history)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Progress", "TrainProgress", "TrainResult"]


@dataclass(frozen=True)
class TrainProgress:
    """One progress event, passed to the ``progress`` callback.

    Attributes:
        kind: "batch" (after every optimiser step) or "epoch" (after validation and saving).
        epoch: the current epoch, 1-based.
        epochs: epochs of the whole run.
        batch: batches done in this epoch (``batches`` for epoch events).
        batches: batches per epoch.
        loss: the batch's mean loss, or the epoch's mean training loss.
        lr: the learning rate used in this epoch.
        adv_examples: adversarial examples in the batch (summed over the epoch for epoch events).
        val_accuracy: validation accuracy (epoch events with a validation split), else None.
        seconds: the epoch's wall time so far.
    """

    kind: str
    epoch: int
    epochs: int
    batch: int
    batches: int
    loss: float
    lr: float
    adv_examples: int = 0
    val_accuracy: float | None = None
    seconds: float = 0.0


@dataclass
class TrainResult:
    """What a training run measured, one list entry per epoch (restored ones included).

    Attributes:
        train_loss: mean training loss (over clean and adversarial examples alike).
        val_accuracy: validation accuracy (empty without a validation split).
        epoch_seconds: wall time of each epoch.
        seconds: wall time of this call (a resumed run counts only its own part).
        start_epoch: epochs restored from a resume state (0 for a fresh run).
        final_path: the final checkpoint (set by ``run_training``).
        test_accuracy: test accuracy of the final model (set by ``run_training`` when asked).
    """

    train_loss: list[float] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)
    epoch_seconds: list[float] = field(default_factory=list)
    seconds: float = 0.0
    start_epoch: int = 0
    final_path: Path | None = None
    test_accuracy: float | None = None

    def history(self) -> dict[str, list[float]]:
        """The per-epoch lists by name (what a resume state stores)."""
        return {
            "train_loss": self.train_loss,
            "val_accuracy": self.val_accuracy,
            "epoch_seconds": self.epoch_seconds,
        }


#: The ``progress`` callback of ``train``.
Progress = Callable[[TrainProgress], None]
