"""The convex program of P2's parallel three-layer ReLU nets (our derivation), over activation patterns.

With P2's regulariser (:mod:`companion.duality.relu_nets`, "path") and m ≥ n + 1 branches (Carathéodory) the
parallel net's optimum of ``min R s.t. f(X) = y`` is the gauge ``γ(y)`` of y w.r.t. ``conv(±𝒱)``,
𝒱 = {((XW₁)₊w)₊ : ‖W₁‖_F ≤ 1, ‖w‖ ≤ 1}, which :func:`parallel_program` computes as a group lasso over pairs of
activation patterns; with ``beta`` it solves the regularised ``min ½‖f(X) − y‖² + β R`` instead. Its solution is a
parallel net (:func:`reconstruct`), reduced to at most n + 1 branches by :func:`caratheodory`;
:func:`region_program` is the same program restricted to one net's own activation region.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from companion.duality.relu_nets import Net, branch_outputs, branch_regularizer

Solver = Literal["CLARABEL", "SCS"]


# ---- activation patterns ------------------------------------------------------------------------------------

def patterns_of(H: np.ndarray) -> np.ndarray:
    """Unique rows of 1[H ≥ 0] for pre-activations H (k × n); returns (P, n) bool, sorted."""
    return np.unique(np.asarray(H) >= 0, axis=0)


def sample_patterns(B: np.ndarray, samples: int, seed: int) -> np.ndarray:
    """Patterns 1[Bu ≥ 0] of the arrangement of B's rows (B n × r), u ~ N(0, I_r); (P, n) bool.

    A subset of :func:`exact_patterns`; equal to it when ``samples`` is large against the number of regions.
    Test reference (the tests hold it to :func:`exact_patterns`); the chapter samples the patterns nets reach,
    :func:`sample_branch_patterns`.
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


def arrangement_patterns_3d(B: np.ndarray, tol: float = 1e-9) -> np.ndarray:
    """Every pattern 1[Bu ≥ 0] of a central arrangement in ℝ³ in general position (B n × 3, n ≥ 3, any three
    rows independent): (P, n) bool, P = 2(1 + (n − 1) + C(n − 1, 2)).

    Each region is a pointed cone; one of its edges is a line b_i × b_j where exactly the planes i and j meet,
    and the four regions around that line take every sign on (i, j) and sign(b_k · v) elsewhere. So the
    pairs (i, j), both directions ±v and the four sign choices list every region (C(n, 2) pairs, no LPs).
    """
    B = np.asarray(B, float)
    n, r = B.shape
    if r != 3 or n < 3:
        raise ValueError(f"arrangement_patterns_3d needs B of shape (n ≥ 3, 3), got {B.shape}: use exact_patterns")
    out = []
    for i, j in itertools.combinations(range(n), 2):
        v = np.cross(B[i], B[j])
        side = B @ v
        others = np.delete(np.abs(side), [i, j])
        if np.linalg.norm(v) <= tol * np.linalg.norm(B[i]) * np.linalg.norm(B[j]) or \
                others.min() <= tol * np.linalg.norm(v) * np.abs(B).max():
            raise ValueError(f"rows {i}, {j} and another are not in general position: use exact_patterns")
        for sgn in (1.0, -1.0):
            base = sgn * side > 0
            for a, b in itertools.product([False, True], repeat=2):
                D = base.copy()
                D[i], D[j] = a, b
                out.append(D)
    return np.unique(np.array(out), axis=0)


def sample_branch_patterns(X: np.ndarray, h1: int, samples: int, seed: int) -> np.ndarray:
    """Outer patterns 1[(XW₁)₊w₂ ≥ 0] of ``samples`` random branches (W₁ d × h₁, w₂ ∈ ℝ^{h₁} Gaussian);
    (Q, n) bool, unique. Patterns that nets can reach, unlike random sign vectors."""
    rng = np.random.default_rng(seed)
    W1 = rng.standard_normal((samples, X.shape[1], h1))
    W2 = rng.standard_normal((samples, h1, 1))
    return branch_patterns(W1, W2, X)[1]


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
    """Union of pattern sets (each (P, n) bool), unique and sorted."""
    return np.unique(np.vstack([np.asarray(s, bool) for s in sets]), axis=0)


# ---- the convex program -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ProgramResult:
    value: float        # the program's optimum over the given patterns (∞ if infeasible)
    branches: int       # (outer pattern, sign) blocks the solution uses: branches of an optimal parallel net
    variables: int
    seconds: float
    status: str
    z_pos: np.ndarray | None = None   # (2O, I, d) solution, units with w₂ > 0; row 2o + k: outer o, sign (+, −)[k]
    z_neg: np.ndarray | None = None   # (2O, I, d) units with w₂ < 0


