"""Training of three-layer ReLU nets (companion.duality.relu_train) against the closed forms and the convex program."""

import numpy as np
import pytest

from companion.duality import relu_closed_forms as cf
from companion.duality import relu_program as rp
from companion.duality import relu_train as rt
from companion.duality import relu_study as study


def test_trained_parallel_nets_reach_the_exact_convex_optimum_and_never_beat_it():
    X, y = cf.planar_instance(5, seed=200)
    beta = 0.05
    exact = rp.exact_program(X, y, beta=beta).value
    tr = rt.train_relu_regularized(X, y, [6], kind="path", beta=beta, h1=5, restarts=8, steps=5000, device="cpu")
    gaps = study.relative_gap(tr.values[0, 0], exact)
    assert gaps.min() >= -1e-6                          # no net beats the convex program (weak duality)
    assert gaps.min() <= 1e-3                           # and the best restart reaches it
    best = int(np.argmin(tr.values[0, 0]))
    region = rp.region_program(X, y, tr.net(0, 0, best), beta)
    assert exact * (1 - 1e-6) <= region <= tr.values[0, 0, best] * (1 + 1e-9)
    harvested = rp.parallel_program(X, y, rp.arrangement_patterns_3d(X), tr.patterns(X)[1], beta=beta).value
    assert exact * (1 - 1e-6) <= harvested <= tr.values[0, 0].min() * (1 + 1e-6)


def test_optimiser_reaches_whitened_closed_form_and_holds_a_perturbed_optimum():
    X, y = cf.whitened_instance(5, 0.5, seed=1)
    beta = 0.1
    G = cf.whitened_regularized(*cf.split_signs(y), beta)
    tr = rt.train_relu_regularized(X, y, [2, 6], kind="path", beta=beta, h1=5, restarts=4, steps=2000, device="cpu")
    np.testing.assert_allclose(tr.values[0], G, rtol=1e-4)
    Xp, yp = cf.planar_instance(5, seed=0)
    res = rp.exact_program(Xp, yp, beta=beta)
    net = rp.reconstruct(res)
    back = rt.train_relu_regularized(Xp, yp, [len(net[0])], kind="path", beta=beta, h1=net[0].shape[2], restarts=4,
                                steps=0, start=net, noise=0.01, device="cpu")
    assert np.all(np.abs(study.relative_gap(back.values[0, 0], res.value)) <= 1e-3)


def test_standard_nets_stay_above_their_rescaled_dual_bound():
    X, y = cf.planar_instance(5, seed=0)
    beta = 0.05
    std = rt.train_relu_regularized(X, y, [1], kind="weight_decay", beta=beta, h1=5, h2=5, restarts=4, steps=2000,
                               device="cpu")
    inner = rp.exact_patterns(X)
    outer = rp.exact_patterns(rp.feature_basis(X, inner))
    for r in range(4):
        t = float(np.linalg.norm(std.W1[0, 0, r, 0]))
        bound = cf.rescaled_dual_bound(beta, t, rp.parallel_program(X, y, inner, outer, beta=beta / t).value)
        assert std.values[0, 0, r] >= bound * (1 - 1e-6)
    with pytest.raises(ValueError, match="t > 0"):
        cf.rescaled_dual_bound(beta, 0.0, 1.0)


def test_program_is_a_lower_bound_on_trained_parallel_nets_and_subsets_bound_it_above():
    X, y = cf.planar_instance(5, seed=0)
    full = rp.exact_program(X, y)
    tr = rt.train_nets(X, y, [6], kind="path", h1=5, restarts=8, outer=30, inner=150, device="cpu",
                       line_search="per_problem")
    ok = tr.feasible[0, 0]
    assert ok.any()
    vals = tr.values[0, 0, ok]
    assert np.all(vals >= full.value * (1 - 1e-3))                   # weak duality: no net beats γ(y)
    inner, outer = tr.patterns(X)
    harvested = rp.parallel_program(X, y, inner, outer)
    assert full.value * (1 - 1e-6) <= harvested.value <= vals.min() * (1 + 1e-3)


def test_training_reaches_whitened_and_rank_one_closed_forms():
    X, y = cf.whitened_instance(4, 0.5, seed=0)
    p, q = cf.split_signs(y)
    std = rt.train_nets(X, y, [1], kind="weight_decay", h1=4, h2=4, restarts=8, device="cpu")
    assert std.best()[0, 0] == pytest.approx(cf.whitened_primal(p, q), rel=1e-3)
    par = rt.train_nets(X, y, [2], kind="path", h1=4, restarts=8, outer=30, device="cpu")
    assert par.best()[0, 0] == pytest.approx(p + q, rel=1e-3)
    X, y, _ = cf.rank_one_instance(6, 3, 1.0, -0.5, seed=0)
    r1 = rt.train_nets(X, y, [1], kind="weight_decay", h1=6, h2=6, restarts=8, device="cpu")
    assert r1.best()[0, 0] == pytest.approx(cf.rank_one_primal(1.0, -0.5), rel=1e-3)


def test_bad_input_is_refused():
    X, y = cf.planar_instance(5, seed=0)
    with pytest.raises(ValueError, match="targets must have"):
        rt.train_nets(X, y[:3], [2], kind="path", h1=3, device="cpu")
    with pytest.raises(ValueError, match="unknown regularizer"):
        rt.train_nets(X, y, [2], kind="l1", h1=3, device="cpu")
    with pytest.raises(ValueError, match="taus"):
        rt.train_relu_regularized(X, y, [2], kind="path", beta=0.1, h1=3, taus=[0.0, 0.1], device="cpu")
    with pytest.raises(ValueError, match="beta > 0"):
        rt.train_relu_regularized(X, y, [2], kind="path", beta=0.0, h1=3, device="cpu")
    net = (np.zeros((2, 3, 4)), np.zeros((2, 4, 1)), np.zeros((2, 1)))
    with pytest.raises(ValueError, match="start net"):
        rt.train_relu_regularized(X, y, [3], kind="path", beta=0.1, h1=4, start=net, device="cpu")
