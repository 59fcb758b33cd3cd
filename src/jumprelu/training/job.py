"""One training run end to end: data, model, ``train``, per-epoch checkpoints, resume, test.

``run_training(job)`` is what ``jumprelu train`` calls (``TrainJob`` and its checks live in
``job_spec``). The final checkpoint goes to ``job.out``; per-epoch checkpoints and the resume
state go to the sibling directory ``OUT.epochs/`` (see ``state``). Every checkpoint is in the
project's format (``save_checkpoint``, atomic), with metadata: arch, dataset, normalisation,
and under ``training`` the recipe, the full ``TrainConfig``, the epoch, the validation
accuracy (last and per epoch), the seed, the adversarial radius in pixels per channel, and for
the final one the test accuracy.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from jumprelu import __version__
from jumprelu._util import run_lock
from jumprelu.datasets.core import DATASETS, Split, load_split
from jumprelu.models import NormalizedModel, build_model
from jumprelu.models.checkpoints import CheckpointMeta, save_checkpoint
from jumprelu.training.job_spec import TrainJob, check_job, check_out
from jumprelu.training.loop import TrainProgress, TrainResult, split_accuracy, train
from jumprelu.training.state import epoch_checkpoint_path, epoch_dir, state_path

__all__ = ["TrainJob", "check_out", "run_training"]

log = logging.getLogger(__name__)


def _splits(job: TrainJob) -> tuple[Split, Split | None]:
    kw: dict[str, Any] = {
        "data_dir": job.data_dir,
        "val_size": job.val_size,
        "seed": job.split_seed,
    }
    tr = load_split(job.dataset, "train", **kw)
    if job.limit is not None:
        tr = tr.take(min(job.limit, len(tr)))
    val = None if job.val_size == 0 else load_split(job.dataset, "val", **kw)
    return tr, val


def _meta(job: TrainJob, model: NormalizedModel, epoch: int, result: TrainResult) -> CheckpointMeta:
    cfg = job.config
    eps = None
    if cfg.adv != "none":
        scale = model.std if cfg.eps_units == "normalized" else (1.0,) * len(model.std)
        eps = [cfg.adv_eps * s for s in scale]
    training = {
        "recipe": cfg.adv if cfg.adv != "none" else "plain",
        "config": cfg.to_dict(),
        "epoch": epoch,
        "epochs": cfg.epochs,
        "seed": cfg.seed,
        "val_accuracy": result.val_accuracy[-1] if result.val_accuracy else None,
        "val_history": list(result.val_accuracy),
        "train_loss": list(result.train_loss),
        "adv_eps_pixels": eps,
        "split": {"val_size": job.val_size, "split_seed": job.split_seed, "limit": job.limit},
        "test_accuracy": result.test_accuracy,
        "command": job.command,
        "jumprelu_version": __version__,
    }
    return CheckpointMeta(
        arch=job.arch,
        dataset=job.dataset,
        arch_kwargs=dict(job.arch_kwargs),
        num_classes=DATASETS[job.dataset].num_classes,
        training=training,
    )


def run_training(
    job: TrainJob, progress: Callable[[TrainProgress], None] | None = None
) -> TrainResult:
    """Train a model as ``job`` says and write its checkpoints.

    Checks every setting (and, with ``resume``, the saved state against them) before loading
    data; builds the model with the dataset's normalisation (initialised from
    ``torch.manual_seed(config.seed)``, the global generator restored afterwards); trains;
    writes ``OUT.epochs/epochNNN`` and ``OUT.epochs/resume.pt`` after every epoch; evaluates the
    test split (``job.test``); writes the final checkpoint ``job.out``. ``OUT.epochs`` is held
    with ``run_lock`` meanwhile (a second run on the same ``OUT`` is refused). An existing
    ``OUT`` is replaced only when it is a jumprelu checkpoint (any other file is refused).

    Args:
        job: the run.
        progress: called after every batch and every epoch (the CLI attaches tqdm).

    Returns:
        The per-epoch history with ``final_path`` and ``test_accuracy`` set.

    Raises:
        ConfigError: an unknown dataset or arch, an arch that does not fit the dataset, bad
            settings, an ``out`` in the way (see ``check_out``) or in use by another run,
            ``resume`` with no state or a state made with other settings.
        DataError: missing or corrupt data files.
        CheckpointError: an unreadable resume state or a failed write.
    """
    check_job(job)
    info = DATASETS[job.dataset]
    tr, val = _splits(job)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(job.config.seed)
        model = build_model(
            job.arch,
            mean=info.mean,
            std=info.std,
            num_classes=info.num_classes,
            **job.arch_kwargs,
        )
    out = Path(job.out)
    with run_lock(epoch_dir(out)):
        return _train(job, model, tr, val, out, progress)


def _train(
    job: TrainJob,
    model: NormalizedModel,
    tr: Split,
    val: Split | None,
    out: Path,
    progress: Callable[[TrainProgress], None] | None,
) -> TrainResult:
    """Train, write the per-epoch files and the final checkpoint (``OUT.epochs`` locked)."""

    def on_epoch(epoch: int, result: TrainResult) -> None:
        if job.keep_epochs == 0:
            return
        save_checkpoint(model, epoch_checkpoint_path(out, epoch), _meta(job, model, epoch, result))
        if job.keep_epochs is not None and epoch > job.keep_epochs:
            epoch_checkpoint_path(out, epoch - job.keep_epochs).unlink(missing_ok=True)

    result = train(
        model,
        tr,
        val,
        job.config,
        device=job.device,
        progress=progress,
        state_file=state_path(out),
        resume=job.resume,
        identity=job.identity(),
        on_epoch=on_epoch,
    )
    if job.test:
        test = load_split(job.dataset, "test", data_dir=job.data_dir)
        result.test_accuracy = split_accuracy(model, test)
    save_checkpoint(model, out, _meta(job, model, job.config.epochs, result))
    result.final_path = out
    log.info("saved the final %s model to %s", job.arch, out)
    return result
