"""Non-convex training of P2's three-layer ReLU nets, many nets as one batch (target t, branch count m, restart r).

:func:`train_nets`: minimum-norm interpolation ``min R s.t. f(X) = y`` by an augmented Lagrangian
(:func:`companion.duality.optim.augmented_lagrangian`). :func:`train_relu_regularized`: the regularised
``min ½‖f(X) − y‖² + β R`` by Adam and a per-net L-BFGS polish, every restart with its own step sizes.
Both return a :class:`Trained`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

import numpy as np
import torch

from companion.core.devices import Device, resolve_device
from companion.duality.optim import LineSearch, augmented_lagrangian, lbfgs_per_problem
from companion.duality.relu_nets import (RELU_REGULARIZERS, Net, ReluRegularizer, branch_outputs, branch_regularizer,
                                         relu_forward, relu_regularizer)
from companion.duality.relu_program import branch_patterns


@dataclass(frozen=True)
class Trained:
    """Nets trained as one batch, indexed (target t, branch count m, restart r)."""
    values: np.ndarray       # (T, M, R) objective: R (interpolation) or ½‖f − y‖² + βR (regularised)
    violations: np.ndarray   # (T, M, R) ‖f(X) − y‖ / max(1, ‖y‖)
    feasible: np.ndarray     # (T, M, R) bool
    ms: tuple[int, ...]
    W1: np.ndarray           # (T, M, R, m_max, d, h₁)
    W2: np.ndarray           # (T, M, R, m_max, h₁, h₂)
    w3: np.ndarray           # (T, M, R, m_max, h₂)
    seconds: float

    def net(self, t: int, mi: int, r: int) -> Net:
        """Net (t, ms[mi], r) with its m active branches."""
        m = self.ms[mi]
        return self.W1[t, mi, r, :m], self.W2[t, mi, r, :m], self.w3[t, mi, r, :m]

    def best(self) -> np.ndarray:
        """(T, M) best feasible value (∞ where no restart interpolates)."""
        return np.where(self.feasible, self.values, np.inf).min(-1)

    def patterns(self, X: np.ndarray, t: int = 0, within: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Inner and outer patterns of target t's feasible nets (their active branches only); with ``within``
        only of the nets whose value is ≤ within × the best value of target t (every other net is then
        above every harvested one)."""
        keep = self.feasible[t]
        if within is not None:
            keep = keep & (self.values[t] <= within * np.where(keep, self.values[t], np.inf).min())
        W1, W2 = [], []
        for mi, m in enumerate(self.ms):
            W1.append(self.W1[t, mi, keep[mi], :m])
            W2.append(self.W2[t, mi, keep[mi], :m])
        W1a, W2a = np.concatenate([w.reshape(-1, *w.shape[-2:]) for w in W1]), np.concatenate(
            [w.reshape(-1, *w.shape[-2:]) for w in W2])
        if len(W1a) == 0:
            return np.zeros((0, X.shape[0]), bool), np.zeros((0, X.shape[0]), bool)
        return branch_patterns(W1a, W2a, X)


@dataclass
class _Batch:
    """One batch of T·M·R nets (target t, branch count m, restart r), branches beyond m masked out."""
    W1: torch.Tensor     # (B, m_max, d, h₁)
    W2: torch.Tensor     # (B, m_max, h₁, h₂)
    w3: torch.Tensor     # (B, m_max, h₂)
    mask: torch.Tensor   # (B, m_max)
    X: torch.Tensor      # (n, d) or (B, 1, n, d)
    Y: torch.Tensor      # (B, n)
    shape: tuple[int, int, int]
    ms: tuple[int, ...]

    def residual(self) -> torch.Tensor:
        """f(X) − y, (B, n)."""
        return relu_forward(self.W1, self.W2, self.w3, self.mask, self.X) - self.Y

    def reg(self, kind: ReluRegularizer) -> torch.Tensor:
        """R per net, (B,)."""
        return relu_regularizer(self.W1, self.W2, self.w3, self.mask, kind)

    def trained(self, values: torch.Tensor, feasible: torch.Tensor, seconds: float) -> "Trained":
        """Package the batch (values and feasible flags (B,)) as a :class:`Trained`."""
        T, M, R = self.shape
        with torch.no_grad():
            viol = (self.residual().norm(dim=1) / self.Y.norm(dim=1).clamp(min=1.0)).cpu().numpy()
            full = (T, M, R, self.W1.shape[1])
            return Trained(values=values.detach().cpu().numpy().reshape(T, M, R), violations=viol.reshape(T, M, R),
                           feasible=feasible.cpu().numpy().reshape(T, M, R), ms=self.ms,
                           W1=(self.W1 * self.mask[..., None, None]).cpu().numpy().reshape(*full, *self.W1.shape[-2:]),
                           W2=self.W2.detach().cpu().numpy().reshape(*full, *self.W2.shape[-2:]),
                           w3=(self.w3 * self.mask[..., None]).detach().cpu().numpy().reshape(*full, self.w3.shape[-1]),
                           seconds=seconds)


