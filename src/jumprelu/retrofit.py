"""Retrofit a trained model: replace every ReLU site by JumpReLU, without retraining.

Sites are ``nn.ReLU`` modules (also ``inplace=True`` and one instance called at several places)
and functional calls (``F.relu``, ``F.relu_``, ``torch.relu``, ``torch.relu_``,
``Tensor.relu``, ``Tensor.relu_``). Each module whose own ``forward`` calls ReLU functionally,
calls one ReLU instance more than once, or relies on an in-place ReLU's side effect is rewritten
with ``torch.fx`` (its children traced as leaves), so every call site gets its own JumpReLU and
its own jump. Everything else keeps its class: ReLU modules are swapped in place. A module that
cannot be traced is reported (a ``RetrofitWarning``): functional calls inside its ``forward``
may be missed.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import warnings
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import fx, nn

from jumprelu._util import check_model
from jumprelu.activation import Jump, JumpReLU, MeanSparse, check_jump, check_jumps
from jumprelu.defences import DEFENCES
from jumprelu.errors import ConfigError, RetrofitError

__all__ = [
    "RetrofitReport",
    "RetrofitWarning",
    "Site",
    "bpda",
    "jump_sites",
    "retrofit",
    "retrofit_with_report",
    "set_gradient",
    "set_jump",
]

log = logging.getLogger(__name__)

_FUNCTIONS = {
    F.relu: ("F.relu", False),
    torch.relu: ("torch.relu", False),
    F.relu_: ("F.relu_", True),
    torch.relu_: ("torch.relu_", True),
}
_METHODS = {"relu": False, "relu_": True}
_NO_FORWARD = (nn.ModuleList, nn.ModuleDict, nn.ParameterList, nn.ParameterDict)


def _check_gradient_name(gradient: object) -> None:
    if not isinstance(gradient, str):
        raise ConfigError(f"gradient must be a name (str), got {gradient!r}")


class RetrofitWarning(UserWarning):
    """A part of the model could not be inspected, so some ReLU sites may be missed."""


@dataclass(frozen=True)
class Site:
    """One replaced ReLU site.

    Attributes:
        name: module path of its JumpReLU in the retrofitted model (a key for ``set_jump``).
        kind: ``"module"`` (an ``nn.ReLU``), ``"function"`` or ``"method"`` (a functional call).
        origin: what was replaced, e.g. ``"nn.ReLU features.1"`` or ``"F.relu in Net.forward"``.
    """

    name: str
    kind: str
    origin: str


@dataclass(frozen=True)
class RetrofitReport:
    """What ``retrofit`` did.

    Attributes:
        sites: every replaced site, in module order.
        untraced: ``"path (Class): reason"`` for modules torch.fx could not trace; functional
            ReLU calls in their ``forward`` may have been missed.
    """

    sites: tuple[Site, ...]
    untraced: tuple[str, ...] = ()


@dataclass
class _State:
    jump: float
    eval_only: bool
    gradient: str
    sites: list[Site] = field(default_factory=list)
    untraced: list[str] = field(default_factory=list)
    fresh: set[int] = field(default_factory=set)

    def new(self) -> JumpReLU:
        return JumpReLU(self.jump, eval_only=self.eval_only, gradient=self.gradient)


class _ShallowTracer(fx.Tracer):
    """Traces one module's own ``forward``, keeping every child module as a leaf call."""

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        return True


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _relu_site(node: fx.Node, root: nn.Module) -> tuple[str, bool] | None:
    """Return (kind, inplace) when ``node`` is a ReLU call site, else None."""
    if node.op == "call_module":
        mod = root.get_submodule(str(node.target))
        if isinstance(mod, nn.ReLU) and not isinstance(mod, JumpReLU):
            return "module", bool(mod.inplace)
    elif node.op == "call_function" and node.target in _FUNCTIONS:
        inplace = _FUNCTIONS[node.target][1] or bool(node.kwargs.get("inplace", False))
        return "function", inplace
    elif node.op == "call_method" and node.target in _METHODS:
        return "method", _METHODS[str(node.target)]
    return None


