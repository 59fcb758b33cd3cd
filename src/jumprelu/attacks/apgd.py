"""Auto-PGD (APGD-CE, APGD-DLR and the targeted APGD-T), L-infinity and L2.

Croce and Hein, "Reliable evaluation of adversarial robustness with an ensemble of diverse
parameter-free attacks", ICML 2020 (arXiv 2003.01690).

PGD with momentum (alpha = 0.75) whose step size starts at 2 * eps and is halved at the
checkpoints w_j = ceil(p_j * steps), p_0 = 0, p_1 = 0.22, p_{j+1} = p_j + max(p_j - p_{j-1} -
0.03, 0.06), when the loss increased in fewer than a fraction rho of the steps since the last
checkpoint, or when neither the step nor the best loss changed since then; a halving restarts
the sample from its best point. L2 steps along the normalised gradient and projects onto the
ball (as AutoAttack does). Losses: cross-entropy, the difference of logits ratio (DLR) and,
for APGD-T, the targeted DLR against each of ``n_targets`` classes: the top ones after the true
class by logit (AutoAttack), or by MALT's linear estimate of their distance, |z_y - z_t| /
||grad (z_y - z_t)||_* (the dual norm; Melamed, Yehudai and Shamir, "MALT powers up adversarial
attacks", NeurIPS 2024, arXiv 2407.02240), which reaches with few targets what the logit order
needs many for.

``discard`` (off by default) stops, in the spirit of A3's online discarding (Liu et al.,
"Practical evaluation of adversarial robustness via adaptive auto attack", CVPR 2022, arXiv
2203.05154), the samples that are not getting closer to the boundary: at the run's first and
second checkpoints a sample stops when its best logit margin z_y - max_{i != y} z_i still
exceeds ``discard`` (then ``discard`` squared) times its margin at the starting point. The
decision is the sample's own (it does not depend on the batch); stopped samples keep their best
point and are reported (``RunOutput.stopped``); a later run (restart or target) attacks them
again. One sample in ``SENTINEL`` (by its index) is never stopped: it runs on as a sentinel, and
a sentinel the rule would have stopped that is fooled later (``RunOutput.missed``) shows that the
rule stops breakable points on this model (the adaptive suite then re-runs the stopped samples
without it). docs/benchmarks.md measures what it saves and what it costs in strength.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import torch
import torch.nn.functional as F
from torch import nn

from jumprelu.attacks.base import FixedBudgetAttack, RunOutput
from jumprelu.attacks.grad import gradient_step, logit_gradients, margin_loss, zero_gradient
from jumprelu.attacks.norms import Bounds, check_count, check_positive, clip_to_ball
from jumprelu.attacks.rng import SampleRandom
from jumprelu.errors import ConfigError

__all__ = ["APGD", "LOSSES", "SENTINEL", "TARGET_ORDERS", "checkpoints", "dlr_loss", "malt_targets"]

LOSSES: tuple[str, ...] = ("ce", "dlr")
#: How APGD-T orders its target classes: by logit (AutoAttack) or by MALT's distance estimate.
TARGET_ORDERS: tuple[str, ...] = ("logit", "malt")
_MOMENTUM = 0.75
#: ``discard`` never stops a sample whose index is a multiple of this: it runs on as a sentinel.
SENTINEL = 10


def checkpoints(steps: int) -> list[int]:
    """The paper's step-size checkpoints w_j = ceil(p_j * steps) for j >= 1, up to ``steps``.

    The fractions p_j are computed exactly in hundredths (22, 41, 57, 70, 80, 87, 93, 99, ...);
    checkpoints that coincide after rounding (few steps) are kept once.
    """
    p_prev, p = 0, 22
    out: list[int] = []
    while p <= 100:
        w = -(-p * steps // 100)
        if w >= 1 and (not out or w > out[-1]):
            out.append(w)
        p_prev, p = p, p + max(p - p_prev - 3, 6)
    return out


def dlr_loss(logits: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None) -> torch.Tensor:
    """Per-sample DLR loss (untargeted when ``target`` is None, else the targeted DLR).

    Untargeted: -(z_y - max_{i != y} z_i) / (z_pi1 - z_pi3); targeted: -(z_y - z_t) /
    (z_pi1 - (z_pi3 + z_pi4) / 2), with z_pi the logits sorted in decreasing order.
    """
    top = logits.topk(3 if target is None else 4, dim=1).values
    if target is None:
        return margin_loss(logits, y) / (top[:, 0] - top[:, 2] + 1e-12)
    z_y = logits.gather(1, y[:, None]).squeeze(1)
    z_t = logits.gather(1, target[:, None]).squeeze(1)
    return -(z_y - z_t) / (top[:, 0] - 0.5 * (top[:, 2] + top[:, 3]) + 1e-12)


def malt_targets(model: nn.Module, x: torch.Tensor, y: torch.Tensor, norm: str) -> torch.Tensor:
    """The other classes of each sample, nearest first by MALT's linear estimate.

    Melamed, Yehudai and Shamir (NeurIPS 2024, arXiv 2407.02240): the distance to the boundary
    with class t is about |z_y - z_t| / ||grad_x (z_y - z_t)||_*, the dual norm of the attack's
    (L1 for L-infinity, L2 for L2). One backward pass per class at the clean input (through
    whatever gradient the model has, BPDA surrogates included).

    Args:
        model: the classifier.
        x: inputs (N, ...).
        y: labels (N,).
        norm: the attack's norm, "linf" or "l2".

    Returns:
        (N, K - 1) class indices, the nearest first (a zero gradient ranks a class last).
    """
    xg = x.detach().requires_grad_(True)
    with torch.enable_grad():
        logits = model(xg)
        k = logits.shape[1]
        others = torch.arange(k, device=x.device).repeat(len(x), 1)
        others = others[others != y[:, None]].view(len(x), k - 1)
        grads = logit_gradients(logits, xg, others, reference=y).flatten(2)
    gap = (logits.detach().gather(1, y[:, None]) - logits.detach().gather(1, others)).abs()
    dual = grads.abs().sum(2) if norm == "linf" else grads.norm(dim=2)
    score = gap / dual.clamp_min(1e-30)
    score = torch.where(dual > 0, score, torch.full_like(score, math.inf))
    order = score.argsort(dim=1, stable=True)
    return others.gather(1, order)


@dataclass
class _State:
    """One run's per-sample state; ``keep`` drops the samples that leave the run."""

    ids: torch.Tensor  # rows of the batch
    x0: torch.Tensor
    y: torch.Tensor
    target: torch.Tensor
    cur: torch.Tensor
    prev: torch.Tensor
    grad: torch.Tensor
    best_x: torch.Tensor
    best_grad: torch.Tensor
    best_loss: torch.Tensor
    last_loss: torch.Tensor  # loss of the previous iterate
    best_at_check: torch.Tensor  # best loss at the last checkpoint
    start_margin: torch.Tensor  # (m,) logit margin at the starting point
    best_margin: torch.Tensor  # (m,) smallest logit margin so far
    step: torch.Tensor  # (m,) step size
    increases: torch.Tensor  # (m,) loss increases since the last checkpoint
    halved: torch.Tensor  # (m,) bool, step halved at the last checkpoint
    flagged: torch.Tensor | None = None  # (m,) bool, a sentinel the rule would have stopped

    def keep(self, mask: torch.Tensor) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name)[mask])


