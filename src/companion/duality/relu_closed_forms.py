"""P2 on three-layer ReLU networks: the closed forms we derived and the instances they are checked on (the chapter
``parallel_relu`` states and checks them).

Convention of P2: ``X`` is n × d (rows are samples), ``y`` ∈ ℝⁿ. A *standard* net is one branch
``x ↦ ((x W₁)₊ W₂)₊ w₃`` (W₁ d × h₁, W₂ h₁ × h₂, w₃ ∈ ℝ^{h₂}); a *parallel* net sums m branches of h₂ = 1. With
weight decay the standard net's rescaled Lagrangian dual is ``D = min_t t²/2 + γ(y)/t = (3/2) γ(y)^{2/3}``
(:func:`standard_dual`), γ(y) the gauge of y w.r.t. conv(±{((XW₁)₊w)₊ : ‖W₁‖_F ≤ 1, ‖w‖ ≤ 1}); whitened data
(XXᵀ = Iₙ) and rank-one data (X = c aᵀ) have γ, P and D in closed form. The convex program that computes γ on
general data is :mod:`companion.duality.relu_program`.
"""

from __future__ import annotations

import numpy as np

from companion.duality.parallel_linear import weight_decay_dual, weight_decay_primal


# ---- minimum-norm interpolation ------------------------------------------------------------------------------

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


def rescaled_primal(primal: float, t: float = 1.0) -> float:
    """P(t) = (2P/3)^{3/2}/t: the standard net's optimum with ‖W₁‖_F = t fixed (½(‖W₂‖² + ‖w₃‖²) only), from its
    optimum P minimised over t. Scaling W₁ by t and the last two layers by t^{−1/2} keeps the output, so
    P(t) = P(1)/t, and P = min_t t²/2 + P(1)/t = (3/2)P(1)^{2/3}."""
    if t <= 0:
        raise ValueError(f"the rescaling t must be > 0, got {t}")
    return float((2.0 * primal / 3.0) ** 1.5 / t)


def gap_measures(primal: float, gauge: float) -> tuple[float, float]:
    """(P(t)/D(t), P/D) of a standard three-layer net from its optimum P (minimised over t) and the gauge γ(y):
    at a fixed t, D(t) = γ/t, so the ratio (2P/3)^{3/2}/γ does not depend on t; minimised over t,
    D = (3/2)γ^{2/3} and P/D is the fixed-t ratio to the power 2/3."""
    return rescaled_primal(primal) / gauge, primal / standard_dual(gauge)


def rank_one_coefficients(c: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(y_a, y_b) with y = y_a c₊ + y_b c₋ (c ∈ ℝⁿ with both signs); raises if y is not of that form.

    For X = c aᵀ every three-layer ReLU net's output lies in span{c₊, c₋}: (c gᵀ)₊ = c₊g₊ᵀ + c₋g₋ᵀ.
    Test reference: the chapter builds y from (y_a, y_b) (:func:`rank_one_instance`); the tests invert it here.
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


def rank_one_fixed_t_ratio(y_a: float, y_b: float) -> float:
    """P(t)/D(t) on rank-one data: 1 for labels of one sign, (|y_a|^{2/3} + |y_b|^{2/3})^{3/2}/(|y_a| + |y_b|) > 1
    for opposite signs (our derivation; the minimised ratio P/D is its 2/3 power)."""
    if y_a * y_b >= 0:
        return 1.0
    return float((abs(y_a) ** (2 / 3) + abs(y_b) ** (2 / 3)) ** 1.5 / (abs(y_a) + abs(y_b)))


# ---- the regularised problem ½‖f(X) − y‖² + βR ------------------------------------------------------------------

def whitened_regularized(p: float, q: float, beta: float) -> float:
    """XXᵀ = Iₙ, parallel net with P2's regulariser, min ½‖f − y‖² + β·(path norm): h_β(p) + h_β(q), with the
    Huber function h_β(s) = βs − β²/2 for s ≥ β, s²/2 below (our derivation: γ(u) = ‖u₊‖ + ‖u₋‖ there, so
    the optimum shrinks y₊ and y₋ separately to norms (p − β)₊, (q − β)₊)."""
    h = lambda s: beta * s - beta ** 2 / 2 if s >= beta else s * s / 2   # noqa: E731
    return float(h(p) + h(q))


def rescaled_dual_bound(beta: float, t: float, G: float) -> float:
    """βt²/2 + G(β/t): for a standard net with ‖W₁‖_F = t, weight decay β and G(λ) the parallel program's value
    at regularisation λ (over patterns that include the net's), ½‖f − y‖² + (β/2)Σ‖W‖² ≥ this ≥ the rescaled
    dual D = min_t βt²/2 + G(β/t) (AM–GM per second-layer unit: ½(‖W₂ₖ‖² + w₃ₖ²) ≥ ‖W₂ₖ‖|w₃ₖ|)."""
    if not (beta > 0 and t > 0):
        raise ValueError(f"need beta > 0 and t > 0, got {beta}, {t}")
    return float(beta * t * t / 2 + G)


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
