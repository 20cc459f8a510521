"""Wilson intervals, Spearman's ρ, the exact two-sample test, Holm, trend slopes and non-negative intervals."""

import numpy as np
import pytest
import torch

from companion.core.data import synthetic_teacher
from companion.training.losses import multiclass_hinge, tau_hinge
from companion.training.nets import flatten, forward, init_branches, n_parameters
from companion.training.train import batch_indices, init_padded, train_sequential, train_sgd


def test_wilson_interval_and_spearman():
    from companion.core.stats import spearman, wilson_interval

    lo, hi = wilson_interval(np.array([0, 50, 100]), 100)
    assert lo[0] < 1e-12 and 0 < hi[0] < 0.05 and lo[1] < 0.5 < hi[1] and hi[2] == 1 and 0.95 < lo[2] < 1
    np.testing.assert_allclose([lo[1], hi[1]], [0.4038, 0.5962], atol=1e-4)    # the textbook value
    assert spearman(np.arange(5), np.arange(5) ** 2)[0] == pytest.approx(1.0)
    assert spearman(np.arange(5), np.ones(5)) == (0.0, 1.0)
    L = init_branches(1, 100, (3, 1, 1), seed=0, device="cpu", parametrization="mean")
    assert 0.7 < float(L[-1].std()) < 1.3                            # O(1) output weights for f = (1/I)Σ f_i


# --- exact two-sample test, Holm, trends, logistic slope, non-negative interval ---------------------------

import itertools

import scipy.stats as ss

from companion.core import stats as cs


@pytest.mark.parametrize("k1, n1, k2, n2", [(2, 100, 0, 100), (0, 10, 5, 10), (3, 7, 3, 7), (1, 5, 4, 6),
                                            (9, 100, 2, 100), (75, 100, 64, 100), (0, 3, 0, 4), (10, 10, 0, 12)])
def test_fisher_exact_matches_scipy(k1, n1, k2, n2):
    ref = ss.fisher_exact([[k1, n1 - k1], [k2, n2 - k2]], alternative="two-sided").pvalue
    assert cs.fisher_exact(k1, n1, k2, n2) == pytest.approx(ref, rel=1e-9, abs=1e-15)


def test_fisher_exact_by_enumeration_and_bad_counts():
    # brute force: every table with the same margins, probability from binomial coefficients
    from math import comb
    k1, n1, k2, n2 = 1, 6, 5, 7
    K = k1 + k2
    prob = {a: comb(n1, a) * comb(n2, K - a) / comb(n1 + n2, K) for a in range(max(0, K - n2), min(n1, K) + 1)}
    brute = sum(p for p in prob.values() if p <= prob[k1] * (1 + 1e-7))
    assert cs.fisher_exact(k1, n1, k2, n2) == pytest.approx(brute, rel=1e-12)
    assert cs.fisher_exact(30, 100, 30, 100) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        cs.fisher_exact(5, 4, 1, 4)


def _holm_brute(p, alpha):
    """Holm's procedure by its definition: walk the sorted p-values, reject while p_(i) ≤ α/(m − i)."""
    m = len(p)
    reject = np.zeros(m, bool)
    for i, j in enumerate(np.argsort(p, kind="stable")):
        if p[j] > alpha / (m - i):
            break
        reject[j] = True
    return reject


def test_holm_matches_its_definition():
    rng = np.random.default_rng(0)
    for _ in range(200):
        p = rng.uniform(0, 0.2, rng.integers(1, 9)) ** rng.uniform(0.5, 2)
        adj = cs.holm(p)
        assert np.all(adj >= p - 1e-15) and np.all(adj <= 1)
        for alpha in (0.01, 0.05, 0.1):
            np.testing.assert_array_equal(adj <= alpha, _holm_brute(p, alpha))
    np.testing.assert_allclose(cs.holm([0.01, 0.04, 0.03, 0.5]), [0.04, 0.09, 0.09, 0.5])
    with pytest.raises(ValueError):
        cs.holm([0.1, 1.5])


