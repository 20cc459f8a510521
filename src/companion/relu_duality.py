"""P2 on three-layer ReLU networks: closed forms, activation patterns, the convex program of parallel nets,
and batched non-convex training (our derivations; the chapter ``parallel_relu`` states and checks them).

Convention of P2: ``X`` is n × d (rows are samples), ``y`` ∈ ℝⁿ. A *branch* is a standard three-layer net
``x ↦ ((x W₁)₊ W₂)₊ w₃`` with W₁ d × h₁, W₂ h₁ × h₂, w₃ ∈ ℝ^{h₂}; a standard net is one branch (m = 1,
h₂ ≥ 2), a parallel net is m branches of h₂ = 1 summed: ``f = Σ_j ((X W₁ⱼ)₊ w₂ⱼ)₊ αⱼ``.

Minimum-norm interpolation ``min R s.t. f(X) = y``, two regularisers:

- weight decay ``R = ½ Σ_j (‖W₁ⱼ‖² + ‖W₂ⱼ‖² + ‖w₃ⱼ‖²)``;
- P2's modification as we read it, ``R = ⅓ Σ_j (‖W₁ⱼ‖³ + ‖W₂ⱼ‖³ + ‖w₃ⱼ‖³)``, which after rescaling inside each
  branch (AM–GM) is the path norm ``Σ_j ‖W₁ⱼ‖ ‖w₂ⱼ‖ |αⱼ|``. With m ≥ n + 1 branches (Carathéodory) its
  optimum is the gauge ``γ(y)`` of y w.r.t. ``conv(±𝒱)``, 𝒱 = {((XW₁)₊w)₊ : ‖W₁‖_F ≤ 1, ‖w‖ ≤ 1}, which
  :func:`parallel_program` computes as a group lasso over pairs of activation patterns.

The dual of the standard net with weight decay (P2's rescaling device: ‖W₁‖_F ≤ t, dualise, minimise over
t) is ``D = min_t t²/2 + γ(y)/t = (3/2) γ(y)^{2/3}`` (:func:`standard_dual`).
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass
from typing import Literal, Sequence

import numpy as np
import torch

from companion.devices import resolve_device
from companion.parallel_linear import augmented_lagrangian, weight_decay_dual, weight_decay_primal

Regularizer = Literal["weight_decay", "path"]
REGULARIZERS: tuple[str, ...] = ("weight_decay", "path")
Solver = Literal["CLARABEL", "SCS"]


# ---- closed forms (our derivation) -----------------------------------------------------------------------------

def split_signs(y: np.ndarray) -> tuple[float, float]:
    """(p, q) = (‖y₊‖, ‖y₋‖) for y ∈ ℝⁿ."""
    y = np.asarray(y, dtype=float)
    return float(np.linalg.norm(np.maximum(y, 0))), float(np.linalg.norm(np.maximum(-y, 0)))


def whitened_primal(p: float, q: float) -> float:
    """XXᵀ = Iₙ, standard net (or parallel, m ≥ 2) with weight decay: (3/2)(p^{2/3} + q^{2/3}).

    Upper bound by construction (one chain per sign); that no net does better is checked by training.
    """
    return weight_decay_primal([p, q], 3)


def whitened_dual(p: float, q: float) -> float:
    """XXᵀ = Iₙ: (3/2)(p + q)^{2/3} (there {(XW₁)₊w)₊} = {v ≥ 0 : ‖v‖ ≤ 1}, so γ(y) = p + q)."""
    return weight_decay_dual([p, q], 3)


def standard_dual(gauge: float) -> float:
    """D = min_t t²/2 + γ/t = (3/2) γ^{2/3}: the rescaled Lagrangian dual of the standard net from γ(y)."""
    return float(1.5 * gauge ** (2.0 / 3.0))


def rank_one_coefficients(c: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(y_a, y_b) with y = y_a c₊ + y_b c₋ (c ∈ ℝⁿ with both signs); raises if y is not of that form.

    For X = c aᵀ every three-layer ReLU net's output lies in span{c₊, c₋}: (c gᵀ)₊ = c₊g₊ᵀ + c₋g₋ᵀ.
    """
    c, y = np.asarray(c, float), np.asarray(y, float)
    B = np.stack([np.maximum(c, 0), np.maximum(-c, 0)], 1)
    if np.linalg.matrix_rank(B) < 2:
        raise ValueError("rank-one data X = c aᵀ needs c with both signs (else use a single sign of c)")
    coef, *_ = np.linalg.lstsq(B, y, rcond=None)
    if np.linalg.norm(B @ coef - y) > 1e-8 * max(1.0, np.linalg.norm(y)):
        raise ValueError("y is not y_a c₊ + y_b c₋: no ReLU net interpolates it on rank-one data X = c aᵀ")
    return float(coef[0]), float(coef[1])