def _batch(X: np.ndarray, Y: np.ndarray, ms: Sequence[int], *, kind: ReluRegularizer, h1: int, h2: int, restarts: int,
           seed: int, device: Device, dtype: torch.dtype, start: Net | None = None, noise: float = 0.0) -> _Batch:
    """Validate the input and draw the batch's initial weights (X n × d or T × n × d, Y T × n): random, or
    ``start`` = (W1 (m, d, h₁), W2 (m, h₁, h₂), w3 (m, h₂)) with every weight times (1 + noise·N(0, 1))."""
    X = np.asarray(X, float)
    Y = np.atleast_2d(np.asarray(Y, float))
    n, d = X.shape[-2:]
    if X.ndim not in (2, 3) or (X.ndim == 3 and len(X) != len(Y)) or Y.shape[1] != n:
        raise ValueError(f"targets must have n = {n} entries and X be n × d or T × n × d with T = {len(Y)} "
                         f"(X is {X.shape}), got Y of shape {Y.shape}")
    if not ms or min(ms) < 1 or h1 < 1 or h2 < 1 or restarts < 1:
        raise ValueError("need branch counts m ≥ 1, widths h1, h2 ≥ 1 and restarts ≥ 1")
    if kind not in RELU_REGULARIZERS:
        raise ValueError(f"unknown regularizer {kind!r}: choose one of {', '.join(RELU_REGULARIZERS)}")
    dev = resolve_device(device)
    T, M, R, mmax = len(Y), len(ms), restarts, max(ms)
    B = T * M * R
    gen = torch.Generator(device="cpu").manual_seed(seed)

    def init(*shape: int) -> torch.Tensor:
        return (torch.randn(B, mmax, *shape, generator=gen, dtype=dtype) / np.sqrt(shape[0])).to(dev).requires_grad_()

    # alive at the start: W₂ ≥ 0 keeps every second-layer unit on wherever a first-layer unit is, and output
    # weights of alternating signs (over branches and units) give both signs to every net
    if start is not None:
        if tuple(ms) != (len(start[0]),) or start[0].shape != (mmax, d, h1) or start[1].shape != (mmax, h1, h2) \
                or start[2].shape != (mmax, h2):
            raise ValueError(f"a start net needs ms = [m] and weights (m, {d}, h1), (m, h1, h2), (m, h2) matching "
                             f"h1 = {h1}, h2 = {h2}; got ms = {list(ms)} and shapes {[w.shape for w in start]}")

        def jitter(W: np.ndarray) -> torch.Tensor:
            W = torch.as_tensor(W, dtype=dtype).expand(B, *W.shape)
            return (W * (1 + noise * torch.randn(W.shape, generator=gen, dtype=dtype))).to(dev).requires_grad_()

        W1, W2, w3 = (jitter(W) for W in start)
    else:
        W1 = init(d, h1)
        W2 = init(h1, h2).detach().abs().requires_grad_()
        alt = (-1.0) ** (torch.arange(mmax)[:, None] + torch.arange(h2)[None, :])
        w3 = (torch.randn(B, mmax, h2, generator=gen, dtype=dtype).abs() * alt / np.sqrt(h2)).to(dev).requires_grad_()
    mcount = torch.as_tensor(np.repeat(np.tile(np.asarray(ms), T), R), device=dev)
    mask = (torch.arange(mmax, device=dev)[None, :] < mcount[:, None]).to(dtype)
    Xt = torch.as_tensor(X, dtype=dtype, device=dev)
    if X.ndim == 3:
        Xt = Xt.repeat_interleave(M * R, dim=0)[:, None]             # (B, 1, n, d)
    Yt = torch.as_tensor(np.repeat(Y, M * R, axis=0), dtype=dtype, device=dev)
    return _Batch(W1, W2, w3, mask, Xt, Yt, (T, M, R), tuple(ms))


