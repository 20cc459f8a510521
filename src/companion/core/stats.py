"""Small statistics helpers: binomial confidence intervals and rank correlation."""

from __future__ import annotations

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