def parallel_program(X: np.ndarray, y: np.ndarray, inner: np.ndarray, outer: np.ndarray, *,
                     beta: float | None = None, solver: Solver = "CLARABEL") -> ProgramResult:
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
    fit = cp.sum(cp.multiply(H, wout), axis=0)
    cons = [Zp @ A >= 0, Zm @ A >= 0, cp.multiply(H, sgn) >= 0]
    obj = sum(cp.sum(cp.norm(cp.reshape(Z, (2 * O * I, d), order="C"), 2, axis=1)) for Z in (Zp, Zm))
    if beta is None:
        cons.append(fit == y)
    else:
        obj = 0.5 * cp.sum_squares(fit - y) + beta * obj
    prob = cp.Problem(cp.Minimize(obj), cons)
    t0 = time.perf_counter()
    prob.solve(solver=solver)
    secs = time.perf_counter() - t0
    if prob.status not in ("optimal", "optimal_inaccurate"):
        return ProgramResult(np.inf, 0, 4 * O * I * d, secs, str(prob.status))
    block = (np.abs(Zp.value) + np.abs(Zm.value)).sum(1)
    used = int(np.sum(block > 1e-3 * max(block.max(), 1e-300)))   # interior point spreads over ties
    return ProgramResult(float(prob.value), used, 4 * O * I * d, secs, str(prob.status),
                         z_pos=Zp.value.reshape(2 * O, I, d), z_neg=Zm.value.reshape(2 * O, I, d))


def exact_program(X: np.ndarray, y: np.ndarray, *, inner: np.ndarray | None = None, beta: float | None = None,
                  solver: Solver = "CLARABEL") -> ProgramResult:
    """:func:`parallel_program` over every outer pattern (:func:`exact_patterns` of span{D_i X}, one LP per sign
    vector, so n ≤ 12) and every inner pattern (``inner``, by default :func:`exact_patterns` of X): the exact γ(y),
    or with ``beta`` the exact regularised optimum."""
    inner = exact_patterns(X) if inner is None else inner
    return parallel_program(X, y, inner, exact_patterns(feature_basis(X, inner)), beta=beta, solver=solver)


def _caratheodory_weights(U: np.ndarray, mu: np.ndarray) -> np.ndarray:
    """Weights μ' ≥ 0 (k,) with U μ' = U μ and at most rank(U) non-zeros, from U (r, k) and μ > 0 (k,).

    Carathéodory's reduction: while the columns in use are dependent, move along a null vector z of theirs
    (U z = 0, so U μ is unchanged) until a weight reaches zero. Each step drops at least one column.
    """
    mu = np.array(mu, float)
    on = mu > 0
    while True:
        idx = np.flatnonzero(on)
        _, sv, Vt = np.linalg.svd(U[:, idx], full_matrices=True)
        rank = int(np.sum(sv > 1e-12 * sv.max()))
        if len(idx) <= rank:
            return mu
        z = Vt[-1]
        z = z * np.sign(z[np.argmax(np.abs(z))])                # its largest entry positive
        pos = z > 1e-15 * np.abs(z).max()
        ratio = np.where(pos, mu[idx] / np.where(pos, z, 1.0), np.inf)
        j = int(np.argmin(ratio))
        if not np.isfinite(ratio[j]):
            raise RuntimeError("Carathéodory's reduction found no step (a null vector without a positive entry)")
        mu[idx] = np.maximum(mu[idx] - ratio[j] * z, 0.0)
        mu[idx[j]] = 0.0
        on[idx[j]] = False


def caratheodory(net: Net, X: np.ndarray) -> Net:
    """The same objective with at most n + 1 branches: a parallel net (W1 (m, d, h₁), W2 (m, h₁, 1), w3 (m, 1),
    e.g. from :func:`reconstruct`) on X (n × d) → a net made of some of its branches, each rescaled.

    Scaling all three layers of branch j by λ_j^{1/3} (λ_j ≥ 0) scales its output v_j ∈ ℝⁿ and its regulariser
    c_j = ⅓Σ‖W‖³ by λ_j, so the fit Σλ_j v_j and the cost Σλ_j c_j, hence ½‖f − y‖² + βR for every y and β,
    depend only on Σλ_j (v_j, c_j) ∈ ℝ^{n+1}. Carathéodory's reduction finds λ ≥ 0 with the sum of λ = 1 and at
    most n + 1 non-zeros (P2's "enough branches", our derivation). The outputs are the net's own, computed
    through its ReLUs, so the result is exact whatever the solver's tolerances were.
    """
    W1, W2, w3 = (np.asarray(W, float) for W in net)
    Wt = [torch.as_tensor(W) for W in (W1, W2, w3)]
    with torch.no_grad():
        V = branch_outputs(*Wt, torch.as_tensor(np.asarray(X, float))).numpy()      # (m, n)
        c = branch_regularizer(*Wt, "path").numpy()                                  # (m,)
    keep = np.flatnonzero(c > 0)
    lam = np.zeros(len(c))
    lam[keep] = _caratheodory_weights(np.vstack([V[keep].T, c[None, keep]]) / c[keep], c[keep]) / c[keep]
    used = np.flatnonzero(lam > 0)
    s = lam[used] ** (1.0 / 3.0)
    return W1[used] * s[:, None, None], W2[used] * s[:, None, None], w3[used] * s[:, None]