def train_nets(X: np.ndarray, Y: np.ndarray, ms: Sequence[int], *, kind: ReluRegularizer, h1: int, h2: int = 1,
               restarts: int = 8, outer: int = 20, inner: int = 150, rho: float = 100.0, rho_max: float = 1e4,
               feas_tol: float = 1e-5, line_search: LineSearch = "per_problem",
               seed: int = 0, device: Device = "cpu", dtype: torch.dtype = torch.float64) -> Trained:
    """min R s.t. f(X) = y for every target y (rows of Y, T × n), every branch count m in ``ms`` and every
    restart, trained as ONE batch of T·|ms|·restarts nets (branches beyond m are masked out).

    X: n × d (shared by all targets) or T × n × d (data set t for target t). Augmented Lagrangian with a warm
    start on ½‖f − y‖² (:func:`companion.duality.optim.augmented_lagrangian`, L-BFGS with one line search shared by the
    batch or one per net). The first penalty ρ must exceed the price of giving up a small part of y: with
    depth 3 and weight decay a chain fitting a part of norm q costs (3/2)q^{2/3} and, once dropped, is a dead
    local minimum, so ρq²/2 > (3/2)q^{2/3} is needed (ρ = 100 covers q ≳ 0.07; ρ = 10 lost q = 0.25).
    A net counts as interpolating when ‖f(X) − y‖ ≤ feas_tol · max(1, ‖y‖).
    Standard nets: ms = [1], h2 ≥ 2. Values: R.
    """
    b = _batch(X, Y, ms, kind=kind, h1=h1, h2=h2, restarts=restarts, seed=seed, device=device, dtype=dtype)
    t0 = time.perf_counter()
    augmented_lagrangian([b.W1, b.W2, b.w3], b.residual, lambda: b.reg(kind), outer=outer, inner=inner, rho=rho,
                         rho_max=rho_max, stop_tol=1e-10 * max(1.0, float(b.Y.norm(dim=1).max())),
                         line_search=line_search)
    secs = time.perf_counter() - t0
    with torch.no_grad():
        viol = b.residual().norm(dim=1) / b.Y.norm(dim=1).clamp(min=1.0)
        return b.trained(b.reg(kind), viol <= feas_tol, secs)


def train_rescaled(X: np.ndarray, Y: np.ndarray, t: float = 1.0, *, h1: int, h2: int, restarts: int = 8,
                   outer: int = 20, inner: int = 150, rho: float = 100.0, rho_max: float = 1e4, feas_tol: float = 1e-5,
                   seed: int = 0, device: Device = "cpu", dtype: torch.dtype = torch.float64) -> Trained:
    """P2's rescaled primal of the standard net at a fixed t, by direct optimisation: min ½(‖W₂‖² + ‖w₃‖²)
    s.t. f(X) = y with ‖W₁‖_F = t (W₁ written as t·V/‖V‖_F; the bound ‖W₁‖_F ≤ t is active at the optimum).
    Targets, X and the augmented Lagrangian as in :func:`train_nets` (ms = [1]); the returned W1 has norm t.
    Its value should be :func:`~companion.duality.relu_closed_forms.rescaled_primal`."""
    if t <= 0:
        raise ValueError(f"the rescaling t must be > 0, got {t}")
    b = _batch(X, Y, [1], kind="weight_decay", h1=h1, h2=h2, restarts=restarts, seed=seed, device=device, dtype=dtype)
    V = b.W1

    def first() -> torch.Tensor:
        return t * V / V.pow(2).sum((-1, -2), keepdim=True).sqrt()

    def residual() -> torch.Tensor:
        return relu_forward(first(), b.W2, b.w3, b.mask, b.X) - b.Y

    def reg() -> torch.Tensor:
        return 0.5 * ((b.W2.pow(2).sum((-1, -2)) + b.w3.pow(2).sum(-1)) * b.mask).sum(-1)

    t0 = time.perf_counter()
    augmented_lagrangian([V, b.W2, b.w3], residual, reg, outer=outer, inner=inner, rho=rho, rho_max=rho_max,
                         stop_tol=1e-10 * max(1.0, float(b.Y.norm(dim=1).max())), line_search="per_problem")
    secs = time.perf_counter() - t0
    with torch.no_grad():
        b.W1 = first().detach()
        viol = residual().norm(dim=1) / b.Y.norm(dim=1).clamp(min=1.0)
        return b.trained(reg(), viol <= feas_tol, secs)


