"""Save whole models in the project's format; the home of the checkpoint API.

``save_checkpoint`` writes a model with its metadata atomically, after checking that the
weights fit the architecture. Loading (``load_checkpoint``, ``read_weights``) lives in
``checkpoint_load`` and reading the file formats (``read_state_dict``) in ``checkpoint_files``;
both are importable from here.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
from collections.abc import Iterable
from importlib import resources
from pathlib import Path

import torch
from safetensors.torch import save_file
from torch import nn

from jumprelu._util import atomic_write, check_model
from jumprelu.errors import CheckpointError, ConfigError
from jumprelu.models import NormalizedModel, build_net, get_arch
from jumprelu.models.checkpoint_files import read_state_dict, strip_module
from jumprelu.models.checkpoint_load import check_path, load_checkpoint, read_weights
from jumprelu.models.checkpoint_meta import FORMAT, VERSION, CheckpointMeta, to_plain
from jumprelu.models.weights import check_finite, check_fits

__all__ = [
    "DEFAULT_MODEL",
    "FORMAT",
    "VERSION",
    "CheckpointMeta",
    "default_model_path",
    "load_checkpoint",
    "read_state_dict",
    "read_weights",
    "save_checkpoint",
]

log = logging.getLogger(__name__)

#: File name of the shipped default model inside ``jumprelu/assets``.
DEFAULT_MODEL = "digitsnet.pt"


def default_model_path() -> str:
    """Path of the shipped default model: a LeNet-style net trained on the embedded digits.

    Example:
        >>> import jumprelu
        >>> model, meta = jumprelu.load_checkpoint(jumprelu.default_model_path())
        >>> meta.arch
        'digitsnet'
    """
    return str(resources.files("jumprelu") / "assets" / DEFAULT_MODEL)


def _matches(a: Iterable[float], b: Iterable[float]) -> bool:
    a_t, b_t = tuple(a), tuple(b)
    if len(a_t) != len(b_t):
        return False
    return all(math.isclose(x, y, rel_tol=1e-6) for x, y in zip(a_t, b_t, strict=True))


def save_checkpoint(
    model: NormalizedModel | nn.Module, path: str | Path, meta: CheckpointMeta
) -> None:
    """Save a model in the project's format, atomically.

    A ``.safetensors`` suffix writes a safetensors file with the metadata as JSON in its
    header; any other suffix writes a ``torch.save`` file that loads with ``weights_only=True``.

    Args:
        model: a ``NormalizedModel`` (its statistics fill ``meta.mean``/``meta.std`` when unset)
            or a bare network.
        path: destination file; parent directories are created.
        meta: what the checkpoint holds; ``meta.arch`` must be a registered architecture.

    Raises:
        CheckpointError: statistics that disagree with the model's, weights that do not fit
            ``meta.arch``, non-finite weights, non-plain metadata, or a failed write (an
            existing file at ``path`` is then left untouched).
        ConfigError: a model that is not an ``nn.Module``, a path that is not a str or Path,
            meta that is not a ``CheckpointMeta``, or an unknown arch or option.

    Example:
        >>> import os, tempfile, jumprelu
        >>> model, meta = jumprelu.load_checkpoint(jumprelu.default_model_path())
        >>> with tempfile.TemporaryDirectory() as d:
        ...     path = os.path.join(d, "copy.safetensors")
        ...     jumprelu.save_checkpoint(model, path, meta)
        ...     _, saved = jumprelu.load_checkpoint(path)
        >>> saved.arch, saved.mean == meta.mean, saved.training == meta.training
        ('digitsnet', True, True)
    """
    check_model(model)
    check_path(path)
    if not isinstance(meta, CheckpointMeta):
        raise ConfigError(f"meta must be a CheckpointMeta, got a {type(meta).__name__}")
    p = Path(path)
    net = model
    if isinstance(model, NormalizedModel):
        net = model.net
        for name, value in (("mean", model.mean), ("std", model.std)):
            given = getattr(meta, name)
            if given is not None and not _matches(given, value):
                raise CheckpointError(
                    f"cannot save {p}: meta.{name}={given} differs from the model's {value}"
                )
        meta = dataclasses.replace(meta, mean=model.mean, std=model.std)
    elif meta.mean is None or meta.std is None:
        log.warning("saving %s without normalisation statistics; loading will need mean/std", p)
    get_arch(meta.arch)
    state = {
        k: v.detach().to("cpu").contiguous().clone()
        for k, v in strip_module(net.state_dict(), p).items()
    }
    check_finite(state, f"cannot save {p}: the model")
    fresh = build_net(meta.arch, num_classes=meta.num_classes, **meta.arch_kwargs)
    check_fits(fresh, state, meta.arch, f"cannot save {p}: the model")
    plain = to_plain(dataclasses.asdict(meta), "meta")
    if p.suffix == ".safetensors":
        header = {"format": FORMAT, "version": str(VERSION), "meta": json.dumps(plain)}
        atomic_write(p, lambda tmp: save_file(state, tmp, metadata=header), CheckpointError)
    else:
        payload = {"format": FORMAT, "version": VERSION, "meta": plain, "state_dict": state}
        atomic_write(p, lambda tmp: torch.save(payload, tmp), CheckpointError)
    log.info("saved %s checkpoint to %s", meta.arch, p)
