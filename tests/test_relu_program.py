"""Activation patterns and the convex program of parallel ReLU nets (companion.duality.relu_program) against
brute force and the closed forms."""

import numpy as np
import pytest
import torch

from companion.duality import relu_closed_forms as cf
from companion.duality import relu_program as rp
from companion.duality import relu_nets as rn


def test_sampled_patterns_are_a_subset_of_exact_and_reach_it():
    X, _ = cf.planar_instance(5, seed=0)
    exact = rp.exact_patterns(X)
    assert len(exact) == 2 * (1 + 4 + 6)          # central arrangement of 5 generic planes in R^3
    sampled = rp.sample_patterns(X, 20000, seed=0)
    as_set = lambda P: {tuple(r) for r in P}      # noqa: E731
    assert as_set(sampled) <= as_set(exact) and as_set(sampled) == as_set(exact)
    with pytest.raises(ValueError, match="sample_patterns"):
        rp.exact_patterns(np.ones((13, 2)))


def test_arrangement_patterns_3d_lists_every_region():
    for n, seed in [(4, 1), (7, 0)]:
        X, _ = cf.planar_instance(n, seed=seed)
        fast = rp.arrangement_patterns_3d(X)
        assert len(fast) == 2 * (1 + (n - 1) + (n - 1) * (n - 2) // 2)
        assert {tuple(r) for r in fast} == {tuple(r) for r in rp.exact_patterns(X)}
    X, _ = cf.planar_instance(5, seed=0)
    X[2] = X[0] + X[1]                               # three rows dependent: not in general position
    with pytest.raises(ValueError, match="general position"):
        rp.arrangement_patterns_3d(X)
    with pytest.raises(ValueError, match="shape"):
        rp.arrangement_patterns_3d(np.ones((5, 4)))


def test_regularized_program_equals_whitened_closed_form():
    for ratio, beta in [(0.5, 0.1), (0.2, 0.3)]:        # the second has q < β: y₋ is dropped entirely
        X, y = cf.whitened_instance(4, ratio, seed=0)
        p, q = cf.split_signs(y)
        res = rp.exact_program(X, y, beta=beta)
        assert res.value == pytest.approx(cf.whitened_regularized(p, q, beta), rel=1e-6)
    assert cf.whitened_regularized(1.0, 0.0, 0.5) == pytest.approx(0.5 - 0.125)
    assert cf.whitened_regularized(0.2, 0.0, 0.5) == pytest.approx(0.02)


def test_program_equals_gauge_closed_forms():
    X, y = cf.whitened_instance(4, 0.5, seed=0)
    assert rp.exact_program(X, y).value == pytest.approx(sum(cf.split_signs(y)), rel=1e-6)
    for yb in (0.5, -0.5):
        X, y, _ = cf.rank_one_instance(5, 3, 1.0, yb, seed=1)
        assert rp.exact_program(X, y).value == pytest.approx(cf.rank_one_gauge(1.0, yb), rel=1e-6)


def test_reconstructed_net_has_the_program_value():
    X, y = cf.planar_instance(5, seed=0)
    for beta in (None, 0.05):
        res = rp.exact_program(X, y, beta=beta)
        net = rp.reconstruct(res)
        W1, W2, w3 = net
        assert W2.shape[-1] == 1 and w3.shape == (len(W1), 1)
        if beta is None:                                  # interpolates y, path norm = γ(y)
            f = rn.relu_forward(*(torch.as_tensor(W)[None] for W in net), torch.ones(1, len(W1), dtype=torch.float64),
                           torch.as_tensor(X))[0].numpy()
            np.testing.assert_allclose(f, y, atol=1e-6)
            assert rn.net_objective(X, y, net, beta=1.0) == pytest.approx(res.value, rel=1e-5)
        else:
            assert rn.net_objective(X, y, net, beta) == pytest.approx(res.value, rel=1e-6)
    with pytest.raises(ValueError, match="no solution"):
        rp.reconstruct(rp.ProgramResult(np.inf, 0, 0, 0.0, "infeasible"))


def test_caratheodory_keeps_the_value_with_at_most_n_plus_one_branches():
    for n, seed, beta in [(5, 0, 0.05), (5, 0, None), (6, 3, 0.05)]:
        X, y = cf.planar_instance(n, seed=seed)
        inner = rp.arrangement_patterns_3d(X)
        res = rp.exact_program(X, y, inner=inner, beta=beta)
        net = rp.reconstruct(res)
        sparse = rp.caratheodory(net, X)
        assert len(net[0]) > n + 1 >= len(sparse[0])          # the interior point spreads; the reduction does not
        for b in (0.05, 1.0, 3.0):                              # the same fit and cost, so the same value for any β
            assert rn.net_objective(X, y, sparse, b) == pytest.approx(rn.net_objective(X, y, net, b), rel=1e-9)
    # a net that already has few branches keeps them; a duplicated branch is merged into one
    W1, W2, w3 = (W[:2] for W in sparse)
    doubled = tuple(np.concatenate([W, W]) for W in (W1, W2, w3))
    merged = rp.caratheodory(doubled, X)
    assert len(merged[0]) <= 3
    assert rn.net_objective(X, y, merged, 0.1) == pytest.approx(rn.net_objective(X, y, doubled, 0.1), rel=1e-9)


def test_program_refuses_bad_patterns():
    X, y = cf.planar_instance(5, seed=0)
    with pytest.raises(ValueError, match="patterns must be"):
        rp.parallel_program(X, y, np.ones((2, 4), bool), np.ones((2, 5), bool))
    with pytest.raises(ValueError, match="no patterns"):
        rp.parallel_program(X, y, np.ones((0, 5), bool), np.ones((2, 5), bool))
