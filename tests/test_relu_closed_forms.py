"""Closed forms of P2's three-layer ReLU nets (companion.duality.relu_closed_forms) and their instances."""

import numpy as np
import pytest

from companion.duality import relu_closed_forms as cf


def test_whitened_closed_forms():
    P, D = cf.whitened_primal(1.0, 1.0), cf.whitened_dual(1.0, 1.0)
    assert P == pytest.approx(3.0)
    assert P / D == pytest.approx(2 ** (1 / 3))                      # largest ratio, at p = q
    assert cf.whitened_primal(1.0, 0.0) == pytest.approx(cf.whitened_dual(1.0, 0.0))   # one sign: no gap
    for q in (0.1, 0.5, 0.9):
        assert cf.whitened_primal(1.0, q) > cf.whitened_dual(1.0, q)
    assert cf.standard_dual(2.0) == pytest.approx(1.5 * 2.0 ** (2 / 3))


def test_rank_one_coefficients_and_closed_forms():
    X, y, c = cf.rank_one_instance(6, 3, 1.0, -0.5, seed=0)
    assert np.linalg.matrix_rank(X) == 1
    assert cf.rank_one_coefficients(c, y) == pytest.approx((1.0, -0.5))
    with pytest.raises(ValueError, match="not y_a"):
        cf.rank_one_coefficients(c, y + 0.1)
    assert cf.rank_one_primal(1.0, 0.5) == pytest.approx(cf.standard_dual(cf.rank_one_gauge(1.0, 0.5)))
    assert cf.rank_one_primal(1.0, -0.5) > cf.standard_dual(cf.rank_one_gauge(1.0, -0.5))


def test_rank_one_gap_measures_and_the_rescaled_primal():
    assert cf.rank_one_fixed_t_ratio(1.0, 0.5) == 1.0
    r = cf.rank_one_fixed_t_ratio(1.0, -0.5)
    assert r == pytest.approx((1 + 0.5 ** (2 / 3)) ** 1.5 / 1.5) and r - 1 == pytest.approx(0.3873, abs=5e-5)
    P, gamma = cf.rank_one_primal(1.0, -0.5), cf.rank_one_gauge(1.0, -0.5)
    fixed, minimised = cf.gap_measures(P, gamma)
    assert fixed == pytest.approx(r) and minimised == pytest.approx(r ** (2 / 3))
    assert minimised - 1 == pytest.approx(0.2439, abs=5e-5)
    # P = min_t t²/2 + P(1)/t, and P(t) = P(1)/t
    t = np.linspace(0.2, 3.0, 200_001)
    assert np.min(t ** 2 / 2 + cf.rescaled_primal(P) / t) == pytest.approx(P, rel=1e-9)
    assert cf.rescaled_primal(P, 2.0) == pytest.approx(cf.rescaled_primal(P) / 2)
    with pytest.raises(ValueError, match="t must be > 0"):
        cf.rescaled_primal(P, -1.0)
