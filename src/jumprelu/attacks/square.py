"""Square Attack (L-infinity and L2): a score-based, gradient-free random search.

Andriushchenko, Croce, Flammarion and Hein, "Square Attack: a query-efficient black-box
adversarial attack via random search", ECCV 2020 (arXiv 1912.00049), with the settings of
AutoAttack (Croce and Hein, ICML 2020): 5000 queries, ``p_init`` 0.8, margin loss.

Each step proposes a change inside random square windows of every still-unbroken image and
keeps it when the margin ``f_y - max_{k != y} f_k`` decreases; a sample stops once fooled. The
window's area fraction ``p`` is halved after 10, 50, 200, 500, 1000, 2000, 4000, 6000 and 8000
of 10,000 steps (rescaled to the budget). L-infinity starts from vertical stripes of +-eps and
sets one window to a random corner (+-eps per channel), redrawing a window that would change
nothing; L2 starts from a grid of "meta-squares" (the paper's pattern of nested squares of
alternating sign) and moves the mass of two windows into the first one, keeping the norm at
eps. It never looks at a gradient, so it exposes defences that only mask gradients (as a
discontinuous activation can). Window positions, signs and patterns are drawn per sample
(``SampleRandom``); the window size depends only on the step.

``discard`` (off by default) stops, as A3's online discarding does (Liu et al., "Practical
evaluation of adversarial robustness via adaptive auto attack", CVPR 2022, arXiv 2203.05154),
the samples whose margin is not moving. Random search progresses about evenly per doubling of
the queries, so at 2, 5, 10, 20, 40 and 80% of the budget a sample stops when its margin exceeds
``discard`` times its decrease since half as many queries, times the doublings left (log2 of
the budget over the queries made). The decision is the sample's own (it does not depend on the
batch); the stopped samples are reported (``RunOutput.stopped``) so that a caller can run them
to the full budget when the attack turns out to break points (the adaptive suite does).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from jumprelu.attacks.base import FixedBudgetAttack, RunOutput
from jumprelu.attacks.grad import margin_loss
from jumprelu.attacks.norms import Bounds, check_count, check_positive
from jumprelu.attacks.rng import SampleRandom
from jumprelu.errors import ConfigError

__all__ = ["SquareAttack", "meta_square", "p_fraction"]

# Steps (out of 10,000) after which the window's area fraction p is halved.
_HALVINGS = (10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000)
_TRACE_COLUMNS = 200  # the trace keeps at most this many columns per restart
_RESAMPLE_TRIES = 10  # redraws of an L-infinity window that would change nothing
_CHECKS = (0.02, 0.05, 0.1, 0.2, 0.4, 0.8)  # shares of the budget where ``discard`` looks


def p_fraction(p_init: float, step: int, queries: int) -> float:
    """The area fraction of the window at ``step`` (0-based) of a ``queries`` budget."""
    scaled = int(step / queries * 10_000)
    return float(p_init / 2 ** sum(scaled > h for h in _HALVINGS))


def _rectangle(a: int, b: int) -> torch.Tensor:
    """(a, b) nested rectangles around the centre, weight sum_{k >= d} 1/(k+1)^2 at
    Chebyshev distance d, unit L2 norm."""
    size = max(a // 2, b // 2) + 1
    tail = (1.0 / torch.arange(1, size + 1, dtype=torch.float64) ** 2).flip(0).cumsum(0).flip(0)
    dist = torch.maximum(
        (torch.arange(a)[:, None] - a // 2).abs(), (torch.arange(b)[None, :] - b // 2).abs()
    )
    out = tail[dist]
    normed: torch.Tensor = out / out.norm().clamp_min(1e-12)
    return normed


def meta_square(s: int) -> torch.Tensor:
    """The paper's (s, s) L2 pattern: nested squares, positive on top, negative below."""
    out = torch.cat([_rectangle(s // 2, s), -_rectangle(s - s // 2, s)])
    normed: torch.Tensor = (out / out.norm()).float()
    return normed


def _margin(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``f_y - max_{k != y} f_k`` (no graph): the sample is fooled when it is <= 0."""
    with torch.no_grad():
        return -margin_loss(model(x), y)


def _normalise(delta: torch.Tensor) -> torch.Tensor:
    norm = delta.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
    out: torch.Tensor = delta / (norm + 1e-12)
    return out


def _ints(u: torch.Tensor, high: int) -> torch.Tensor:
    """Integers in [0, high) from uniform numbers in [0, 1)."""
    return (u * high).long().clamp_max(high - 1)


def _signs(u: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """+-1 from uniform numbers in [0, 1)."""
    return torch.where(u < 0.5, 1.0, -1.0).to(dtype)


def _corner(top: torch.Tensor, left: torch.Tensor, s: int, h: int, w: int) -> torch.Tensor:
    """(k, 1, h, w) bool masks of the s x s windows at (top, left) (each (k,))."""
    rows = torch.arange(h, device=top.device).view(1, 1, h, 1)
    cols = torch.arange(w, device=top.device).view(1, 1, 1, w)
    t, lf = top.view(-1, 1, 1, 1), left.view(-1, 1, 1, 1)
    return (rows >= t) & (rows < t + s) & (cols >= lf) & (cols < lf + s)


class SquareAttack(FixedBudgetAttack):
    """Square Attack, L-infinity or L2. Named ``"square-linf"`` or ``"square-l2"``.

    Args:
        eps: the budget (> 0), or given at call.
        norm: "linf" or "l2".
        queries: model queries per sample and restart, the initial point included
            (default 5000, AutoAttack's setting).
        p_init: initial fraction of the image covered by a window, in (0, 1] (default 0.8).
        restarts: number of runs (default 1); later runs attack only the unbroken samples.
        seed: seed of the per-sample random numbers (the global RNG is untouched).
        discard: stop a sample whose margin exceeds this many times its decrease over the
            last doubling of the queries, times the doublings left (see the module
            docstring; 2 in the adaptive suite); 0 (default): never.
        bounds: see ``Attack``.

    The result's ``iterations`` counts model queries per sample (all restarts), ``grad_evals``
    is 0, and ``trace`` holds the attacker's objective ``max_{k != y} f_k - f_y`` of the best
    point so far: one column per ``ceil(queries / 200)`` queries of each restart, the value
    after the sample's last query in that range (NaN when it made none there).
    """

    def __init__(
        self,
        *,
        eps: float | None = None,
        norm: str = "linf",
        queries: int = 5000,
        p_init: float = 0.8,
        restarts: int = 1,
        seed: int = 0,
        discard: float = 0.0,
        bounds: str | Bounds = "box",
    ) -> None:
        super().__init__(eps=eps, norm=norm, bounds=bounds)
        self.name = f"square-{self.norm}"
        self.queries = check_count("queries", queries)
        self.p_init = check_positive("p_init", p_init)
        if self.p_init > 1:
            raise ConfigError(f"p_init must lie in (0, 1], got {p_init!r}")
        self.restarts = check_count("restarts", restarts)
        self.seed = check_count("seed", seed, minimum=0)
        if not (isinstance(discard, (int, float)) and 0 <= discard < 1e6):
            raise ConfigError(f"discard must be a number in [0, 1e6), got {discard!r}")
        self.discard = float(discard)

    def _run(
        self,
        model: nn.Module,
        x: torch.Tensor,
        y: torch.Tensor,
        bounds: Bounds,
        index: torch.Tensor,
    ) -> RunOutput:
        if x.dim() != 4:
            raise ConfigError(f"Square needs images (N, C, H, W), got shape {tuple(x.shape)}")
        n, dev = len(x), x.device
        rng = SampleRandom(self.seed, index)
        margin = _margin(model, x, y)  # clean points already misclassified are left as they are
        x_out = x.clone()
        queries = torch.zeros(n, dtype=torch.long, device=dev)
        stopped = torch.zeros(n, dtype=torch.bool, device=dev)
        stride = math.ceil(self.queries / _TRACE_COLUMNS)
        cols = math.ceil(self.queries / stride)
        trace = torch.full((n, self.restarts * cols), math.nan, device=dev, dtype=x.dtype)
        todo = (margin > 0).nonzero().squeeze(1)
        for restart in range(self.restarts):
            if todo.numel() == 0:
                break
            x_r, y_r, sub = x[todo], y[todo], rng.take(todo)
            best, m_r, q_r, t_r = self._single_run(model, x_r, y_r, bounds, sub, restart, stride)
            stopped[todo] |= q_r < self.queries
            queries[todo] += q_r
            trace[todo, restart * cols : (restart + 1) * cols] = t_r
            better = m_r < margin[todo]
            x_out[todo[better]], margin[todo[better]] = best[better], m_r[better]
            todo = todo[m_r > 0]
        zeros = torch.zeros(n, dtype=torch.long)
        found = margin <= 0
        out = RunOutput(x_out, queries.cpu(), zeros, trace=trace.cpu(), found=found.cpu())
        out.stopped = (stopped & ~found).cpu()
        return out

    def _single_run(
        self,
        model: nn.Module,
        x: torch.Tensor,
        y: torch.Tensor,
        bounds: Bounds,
        rng: SampleRandom,
        restart: int,
        stride: int,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """One run on unbroken samples: (best points, their margins, queries, trace)."""
        k, c, _, w = x.shape
        base = restart << 40
        if self.norm == "linf":
            signs = rng.signs(base, c, 1, w).to(x.device, x.dtype)
            best = bounds.clip(x + self.eps * signs)
        else:
            best = bounds.clip(x + self.eps * _normalise(self._l2_init(x, rng, base)))
        margin = _margin(model, best, y)
        queries = torch.ones(k, dtype=torch.long, device=x.device)
        trace = torch.full(
            (k, math.ceil(self.queries / stride)), math.nan, device=x.device, dtype=margin.dtype
        )
        trace[:, 0] = -margin
        alive = torch.ones(k, dtype=torch.bool, device=x.device)
        checks = {round(f * self.queries) for f in _CHECKS} if self.discard else set()
        checks = {q for q in checks if q >= 2}
        halves, seen = {q // 2 for q in checks}, {}
        for step in range(self.queries - 1):
            made = step + 1  # queries made so far
            if made in halves:
                seen[made] = margin.clone()
            if made in checks:  # A3: stop the samples whose margin is not moving
                gain = (seen[made // 2] - margin) * math.log2(self.queries / made)
                alive &= margin <= self.discard * gain
            active = ((margin > 0) & alive).nonzero().squeeze(1)
            if active.numel() == 0:
                break
            stream = base | ((step + 1) << 8)
            p = p_fraction(self.p_init, step, self.queries)
            x_a, cur, sub = x[active], best[active], rng.take(active)
            if self.norm == "linf":
                cand = self._linf_candidate(x_a, cur, bounds, sub, stream, p)
            else:
                cand = self._l2_candidate(x_a, cur, bounds, sub, stream, p)
            new = _margin(model, cand, y[active])
            better = new < margin[active]
            best[active[better]], margin[active[better]] = cand[better], new[better]
            queries[active] += 1
            trace[active, (step + 1) // stride] = -margin[active]
        return best, margin, queries, trace

    def _linf_candidate(
        self,
        x: torch.Tensor,
        cur: torch.Tensor,
        bounds: Bounds,
        rng: SampleRandom,
        stream: int,
        p: float,
    ) -> torch.Tensor:
        """Set a random s x s window of each image to x +- eps per channel (redrawn, at most
        ``_RESAMPLE_TRIES`` times, where that would change nothing)."""
        k, c, h, w = x.shape
        s = min(max(round(math.sqrt(p * h * w)), 1), h, w)
        u = rng.uniform(stream, 2 + c, _RESAMPLE_TRIES + 1).to(x.device)  # every try at once
        tops, lefts = _ints(u[:, 0], h - s + 1), _ints(u[:, 1], w - s + 1)
        signs = _signs(u[:, 2:], x.dtype)  # (k, c, tries)

        def draw(rows: torch.Tensor, t: int) -> torch.Tensor:
            window = _corner(tops[rows, t], lefts[rows, t], s, h, w)
            step = self.eps * signs[rows, :, t].view(-1, c, 1, 1)
            return bounds.clip(torch.where(window, x[rows] + step, cur[rows]))

        cand = draw(torch.arange(k, device=x.device), 0)
        rows = (cand == cur).flatten(1).all(1).nonzero().squeeze(1)
        if rows.numel() == 0:
            return cand
        # the rows that changed nothing: every further try at once, the first that changes
        # something kept (the last try where none does), as redrawing one by one would
        r, tries = len(rows), _RESAMPLE_TRIES
        window = _corner(tops[rows, 1:].reshape(-1), lefts[rows, 1:].reshape(-1), s, h, w)
        window = window.view(r, tries, 1, h, w)
        step = self.eps * signs[rows, :, 1:].transpose(1, 2).reshape(r, tries, c, 1, 1)
        value = bounds.clip(x[rows, None] + step)
        now = cur[rows, None]
        changed = (window & (value != now)).flatten(2).any(2)
        pick = torch.where(changed.any(1), changed.int().argmax(1), tries - 1)
        at = torch.arange(r, device=x.device)
        cand[rows] = torch.where(window[at, pick], value[at, pick], now[:, 0])
        return cand

    def _l2_init(self, x: torch.Tensor, rng: SampleRandom, stream: int) -> torch.Tensor:
        """The paper's start: a grid of (about 5 x 5) meta-squares with random signs per
        channel, each transposed with probability 1/2."""
        k, c, h, w = x.shape
        s = max(min(h, w) // 5, 1)
        gh, gw = h // s, w // s
        eta = meta_square(s)
        pair = torch.stack([eta, eta.T])
        flip = rng.randint(stream | 1, 2, gh * gw)  # (k, M)
        signs = rng.signs(stream | 2, gh * gw, c)  # (k, M, c)
        blocks = pair[flip][:, :, None] * signs[..., None, None]  # (k, M, c, s, s)
        grid = blocks.view(k, gh, gw, c, s, s).permute(0, 3, 1, 4, 2, 5).reshape(k, c, gh * s, -1)
        top, left = max((h - 5 * s) // 2, 0), max((w - 5 * s) // 2, 0)
        delta = torch.zeros(k, c, h, w)
        bottom, right = min(top + gh * s, h), min(left + gw * s, w)
        delta[:, :, top:bottom, left:right] = grid[:, :, : bottom - top, : right - left]
        return delta.to(x.device, x.dtype)

    def _l2_candidate(
        self,
        x: torch.Tensor,
        cur: torch.Tensor,
        bounds: Bounds,
        rng: SampleRandom,
        stream: int,
        p: float,
    ) -> torch.Tensor:
        """Move the perturbation's mass in windows 1 and 2 into window 1 (plus a signed
        meta-square), keeping the L2 norm at eps, then clip to the box."""
        k, c, h, w = x.shape
        s = max(round(math.sqrt(p * h * w)), 3)
        s = min(s + 1 - s % 2, h, w)
        dev = x.device
        u = rng.uniform(stream, 5 + c).to(dev)
        top1, top2 = _ints(u[:, 0], h - s + 1), _ints(u[:, 2], h - s + 1)
        left1, left2 = _ints(u[:, 1], w - s + 1), _ints(u[:, 3], w - s + 1)
        signs = _signs(u[:, 5:], x.dtype).view(k, c, 1, 1)
        eta = meta_square(s)
        pattern = torch.stack([eta, eta.T]).to(dev, x.dtype)[_ints(u[:, 4], 2)]
        delta = cur - x
        ar = torch.arange(s, device=dev)
        kk = torch.arange(k, device=dev).view(k, 1, 1)
        r1, c1 = (top1[:, None] + ar).view(k, s, 1), (left1[:, None] + ar).view(k, 1, s)
        old = delta[kk, :, r1, c1].permute(0, 3, 1, 2)  # (k, c, s, s)
        mask1, mask2 = _corner(top1, left1, s, h, w), _corner(top2, left2, s, h, w)
        norm_old = old.pow(2).sum((2, 3), keepdim=True).sqrt()
        norm_windows = (delta * (mask1 | mask2)).pow(2).sum((2, 3), keepdim=True).sqrt()
        norm_image = delta.flatten(1).norm(dim=1).view(k, 1, 1, 1)
        new = pattern.view(k, 1, s, s) * signs + old / (norm_old + 1e-12)
        budget = (self.eps**2 - norm_image**2).clamp_min(0) / c + norm_windows**2
        new = new / (new.pow(2).sum((2, 3), keepdim=True).sqrt() + 1e-12) * budget.sqrt()
        delta = delta.masked_fill(mask2, 0.0)
        delta[kk, :, r1, c1] = new.permute(0, 2, 3, 1)
        return bounds.clip(x + self.eps * _normalise(delta))
