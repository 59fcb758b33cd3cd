"""Checkpoint files: read weights and metadata without ever unpickling arbitrary objects.

Read: plain state_dicts (``.pt``/``.pth``/``.pkl``, zip or legacy ``torch.save``), those of
``nn.DataParallel`` models (a leading ``module.`` is stripped), tensors saved on CUDA,
``.safetensors`` files, and the project's own format. Every torch file is read with
``torch.load(..., weights_only=True)`` (``safe_load``).

The project's format is ``{"format": "jumprelu.checkpoint", "version": 1, "meta": {...},
"state_dict": {...}}`` holding the bare network's weights on the CPU; with a ``.safetensors``
suffix the same metadata goes into the safetensors header as JSON. The metadata and its
checks live in ``checkpoint_meta``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open

from jumprelu._util import resolve_device
from jumprelu.errors import CheckpointError
from jumprelu.models.checkpoint_meta import FORMAT, VERSION, CheckpointMeta, meta_from_dict
from jumprelu.models.safe_load import error_reason, torch_load

__all__ = [
    "FORMAT",
    "VERSION",
    "CheckpointMeta",
    "read_state_dict",
    "strip_module",
]

log = logging.getLogger(__name__)

_STATE_KEYS = ("state_dict", "model_state_dict", "model", "net")


def _is_safetensors(path: Path) -> bool:
    if path.suffix == ".safetensors":
        return True
    with path.open("rb") as fh:
        head = fh.read(9)
    if len(head) < 9 or head[8:9] != b"{":
        return False
    return 8 + int.from_bytes(head[:8], "little") <= path.stat().st_size


def _tensor_dict(obj: Any, path: Path) -> dict[str, torch.Tensor]:
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"{path} holds a {type(obj).__name__}, not a state_dict")
    for key, value in obj.items():
        if not isinstance(key, str) or not isinstance(value, torch.Tensor):
            raise CheckpointError(
                f"{path} is not a state_dict: entry {key!r} holds a {type(value).__name__}"
            )
    if not obj:
        raise CheckpointError(f"{path} holds an empty state_dict")
    return dict(obj)


def strip_module(state: Mapping[str, torch.Tensor], path: Path) -> dict[str, torch.Tensor]:
    """The state without DataParallel's ``module.`` prefix (a key present both ways: refused)."""
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        new = key.removeprefix("module.")
        if new in out:
            raise CheckpointError(f"{path} holds {new!r} twice (with and without 'module.')")
        out[new] = value
    return out


def _unpack(obj: Any, path: Path) -> tuple[dict[str, torch.Tensor], CheckpointMeta | None]:
    if isinstance(obj, Mapping) and obj.get("format") == FORMAT:
        version = obj.get("version")
        if version != VERSION:
            raise CheckpointError(
                f"{path} is jumprelu checkpoint version {version!r}; this library reads "
                f"version {VERSION}"
            )
        return _tensor_dict(obj.get("state_dict"), path), meta_from_dict(obj.get("meta"), path)
    if isinstance(obj, Mapping) and not all(isinstance(v, torch.Tensor) for v in obj.values()):
        for key in _STATE_KEYS:
            if isinstance(obj.get(key), Mapping):
                log.info("reading the state_dict stored under %r in %s", key, path)
                return _tensor_dict(obj[key], path), None
    return _tensor_dict(obj, path), None


def _read_safetensors(
    path: Path, device: torch.device
) -> tuple[dict[str, torch.Tensor], CheckpointMeta | None]:
    try:
        with safe_open(str(path), framework="pt", device=str(device)) as fh:
            header = fh.metadata() or {}
            state = {key: fh.get_tensor(key) for key in fh.keys()}  # noqa: SIM118
    except Exception as exc:
        raise CheckpointError(f"cannot read safetensors file {path}: {error_reason(exc)}") from exc
    if header.get("format") != FORMAT:
        return _tensor_dict(state, path), None
    if header.get("version") != str(VERSION):
        raise CheckpointError(
            f"{path} is jumprelu checkpoint version {header.get('version')!r}; this library "
            f"reads version {VERSION}"
        )
    try:
        meta_dict = json.loads(header.get("meta", ""))
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"malformed metadata in {path}: not valid JSON") from exc
    return _tensor_dict(state, path), meta_from_dict(meta_dict, path)


def read_state_dict(
    path: str | Path, *, device: str | torch.device = "cpu"
) -> tuple[dict[str, torch.Tensor], CheckpointMeta | None]:
    """Read the weights (and the project's metadata, if any) of a checkpoint file.

    Args:
        path: a torch file (zip or legacy) or a ``.safetensors`` file.
        device: where to put the tensors.

    Returns:
        ``(state_dict, meta)``: keys as saved minus a DataParallel ``module.`` prefix (a
        NormalizedModel's keys keep ``net.``/``normalize.``); ``meta`` is None for foreign files.

    Raises:
        CheckpointError: missing, unreadable, corrupt, refused by ``weights_only``, not a
            state_dict, or an unknown format version.
        ConfigError: an invalid device.
    """
    p = Path(path)
    dev = resolve_device(device)
    if not p.is_file():
        raise CheckpointError(f"checkpoint not found: {p}")
    try:
        is_st = _is_safetensors(p)
    except OSError as exc:
        raise CheckpointError(f"cannot read {p}: {exc.strerror or exc}") from exc
    state, meta = _read_safetensors(p, dev) if is_st else _unpack(torch_load(p, dev), p)
    return strip_module(state, p), meta
