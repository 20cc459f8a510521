"""Small statistics helpers: binomial intervals, rank correlation, exact two-sample tests, Holm, trends and
non-negative intervals."""

from __future__ import annotations

import math

import numpy as np
from scipy import stats


def wilson_interval(k: np.ndarray | int, n: int, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for k successes out of n (vectorised over k); returns (low, high)."""
    k = np.asarray(k, dtype=float)
    if n <= 0:
        raise ValueError(f"n must be > 0, got {n}")
    z = stats.norm.ppf(0.5 + confidence / 2)
    p = k / n
    den = 1 + z**2 / n
    centre = (p + z**2 / (2 * n)) / den
    half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / den
    return np.clip(centre - half, 0, 1), np.clip(centre + half, 0, 1)


def spearman(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Spearman's ρ and its two-sided p-value (ρ = 0 for a constant input)."""
    if np.ptp(np.asarray(y, float)) == 0 or np.ptp(np.asarray(x, float)) == 0:
        return 0.0, 1.0
    r = stats.spearmanr(x, y)
    return float(r.statistic), float(r.pvalue)


def mean_interval(values: np.ndarray, confidence: float = 0.95, axis: int = -1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean and Student-t interval of the mean along ``axis`` (e.g. over seed triples); returns (mean, low, high).
    With one value the interval is (−∞, ∞): one sample says nothing about the spread."""
    v = np.asarray(values, dtype=float)
    k = v.shape[axis]
    m = v.mean(axis)
    if k < 2:
        return m, np.full_like(m, -np.inf), np.full_like(m, np.inf)
    half = stats.t.ppf(0.5 + confidence / 2, k - 1) * v.std(axis, ddof=1) / np.sqrt(k)
    return m, m - half, m + half


def fisher_exact(k1: int, n1: int, k2: int, n2: int) -> float:
    """Two-sided exact test of k1/n1 against k2/n2 (Fisher's, both counts treated as samples).

    Conditioning on the total number of successes k1 + k2, the first count is hypergeometric; the p-value
    sums the probabilities of every table no more likely than the one observed (with scipy's relative
    tolerance 1 + 1e-7 for ties), exactly as ``scipy.stats.fisher_exact``'s two-sided test.
    """
    k1, n1, k2, n2 = int(k1), int(n1), int(k2), int(n2)
    if n1 <= 0 or n2 <= 0 or not (0 <= k1 <= n1 and 0 <= k2 <= n2):
        raise ValueError(f"need 0 ≤ k ≤ n and n > 0, got {k1}/{n1} and {k2}/{n2}")
    total, hits = n1 + n2, k1 + k2
    dist = stats.hypergeom(total, hits, n1)
    lo, hi = max(0, hits - n2), min(n1, hits)
    support = np.arange(lo, hi + 1)
    pmf = dist.pmf(support)
    observed = dist.pmf(k1)
    return float(min(1.0, pmf[pmf <= observed * (1 + 1e-7)].sum()))


def holm(pvalues: np.ndarray | list[float]) -> np.ndarray:
    """Holm's step-down adjusted p-values (family-wise error control), in the input's order.

    Sorted ascending, the i-th smallest (i = 0, 1, …) is multiplied by (m − i), a running maximum keeps the
    adjusted values monotone, and they are capped at 1. Reject H_j at level α iff adjusted_j ≤ α.
    """
    p = np.asarray(pvalues, dtype=float)
    if p.ndim != 1 or np.any((p < 0) | (p > 1)) or np.any(np.isnan(p)):
        raise ValueError("holm needs a 1-d array of p-values in [0, 1]")
    m = p.size
    order = np.argsort(p, kind="stable")
    adj_sorted = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    out = np.empty(m)
    out[order] = adj_sorted
    return out


def log_slope(x: np.ndarray, y: np.ndarray, *, base: float = 10.0, confidence: float = 0.95
              ) -> tuple[float, float, float, int]:
    """The trend of ``y`` against log_base(x), with an interval over independent replicates.

    ``y`` has shape (replicates, len(x)): one row per independent replicate (a seed triple, a data set, a
    seed). Each row gets its own ordinary-least-squares slope against log_base(x); the estimate is their
    mean and the interval a Student-t interval over the replicates' slopes (replicate-level, so points of
    one replicate never count as independent). Rows with a NaN are dropped. Returns
    (slope, low, high, replicates); with fewer than 2 replicates the interval is (−∞, ∞).
    """
    lx = np.log(np.asarray(x, dtype=float)) / np.log(base)
    v = np.atleast_2d(np.asarray(y, dtype=float))
    if v.shape[-1] != lx.size or lx.size < 2 or np.ptp(lx) == 0:
        raise ValueError(f"need y of shape (replicates, {lx.size}) and at least two distinct x")
    v = v[~np.isnan(v).any(axis=1)]
    xc = lx - lx.mean()
    slopes = (v - v.mean(axis=1, keepdims=True)) @ xc / (xc @ xc)
    if slopes.size == 0:
        return math.nan, -math.inf, math.inf, 0
    m, lo, hi = mean_interval(slopes, confidence)
    return float(m), float(lo), float(hi), int(slopes.size)


def logistic_slope(x: np.ndarray, k: np.ndarray, n: np.ndarray | int, *, confidence: float = 0.95
                   ) -> tuple[float, float, float]:
    """Binomial logistic regression logit P(hit) = a + b·x of ``k`` hits out of ``n`` at each ``x``.

    The maximum-likelihood (a, b) by Newton's method (step-halving keeps every step uphill); the interval is
    Wald's, b ± z·se(b) from the inverse Fisher information. Returns (b, low, high). When the data are
    separated (all hits, no hits, or hits only above some x) the maximum lies at infinity and Wald's interval
    means nothing: the estimate is then ±∞ (or NaN with no hits at all, or all hits) and the interval NaN,
    so a finding on it is inconclusive.
    """
    x = np.asarray(x, dtype=float)
    k = np.asarray(k, dtype=float)
    n = np.broadcast_to(np.asarray(n, dtype=float), k.shape)
    if x.shape != k.shape or x.ndim != 1 or np.any(n <= 0) or np.any((k < 0) | (k > n)):
        raise ValueError("need 1-d x and k of the same length with 0 ≤ k ≤ n, n > 0")
    if k.sum() == 0 or k.sum() == n.sum() or np.ptp(x) == 0:
        return math.nan, math.nan, math.nan
    xm, xs = x.mean(), x.std()
    z = (x - xm) / xs                                          # standardised, for a well-conditioned Newton

    def loglik(a: float, b: float) -> float:
        eta = a + b * z
        return float(np.sum(k * eta - n * np.logaddexp(0.0, eta)))

    a = b = 0.0
    ll = loglik(a, b)
    for _ in range(200):
        p = 1 / (1 + np.exp(-(a + b * z)))
        g = np.array([np.sum(k - n * p), np.sum((k - n * p) * z)])
        w = n * p * (1 - p)
        H = np.array([[w.sum(), (w * z).sum()], [(w * z).sum(), (w * z * z).sum()]])
        try:
            step = np.linalg.solve(H, g)
        except np.linalg.LinAlgError:
            break
        t = 1.0
        while t > 1e-10 and loglik(a + t * step[0], b + t * step[1]) < ll - 1e-12:
            t /= 2
        a, b = a + t * step[0], b + t * step[1]
        new = loglik(a, b)
        done = abs(new - ll) < 1e-13 * (1 + abs(ll)) and np.max(np.abs(t * step)) < 1e-10
        ll = new
        if done:
            break
        if abs(b) > 50:                                         # the odds ratio over one sd of x exceeds e^50
            return math.copysign(math.inf, b), math.nan, math.nan
    p = 1 / (1 + np.exp(-(a + b * z)))
    w = n * p * (1 - p)
    H = np.array([[w.sum(), (w * z).sum()], [(w * z).sum(), (w * z * z).sum()]])
    se = math.sqrt(np.linalg.inv(H)[1, 1])
    half = stats.norm.ppf(0.5 + confidence / 2) * se
    return float(b / xs), float((b - half) / xs), float((b + half) / xs)


def bootstrap_mean_interval(values: np.ndarray, *, confidence: float = 0.95, n_boot: int = 10_000,
                            seed: int = 0, axis: int = -1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean and percentile-bootstrap interval of the mean of a non-negative quantity over replicates.

    Resamples the replicates along ``axis`` with replacement (``n_boot`` times, generator seeded by
    ``seed``, the same resamples for every entry of the other axes). Every resampled mean of non-negative
    values is non-negative, so the interval never reaches below 0 (a t-interval can). Returns
    (mean, low, high); with one replicate (mean, 0, ∞). Negative values raise ValueError.
    """
    v = np.moveaxis(np.asarray(values, dtype=float), axis, -1)
    if np.any(v < 0):
        raise ValueError("bootstrap_mean_interval is for a non-negative quantity; got a negative value")
    k = v.shape[-1]
    m = v.mean(-1)
    if k < 2:
        return m, np.zeros_like(m), np.full_like(m, np.inf)
    idx = np.random.default_rng(seed).integers(0, k, size=(n_boot, k))
    means = v[..., idx].mean(-1)                                 # (..., n_boot)
    a = (1 - confidence) / 2
    lo, hi = np.quantile(means, [a, 1 - a], axis=-1)
    return m, np.maximum(lo, 0.0), hi


def exact_tests_holm(k1: np.ndarray, n1: np.ndarray | int, k2: np.ndarray, n2: np.ndarray | int
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Fisher's exact test of k1[i]/n1[i] against k2[i]/n2[i] at each i (e.g. ours against a paper's count
    at each width), and the Holm-adjusted p-values across the i. Returns (p, p_adjusted)."""
    k1 = np.asarray(k1)
    n1, k2, n2 = (np.broadcast_to(np.asarray(a), k1.shape) for a in (n1, k2, n2))
    p = np.array([fisher_exact(a, b, c, d) for a, b, c, d in zip(k1.ravel(), n1.ravel(), k2.ravel(), n2.ravel())])
    return p.reshape(k1.shape), holm(p).reshape(k1.shape)
