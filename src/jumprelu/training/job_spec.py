"""A training run as data (``TrainJob``), and the checks made before any data is loaded:
the settings, the architecture against the dataset, an output that destroys nothing, and the
resume state against the settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jumprelu._util import resolve_device
from jumprelu.datasets.core import DATASETS
from jumprelu.errors import CheckpointError, ConfigError
from jumprelu.models import check_arch_fits
from jumprelu.models.checkpoint_files import read_state_dict
from jumprelu.training.config import TrainConfig
from jumprelu.training.resume import open_resume
from jumprelu.training.state import epoch_dir, state_path

__all__ = ["TrainJob", "check_job", "check_out"]


@dataclass
class TrainJob:
    """A training run.

    Attributes:
        arch: registered architecture (must fit the dataset).
        dataset: "mnist", "cifar10" or "digits".
        out: the final checkpoint (``.pt``, or ``.safetensors``); per-epoch files go to
            ``OUT.epochs/``.
        config: training settings.
        arch_kwargs: architecture options.
        data_dir: data directory (default ``$JUMPRELU_DATA``).
        val_size: validation examples carved from the training set (``load_split``'s default
            when None; 0 trains on everything and skips validation).
        split_seed: seed of the train/val split.
        limit: train on the first ``limit`` training examples only (quick runs).
        device: where to train.
        resume: continue from ``OUT.epochs/resume.pt``.
        test: evaluate the final model on the test split.
        keep_epochs: per-epoch checkpoints to keep (the latest ones); None keeps all, 0 none.
        command: the command line, recorded in the metadata.
    """

    arch: str
    dataset: str
    out: str | Path
    config: TrainConfig = field(default_factory=TrainConfig)
    arch_kwargs: dict[str, Any] = field(default_factory=dict)
    data_dir: str | Path | None = None
    val_size: int | float | None = None
    split_seed: int = 0
    limit: int | None = None
    device: str = "cpu"
    resume: bool = False
    test: bool = True
    keep_epochs: int | None = None
    command: str | None = None

    def identity(self) -> dict[str, Any]:
        """What a resumed run must share with the saved one besides the ``TrainConfig``."""
        return {
            "arch": self.arch,
            "dataset": self.dataset,
            "arch_kwargs": dict(self.arch_kwargs),
            "val_size": self.val_size,
            "split_seed": self.split_seed,
            "limit": self.limit,
        }


def check_out(out: str | Path) -> None:
    """Refuse an output that would destroy something: ``OUT`` must be missing or a jumprelu
    checkpoint (a rerun or a resume replaces it), ``OUT.epochs`` missing or a directory.

    Raises:
        ConfigError: naming what is in the way.
    """
    p = Path(out)
    if not str(out) or p.is_dir():
        raise ConfigError(f"--out {p} is a directory; give the checkpoint's file name")
    if any(parent.exists() and not parent.is_dir() for parent in p.parents):
        raise ConfigError(f"--out {p}: a parent of it is a file")
    if epoch_dir(p).exists() and not epoch_dir(p).is_dir():
        raise ConfigError(f"{epoch_dir(p)} (where the per-epoch files go) is not a directory")
    if p.exists():
        try:
            meta = read_state_dict(p)[1]
        except CheckpointError:
            meta = None
        if meta is None:
            raise ConfigError(
                f"--out {p} exists and is not a jumprelu checkpoint; refusing to overwrite it "
                "(remove it or choose another name)"
            )


def check_job(job: TrainJob) -> None:
    """Check every setting of ``job`` (and, with ``resume``, the saved state against them).

    Raises:
        ConfigError: as ``run_training`` documents.
        CheckpointError: an unreadable resume state.
    """
    check_out(job.out)
    job.config.validate()
    info = DATASETS.get(job.dataset)
    if info is None:
        raise ConfigError(f"unknown dataset {job.dataset!r}; choose one of {', '.join(DATASETS)}")
    check_arch_fits(job.arch, info.shape, info.num_classes)
    for name, value in (("limit", job.limit), ("keep_epochs", job.keep_epochs)):
        low = 1 if name == "limit" else 0
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < low
        ):
            raise ConfigError(f"{name} must be None or an integer >= {low}, got {value!r}")
    resolve_device(job.device)
    if job.resume:  # checked again by train(); here to fail before loading data
        key = {**job.config.resume_key(), **job.identity()}
        open_resume(state_path(job.out), key, job.config.epochs)
