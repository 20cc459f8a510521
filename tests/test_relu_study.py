"""The parallel_relu chapter's experiment functions (companion.duality.relu_study) on tiny instances."""

import numpy as np
import pytest

from companion.duality import relu_duality as rd
from companion.duality import relu_study as study
from companion.core.stats import mean_interval, wilson_interval

TRAIN = dict(steps=300, lr=0.01, taus=(1e-3, 0.0), iters=30)


def test_gap_summary_against_its_definition():
    rng = np.random.default_rng(0)
    values = 1.0 + rng.uniform(0, 0.05, (3, 2, 4))
    convex = np.ones(3)
    gaps = rd.relative_gap(values, convex[:, None, None])
    s = study.gap_summary(gaps, values, convex, [1, 5], 0.02)
    m, lo, hi = mean_interval(gaps.min(-1), axis=0)
    np.testing.assert_allclose(s["best gap (mean over data)"], m)
    np.testing.assert_allclose(s["low"], lo)
    np.testing.assert_allclose(s["median gap (mean)"], np.median(gaps, -1).mean(0))
    hits = (gaps <= 0.02).sum((0, 2))
    np.testing.assert_allclose(s["share within tol"], hits / 12)
    np.testing.assert_allclose(s["share high"], wilson_interval(hits, 12)[1])
    assert list(s.index) == [1, 5]


def test_general_data_is_consistent_and_exact_comparison_bounds():
    gd = study.general_data(5, [100, 101], [1, 3], h1=4, restarts=2, beta=0.05, harvest=1.1, samples=5, seed=0,
                            device="cpu", **TRAIN)
    assert gd.parallel.values.shape == (2, 2, 2) and len(gd.programs) == 2
    assert gd.gaps().min() >= -1e-6                                  # harvesting: no net below its own program
    np.testing.assert_allclose(gd.objectives(gd.rebuilt), gd.convex, rtol=1e-5)
    np.testing.assert_allclose(gd.objectives(gd.reduced), gd.objectives(gd.rebuilt), rtol=1e-9)
    assert max(len(w[0]) for w in gd.reduced) <= 6
    assert np.all(gd.std_gaps() >= -1e-6)
    assert np.all(study.region_gaps(gd) >= -1e-6)                    # a region's optimum is never above its net
    ex = study.exact_comparison(4, [200], restarts=2, beta=0.05, harvest=1.1, samples=5, hit_tol=0.01, seed=0,
                                device="cpu", **TRAIN)
    row = ex.iloc[0]
    assert row["(estimated − exact)/exact"] >= -1e-6 and row["best trained gap vs exact"] >= -1e-6
    assert row["optimal net: branches"] <= 5 and abs(row["optimal net: (value − exact)/exact"]) <= 1e-6


def test_whitened_and_rank_one_tables_match_the_closed_forms():
    t = study.whitened_table(4, [0.0, 1.0], [2], seed=0, restarts=4, outer=10, inner=100, device="cpu")
    assert t.loc[1.0, "P closed"] == pytest.approx(3.0) and t.loc[1.0, "D closed"] == pytest.approx(1.5 * 2 ** (2 / 3))
    np.testing.assert_allclose(t["standard, trained"], t["P closed"], rtol=1e-3)
    np.testing.assert_allclose(t["parallel m=2, P2 reg."], t["γ = p + q"], rtol=1e-3)
    r = study.rank_one_table([[1.0, 0.5]], seed=0, restarts=4, outer=10, inner=100, device="cpu")
    assert r["(trained − D)/D"].iloc[0] == pytest.approx(0.0, abs=1e-3)
