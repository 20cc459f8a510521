import numpy as np
import pytest
import torch

from companion.duality import relu_duality as rd


def test_whitened_closed_forms():
    P, D = rd.whitened_primal(1.0, 1.0), rd.whitened_dual(1.0, 1.0)
    assert P == pytest.approx(3.0)
    assert P / D == pytest.approx(2 ** (1 / 3))                      # largest ratio, at p = q
    assert rd.whitened_primal(1.0, 0.0) == pytest.approx(rd.whitened_dual(1.0, 0.0))   # one sign: no gap
    for q in (0.1, 0.5, 0.9):
        assert rd.whitened_primal(1.0, q) > rd.whitened_dual(1.0, q)
    assert rd.standard_dual(2.0) == pytest.approx(1.5 * 2.0 ** (2 / 3))


def test_rank_one_coefficients_and_closed_forms():
    X, y, c = rd.rank_one_instance(6, 3, 1.0, -0.5, seed=0)
    assert np.linalg.matrix_rank(X) == 1
    assert rd.rank_one_coefficients(c, y) == pytest.approx((1.0, -0.5))
    with pytest.raises(ValueError, match="not y_a"):
        rd.rank_one_coefficients(c, y + 0.1)
    assert rd.rank_one_primal(1.0, 0.5) == pytest.approx(rd.standard_dual(rd.rank_one_gauge(1.0, 0.5)))
    assert rd.rank_one_primal(1.0, -0.5) > rd.standard_dual(rd.rank_one_gauge(1.0, -0.5))


def test_sampled_patterns_are_a_subset_of_exact_and_reach_it():
    X, _ = rd.planar_instance(5, seed=0)
    exact = rd.exact_patterns(X)
    assert len(exact) == 2 * (1 + 4 + 6)          # central arrangement of 5 generic planes in R^3
    sampled = rd.sample_patterns(X, 20000, seed=0)
    as_set = lambda P: {tuple(r) for r in P}      # noqa: E731
    assert as_set(sampled) <= as_set(exact) and as_set(sampled) == as_set(exact)
    with pytest.raises(ValueError, match="sample_patterns"):
        rd.exact_patterns(np.ones((13, 2)))


def _exact_program(X, y, beta=None):
    inner = rd.exact_patterns(X)
    return rd.parallel_program(X, y, inner, rd.exact_patterns(rd.feature_basis(X, inner)), beta=beta)