def _needs_rewrite(graph: fx.Graph, root: nn.Module) -> bool:
    order = {n: i for i, n in enumerate(graph.nodes)}
    calls: Counter[str] = Counter()
    for node in graph.nodes:
        site = _relu_site(node, root)
        if site is None:
            continue
        kind, inplace = site
        if kind != "module":
            return True
        calls[str(node.target)] += 1
        inp = node.args[0]
        later = isinstance(inp, fx.Node) and any(order[u] > order[node] for u in inp.users)
        if inplace and later:
            return True
    return any(count > 1 for count in calls.values())


def _unique(gm: nn.Module, name: str) -> str:
    candidate, k = name, 0
    while True:
        try:
            gm.get_submodule(candidate)
        except AttributeError:
            return candidate
        k += 1
        candidate = f"{name}_{k}"


def _origin(kind: str, node: fx.Node, module: nn.Module, path: str, repeat: bool) -> str:
    if kind == "module":
        where = _join(path, str(node.target))
        return f"nn.ReLU {where}" + (f" (call {node.name})" if repeat else "")
    labels = {fn: label for fn, (label, _) in _FUNCTIONS.items()}
    what = labels.get(node.target, f"Tensor.{node.target}")  # type: ignore[arg-type]
    return f"{what} in {type(module).__name__}.forward" + (f" ({path})" if path else "")


def _rewrite(module: nn.Module, graph: fx.Graph, path: str, state: _State) -> fx.GraphModule:
    """Give every ReLU call site in ``graph`` its own JumpReLU submodule."""
    gm = fx.GraphModule(module, graph, class_name=type(module).__name__)
    order = {n: i for i, n in enumerate(graph.nodes)}
    found = [(n, s) for n in graph.nodes if (s := _relu_site(n, gm)) is not None]
    kept: set[str] = set()
    for node, (kind, inplace) in found:
        inp = node.args[0] if node.args else node.kwargs["input"]
        target = str(node.target)
        repeat = kind == "module" and target in kept
        if kind == "module" and not repeat:
            name = target  # the first call keeps the module's path
            kept.add(target)
        else:
            name = _unique(gm, target if kind == "module" else node.name)
        jump_module = state.new()
        state.fresh.add(id(jump_module))
        gm.add_submodule(name, jump_module)
        with graph.inserting_after(node):
            new = graph.call_module(name, args=(inp,))
        node.replace_all_uses_with(new)
        if inplace and isinstance(inp, fx.Node):
            at = order[node]

            def after(user: fx.Node, at: int = at) -> bool:
                return order.get(user, -1) > at

            inp.replace_all_uses_with(new, delete_user_cb=after)
        graph.erase_node(node)
        state.sites.append(Site(_join(path, name), kind, _origin(kind, node, module, path, repeat)))
    graph.lint()
    gm.recompile()
    return gm


def _should_trace(module: nn.Module) -> bool:
    if isinstance(module, (nn.ReLU, *_NO_FORWARD)):
        return False
    builtin = type(module).__module__.startswith("torch.nn.modules")
    return not builtin or len(module._modules) > 0


def _convert(module: nn.Module, path: str, state: _State) -> nn.Module:
    """Return ``module`` with every ReLU site below it replaced (children converted in place)."""
    if isinstance(module, JumpReLU):
        module.set_jump(state.jump)
        state.sites.append(Site(path, "module", f"JumpReLU {path}"))
        kept: nn.Module = module
        return kept
    if isinstance(module, nn.ReLU):
        state.sites.append(Site(path, "module", f"nn.ReLU {path}"))
        jump_module: nn.Module = state.new()
        return jump_module
    if _should_trace(module):
        try:
            graph = _ShallowTracer().trace(module)
        except Exception as exc:  # torch.fx raises many types for untraceable code
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            state.untraced.append(f"{path or '<root>'} ({type(module).__name__}): {reason}")
        else:
            if _needs_rewrite(graph, module):
                module = _rewrite(module, graph, path, state)
    for name, child in list(module._modules.items()):
        if child is not None and id(child) not in state.fresh:
            setattr(module, name, _convert(child, _join(path, name), state))
    return module


