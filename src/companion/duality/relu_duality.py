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

The regularised problem ``min ½‖f(X) − y‖² + β R`` (experiment B) has the same program with the equality
replaced by the squared loss (``parallel_program(..., beta=β)``); its solution is a parallel net
(:func:`reconstruct`), and a standard net with ‖W₁‖_F = t is bounded below by βt²/2 + G(β/t)
(:func:`rescaled_dual_bound`). :func:`train_regularized` trains every restart with its own step sizes.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass
from typing import Callable, Iterable, Literal, Sequence

import numpy as np
import torch

from companion.duality.optim import lbfgs_per_problem
from companion.core.devices import resolve_device
from companion.duality.parallel_linear import LineSearch, augmented_lagrangian, weight_decay_dual, weight_decay_primal

Regularizer = Literal["weight_decay", "path"]
REGULARIZERS: tuple[str, ...] = ("weight_decay", "path")
Solver = Literal["CLARABEL", "SCS"]
#: one parallel net: W1 (m, d, h₁), W2 (m, h₁, h₂), w3 (m, h₂)
Net = tuple[np.ndarray, np.ndarray, np.ndarray]


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


def whitened_regularized(p: float, q: float, beta: float) -> float:
    """XXᵀ = Iₙ, parallel net with P2's regulariser, min ½‖f − y‖² + β·(path norm): h_β(p) + h_β(q), with the
    Huber function h_β(s) = βs − β²/2 for s ≥ β, s²/2 below (our derivation: γ(u) = ‖u₊‖ + ‖u₋‖ there, so
    the optimum shrinks y₊ and y₋ separately to norms (p − β)₊, (q − β)₊)."""
    h = lambda s: beta * s - beta ** 2 / 2 if s >= beta else s * s / 2   # noqa: E731
    return float(h(p) + h(q))


def net_objective(X: np.ndarray, y: np.ndarray, net: Net, beta: float, kind: Regularizer = "path") -> float:
    """½‖f(X) − y‖² + β R of one parallel net (W1 (m, d, h₁), W2 (m, h₁, h₂), w3 (m, h₂)), in float64."""
    W1, W2, w3 = (torch.as_tensor(np.asarray(W, float))[None] for W in net)
    mask = torch.ones(1, W1.shape[1], dtype=torch.float64)
    res = forward(W1, W2, w3, mask, torch.as_tensor(np.asarray(X, float))) - torch.as_tensor(np.asarray(y, float))
    return float(0.5 * res.pow(2).sum() + beta * regularizer(W1, W2, w3, mask, kind)[0])


def rescaled_dual_bound(beta: float, t: float, G: float) -> float:
    """βt²/2 + G(β/t): for a standard net with ‖W₁‖_F = t, weight decay β and G(λ) the parallel program's value
    at regularisation λ (over patterns that include the net's), ½‖f − y‖² + (β/2)Σ‖W‖² ≥ this ≥ the rescaled
    dual D = min_t βt²/2 + G(β/t) (AM–GM per second-layer unit: ½(‖W₂ₖ‖² + w₃ₖ²) ≥ ‖W₂ₖ‖|w₃ₖ|)."""
    if not (beta > 0 and t > 0):
        raise ValueError(f"need beta > 0 and t > 0, got {beta}, {t}")
    return float(beta * t * t / 2 + G)


def relative_gap(values: np.ndarray, reference: float | np.ndarray) -> np.ndarray:
    """(values − reference)/reference, elementwise (reference > 0 broadcast against values)."""
    ref = np.asarray(reference, float)
    if np.any(ref <= 0):
        raise ValueError("relative gaps need a positive reference value")
    return (np.asarray(values, float) - ref) / ref


def hit_share(values: np.ndarray, reference: float | np.ndarray, tol: float = 0.01, axis: int = -1) -> np.ndarray:
    """Share of restarts (along ``axis``) whose value is within ``tol`` (relative) of the reference optimum:
    P1 Table 1's hitting rate with "hit" = (value − ref)/ref ≤ tol. Infinite values (no solution) miss."""
    if tol < 0:
        raise ValueError(f"tol must be ≥ 0, got {tol}")
    return np.mean(relative_gap(values, reference) <= tol, axis=axis)


# ---- batched three-layer nets ------------------------------------------------------------------------------

def smooth_relu(z: torch.Tensor, tau: float) -> torch.Tensor:
    """τ·softplus(z/τ) (≥ relu(z), at most τ·log 2 above it); relu(z) itself for τ = 0."""
    return torch.relu(z) if tau == 0 else tau * torch.nn.functional.softplus(z / tau)