def test_arrangement_patterns_3d_lists_every_region():
    for n, seed in [(4, 1), (7, 0)]:
        X, _ = rd.planar_instance(n, seed=seed)
        fast = rd.arrangement_patterns_3d(X)
        assert len(fast) == 2 * (1 + (n - 1) + (n - 1) * (n - 2) // 2)
        assert {tuple(r) for r in fast} == {tuple(r) for r in rd.exact_patterns(X)}
    X, _ = rd.planar_instance(5, seed=0)
    X[2] = X[0] + X[1]                               # three rows dependent: not in general position
    with pytest.raises(ValueError, match="general position"):
        rd.arrangement_patterns_3d(X)
    with pytest.raises(ValueError, match="shape"):
        rd.arrangement_patterns_3d(np.ones((5, 4)))


def test_regularized_program_equals_whitened_closed_form():
    for ratio, beta in [(0.5, 0.1), (0.2, 0.3)]:        # the second has q < β: y₋ is dropped entirely
        X, y = rd.whitened_instance(4, ratio, seed=0)
        p, q = rd.split_signs(y)
        res = _exact_program(X, y, beta)
        assert res.value == pytest.approx(rd.whitened_regularized(p, q, beta), rel=1e-6)
    assert rd.whitened_regularized(1.0, 0.0, 0.5) == pytest.approx(0.5 - 0.125)
    assert rd.whitened_regularized(0.2, 0.0, 0.5) == pytest.approx(0.02)


def test_reconstructed_net_has_the_program_value():
    X, y = rd.planar_instance(5, seed=0)
    for beta in (None, 0.05):
        res = _exact_program(X, y, beta)
        net = rd.reconstruct(res)
        W1, W2, w3 = net
        assert W2.shape[-1] == 1 and w3.shape == (len(W1), 1)
        if beta is None:                                  # interpolates y, path norm = γ(y)
            f = rd.forward(*(torch.as_tensor(W)[None] for W in net), torch.ones(1, len(W1), dtype=torch.float64),
                           torch.as_tensor(X))[0].numpy()
            np.testing.assert_allclose(f, y, atol=1e-6)
            assert rd.net_objective(X, y, net, beta=1.0) == pytest.approx(res.value, rel=1e-5)
        else:
            assert rd.net_objective(X, y, net, beta) == pytest.approx(res.value, rel=1e-6)
    with pytest.raises(ValueError, match="no solution"):
        rd.reconstruct(rd.ProgramResult(np.inf, 0, 0, 0.0, "infeasible"))


def test_caratheodory_keeps_the_value_with_at_most_n_plus_one_branches():
    for n, seed, beta in [(5, 0, 0.05), (5, 0, None), (6, 3, 0.05)]:
        X, y = rd.planar_instance(n, seed=seed)
        inner = rd.arrangement_patterns_3d(X)
        res = rd.parallel_program(X, y, inner, rd.exact_patterns(rd.feature_basis(X, inner)), beta=beta)
        net = rd.reconstruct(res)
        sparse = rd.caratheodory(net, X)
        assert len(net[0]) > n + 1 >= len(sparse[0])          # the interior point spreads; the reduction does not
        for b in (0.05, 1.0, 3.0):                              # the same fit and cost, so the same value for any β
            assert rd.net_objective(X, y, sparse, b) == pytest.approx(rd.net_objective(X, y, net, b), rel=1e-9)
    # a net that already has few branches keeps them; a duplicated branch is merged into one
    W1, W2, w3 = (W[:2] for W in sparse)
    doubled = tuple(np.concatenate([W, W]) for W in (W1, W2, w3))
    merged = rd.caratheodory(doubled, X)
    assert len(merged[0]) <= 3
    assert rd.net_objective(X, y, merged, 0.1) == pytest.approx(rd.net_objective(X, y, doubled, 0.1), rel=1e-9)


def test_trained_parallel_nets_reach_the_exact_convex_optimum_and_never_beat_it():
    X, y = rd.planar_instance(5, seed=200)
    beta = 0.05
    exact = _exact_program(X, y, beta).value
    tr = rd.train_regularized(X, y, [6], kind="path", beta=beta, h1=5, restarts=8, steps=5000, device="cpu")
    gaps = rd.relative_gap(tr.values[0, 0], exact)
    assert gaps.min() >= -1e-6                          # no net beats the convex program (weak duality)
    assert gaps.min() <= 1e-3                           # and the best restart reaches it
    best = int(np.argmin(tr.values[0, 0]))
    region = rd.region_program(X, y, tr.net(0, 0, best), beta)
    assert exact * (1 - 1e-6) <= region <= tr.values[0, 0, best] * (1 + 1e-9)
    harvested = rd.parallel_program(X, y, rd.arrangement_patterns_3d(X), tr.patterns(X)[1], beta=beta).value
    assert exact * (1 - 1e-6) <= harvested <= tr.values[0, 0].min() * (1 + 1e-6)


def test_optimiser_reaches_whitened_closed_form_and_holds_a_perturbed_optimum():
    X, y = rd.whitened_instance(5, 0.5, seed=1)
    beta = 0.1
    G = rd.whitened_regularized(*rd.split_signs(y), beta)
    tr = rd.train_regularized(X, y, [2, 6], kind="path", beta=beta, h1=5, restarts=4, steps=2000, device="cpu")
    np.testing.assert_allclose(tr.values[0], G, rtol=1e-4)
    Xp, yp = rd.planar_instance(5, seed=0)
    res = _exact_program(Xp, yp, beta)
    net = rd.reconstruct(res)
    back = rd.train_regularized(Xp, yp, [len(net[0])], kind="path", beta=beta, h1=net[0].shape[2], restarts=4,
                                steps=0, start=net, noise=0.01, device="cpu")
    assert np.all(np.abs(rd.relative_gap(back.values[0, 0], res.value)) <= 1e-3)


def test_standard_nets_stay_above_their_rescaled_dual_bound():
    X, y = rd.planar_instance(5, seed=0)
    beta = 0.05
    std = rd.train_regularized(X, y, [1], kind="weight_decay", beta=beta, h1=5, h2=5, restarts=4, steps=2000,
                               device="cpu")
    inner = rd.exact_patterns(X)
    outer = rd.exact_patterns(rd.feature_basis(X, inner))
    for r in range(4):
        t = float(np.linalg.norm(std.W1[0, 0, r, 0]))
        bound = rd.rescaled_dual_bound(beta, t, rd.parallel_program(X, y, inner, outer, beta=beta / t).value)
        assert std.values[0, 0, r] >= bound * (1 - 1e-6)
    with pytest.raises(ValueError, match="t > 0"):
        rd.rescaled_dual_bound(beta, 0.0, 1.0)


def test_hit_share_and_relative_gap():
    vals = np.array([[1.0, 1.005, 1.02, np.inf], [2.0, 2.0, 2.1, 2.03]])
    np.testing.assert_allclose(rd.hit_share(vals, np.array([[1.0], [2.0]]), 0.01), [0.5, 0.5])
    np.testing.assert_allclose(rd.hit_share(vals, np.array([[1.0], [2.0]]), 0.06), [0.75, 1.0])
    np.testing.assert_allclose(rd.relative_gap([3.0, 1.5], 1.5), [1.0, 0.0])
    with pytest.raises(ValueError, match="positive reference"):
        rd.relative_gap([1.0], 0.0)
    with pytest.raises(ValueError, match="tol"):
        rd.hit_share(vals, 1.0, -0.1)


def test_program_equals_gauge_closed_forms():
    X, y = rd.whitened_instance(4, 0.5, seed=0)
    assert _exact_program(X, y).value == pytest.approx(sum(rd.split_signs(y)), rel=1e-6)
    for yb in (0.5, -0.5):
        X, y, _ = rd.rank_one_instance(5, 3, 1.0, yb, seed=1)
        assert _exact_program(X, y).value == pytest.approx(rd.rank_one_gauge(1.0, yb), rel=1e-6)


def test_program_is_a_lower_bound_on_trained_parallel_nets_and_subsets_bound_it_above():
    X, y = rd.planar_instance(5, seed=0)
    full = _exact_program(X, y)
    tr = rd.train_nets(X, y, [6], kind="path", h1=5, restarts=8, outer=30, inner=150, device="cpu",
                       line_search="per_problem")
    ok = tr.feasible[0, 0]
    assert ok.any()
    vals = tr.values[0, 0, ok]
    assert np.all(vals >= full.value * (1 - 1e-3))                   # weak duality: no net beats γ(y)
    inner, outer = tr.patterns(X)
    harvested = rd.parallel_program(X, y, inner, outer)
    assert full.value * (1 - 1e-6) <= harvested.value <= vals.min() * (1 + 1e-3)


def test_training_reaches_whitened_and_rank_one_closed_forms():
    X, y = rd.whitened_instance(4, 0.5, seed=0)
    p, q = rd.split_signs(y)
    std = rd.train_nets(X, y, [1], kind="weight_decay", h1=4, h2=4, restarts=8, device="cpu")
    assert std.best()[0, 0] == pytest.approx(rd.whitened_primal(p, q), rel=1e-3)
    par = rd.train_nets(X, y, [2], kind="path", h1=4, restarts=8, outer=30, device="cpu")
    assert par.best()[0, 0] == pytest.approx(p + q, rel=1e-3)
    X, y, _ = rd.rank_one_instance(6, 3, 1.0, -0.5, seed=0)
    r1 = rd.train_nets(X, y, [1], kind="weight_decay", h1=6, h2=6, restarts=8, device="cpu")
    assert r1.best()[0, 0] == pytest.approx(rd.rank_one_primal(1.0, -0.5), rel=1e-3)


def test_batched_forward_matches_loop_and_masks_branches():
    g = torch.Generator().manual_seed(0)
    W1, W2, w3 = (torch.randn(2, 3, 4, 5, generator=g), torch.randn(2, 3, 5, 2, generator=g),
                  torch.randn(2, 3, 2, generator=g))
    X = torch.randn(6, 4, generator=g)
    mask = torch.tensor([[1.0, 1.0, 1.0], [1.0, 0.0, 0.0]])
    out = rd.forward(W1, W2, w3, mask, X)
    for b in range(2):
        ref = sum(torch.relu(torch.relu(X @ W1[b, j]) @ W2[b, j]) @ w3[b, j] for j in range(3) if mask[b, j])
        torch.testing.assert_close(out[b], ref)
    reg = rd.regularizer(W1, W2, w3, mask, "weight_decay")
    assert reg[1].item() == pytest.approx(0.5 * sum(W[1, 0].pow(2).sum().item() for W in (W1, W2, w3)), rel=1e-6)
    with pytest.raises(ValueError, match="unknown regularizer"):
        rd.regularizer(W1, W2, w3, mask, "l1")


def test_bad_input_is_refused():
    X, y = rd.planar_instance(5, seed=0)
    with pytest.raises(ValueError, match="targets must have"):
        rd.train_nets(X, y[:3], [2], kind="path", h1=3, device="cpu")
    with pytest.raises(ValueError, match="unknown regularizer"):
        rd.train_nets(X, y, [2], kind="l1", h1=3, device="cpu")
    with pytest.raises(ValueError, match="patterns must be"):
        rd.parallel_program(X, y, np.ones((2, 4), bool), np.ones((2, 5), bool))
    with pytest.raises(ValueError, match="taus"):
        rd.train_regularized(X, y, [2], kind="path", beta=0.1, h1=3, taus=[0.0, 0.1], device="cpu")
    with pytest.raises(ValueError, match="beta > 0"):
        rd.train_regularized(X, y, [2], kind="path", beta=0.0, h1=3, device="cpu")
    net = (np.zeros((2, 3, 4)), np.zeros((2, 4, 1)), np.zeros((2, 1)))
    with pytest.raises(ValueError, match="start net"):
        rd.train_regularized(X, y, [3], kind="path", beta=0.1, h1=4, start=net, device="cpu")
