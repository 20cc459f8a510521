"""The parallel_linear chapter's experiment functions (companion.duality.linear_study) on tiny instances."""

import numpy as np
import pytest

from companion.duality import linear_study as study
from companion.duality import parallel_linear as pl

TRAIN = dict(restarts=2, outer=10, inner=100, seed=0, device="cpu")


def test_weight_decay_study_closed_forms_cvx_dual_and_training():
    X, Y = pl.spectrum_instance([2.0, 1.0], seed=0)
    wd = study.weight_decay_study(X, Y, [2, 4], [3, 2], **TRAIN)
    assert wd.depths == (2, 3, 4) and list(wd.trained) == [3, 2]           # union sorted; training in the given order
    np.testing.assert_allclose(wd.primal, [pl.weight_decay_primal([2, 1], L) for L in (2, 3, 4)])
    np.testing.assert_allclose(wd.dual_cvx, wd.dual, rtol=1e-5)           # cvxpy + 1-D search = closed form
    assert wd.nuclear_cvx == pytest.approx(3.0, rel=1e-6)
    best = wd.best()
    assert np.isnan(best[2]) and best[:2] == pytest.approx(wd.primal[:2], rel=1e-4)   # training reaches P, not D
    t = wd.table()
    assert list(t.index) == [2, 3, 4]
    np.testing.assert_array_equal(t["gap P − D"], wd.primal - wd.dual)


def test_low_rank_study_switches_small_singular_values_off():
    _, Y = pl.spectrum_instance([2.0, 0.3], seed=1)
    lr = study.low_rank_study(Y, 3, [0.6], restarts=4, steps=1000, seed=0)
    assert lr.closed_sv[0][1] == 0.0 and lr.closed_sv[0][0] > 0        # the small one off, not shrunk
    assert lr.trained[0] == pytest.approx(lr.closed[0], rel=1e-4)
    assert lr.sv_error()[0] <= 1e-3
    assert lr.table().loc[0.6, "closed-form rank"] == 1


def test_path_study_and_meeting_rows():
    X, Y = pl.spectrum_instance([2.0, 1.0], seed=0)
    s = pl.singular_values(X, Y)
    p = study.path_study(X, Y, 3, [1, 2], **TRAIN)
    np.testing.assert_allclose(p.best(), p.primal, rtol=1e-4)
    assert p.primal[1] == pytest.approx(p.dual) and p.primal[0] > p.dual     # zero gap once m ≥ rank
    assert list(p.table()["feasible restarts"]) == [f"{k}/2" for k in p.feasible]
    meet = study.meeting(s, 3, schatten=3.0, weight_decay=4.0, parallel_wd=(2, 4.1), parallel_path=(2, 3.0))
    np.testing.assert_allclose(meet.dual, [3.0, pl.weight_decay_dual(s, 3), pl.weight_decay_dual(s, 3), 3.0])
    np.testing.assert_allclose(meet.closed[1:3], pl.weight_decay_primal(s, 3))
    np.testing.assert_allclose(meet.table()["gap (closed − dual)"], meet.closed - meet.dual)
    assert len(meet.short) == len(meet.labels) == 4


def test_weight_decay_study_shows_both_gap_measures():
    X, Y = pl.spectrum_instance([2.0, 1.0], seed=0)
    wd = study.weight_decay_study(X, Y, [2], [3], **TRAIN)
    t = wd.table()
    f3, m3 = pl.gap_measures([2.0, 1.0], 3)
    assert t.loc[3, "P(t)/D(t), fixed t"] == pytest.approx(f3) and t.loc[3, "P/D, minimised over t"] == pytest.approx(m3)
    assert t.loc[2, "P(t)/D(t), fixed t"] == pytest.approx(1.0)           # L = 2: no gap either way
    assert list(wd.rescaled) == [3] and np.isnan(t.loc[2, "P(1) trained at t = 1"])
    assert t.loc[3, "P(1) trained at t = 1"] == pytest.approx(pl.fixed_t_primal([2.0, 1.0], 3), rel=1e-4)
    np.testing.assert_allclose(wd.rescaled_dual_cvx, 3.0, rtol=1e-6)       # D(1) = Σσ at every depth


def test_path_study_with_rank_one_branches():
    X, Y = pl.spectrum_instance([2.0, 1.0], seed=0)
    p = study.path_study(X, Y, 3, [2, 3], branch="rank_one", **TRAIN)
    assert p.branch == "rank_one" and p.trained[2].layer_singular_values[1].shape == (1,)
    np.testing.assert_allclose(p.best(), p.dual, rtol=1e-4)               # m ≥ rank: ‖W*‖_*