def retrofit_with_report(
    model: nn.Module, jump: float = 0.0, *, eval_only: bool = False, gradient: str = "exact"
) -> tuple[nn.Module, RetrofitReport]:
    """Like ``retrofit``, also returning which sites were replaced.

    Args:
        model: a trained model using ReLU; it is not modified.
        jump: threshold kappa >= 0 for every site.
        eval_only: apply the jump in eval mode only (the paper's code); see ``JumpReLU``.
        gradient: backward variant, a name in ``jumprelu.activation.GRADIENTS``.

    Returns:
        The retrofitted copy and a ``RetrofitReport``.

    Raises:
        RetrofitError: when no ReLU site was found.
        ConfigError: a model that is not an ``nn.Module``, an invalid jump, eval_only or
            gradient.
    """
    check_model(model)
    if not isinstance(eval_only, bool):
        raise ConfigError(f"eval_only must be True or False, got {eval_only!r}")
    _check_gradient_name(gradient)
    state = _State(check_jump(jump), eval_only, gradient)
    state.new()  # validates the gradient name before any work
    converted = _convert(copy.deepcopy(model), "", state)
    position = {name: i for i, name in enumerate(jump_sites(converted))}
    sites = sorted(state.sites, key=lambda site: position.get(site.name, len(position)))
    report = RetrofitReport(tuple(sites), tuple(state.untraced))
    if not report.sites:  # one message: the error says why, the warning would repeat it
        why = f"; torch.fx could not trace {'; '.join(report.untraced)}" if report.untraced else ""
        raise RetrofitError(
            f"no ReLU site found in {type(model).__name__}: nothing to retrofit{why}"
        )
    if report.untraced:
        warnings.warn(
            "torch.fx could not trace "
            + "; ".join(report.untraced)
            + ": functional relu calls (F.relu, torch.relu, Tensor.relu) there may be missed",
            RetrofitWarning,
            stacklevel=3,
        )
    log.info(
        "retrofit replaced %d ReLU sites: %s",
        len(report.sites),
        ", ".join(s.name for s in report.sites),
    )
    return converted, report


def retrofit(
    model: nn.Module,
    jump: float = 0.0,
    *,
    eval_only: bool = False,
    gradient: str = "exact",
    kind: str = "jumprelu",
    calibration: torch.Tensor | None = None,
) -> nn.Module:
    """Return a copy of ``model`` with every ReLU site replaced by JumpReLU.

    Args:
        model: a trained model using ReLU; it is not modified.
        jump: threshold kappa >= 0 for every site (0 reproduces the original logits exactly);
            for ``kind="meansparse"`` the band alpha in standard deviations.
        eval_only: apply the jump in eval mode only (the paper's code); see ``JumpReLU``.
        gradient: backward variant, a name in ``jumprelu.activation.GRADIENTS``.
        kind: "jumprelu", or "meansparse": a ``MeanSparse`` operator before every ReLU site
            (the sites stay JumpReLU at jump 0), its statistics from ``calibration``
            (``jumprelu.meansparse``).
        calibration: training images in [0, 1] for MeanSparse's per-channel statistics.

    Returns:
        The retrofitted copy; ``jump_sites`` lists its JumpReLU sites.

    Example:
        >>> import torch, jumprelu
        >>> _ = torch.manual_seed(0)
        >>> net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
        >>> jm = jumprelu.retrofit(net, jump=0.0)
        >>> jm[1], type(net[1]).__name__  # a copy: the original keeps its ReLU
        (JumpReLU(jump=0), 'ReLU')
        >>> x = torch.randn(3, 4)
        >>> torch.equal(jm(x), net(x))  # jump 0 reproduces the original logits
        True
    """
    if kind == "meansparse":
        from jumprelu.meansparse import retrofit_meansparse

        if calibration is None:
            raise ConfigError("kind='meansparse' needs calibration images (the training split)")
        return retrofit_meansparse(model, jump, calibration, gradient=gradient)
    if kind != "jumprelu":
        raise ConfigError(f"unknown retrofit kind {kind!r}; known: {', '.join(DEFENCES)}")
    return retrofit_with_report(model, jump, eval_only=eval_only, gradient=gradient)[0]


def _iter_sites(model: nn.Module) -> Iterator[tuple[str, JumpReLU]]:
    for name, mod in model.named_modules(remove_duplicate=False):
        if isinstance(mod, JumpReLU):
            yield name, mod