def branch_outputs(W1: torch.Tensor, W2: torch.Tensor, w3: torch.Tensor, X: torch.Tensor, tau: float = 0.0) -> torch.Tensor:
    """((X W₁)₊ W₂)₊ w₃ of every branch: W1 (..., d, h₁), W2 (..., h₁, h₂), w3 (..., h₂), X (n, d) or broadcastable
    (..., n, d); returns (..., n). τ > 0: both ReLUs smoothed (:func:`smooth_relu`)."""
    A2 = smooth_relu(smooth_relu(X @ W1, tau) @ W2, tau)         # (..., n, h₂)
    return torch.einsum("...nk,...k->...n", A2, w3)


def branch_regularizer(W1: torch.Tensor, W2: torch.Tensor, w3: torch.Tensor, kind: Regularizer) -> torch.Tensor:
    """R of every branch, (...,): weight decay ½Σ‖·‖² or P2's (our reading) ⅓Σ‖·‖³ over its three layers."""
    sq = [W1.pow(2).sum((-1, -2)), W2.pow(2).sum((-1, -2)), w3.pow(2).sum(-1)]
    if kind == "weight_decay":
        return 0.5 * sum(sq)
    if kind == "path":
        return sum(q.pow(1.5) for q in sq) / 3.0
    raise ValueError(f"unknown regularizer {kind!r}: choose one of {', '.join(REGULARIZERS)}")


def forward(W1: torch.Tensor, W2: torch.Tensor, w3: torch.Tensor, mask: torch.Tensor, X: torch.Tensor,
            tau: float = 0.0) -> torch.Tensor:
    """Σ_j mask_j ((X W₁ⱼ)₊ W₂ⱼ)₊ w₃ⱼ: W1 (B, m, d, h₁), W2 (B, m, h₁, h₂), w3 (B, m, h₂), mask (B, m), X (n, d)
    shared by all nets or (B, 1, n, d) one per net; returns (B, n)."""
    return torch.einsum("bmn,bm->bn", branch_outputs(W1, W2, w3, X, tau), mask)


def regularizer(W1: torch.Tensor, W2: torch.Tensor, w3: torch.Tensor, mask: torch.Tensor,
                kind: Regularizer) -> torch.Tensor:
    """R per net, (B,), over its active branches (see :func:`branch_regularizer`)."""
    return (branch_regularizer(W1, W2, w3, kind) * mask).sum(-1)


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
        return forward(self.W1, self.W2, self.w3, self.mask, self.X) - self.Y

    def reg(self, kind: Regularizer) -> torch.Tensor:
        """R per net, (B,)."""
        return regularizer(self.W1, self.W2, self.w3, self.mask, kind)

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


def _batch(X: np.ndarray, Y: np.ndarray, ms: Sequence[int], *, kind: str, h1: int, h2: int, restarts: int,
           seed: int, device: str, dtype: torch.dtype, start: Net | None = None, noise: float = 0.0) -> _Batch:
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


def train_nets(X: np.ndarray, Y: np.ndarray, ms: Sequence[int], *, kind: Regularizer, h1: int, h2: int = 1,
               restarts: int = 8, outer: int = 20, inner: int = 150, rho: float = 100.0, rho_max: float = 1e4,
               feas_tol: float = 1e-5, line_search: LineSearch = "per_problem",
               seed: int = 0, device: str = "auto", dtype: torch.dtype = torch.float64) -> Trained:
    """min R s.t. f(X) = y for every target y (rows of Y, T × n), every branch count m in ``ms`` and every
    restart, trained as ONE batch of T·|ms|·restarts nets (branches beyond m are masked out).

    X: n × d (shared by all targets) or T × n × d (data set t for target t). Augmented Lagrangian with a warm
    start on ½‖f − y‖² (``parallel_linear.augmented_lagrangian``, L-BFGS with one line search shared by the
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


def train_regularized(X: np.ndarray, Y: np.ndarray, ms: Sequence[int], *, kind: Regularizer, beta: float,
                      h1: int, h2: int = 1, restarts: int = 8, steps: int = 10000, lr: float = 0.01,
                      taus: Sequence[float] = (1e-3, 1e-4, 0.0), iters: int = 100, start: Net | None = None,
                      noise: float = 0.0, seed: int = 0, device: str = "auto", adam_dtype: torch.dtype = torch.float32,
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
            res = forward(b.W1, b.W2, b.w3, b.mask, b.X, tau) - b.Y
            return 0.5 * res.pow(2).sum(1) + beta * b.reg(kind)
        return f

    for tau in taus:
        lbfgs_per_problem([b.W1, b.W2, b.w3], objective(tau), iters=iters)
    secs = time.perf_counter() - t0
    with torch.no_grad():
        vals = objective(0.0)()
        return b.trained(vals, torch.isfinite(vals), secs)
