"""The per-sample outcome of one attack run on the whole split (what a cell file stores).

Under ``torch.distributed`` (``torchrun``) each process attacks its share of the points
(``shard``) and the parts are gathered back into one outcome (``gather``): since every
sample draws its random numbers from its own index, the points come out as in one process.
Independent runs on the same points (the indicators' re-runs) are spread over the processes
instead (``spread``): each runs whole, as in one process, on one rank.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, TypeVar

import torch

__all__ = ["N_EXAMPLES", "Outcome", "gather", "merge", "rank_world", "shard", "spread"]

T = TypeVar("T")


#: Adversarial examples kept per cell for the report (what it shows).
N_EXAMPLES = 6


@dataclass
class Outcome:
    """Per-sample outcome of one attack on one model (tensors of shape (N,) on the CPU).

    Attributes:
        adv_correct: the evaluated model still classifies the adversarial input correctly.
        l2, linf, l2_rel, linf_rel: perturbation norms (absolute and relative to x).
        zero_grad: the attack gave up on an exactly zero gradient.
        grad_evals: input-gradient computations in total.
        seconds: wall time of crafting.
        x_adv: the adversarial inputs (attack space), kept for transfer and examples.
        zero_grad_steps: exactly-zero input gradients met at any iterate (-1: not counted).
        silent: an iterate was adversarial but the returned input is not (silent success).
        improving: not fooled, and the attack's objective was still improving at the end.
        unstable: fooled, but the prediction returns to the label under tiny input noise.
        stopped: the attack stopped the point before its budget (``RunOutput.stopped``).
        missed: a sentinel of the attack's stopping rule that was fooled (``RunOutput.missed``).
        stages: per-stage counts of a cascade (suites), else empty.
        own_robust: a suite through the defence's own gradient beside other surrogates: the
            points its own-gradient pass left robust (``suite.run_suite``), else None.
        checks: the re-run indicators of ``indicators.cell_checks``, else empty.
    """

    adv_correct: torch.Tensor
    l2: torch.Tensor
    linf: torch.Tensor
    l2_rel: torch.Tensor
    linf_rel: torch.Tensor
    zero_grad: torch.Tensor
    grad_evals: int
    seconds: float
    x_adv: torch.Tensor
    zero_grad_steps: torch.Tensor | None = None
    silent: torch.Tensor | None = None
    improving: torch.Tensor | None = None
    unstable: torch.Tensor | None = None
    stopped: torch.Tensor | None = None
    missed: torch.Tensor | None = None
    stages: list[dict[str, Any]] = field(default_factory=list)
    checks: dict[str, Any] = field(default_factory=dict)
    own_robust: torch.Tensor | None = None


def rank_world() -> tuple[int, int]:
    """This process's rank and the number of processes (``(0, 1)`` outside torchrun)."""
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def shard(n: int) -> slice:
    """This process's contiguous share of ``n`` points (all of them in one process)."""
    rank, world = rank_world()
    return slice(n * rank // world, n * (rank + 1) // world)


def merge(parts: list[Outcome]) -> Outcome:
    """One outcome from the outcomes of consecutive shares of the points, in order.

    Per-sample tensors are concatenated, gradient counts added; the time is the slowest
    share's (they ran side by side). ``stages`` and ``checks`` are not per sample: each
    share's are its own, so a merge keeps none (the suite merges its attacks, not itself).
    """
    out: dict[str, Any] = {}
    for f in fields(Outcome):
        vals = [getattr(p, f.name) for p in parts]
        if f.name == "grad_evals":
            out[f.name] = sum(vals)
        elif f.name == "seconds":
            out[f.name] = max(vals)
        elif f.name in ("stages", "checks"):
            out[f.name] = type(vals[0])()
        elif any(v is None for v in vals):
            out[f.name] = None
        else:
            out[f.name] = torch.cat(vals)
    return Outcome(**out)


def gather(part: Outcome) -> Outcome:
    """Every process's ``part`` (of ``shard``'s points) merged, on every process."""
    _, world = rank_world()
    if world == 1:
        return part
    parts: list[Any] = [None] * world
    torch.distributed.all_gather_object(parts, part)
    return merge(parts)


def spread(jobs: Sequence[Callable[[], T]]) -> list[T]:
    """Every job's result, in order, on every process; job j runs on process j mod world.

    For independent runs over the same points: each runs whole on one process, so its result
    is bit for bit the one process's (no batch is split), and the processes share the jobs.
    """
    rank, world = rank_world()
    if world == 1:
        return [job() for job in jobs]
    mine = {j: jobs[j]() for j in range(rank, len(jobs), world)}
    parts: list[Any] = [None] * world
    torch.distributed.all_gather_object(parts, mine)
    done: dict[int, T] = {j: r for part in parts for j, r in part.items()}
    return [done[j] for j in range(len(jobs))]