@dataclass
class _Book:
    """What a call accumulates over its runs, for the whole batch."""

    rng: SampleRandom
    out: torch.Tensor  # returned inputs
    done: torch.Tensor  # (N,) bool: fooled, or misclassified from the start
    best_loss: torch.Tensor  # (N,) best loss over the runs (the unfooled return its point)
    trace: torch.Tensor  # (N, steps * runs)
    iterations: torch.Tensor
    grad_evals: torch.Tensor
    zero_steps: torch.Tensor
    stopped: torch.Tensor  # (N,) bool: some run stopped the sample (``discard``)
    sentinel: torch.Tensor  # (N,) bool: never stopped (``SENTINEL``)
    missed: torch.Tensor  # (N,) bool: a sentinel fooled in a run whose rule would have stopped it

    def leave(self, s: _State, mask: torch.Tensor) -> None:
        """Samples ``mask`` of ``s`` leave their run, unfooled: keep their best point."""
        better = mask & (s.best_loss > self.best_loss[s.ids])
        self.out[s.ids[better]] = s.best_x[better]
        self.best_loss[s.ids[better]] = s.best_loss[better]
        s.keep(~mask)


class APGD(FixedBudgetAttack):
    """Auto-PGD. Named ``"apgd-ce-linf"``, ``"apgd-dlr-l2"``, ... or ``"apgd-t-linf"`` / ``-l2``.

    Only correctly classified samples are attacked; a sample stops at its first adversarial
    iterate, which is returned. A sample never fooled returns its highest-loss iterate (over
    all runs). Misclassified samples are returned unchanged.

    ``trace`` has shape (N, steps * runs): column ``r * steps + i`` is the loss being
    maximised after iteration ``i`` of run ``r`` (runs: the restarts, or for APGD-T the target
    classes times the restarts), NaN where the sample was not attacked. ``zero_grad`` flags the
    attacked samples none of whose input gradients was nonzero; a sample whose gradient is
    exactly zero at a run's starting point cannot move and leaves that run.

    Args:
        eps: the budget (> 0), or given at call.
        norm: "linf" or "l2".
        loss: "ce" (cross-entropy) or "dlr" (difference of logits ratio, needs >= 3 classes).
        targeted: APGD-T, the targeted DLR loss (needs ``loss="dlr"``, >= 4 classes; the
            targeted cross-entropy is not offered: ConfigError).
        n_targets: APGD-T's target classes, the first ones of ``targets``' order (default:
            9, or every other class when fewer; a value above the number of classes - 1 is a
            ConfigError); one run of ``steps`` iterations each. Untargeted APGD refuses it.
        targets: APGD-T's order of the classes: "logit" (the highest logits after the true
            class, AutoAttack; the default) or "malt" (the nearest by MALT's linear
            estimate). Untargeted APGD refuses it.
        steps: iterations per run (default 100).
        restarts: runs (per target class for APGD-T) on the samples not yet fooled.
        rho: the checkpoint's threshold on the fraction of loss increases (default 0.75).
        seed: seed of the per-sample random starting points (the global RNG is untouched).
        bounds: see ``Attack``.
        discard: stop, at a run's first (second) checkpoint, a sample whose best logit margin
            exceeds ``discard`` (squared) times its starting margin; 0 (the default) never
            stops one. In [0, 1).
    """

    def __init__(
        self,
        *,
        eps: float | None = None,
        norm: str = "linf",
        loss: str = "ce",
        targeted: bool = False,
        n_targets: int | None = None,
        targets: str | None = None,
        steps: int = 100,
        restarts: int = 1,
        rho: float = 0.75,
        seed: int = 0,
        bounds: str | Bounds = "box",
        discard: float = 0.0,
    ) -> None:
        super().__init__(eps=eps, norm=norm, bounds=bounds)
        if not (isinstance(discard, (int, float)) and 0 <= discard < 1):
            raise ConfigError(f"discard must be a number in [0, 1), got {discard!r}")
        self.discard = float(discard)
        if loss not in LOSSES:
            raise ConfigError(f"unknown loss {loss!r}; known: {', '.join(LOSSES)}")
        if targeted and loss != "dlr":
            raise ConfigError("targeted APGD (APGD-T) uses the targeted DLR loss: pass loss='dlr'")
        self.loss = loss
        self.targeted = bool(targeted)
        if not self.targeted and (n_targets, targets) != (None, None):
            raise ConfigError("n_targets and targets apply to the targeted APGD (apgd-t-*) only")
        self.n_targets = None if n_targets is None else check_count("n_targets", n_targets)
        targets = "logit" if targets is None else targets
        if targets not in TARGET_ORDERS:
            raise ConfigError(f"unknown targets {targets!r}; known: {', '.join(TARGET_ORDERS)}")
        self.targets = targets
        self.steps = check_count("steps", steps)
        self.restarts = check_count("restarts", restarts)
        self.rho = check_positive("rho", rho)
        if self.rho > 1:
            raise ConfigError(f"rho must lie in (0, 1], got {rho!r}")
        self.seed = check_count("seed", seed, minimum=0)
        self.name = f"apgd-t-{self.norm}" if self.targeted else f"apgd-{loss}-{self.norm}"

    def check_classes(self, classes: int) -> None:
        """The DLR loss needs 3 classes (4 targeted); APGD-T at most ``classes - 1`` targets."""
        if self.loss == "dlr" and classes < 3 + self.targeted:
            raise ConfigError(f"{self.name}'s loss needs at least {3 + self.targeted} classes")
        if self.targeted and self.n_targets is not None and self.n_targets > classes - 1:
            raise ConfigError(
                f"{self.name}: n_targets {self.n_targets} exceeds the model's {classes - 1} "
                "other classes"
            )

    def _loss(
        self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, target: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(per-sample loss, input gradient, logits), all detached."""
        x = x.detach().requires_grad_(True)
        logits = model(x)
        if self.loss == "ce":
            loss = F.cross_entropy(logits, y, reduction="none")
        else:
            loss = dlr_loss(logits, y, target if self.targeted else None)
        (grad,) = torch.autograd.grad(loss.sum(), x)
        return loss.detach(), grad.detach(), logits.detach()

    def _start(self, x0: torch.Tensor, rng: SampleRandom, stream: int) -> torch.Tensor:
        """AutoAttack's random start: uniform noise scaled onto the L-inf sphere, or a Gaussian
        direction on the L2 sphere (both of radius eps)."""
        dims = tuple(x0.shape[1:])
        if self.norm == "linf":
            u = rng.uniform(stream, *dims) * 2 - 1
            scale = u.flatten(1).abs().amax(1)
        else:
            u = rng.normal(stream, *dims)
            scale = u.flatten(1).norm(dim=1)
        noise = u * (self.eps / (scale + 1e-12)).view(-1, *([1] * len(dims)))
        return noise.to(x0.device, x0.dtype)

    def _run(
        self,
        model: nn.Module,
        x: torch.Tensor,
        y: torch.Tensor,
        bounds: Bounds,
        index: torch.Tensor,
    ) -> RunOutput:
        n, dev = len(x), x.device
        with torch.no_grad():
            clean = model(x)
        self.check_classes(clean.shape[1])
        n_targets = (self.n_targets or min(9, clean.shape[1] - 1)) if self.targeted else 1
        ranked = clean.argsort(dim=1, descending=True)  # APGD-T's targets: ranked[:, 1:]
        if self.targeted and self.targets == "malt":
            ranked = torch.cat([y[:, None], malt_targets(model, x, y, self.norm)], dim=1)
        correct = clean.argmax(1) == y
        count = torch.zeros(n, dtype=torch.long, device=dev)
        book = _Book(
            SampleRandom(self.seed, index),
            x.clone(),
            ~correct,
            torch.full((n,), -math.inf, device=dev, dtype=x.dtype),
            torch.full((n, self.steps * n_targets * self.restarts), math.nan, device=dev),
            count,
            count.clone(),
            count.clone(),
            torch.zeros(n, dtype=torch.bool, device=dev),
            index.to(dev) % SENTINEL == 0,
            torch.zeros(n, dtype=torch.bool, device=dev),
        )
        if self.targeted and self.targets == "malt":  # one backward pass per other class
            book.grad_evals += clean.shape[1] - 1
        for run in range(n_targets * self.restarts):
            todo = (~book.done).nonzero().squeeze(1)
            if todo.numel():
                self._one_run(
                    model, x, y, ranked[:, 1 + run // self.restarts], bounds, todo, run, book
                )
        zero = (book.grad_evals > 0) & (book.zero_steps == book.grad_evals)
        out = RunOutput(book.out, book.iterations.cpu(), book.grad_evals.cpu(), zero.cpu())
        out.zero_grad_steps, out.trace = book.zero_steps.cpu(), book.trace.cpu()
        out.found = (book.done & correct).cpu()
        out.stopped = (book.stopped & ~book.done).cpu()
        out.missed = (book.missed & correct).cpu()
        return out

    def _one_run(
        self,
        model: nn.Module,
        x: torch.Tensor,
        y: torch.Tensor,
        targets: torch.Tensor,
        bounds: Bounds,
        ids: torch.Tensor,
        run: int,
        book: _Book,
    ) -> None:
        """One run of ``steps`` iterations on the batch rows ``ids`` (stream ``run``)."""
        x0, m, dev = x[ids], len(ids), x.device
        cur = bounds.clip(x0 + self._start(x0, book.rng.take(ids), run))
        y0, t0 = y[ids], targets[ids]
        loss, grad, logits = self._loss(model, cur, y0, t0)
        step = torch.full((m,), 2 * self.eps, device=dev, dtype=x.dtype)
        zeros, no = (
            torch.zeros(m, dtype=torch.long, device=dev),
            torch.zeros_like(y0, dtype=torch.bool),
        )
        m0 = -margin_loss(logits, y0)  # the logit margin at the start
        s = _State(
            ids, x0, y0, t0, cur, cur, grad, cur, grad, loss, loss, loss, m0, m0, step, zeros, no
        )
        s.flagged = torch.zeros_like(no)
        self._evaluated(s, grad, logits, book)
        book.leave(s, zero_gradient(s.grad))  # no gradient, no momentum: it cannot move
        marks, last_mark = checkpoints(self.steps), 0
        looks = (
            {w: self.discard ** (j + 1) for j, w in enumerate(marks[:2])} if self.discard else {}
        )
        shape = (-1, *([1] * (x.dim() - 1)))
        for i in range(self.steps):
            if len(s.ids) == 0:
                return
            z = self._project(
                s.x0, s.cur + gradient_step(s.grad, 1.0, self.norm) * s.step.view(shape), bounds
            )
            a = 1.0 if i == 0 else _MOMENTUM
            nxt = self._project(s.x0, s.cur + a * (z - s.cur) + (1 - a) * (s.cur - s.prev), bounds)
            s.prev, s.cur = s.cur, nxt
            loss, s.grad, logits = self._loss(model, s.cur, s.y, s.target)
            book.iterations[s.ids] += 1
            book.trace[s.ids, run * self.steps + i] = loss.to(book.trace.dtype)
            s.increases += loss > s.last_loss
            s.last_loss = loss
            better = loss > s.best_loss
            s.best_x = torch.where(better.view(shape), s.cur, s.best_x)
            s.best_grad = torch.where(better.view(shape), s.grad, s.best_grad)
            s.best_loss = torch.where(better, loss, s.best_loss)
            s.best_margin = torch.minimum(s.best_margin, -margin_loss(logits, s.y))
            self._evaluated(s, s.grad, logits, book)
            if i + 1 in looks and len(s.ids):  # discard: stop the samples not closing in
                slow = s.best_margin > looks[i + 1] * s.start_margin
                watch = book.sentinel[s.ids]
                s.flagged |= slow & watch
                book.stopped[s.ids[slow & ~watch]] = True
                book.leave(s, slow & ~watch)
            if i + 1 in marks:  # a checkpoint: halve the step, restart from the best point
                length, last_mark = i + 1 - last_mark, i + 1
                halve = s.increases < self.rho * length
                halve |= ~s.halved & (s.best_at_check >= s.best_loss)
                s.step = torch.where(halve, s.step / 2, s.step)
                s.cur = torch.where(halve.view(shape), s.best_x, s.cur)
                s.grad = torch.where(halve.view(shape), s.best_grad, s.grad)
                s.halved, s.best_at_check = halve, s.best_loss
                s.increases = torch.zeros_like(s.increases)
        book.leave(s, torch.ones_like(s.halved))

    def _project(self, x0: torch.Tensor, point: torch.Tensor, bounds: Bounds) -> torch.Tensor:
        return clip_to_ball(x0, point, self.eps, self.norm, bounds)

    @staticmethod
    def _evaluated(s: _State, grad: torch.Tensor, logits: torch.Tensor, book: _Book) -> None:
        """Count the gradient at ``s.cur``; an adversarial ``s.cur`` is returned, its run ends."""
        book.grad_evals[s.ids] += 1
        book.zero_steps[s.ids] += zero_gradient(grad).long()
        adv = logits.argmax(1) != s.y
        if s.flagged is not None:
            book.missed[s.ids[adv & s.flagged]] = True
        book.out[s.ids[adv]] = s.cur[adv]
        book.done[s.ids[adv]] = True
        s.keep(~adv)