def test_log_slope_is_the_mean_of_per_replicate_slopes():
    x = np.array([10, 100, 1000])
    y = np.array([[0.8, 0.5, 0.2], [0.7, 0.4, 0.1], [0.9, 0.3, 0.2], [np.nan, 0.1, 0.0]])
    slope, lo, hi, n = cs.log_slope(x, y)
    per = [np.polyfit(np.log10(x), row, 1)[0] for row in y[:3]]          # the NaN row is dropped
    assert n == 3 and slope == pytest.approx(np.mean(per))
    half = ss.t.ppf(0.975, 2) * np.std(per, ddof=1) / np.sqrt(3)
    assert (lo, hi) == pytest.approx((np.mean(per) - half, np.mean(per) + half))
    assert cs.log_slope(x, y[:1])[1:3] == (-np.inf, np.inf)               # one replicate: no interval
    assert cs.log_slope([1, 2, 4], [[1, 2, 3]], base=2)[0] == pytest.approx(1.0)


def test_logistic_slope_is_the_likelihood_maximum_with_walds_interval():
    from scipy.optimize import minimize

    x = np.arange(10, 22.0)
    k = np.array([2, 9, 21, 24, 24, 29, 30, 32, 35, 52, 64, 75])           # P1's Table 1

    def nll(ab):
        eta = ab[0] + ab[1] * x
        return -np.sum(k * eta - 100 * np.logaddexp(0, eta))

    best = minimize(nll, [0.0, 0.0], method="Nelder-Mead", options=dict(xatol=1e-10, fatol=1e-12, maxiter=20000))
    b, lo, hi = cs.logistic_slope(x, k, 100)
    assert b == pytest.approx(best.x[1], abs=1e-5)
    # Wald: the inverse of the numerical Hessian of the negative log-likelihood at the maximum
    h, e = 1e-3, np.eye(2)
    H = np.array([[(nll(best.x + h * (e[i] + e[j])) - nll(best.x + h * (e[i] - e[j]))
                    - nll(best.x - h * (e[i] - e[j])) + nll(best.x - h * (e[i] + e[j]))) / (4 * h * h)
                   for j in range(2)] for i in range(2)])                 # central differences
    se = np.sqrt(np.linalg.inv(H)[1, 1])
    assert (hi - lo) / 2 == pytest.approx(1.959964 * se, rel=1e-3) and lo < b < hi
    # no trend in expectation: a flat rate gives an interval around 0
    b0_, lo0, hi0 = cs.logistic_slope(x, np.full(12, 30), 100)
    assert abs(b0_) < 1e-9 and lo0 < 0 < hi0


def test_logistic_slope_under_separation_is_undecided():
    assert cs.logistic_slope(np.arange(5.0), np.array([0, 0, 0, 1, 1]), 1)[0] == np.inf
    assert np.isnan(cs.logistic_slope(np.arange(5.0), np.array([0, 0, 1, 1, 1]), 1)[1])
    assert np.isnan(cs.logistic_slope(np.arange(5.0), np.zeros(5), 10)[0])      # no hits at all


def test_bootstrap_interval_of_a_non_negative_quantity_never_goes_below_zero():
    rng = np.random.default_rng(1)
    for _ in range(50):
        v = rng.exponential(0.05, size=(3, rng.integers(2, 7))) * (rng.uniform(size=1) < 0.5)
        m, lo, hi = cs.bootstrap_mean_interval(v, seed=2, n_boot=2000)
        assert np.all(lo >= 0) and np.all(lo <= m + 1e-12) and np.all(m <= hi + 1e-12)
    skewed = np.array([0.0, 0.0, 0.0, 0.5])
    assert cs.mean_interval(skewed)[1] < 0 <= cs.bootstrap_mean_interval(skewed)[1]   # where a t-interval fails
    a = cs.bootstrap_mean_interval(skewed, seed=3)
    assert a == cs.bootstrap_mean_interval(skewed, seed=3)                               # seeded
    assert cs.bootstrap_mean_interval(np.array([0.2]))[1:] == (0.0, np.inf)
    with pytest.raises(ValueError, match="non-negative"):
        cs.bootstrap_mean_interval(np.array([0.1, -0.2]))


def test_exact_tests_holm_per_width():
    p, adj = cs.exact_tests_holm(np.array([0, 9, 40]), 100, np.array([2, 9, 21]), 100)
    assert p[1] == pytest.approx(1.0) and p[2] < 0.01
    np.testing.assert_allclose(adj, cs.holm(p))
    assert p[0] == pytest.approx(ss.fisher_exact([[0, 100], [2, 98]]).pvalue)
