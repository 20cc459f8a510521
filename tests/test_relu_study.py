"""The parallel_relu chapter's experiment functions (companion.duality.relu_study) on tiny instances."""

import numpy as np
import pytest

from companion.core.stats import mean_interval, wilson_interval
from companion.duality import relu_closed_forms as cf
from companion.duality import relu_program as rp
from companion.duality import relu_study as study

TRAIN = dict(steps=300, lr=0.01, taus=(1e-3, 0.0), iters=30)


def test_hit_share_and_relative_gap():
    vals = np.array([[1.0, 1.005, 1.02, np.inf], [2.0, 2.0, 2.1, 2.03]])
    np.testing.assert_allclose(study.hit_share(vals, np.array([[1.0], [2.0]]), 0.01), [0.5, 0.5])
    np.testing.assert_allclose(study.hit_share(vals, np.array([[1.0], [2.0]]), 0.06), [0.75, 1.0])
    np.testing.assert_allclose(study.relative_gap([3.0, 1.5], 1.5), [1.0, 0.0])
    with pytest.raises(ValueError, match="positive reference"):
        study.relative_gap([1.0], 0.0)
    with pytest.raises(ValueError, match="tol"):
        study.hit_share(vals, 1.0, -0.1)


def test_gap_summary_against_its_definition():
    rng = np.random.default_rng(0)
    values = 1.0 + rng.uniform(0, 0.05, (3, 2, 4))
    convex = np.ones(3)
    gaps = study.relative_gap(values, convex[:, None, None])
    s = study.gap_summary(gaps, values, convex, [1, 5], 0.02)
    m, lo, hi = mean_interval(gaps.min(-1), axis=0)
    np.testing.assert_allclose(s.best, m)
    np.testing.assert_allclose(s.best_low, lo)
    np.testing.assert_allclose(s.median, np.median(gaps, -1).mean(0))
    hits = (gaps <= 0.02).sum((0, 2))
    np.testing.assert_array_equal(s.hits, hits)
    np.testing.assert_allclose(s.share, hits / 12)
    np.testing.assert_allclose(s.share_high, wilson_interval(hits, 12)[1])
    t = s.table()                                                      # display: the same numbers, one row per m
    assert list(t.index) == [1, 5]
    np.testing.assert_array_equal(t["share within tol"], s.share)
    np.testing.assert_array_equal(t["best gap (mean over data)"], s.best)


def test_general_data_is_consistent_and_exact_comparison_bounds():
    gd = study.general_data(5, [100, 101], [1, 3], h1=4, restarts=2, beta=0.05, harvest=1.1, samples=5, seed=0,
                            device="cpu", **TRAIN)
    assert gd.parallel.values.shape == (2, 2, 2) and len(gd.programs) == 2
    assert gd.gaps().min() >= -1e-6                                  # harvesting: no net below its own program
    np.testing.assert_allclose(gd.objectives(gd.rebuilt), gd.convex, rtol=1e-5)
    np.testing.assert_allclose(gd.objectives(gd.reduced), gd.objectives(gd.rebuilt), rtol=1e-9)
    assert max(len(w[0]) for w in gd.reduced) <= 6
    assert np.all(gd.std_gaps() >= -1e-6)
    assert np.all(study.region_gaps(gd)[:, 1:] >= -1e-6)                   # a region's optimum is never above its net
    np.testing.assert_array_equal(gd.shares(0.01), study.hit_share(gd.parallel.values, gd.convex[:, None, None], 0.01))
    t = gd.table(0.01)
    assert list(t.index) == [100, 101] and len(t.columns) == 10
    np.testing.assert_array_equal(t["best gap, m = 3"], gd.gaps().min(-1)[:, -1])
    np.testing.assert_array_equal(t["standard: best gap (≥)"], gd.std_gaps())
    # the convex solution as a net, perturbed by 1%, polishes back to the convex value
    assert study.perturbed_polish(gd, 0, restarts=2, seed=0, taus=(1e-3, 0.0), iters=50) <= 1e-3
    ex = study.exact_comparison(4, [200], restarts=2, beta=0.05, harvest=1.1, samples=5, hit_tol=0.01, seed=0,
                                device="cpu", **TRAIN)
    assert ex.excess[0] >= -1e-6 and ex.best_gap[0] >= -1e-6           # the estimate and every net: ≥ exact
    assert ex.branches[0] <= 5 and abs(ex.optimal_gap[0]) <= 1e-6
    np.testing.assert_allclose(ex.excess, (ex.estimated - ex.exact) / ex.exact)
    assert ex.table().loc[200, "optimal net: branches"] == ex.branches[0]


