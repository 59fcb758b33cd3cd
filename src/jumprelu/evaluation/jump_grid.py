"""Points of a jump grid: one jump for every site, or a per-site mapping (per-layer jumps).

A grid is given as numbers and mappings, or as a comma-separated string whose items are
numbers or mapping files: ``@FILE`` or a path ending in ``.json`` holding ``{"site": jump}``
(what ``jumprelu tune --per-layer`` writes to ``OUT/jumps.json``), where a jump is a number or a
list of per-channel jumps (what ``tune --learn-thresholds`` writes). Sites a mapping does not name
keep jump 0 (the ReLU). A mapping point is recorded in results under the label
``layers-<first 8 hex digits of the SHA-256 of its canonical JSON>`` (its cell files' key).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import torch
from torch import nn

from jumprelu.activation import Jump, JumpReLU, MeanSparse, check_jump, check_jumps
from jumprelu.errors import ConfigError
from jumprelu.retrofit import set_jump

__all__ = [
    "MAP_PREFIX",
    "Point",
    "apply_point",
    "canonical",
    "channels_of",
    "check_mapping",
    "check_sites",
    "has_maps",
    "map_summary",
    "parse_grid",
    "parse_jumps",
    "point_label",
    "point_level",
    "point_value",
    "read_mapping",
    "site_channels",
    "site_inputs",
]


#: A grid point: one jump for every site, or ``{site name: jump or per-channel jumps}``.
Point = float | dict[str, Jump]


T = TypeVar("T")

#: Prefix of a mapping point's label (and cell-file key).
MAP_PREFIX = "layers-"


def _floats(value: Jump) -> float | list[float]:
    return [float(v) for v in value] if isinstance(value, list) else float(value)


def canonical(mapping: Mapping[str, Jump]) -> str:
    """The canonical JSON of a mapping (sorted keys, no spaces): what its label hashes."""
    return json.dumps(
        {k: _floats(v) for k, v in mapping.items()}, sort_keys=True, separators=(",", ":")
    )


def point_label(point: Point | Mapping[str, Jump]) -> str:
    """``"0.5"`` for a jump, ``"layers-<sha8>"`` for a mapping (cell-file key and display).

    A jump's label is exact: ``%g`` when that reads back as the same float, else the shortest
    decimal that does (``0.5000001``), so two jumps never share a label or a cell file.
    """
    if isinstance(point, Mapping):
        return MAP_PREFIX + hashlib.sha256(canonical(point).encode()).hexdigest()[:8]
    short = f"{point:g}"
    return short if float(short) == point else repr(float(point))


def point_value(point: Point) -> float | str:
    """What results record as the point's ``jump``: the number, or a mapping's label."""
    return point_label(point) if isinstance(point, Mapping) else point


def map_summary(point: Mapping[str, Jump]) -> dict[str, Any]:
    """What results record of a mapping: ``jump_map`` (``{site: jump}``, a per-channel site
    by its channels' mean) and, when any site is per channel, ``jump_channels``
    (``{site: channels}``); the mapping itself is in the file it came from."""
    out: dict[str, Any] = {
        "jump_map": {k: sum(v) / len(v) if isinstance(v, list) else v for k, v in point.items()}
    }
    channels = {k: len(v) for k, v in point.items() if isinstance(v, list)}
    if channels:
        out["jump_channels"] = channels
    return out


def point_level(point: Point) -> float:
    """The largest jump of the point (0 exactly when the model is the original ReLU one)."""
    if not isinstance(point, Mapping):
        return point
    return max((max(v) if isinstance(v, list) else v for v in point.values()), default=0.0)


def apply_point(model: nn.Module, point: Point) -> None:
    """Set a retrofitted model's jumps to ``point`` (sites a mapping omits: jump 0); for a
    MeanSparse retrofit, its operators' band alpha (its sites stay at jump 0)."""
    bands = [m for m in model.modules() if isinstance(m, MeanSparse)]
    if bands and not isinstance(point, Mapping):
        for op in bands:
            op.set_alpha(point)
        return
    if isinstance(point, Mapping):
        set_jump(model, 0.0)
    set_jump(model, point)


def parse_jumps(jumps: Sequence[float] | str) -> list[float]:
    """Validate a jump grid, given as numbers or a comma-separated string.

    Args:
        jumps: e.g. ``[0, 0.5, 1.0]`` or ``"0,0.5,1.0"``.

    Returns:
        The jumps as floats.

    Raises:
        ConfigError: when the grid is empty, unparsable, negative or non-finite.
    """
    if isinstance(jumps, str):
        try:
            jumps = [float(j) for j in jumps.split(",") if j.strip()]
        except ValueError:
            raise ConfigError(f"jumps must be comma-separated numbers, got {jumps!r}") from None
    if not jumps:
        raise ConfigError("the jump list is empty")
    return [check_jump(j) for j in jumps]


def check_mapping(obj: Any, where: str) -> dict[str, Jump]:
    """Validate a per-site mapping: a non-empty object of site names to finite jumps >= 0,
    each a number or a non-empty list of numbers (one per channel).

    Args:
        obj: the parsed mapping.
        where: what it came from, for the error message.

    Returns:
        ``{site: jump}`` with float (or list of float) values.

    Raises:
        ConfigError: not an object, empty, a non-string key or an invalid jump.
    """
    if not isinstance(obj, Mapping) or not obj:
        raise ConfigError(f"{where}: a per-layer jump mapping must be a non-empty JSON object")
    out = {}
    for site, value in obj.items():
        if not isinstance(site, str) or not site:
            raise ConfigError(f"{where}: site names must be non-empty strings, got {site!r}")
        if isinstance(value, bool) or not isinstance(value, int | float | list):
            raise ConfigError(
                f"{where}: jump of {site!r} must be a number or a list of numbers, got {value!r}"
            )
        out[site] = check_jumps(value, f"{where}: site {site!r}")
    return out


def _unique_keys(path: Path) -> Any:
    """A ``json`` object hook refusing a key given twice (else the last would silently win)."""

    def build(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: dict[str, Any] = {}
        for key, value in pairs:
            if key in seen:
                raise ConfigError(f"jump mapping {path} names site {key!r} twice")
            seen[key] = value
        return seen

    return build


def read_mapping(path: str | Path) -> dict[str, Jump]:
    """Read a ``{"site": jump}`` JSON file (e.g. ``OUT/jumps.json`` of ``tune --per-layer``).

    Args:
        path: the file.

    Returns:
        The validated mapping.

    Raises:
        ConfigError: missing or unreadable file, invalid JSON or mapping.
    """
    p = Path(path)
    try:
        obj = json.loads(p.read_text(), object_pairs_hook=_unique_keys(p))
    except OSError as exc:
        raise ConfigError(f"cannot read jump mapping {p}: {exc.strerror or exc}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"jump mapping {p} is not valid JSON: {exc}") from None
    return check_mapping(obj, str(p))


def _parse_item(item: str) -> Point:
    if item.startswith("@"):
        return read_mapping(item[1:])
    if item.endswith(".json"):
        return read_mapping(item)
    try:
        value = float(item)
    except ValueError:
        raise ConfigError(
            f"jumps must be comma-separated numbers or @FILE.json mappings, got {item!r}"
        ) from None
    return check_jump(value)  # says what is wrong with the number (negative, nan, too large)


def parse_grid(jumps: Sequence[float | Mapping[str, Jump]] | str) -> list[Point]:
    """Validate a jump grid of numbers and per-site mappings.

    Args:
        jumps: e.g. ``[0, 0.5, {"features.1": 0.3}]`` or ``"0,0.5,@jumps.json"``.

    Returns:
        Floats and ``{site: jump}`` dicts, in the order given.

    Raises:
        ConfigError: an empty grid, a bad number, file or mapping.
    """
    if isinstance(jumps, str):
        grid = [_parse_item(item.strip()) for item in jumps.split(",") if item.strip()]
    else:
        grid = [
            check_mapping(j, "jump mapping") if isinstance(j, Mapping) else check_jump(j)
            for j in jumps
        ]
    if not grid:
        raise ConfigError("the jump list is empty")
    return grid


def has_maps(grid: Iterable[Point]) -> bool:
    """Whether any point of ``grid`` is a per-site mapping."""
    return any(isinstance(p, Mapping) for p in grid)


def site_inputs(
    model: nn.Module, x: torch.Tensor, measure: Callable[[torch.Tensor], T]
) -> dict[str, T]:
    """``measure`` of each JumpReLU site's input in one forward pass of ``x`` (no gradients).

    Args:
        model: a retrofitted model.
        x: a batch it takes.
        measure: what to record of a site's input tensor.

    Returns:
        ``{site: measure(input)}`` for the sites the forward pass reaches (first call each).
    """
    seen: dict[str, T] = {}
    named = model.named_modules(remove_duplicate=False)
    sites = {n: m for n, m in named if isinstance(m, JumpReLU)}

    def record(name: str) -> Any:
        def pre(_m: nn.Module, inp: tuple[torch.Tensor, ...]) -> None:
            if name not in seen:
                seen[name] = measure(inp[0])

        return pre

    hooks = [m.register_forward_pre_hook(record(name)) for name, m in sites.items()]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in hooks:
            h.remove()
    return seen


def channels_of(z: torch.Tensor) -> int:
    """A site input's number of channels (dimension 1; 0 for a 1-d input)."""
    return z.shape[1] if z.dim() > 1 else 0


def site_channels(model: nn.Module, x: torch.Tensor) -> dict[str, int]:
    """Each JumpReLU site's number of channels (its input's dimension 1) on the inputs ``x``.

    Args:
        model: a retrofitted model.
        x: a batch it takes (one example is enough).

    Returns:
        ``{site: channels}`` for the sites the forward pass reaches (0 for a 1-d input).
    """
    return site_inputs(model, x, channels_of)


def check_sites(
    grid: Iterable[Point], sites: Iterable[str], channels: Mapping[str, int] | None = None
) -> None:
    """Raise ConfigError when a mapping names a site the retrofitted model does not have, or
    gives a site a per-channel list whose length is not its number of channels.

    Args:
        grid: the parsed grid.
        sites: the model's JumpReLU site names (``jump_sites``).
        channels: each site's channels (``site_channels``), to check per-channel lists.
    """
    known = list(sites)
    for point in grid:
        if isinstance(point, Mapping):
            unknown = sorted(set(point) - set(known))
            if unknown:
                raise ConfigError(
                    f"jump mapping {point_label(point)} names unknown site(s) "
                    f"{', '.join(unknown)}; the model's sites: {', '.join(known)}"
                )
            for site, value in point.items():
                want = (channels or {}).get(site)
                if isinstance(value, list) and want is not None and len(value) != want:
                    raise ConfigError(
                        f"jump mapping {point_label(point)}: site {site!r} has {want} channels "
                        f"but {len(value)} per-channel jumps"
                    )