def jump_sites(model: nn.Module) -> dict[str, JumpReLU]:
    """Map each JumpReLU site name (its module path) to its module.

    Args:
        model: a retrofitted model.

    Returns:
        An ordered dict, empty when the model has no JumpReLU.

    Example:
        >>> import torch, jumprelu
        >>> net = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
        >>> jumprelu.jump_sites(jumprelu.retrofit(net, 0.5))
        {'1': JumpReLU(jump=0.5)}
        >>> jumprelu.jump_sites(net)
        {}
    """
    return dict(_iter_sites(check_model(model)))


def _require_sites(model: nn.Module) -> dict[str, JumpReLU]:
    sites = jump_sites(model)
    if not sites:
        raise RetrofitError(f"{type(model).__name__} has no JumpReLU site: call retrofit() first")
    return sites


def set_jump(model: nn.Module, jump: float | Mapping[str, Jump]) -> None:
    """Change the jump of a retrofitted model in place.

    Args:
        model: a retrofitted model.
        jump: one threshold for every site, or a mapping from site name to threshold or to a
            list of per-channel thresholds (sites not named keep their jump).

    Raises:
        ConfigError: for an invalid jump or an unknown site name.

    Example:
        >>> import torch, jumprelu
        >>> relu, linear = torch.nn.ReLU, torch.nn.Linear
        >>> jm = jumprelu.retrofit(torch.nn.Sequential(linear(2, 2), relu(), linear(2, 2), relu()))
        >>> jumprelu.set_jump(jm, 0.5)  # every site
        >>> jumprelu.set_jump(jm, {"3": 2.0})  # one site by name
        >>> {name: float(site.jump) for name, site in jumprelu.jump_sites(jm).items()}
        {'1': 0.5, '3': 2.0}
    """
    sites = _require_sites(model)
    if isinstance(jump, Mapping):
        unknown = sorted(set(jump) - set(sites))
        if unknown:
            raise ConfigError(
                f"unknown JumpReLU site(s) {', '.join(unknown)}; known: {', '.join(sites)}"
            )
        values = {name: check_jumps(value, f"site {name!r}") for name, value in jump.items()}
        for name, value in values.items():
            sites[name].set_jump(value)
    else:
        value = check_jump(jump)
        for site in sites.values():
            site.set_jump(value)


def set_gradient(model: nn.Module, gradient: str) -> None:
    """Choose the backward variant of every JumpReLU site in place.

    Args:
        model: a retrofitted model.
        gradient: a name in ``jumprelu.activation.GRADIENTS``.
    """
    sites = _require_sites(model)
    _check_gradient_name(gradient)
    JumpReLU(gradient=gradient)  # validates the name
    every: list[JumpReLU | MeanSparse] = [*sites.values(), *_bands(model)]
    for site in every:
        site.gradient = gradient


def _bands(model: nn.Module) -> list[MeanSparse]:
    """The MeanSparse operators of a model (``kind="meansparse"``), which BPDA also sets."""
    return [m for m in model.modules() if isinstance(m, MeanSparse)]


@contextlib.contextmanager
def bpda(model: nn.Module, gradient: str) -> Iterator[nn.Module]:
    """Attack ``model`` through another JumpReLU gradient inside the block (BPDA).

    Every site's previous gradient is restored on exit, even on an error, so nested or
    consecutive blocks compose (Athalye, Carlini and Wagner, ICML 2018).

    Args:
        model: a retrofitted model.
        gradient: a name in ``jumprelu.activation.GRADIENTS`` (e.g. "relu", "smooth-0.1").

    Yields:
        ``model`` itself, its backward pass through ``gradient``.

    Example:
        >>> import torch, jumprelu
        >>> jm = jumprelu.retrofit(torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.ReLU()), 1.0)
        >>> with jumprelu.bpda(jm, "relu"):
        ...     pass  # attacks here see the straight-through gradient
    """
    sites: list[JumpReLU | MeanSparse] = [*_require_sites(model).values(), *_bands(model)]
    before = [site.gradient for site in sites]
    set_gradient(model, gradient)
    try:
        yield model
    finally:
        for site, previous in zip(sites, before, strict=True):
            site.gradient = previous