def rank_one_gauge(y_a: float, y_b: float, a_norm: float = 1.0) -> float:
    """γ(y) = (|y_a| + |y_b|)/‖a‖ for X = c aᵀ: the reachable (coefficient of c₊, of c₋) form the simplex."""
    return (abs(y_a) + abs(y_b)) / a_norm


def rank_one_primal(y_a: float, y_b: float, a_norm: float = 1.0) -> float:
    """Standard net with weight decay on X = c aᵀ (our derivation, checked by training).

    Same signs: one second-layer unit serves c₊ and c₋ (its first layer splits into g₊, g₋), so P equals the
    dual (3/2)γ^{2/3}. Opposite signs: two units with output weights of both signs are needed and the cost
    is that of two chains, (3/2)(|y_a|^{2/3} + |y_b|^{2/3})/‖a‖^{2/3} > D.
    """
    if y_a * y_b >= 0:
        return standard_dual(rank_one_gauge(y_a, y_b, a_norm))
    return weight_decay_primal([abs(y_a) / a_norm, abs(y_b) / a_norm], 3)


# ---- instances ----------------------------------------------------------------------------------------------

def whitened_instance(n: int, ratio: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """X n × n orthogonal (XXᵀ = Iₙ), y with ‖y₊‖ = 1 on the first ⌈n/2⌉ samples and ‖y₋‖ = ratio on the rest."""
    if n < 2 or not 0 <= ratio <= 1:
        raise ValueError(f"whitened instance needs n ≥ 2 and 0 ≤ ratio ≤ 1, got n={n}, ratio={ratio}")
    rng = np.random.default_rng(seed)
    X, _ = np.linalg.qr(rng.standard_normal((n, n)))
    k = (n + 1) // 2
    pos, neg = rng.uniform(0.5, 1.5, k), rng.uniform(0.5, 1.5, n - k)
    return X, np.concatenate([pos / np.linalg.norm(pos), -ratio * neg / np.linalg.norm(neg)])


def rank_one_instance(n: int, d: int, y_a: float, y_b: float, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """X = c aᵀ (‖a‖ = 1, c with both signs) and y = y_a c₊ + y_b c₋; returns (X, y, c)."""
    rng = np.random.default_rng(seed)
    c = rng.uniform(0.5, 1.5, n) * np.where(np.arange(n) % 2 == 0, 1.0, -1.0)
    a = rng.standard_normal(d)
    a /= np.linalg.norm(a)
    return np.outer(c, a), y_a * np.maximum(c, 0) + y_b * np.maximum(-c, 0), c


def planar_instance(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """n points uniform in [−1, 1]², a bias column appended (X n × 3), random ±1 targets with both signs."""
    rng = np.random.default_rng(seed)
    X = np.hstack([rng.uniform(-1, 1, (n, 2)), np.ones((n, 1))])
    y = np.where(rng.permutation(n) < n // 2, 1.0, -1.0)
    return X, y


# ---- activation patterns ------------------------------------------------------------------------------------

def patterns_of(H: np.ndarray) -> np.ndarray:
    """Unique rows of 1[H ≥ 0] for pre-activations H (k × n); returns (P, n) bool, sorted."""
    return np.unique(np.asarray(H) >= 0, axis=0)


def sample_patterns(B: np.ndarray, samples: int, seed: int) -> np.ndarray:
    """Patterns 1[Bu ≥ 0] of the arrangement of B's rows (B n × r), u ~ N(0, I_r); (P, n) bool.

    A subset of :func:`exact_patterns`; equal to it when ``samples`` is large against the number of regions.
    """
    U = np.random.default_rng(seed).standard_normal((B.shape[1], samples))
    return patterns_of((B @ U).T)


def exact_patterns(B: np.ndarray, max_n: int = 12) -> np.ndarray:
    """Every pattern D ∈ {0,1}ⁿ whose cone {u : (2D − 1)·Bu ≥ 0} has an interior (one LP per D; n ≤ max_n)."""
    from scipy.optimize import linprog

    n, r = B.shape
    if n > max_n:
        raise ValueError(f"exact enumeration tries all 2^n patterns: n = {n} > {max_n}; use sample_patterns")
    keep = []
    for bits in itertools.product([False, True], repeat=n):
        S = (2 * np.asarray(bits, float) - 1)[:, None] * B
        # max s  s.t.  S u ≥ s, −1 ≤ u ≤ 1, s ≤ 1   (variables u, s)
        res = linprog(np.r_[np.zeros(r), -1.0], A_ub=np.hstack([-S, np.ones((n, 1))]), b_ub=np.zeros(n),
                      bounds=[(-1, 1)] * r + [(None, 1)], method="highs")
        if res.status == 0 and -res.fun > 1e-9:
            keep.append(bits)
    return np.array(keep, dtype=bool).reshape(-1, n)


def feature_basis(X: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """An orthonormal basis (n × r) of span{D_i X}: where second-layer pre-activations can lie."""
    F = np.hstack([D[:, None] * X for D in inner])
    U, s, _ = np.linalg.svd(F, full_matrices=False)
    return U[:, s > 1e-10 * s.max()]


def branch_patterns(W1: np.ndarray, W2: np.ndarray, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inner and outer patterns used by nets (harvesting): W1 (..., d, h₁), W2 (..., h₁, h₂).

    Inner: 1[X u ≥ 0] of every first-layer unit u; outer: 1[(XW₁)₊ W₂ ≥ 0] of every second-layer unit.
    Returns (inner (P, n), outer (Q, n)), unique.
    """
    W1 = W1.reshape(-1, *W1.shape[-2:])
    W2 = W2.reshape(-1, *W2.shape[-2:])
    Z = np.einsum("nd,bdh->bhn", X, W1)
    H = np.einsum("bhn,bhk->bkn", np.maximum(Z, 0), W2)
    return patterns_of(Z.reshape(-1, X.shape[0])), patterns_of(H.reshape(-1, X.shape[0]))


def union_patterns(*sets: np.ndarray) -> np.ndarray:
    """Union of pattern sets (each (P, n) bool)."""
    return patterns_of(np.vstack([s for s in sets if len(s)]))


# ---- the convex program -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ProgramResult:
    value: float        # γ(y) restricted to the given patterns (∞ if infeasible)
    branches: int       # (outer pattern, sign) blocks the solution uses: branches of an optimal parallel net
    variables: int
    seconds: float
    status: str


def parallel_program(X: np.ndarray, y: np.ndarray, inner: np.ndarray, outer: np.ndarray, *,
                     solver: Solver = "CLARABEL") -> ProgramResult:
    """min Σ ‖z‖ (group lasso) s.t. y = Σ_{o,s} s D'_o h_{o,s}, h_{o,s} = Σ_{i,s'} s' D_i X z_{o,s,i,s'},
    (2D'_o − I) h_{o,s} ≥ 0, (2D_i − I) X z ≥ 0.

    X n × d, y (n,), inner (I, n) and outer (O, n) bool patterns. Every block (o, s) is one branch
    ((XW₁)₊w₂)₊α of a parallel net whose first-layer units have patterns D_i and signs s' of w₂; the objective
    is its path norm. With all patterns the value is γ(y) (= the parallel net's optimum for m ≥ n + 1);
    with a subset it is ≥ γ(y) (an upper bound), and ≤ the path norm of any net whose patterns it contains.
    """
    import cvxpy as cp
    import scipy.sparse as sp

    X, y = np.asarray(X, float), np.asarray(y, float)
    n, d = X.shape
    inner, outer = np.asarray(inner, bool), np.asarray(outer, bool)
    if inner.ndim != 2 or inner.shape[1] != n or outer.ndim != 2 or outer.shape[1] != n or y.shape != (n,):
        raise ValueError(f"patterns must be (P, n = {n}) bool arrays and y of shape ({n},)")
    I, O = len(inner), len(outer)
    if I == 0 or O == 0:
        raise ValueError("no patterns given (harvesting found no interpolating net?): add sampled patterns")
    F = np.hstack([D[:, None] * X for D in inner])                                    # n × I·d
    A = sp.block_diag([((2 * D - 1.0)[:, None] * X).T for D in inner], format="csc")  # I·d × I·n
    sgn = np.repeat(2 * outer - 1.0, 2, axis=0)                                       # 2O × n
    wout = np.repeat(outer.astype(float), 2, axis=0) * np.tile([[1.0], [-1.0]], (O, 1))
    Zp, Zm = cp.Variable((2 * O, I * d)), cp.Variable((2 * O, I * d))
    H = (Zp - Zm) @ F.T
    cons = [Zp @ A >= 0, Zm @ A >= 0, cp.multiply(H, sgn) >= 0, cp.sum(cp.multiply(H, wout), axis=0) == y]
    obj = sum(cp.sum(cp.norm(cp.reshape(Z, (2 * O * I, d), order="C"), 2, axis=1)) for Z in (Zp, Zm))
    prob = cp.Problem(cp.Minimize(obj), cons)
    t0 = time.perf_counter()
    prob.solve(solver=solver)
    secs = time.perf_counter() - t0
    if prob.status not in ("optimal", "optimal_inaccurate"):
        return ProgramResult(np.inf, 0, 4 * O * I * d, secs, str(prob.status))
    block = (np.abs(Zp.value) + np.abs(Zm.value)).sum(1)
    used = int(np.sum(block > 1e-3 * max(block.max(), 1e-300)))   # interior point spreads over ties
    return ProgramResult(float(prob.value), used, 4 * O * I * d, secs, str(prob.status))


# ---- batched three-layer nets ------------------------------------------------------------------------------

def forward(W1: torch.Tensor, W2: torch.Tensor, w3: torch.Tensor, mask: torch.Tensor, X: torch.Tensor) -> torch.Tensor:
    """Σ_j mask_j ((X W₁ⱼ)₊ W₂ⱼ)₊ w₃ⱼ: W1 (B, m, d, h₁), W2 (B, m, h₁, h₂), w3 (B, m, h₂), mask (B, m), X (n, d);
    returns (B, n)."""
    A2 = torch.relu(torch.relu(X @ W1) @ W2)                     # (B, m, n, h₂)
    return torch.einsum("bmnk,bmk,bm->bn", A2, w3, mask)


def regularizer(W1: torch.Tensor, W2: torch.Tensor, w3: torch.Tensor, mask: torch.Tensor,
                kind: Regularizer) -> torch.Tensor:
    """R per net, (B,): weight decay ½Σ‖·‖² or P2's (our reading) ⅓Σ‖·‖³ over the layers of active branches."""
    sq = [W.pow(2).flatten(2).sum(-1) for W in (W1, W2, w3)]    # each (B, m)
    if kind == "weight_decay":
        per = 0.5 * sum(sq)
    elif kind == "path":
        per = sum(s.pow(1.5) for s in sq) / 3.0
    else:
        raise ValueError(f"unknown regularizer {kind!r}: choose one of {', '.join(REGULARIZERS)}")
    return (per * mask).sum(-1)


@dataclass(frozen=True)
class Trained:
    """Nets trained as one batch, indexed (target t, branch count m, restart r)."""
    values: np.ndarray       # (T, M, R) regulariser value
    violations: np.ndarray   # (T, M, R) ‖f(X) − y‖ / max(1, ‖y‖)
    feasible: np.ndarray     # (T, M, R) bool
    ms: tuple[int, ...]
    W1: np.ndarray           # (T, M, R, m_max, d, h₁)
    W2: np.ndarray           # (T, M, R, m_max, h₁, h₂)
    seconds: float

    def best(self) -> np.ndarray:
        """(T, M) best feasible value (∞ where no restart interpolates)."""
        return np.where(self.feasible, self.values, np.inf).min(-1)

    def patterns(self, X: np.ndarray, t: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Inner and outer patterns of target t's feasible nets (their active branches only)."""
        keep = self.feasible[t]
        W1, W2 = [], []
        for mi, m in enumerate(self.ms):
            W1.append(self.W1[t, mi, keep[mi], :m])
            W2.append(self.W2[t, mi, keep[mi], :m])
        W1a, W2a = np.concatenate([w.reshape(-1, *w.shape[-2:]) for w in W1]), np.concatenate(
            [w.reshape(-1, *w.shape[-2:]) for w in W2])
        if len(W1a) == 0:
            return np.zeros((0, X.shape[0]), bool), np.zeros((0, X.shape[0]), bool)
        return branch_patterns(W1a, W2a, X)


def train_nets(X: np.ndarray, Y: np.ndarray, ms: Sequence[int], *, kind: Regularizer, h1: int, h2: int = 1,
               restarts: int = 8, outer: int = 20, inner: int = 150, rho: float = 10.0, rho_max: float = 1e4,
               feas_tol: float = 1e-5,
               seed: int = 0, device: str = "auto", dtype: torch.dtype = torch.float64) -> Trained:
    """min R s.t. f(X) = y for every target y (rows of Y, T × n), every branch count m in ``ms`` and every
    restart, trained as ONE batch of T·|ms|·restarts nets (branches beyond m are masked out).

    Augmented Lagrangian with a warm start on ½‖f − y‖² (``parallel_linear.augmented_lagrangian``). A net counts
    as interpolating when ‖f(X) − y‖ ≤ feas_tol · max(1, ‖y‖). Standard nets: ms = [1], h2 ≥ 2.
    """
    Y = np.atleast_2d(np.asarray(Y, float))
    n, d = X.shape
    if Y.shape[1] != n:
        raise ValueError(f"targets must have n = {n} entries (X is {n} × {d}), got Y of shape {Y.shape}")
    if not ms or min(ms) < 1 or h1 < 1 or h2 < 1 or restarts < 1:
        raise ValueError("need branch counts m ≥ 1, widths h1, h2 ≥ 1 and restarts ≥ 1")
    if kind not in REGULARIZERS:
        raise ValueError(f"unknown regularizer {kind!r}: choose one of {', '.join(REGULARIZERS)}")
    dev = resolve_device(device)
    T, M, R, mmax = len(Y), len(ms), restarts, max(ms)
    B = T * M * R
    gen = torch.Generator(device="cpu").manual_seed(seed)

    def init(*shape: int) -> torch.Tensor:
        return (torch.randn(B, mmax, *shape, generator=gen, dtype=dtype) / np.sqrt(shape[0])).to(dev).requires_grad_()

    # alive at the start: W₂ ≥ 0 keeps every second-layer unit on wherever a first-layer unit is, and output
    # weights of alternating signs (over branches and units) give both signs to every net
    W1 = init(d, h1)
    W2 = init(h1, h2).detach().abs().requires_grad_()
    alt = (-1.0) ** (torch.arange(mmax)[:, None] + torch.arange(h2)[None, :])
    w3 = (torch.randn(B, mmax, h2, generator=gen, dtype=dtype).abs() * alt / np.sqrt(h2)).to(dev).requires_grad_()
    mcount = torch.as_tensor(np.repeat(np.tile(np.asarray(ms), T), R), device=dev)
    mask = (torch.arange(mmax, device=dev)[None, :] < mcount[:, None]).to(dtype)
    Xt = torch.as_tensor(X, dtype=dtype, device=dev)
    Yt = torch.as_tensor(np.repeat(Y, M * R, axis=0), dtype=dtype, device=dev)
    t0 = time.perf_counter()
    augmented_lagrangian([W1, W2, w3], lambda: forward(W1, W2, w3, mask, Xt) - Yt,
                         lambda: regularizer(W1, W2, w3, mask, kind), outer=outer, inner=inner, rho=rho,
                         rho_max=rho_max, stop_tol=1e-10 * max(1.0, float(Yt.norm(dim=1).max())))
    secs = time.perf_counter() - t0
    with torch.no_grad():
        vals = regularizer(W1, W2, w3, mask, kind).cpu().numpy().reshape(T, M, R)
        viol = ((forward(W1, W2, w3, mask, Xt) - Yt).norm(dim=1) / Yt.norm(dim=1).clamp(min=1.0))
        viol = viol.cpu().numpy().reshape(T, M, R)
        shape = (T, M, R, mmax)
        return Trained(values=vals, violations=viol, feasible=viol <= feas_tol, ms=tuple(ms),
                       W1=(W1 * mask[..., None, None]).cpu().numpy().reshape(*shape, d, h1),
                       W2=W2.cpu().numpy().reshape(*shape, h1, h2), seconds=secs)