def train_relu_regularized(X: np.ndarray, Y: np.ndarray, ms: Sequence[int], *, kind: ReluRegularizer, beta: float,
                           h1: int, h2: int = 1, restarts: int = 8, steps: int = 10000, lr: float = 0.01,
                           taus: Sequence[float] = (1e-3, 1e-4, 0.0), iters: int = 100, start: Net | None = None,
                           noise: float = 0.0, seed: int = 0, device: Device = "cpu",
                           adam_dtype: torch.dtype = torch.float32,
                           progress: Callable[[Iterable[int]], Iterable[int]] | None = None) -> Trained:
    """min ½‖f(X) − y‖² + β R for every target (rows of Y, T × n; X n × d or T × n × d), branch count m and
    restart, as one batch. Random starts, or ``start`` (one net, ms = [m]) times (1 + noise·N(0, 1)).

    1. ``steps`` of Adam (in ``adam_dtype``), learning rate ``lr`` decayed to 0 by a cosine, on the active
       branches only (no padding). Adam scales every coordinate by its own gradient history, so no step is
       shared across nets.
    2. A short polish in float64: for τ in ``taus`` (decreasing to 0) both ReLUs are smoothed to
       τ·softplus(·/τ) and every net runs ``iters`` steps of its own L-BFGS with its own line search
       (:func:`companion.duality.optim.lbfgs_per_problem`).

    The objective is non-smooth at its optima (units switch on exactly at data points): quasi-Newton steps
    stall there, and a homotopy from large τ funnels every restart into the same region, so the global
    search is left to Adam. Values: the exact objective in float64; every finite value counts as feasible.
    """
    taus = [float(t) for t in taus]
    if not beta > 0 or steps < 0 or not lr > 0 or iters < 1 or (taus and (taus[-1] != 0 or any(
            a <= b for a, b in zip(taus, taus[1:])))) or (steps == 0 and not taus):
        raise ValueError(f"need beta > 0, lr > 0, iters ≥ 1, steps ≥ 0, taus empty or strictly decreasing to 0, "
                         f"and some steps or taus; got beta={beta}, lr={lr}, iters={iters}, steps={steps}, taus={taus}")
    b = _batch(X, Y, ms, kind=kind, h1=h1, h2=h2, restarts=restarts, seed=seed, device=device,
               dtype=torch.float64, start=start, noise=noise)
    t0 = time.perf_counter()
    if steps:
        live = b.mask.bool()
        owner = live.nonzero()[:, 0]                                      # (K,) the net of every active branch
        Wf = [W.detach()[live].to(adam_dtype).requires_grad_() for W in (b.W1, b.W2, b.w3)]
        Xf = (b.X[owner, 0] if b.X.dim() == 4 else b.X).to(adam_dtype)
        Yf = b.Y.to(adam_dtype)
        opt = torch.optim.Adam(Wf, lr=lr)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
        for _ in (progress or iter)(range(steps)):
            opt.zero_grad()
            f = torch.zeros_like(Yf).index_add(0, owner, branch_outputs(*Wf, Xf))
            loss = 0.5 * (f - Yf).pow(2).sum() + beta * branch_regularizer(*Wf, kind).sum()
            loss.backward()
            opt.step()
            sched.step()
        with torch.no_grad():
            for W, w in zip((b.W1, b.W2, b.w3), Wf):
                W[live] = w.to(W.dtype)

    def objective(tau: float) -> Callable[[], torch.Tensor]:
        def f() -> torch.Tensor:
            res = relu_forward(b.W1, b.W2, b.w3, b.mask, b.X, tau) - b.Y
            return 0.5 * res.pow(2).sum(1) + beta * b.reg(kind)
        return f

    for tau in taus:
        lbfgs_per_problem([b.W1, b.W2, b.w3], objective(tau), iters=iters)
    secs = time.perf_counter() - t0
    with torch.no_grad():
        vals = objective(0.0)()
        return b.trained(vals, torch.isfinite(vals), secs)