def reconstruct(res: ProgramResult, rtol: float = 1e-6) -> Net:
    """A parallel net realising the program's solution: W1 (m, d, h₁), W2 (m, h₁, 1), w3 (m, 1).

    Block (o, s) becomes branch ((XW₁)₊w₂)₊α with α = s and one first-layer unit per non-zero z_{o,s,i,s'}:
    u = z/√‖z‖, w₂ = s'√‖z‖, so (Xu)₊w₂ = s' D_i X z on the cone of D_i, and ‖W₁‖‖w₂‖ = Σ‖z‖; the three
    layers are then rescaled to equal norms, so ⅓Σ‖W‖³ = the path norm = the block's share of Σ‖z‖. Units
    with ‖z‖ < rtol · max ‖z‖ (an interior-point solver's spread) are dropped.
    """
    if res.z_pos is None or res.z_neg is None:
        raise ValueError(f"the program has no solution to reconstruct (status {res.status!r})")
    norms = np.stack([np.linalg.norm(res.z_pos, axis=-1), np.linalg.norm(res.z_neg, axis=-1)])  # (2, 2O, I)
    keep = norms > rtol * norms.max()
    blocks = np.flatnonzero(keep.any((0, 2)))
    d = res.z_pos.shape[-1]
    h1 = max(int(keep[:, b].sum()) for b in blocks)
    W1, W2, w3 = np.zeros((len(blocks), d, h1)), np.zeros((len(blocks), h1, 1)), np.zeros((len(blocks), 1))
    for j, b in enumerate(blocks):
        units = [(sp, i) for sp in range(2) for i in np.flatnonzero(keep[sp, b])]
        for k, (sp, i) in enumerate(units):
            z = (res.z_pos, res.z_neg)[sp][b, i]
            r = np.sqrt(norms[sp, b, i])
            W1[j, :, k], W2[j, k, 0] = z / r, (1.0 - 2.0 * sp) * r
        w3[j, 0] = 1.0 - 2.0 * (b % 2)
        path = np.linalg.norm(W1[j]) * np.linalg.norm(W2[j])
        c = path ** (1.0 / 3.0)
        W1[j] *= c / np.linalg.norm(W1[j])
        W2[j] *= c / np.linalg.norm(W2[j])
        w3[j] *= c
    return W1, W2, w3


def region_program(X: np.ndarray, y: np.ndarray, net: Net, beta: float) -> float:
    """The best net in the closure of ``net``'s own activation region: min ½‖f − y‖² + β·(path norm) over all
    parallel nets whose every unit keeps its pattern and sign (a convex program, the blocks of
    :func:`parallel_program` that this net uses and no others). ``net`` = (W1 (m, d, h₁), W2 (m, h₁, 1),
    w3 (m, 1)), X n × d, y (n,).

    It is ≤ the net's objective, with equality iff no point of the region is better; so the difference
    measures how far training stopped short of its own region's optimum.
    """
    import cvxpy as cp

    W1, W2, w3 = (np.asarray(W, float) for W in net)
    if W2.shape[-1] != 1 or w3.shape[-1] != 1:
        raise ValueError("region_program takes a parallel net (h₂ = 1 per branch)")
    Z = np.einsum("nd,mdh->mhn", X, W1)                                  # (m, h₁, n) first-layer pre-activations
    H = np.einsum("mhn,mh->mn", np.maximum(Z, 0), W2[..., 0])            # (m, n) second layer
    scale = max(np.abs(W1).max(), 1e-300) * max(np.abs(W2).max(), 1e-300)
    live_branch = np.abs(w3[:, 0]) > 1e-12 * max(np.abs(w3).max(), 1e-300)
    units = [(j, k) for j in np.flatnonzero(live_branch) for k in range(W1.shape[2])
             if abs(W2[j, k, 0]) * np.linalg.norm(W1[j, :, k]) > 1e-12 * scale]
    if not units:
        return float(0.5 * np.sum(np.asarray(y) ** 2))
    branches = sorted({j for j, _ in units})
    D = np.array([Z[j, k] >= 0 for j, k in units], float)               # (U, n)
    sgn = np.array([np.sign(W2[j, k, 0]) for j, k in units])
    member = np.array([[float(j == b) for j, _ in units] for b in branches])   # (m', U)
    out = np.array([H[b] >= 0 for b in branches], float)                # (m', n)
    alpha = np.sign(w3[branches, 0])
    V = cp.Variable((len(units), X.shape[1]))
    pre = V @ X.T                                                        # (U, n)
    h = member @ cp.multiply(D * sgn[:, None], pre)                      # (m', n)
    fit = cp.sum(cp.multiply(out * alpha[:, None], h), axis=0)
    prob = cp.Problem(cp.Minimize(0.5 * cp.sum_squares(fit - y) + beta * cp.sum(cp.norm(V, 2, axis=1))),
                      [cp.multiply(2 * D - 1, pre) >= 0, cp.multiply(2 * out - 1, h) >= 0])
    prob.solve(solver="CLARABEL")
    return float(prob.value)