def test_whitened_and_rank_one_studies_match_the_closed_forms():
    w = study.whitened_study(4, [0.0, 1.0], [2], seed=0, restarts=4, outer=10, inner=100, device="cpu")
    assert w.primal[1] == pytest.approx(3.0) and w.dual[1] == pytest.approx(1.5 * 2 ** (2 / 3))
    np.testing.assert_allclose(w.standard, w.primal, rtol=1e-3)
    np.testing.assert_allclose(w.parallel_path[:, 0], w.gauge, rtol=1e-3)
    np.testing.assert_allclose(w.parallel_wd[:, 0], w.primal, rtol=1e-3)
    t = w.table()
    assert list(t.index) == [0.0, 1.0] and t.loc[1.0, "parallel m=2, P2 reg."] == w.parallel_path[1, 0]
    fixed, minimised = np.array([cf.gap_measures(P, g) for P, g in zip(w.primal, w.gauge)]).T
    np.testing.assert_allclose(t["P(t)/D(t), fixed t"], fixed)
    assert fixed[0] == pytest.approx(1.0) and minimised[1] == pytest.approx(fixed[1] ** (2 / 3))
    r = study.rank_one_study([[1.0, 0.5], [1.0, -0.5]], seed=0, sets=2, restarts=4, outer=10, inner=100, device="cpu")
    assert r.trained.shape == r.trained_t.shape == r.gauge.shape == (2, 2)
    assert np.all(np.abs(r.gap[0]) <= 1e-3) and np.all(r.gap[1] > 0.01)    # same signs: no gap; opposite: one
    np.testing.assert_allclose(r.trained, r.primal[:, None] * np.ones((1, 2)), rtol=1e-3)
    np.testing.assert_allclose(r.gap_fixed_t, r.closed_gap[:, :1] * np.ones((1, 2)), atol=1e-3)
    assert r.primal_error().max() <= 1e-3
    assert list(r.table().index) == ["(1, 0.5)", "(1, -0.5)"]


def test_rank_one_both_gap_measures_against_direct_optimisation():
    """Rank one at (y_a, y_b) = (1, −0.5): P minimised over t and P(1) trained directly, γ = D(1) by the exact
    convex program, against the closed forms to 1e-6 relative; the relative gaps 0.387 (fixed t), 0.244."""
    r = study.rank_one_study([[1.0, -0.5]], seed=0, sets=1, restarts=8, outer=20, inner=150, device="cpu")
    P, gamma = cf.rank_one_primal(1.0, -0.5), cf.rank_one_gauge(1.0, -0.5)
    assert r.trained[0, 0] == pytest.approx(P, rel=1e-6)
    assert r.trained_t[0, 0] == pytest.approx(cf.rescaled_primal(P), rel=1e-6)
    assert r.gauge[0, 0] == pytest.approx(gamma, rel=1e-6)
    assert r.dual[0] == pytest.approx(cf.standard_dual(gamma))
    assert r.gap_fixed_t[0, 0] == pytest.approx(0.3873, abs=5e-4) and r.gap[0, 0] == pytest.approx(0.2439, abs=5e-4)


def test_convex_programs_in_worker_processes_equal_the_serial_ones():
    jobs = []
    for s in (3, 4):
        X, y = cf.planar_instance(5, s)
        outer = rp.sample_branch_patterns(X, 4, 20, s)
        jobs.append((X, y, outer, outer[:3], 1.3, 0.05))
    serial = list(study._map_programs(jobs, 1))
    pooled = list(study._map_programs(jobs, 2))
    for a, b in zip(serial, pooled):
        assert a[0].value == b[0].value and a[3] == b[3] and a[4] == b[4]
        for u, v in zip(a[2], b[2]):
            np.testing.assert_array_equal(u, v)


def test_best_gap_interval_never_below_zero():
    m, lo, hi = study.best_gap_interval(np.array([-1e-9, 0.001, 0.002, 0.05]))
    assert lo >= 0.0 and lo <= m <= hi and m == pytest.approx(np.mean([0.0, 0.001, 0.002, 0.05]))


def test_regularized_whitened_check_reaches_the_huber_closed_form():
    c = study.regularized_whitened_check(4, 0.5, beta=0.1, restarts=4, hit_tol=0.01, seed=0, device="cpu",
                                         steps=2000, lr=0.01, taus=(1e-3, 0.0), iters=50)
    _, y = cf.whitened_instance(4, 0.5, 0)
    assert c.closed == pytest.approx(cf.whitened_regularized(*cf.split_signs(y), 0.1))
    assert c.values.shape == (4,) and c.best == pytest.approx(c.closed, rel=1e-4)
    assert c.share == pytest.approx(np.mean(c.values <= 1.01 * c.closed))
