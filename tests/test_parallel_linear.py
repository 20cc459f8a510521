import numpy as np
import pytest
import torch

from companion.duality import parallel_linear as pl


def test_worked_case_closed_forms():
    s = [3.0, 2.0, 1.0]
    assert pl.weight_decay_primal(s, 3) == pytest.approx(7.0012, abs=5e-5)
    assert pl.weight_decay_dual(s, 3) == pytest.approx(4.9529, abs=5e-5)
    assert pl.weight_decay_primal(s, 4) == pytest.approx(8.2925, abs=5e-5)
    assert pl.weight_decay_dual(s, 4) == pytest.approx(4.8990, abs=5e-5)
    # equal singular values do not close the gap (W* = I_3, L = 3)
    assert pl.weight_decay_primal([1, 1, 1], 3) == pytest.approx(4.5)
    assert pl.weight_decay_dual([1, 1, 1], 3) == pytest.approx(1.5 * 3 ** (2 / 3))


@pytest.mark.parametrize("L", [2, 3, 4, 6])
@pytest.mark.parametrize("sigma", [[2.0], [3.0, 2.0, 1.0], [1.0, 1.0], [5.0, 0.1]])
def test_gap_sign_pattern(L, sigma):
    gap = pl.weight_decay_primal(sigma, L) - pl.weight_decay_dual(sigma, L)
    assert gap >= -1e-12
    assert (gap > 1e-9) == (L >= 3 and len(sigma) >= 2)


def test_dual_closed_form_against_cvxpy_and_scalar_minimisation():
    X = np.random.default_rng(0).standard_normal((6, 4))        # n = 6 > d = 4: X has full column rank
    Y = X @ np.random.default_rng(1).standard_normal((4, 3))     # Y in the range of X
    s = pl.singular_values(X, Y)
    nuc = pl.nuclear_dual_cvx(X, Y)
    assert nuc == pytest.approx(s.sum(), rel=1e-6)
    assert pl.nuclear_primal_cvx(X, Y) == pytest.approx(s.sum(), rel=1e-6)
    for L in (2, 3, 5):
        assert pl.weight_decay_dual_numeric(nuc, L) == pytest.approx(pl.weight_decay_dual(s, L), rel=1e-6)


def test_infeasible_interpolation_is_refused():
    X = np.vstack([np.eye(2), np.eye(2)])   # 4 × 2
    with pytest.raises(ValueError, match="infeasible"):
        pl.min_norm_solution(X, np.random.default_rng(0).standard_normal((4, 2)))


def test_path_primal_partitions():
    s = [3.0, 2.0, 1.0]
    assert pl.path_primal(s, 3, 3) == pytest.approx(6.0)
    assert pl.path_primal(s, 3, 1) == pytest.approx((3 ** (2 / 3) + 2 ** (2 / 3) + 1) ** 1.5)
    assert pl.path_primal(s, 3, 2) == pytest.approx(3 + (2 ** (2 / 3) + 1) ** 1.5)   # best grouping: {3}, {2, 1}
    assert pl.path_primal(s, 3, 1) > pl.path_primal(s, 3, 2) > pl.path_primal(s, 3, 3)


@pytest.mark.parametrize("kind,m,L,expected", [
    ("weight_decay", 1, 3, lambda s: pl.weight_decay_primal(s, 3)),
    ("weight_decay", 1, 4, lambda s: pl.weight_decay_primal(s, 4)),
    ("path", 2, 3, lambda s: pl.path_primal(s, 3, 2)),
    ("path", 3, 3, lambda s: pl.path_dual(s)),
    ("schatten", 1, 3, lambda s: pl.path_dual(s)),
])
def test_training_reaches_the_closed_forms(kind, m, L, expected):
    X, Y = pl.spectrum_instance([3.0, 2.0, 1.0], seed=0)
    s = pl.singular_values(X, Y)
    r = pl.train_interpolation(X, Y, L, kind=kind, m=m, restarts=4, outer=15, inner=150, device="cpu")
    assert r.value == pytest.approx(expected(s), rel=1e-5)
    assert np.allclose(r.end_to_end, Y, atol=1e-5)
    feasible = r.violations <= 1e-6 * np.linalg.norm(Y)
    assert np.all(r.values[feasible] >= expected(s) * (1 - 1e-6))     # no feasible restart beats the optimum


def test_batched_forward_equals_loop_over_branches_and_restarts():
    g = torch.Generator().manual_seed(0)
    Ws = [torch.randn(2, 3, 4, 5, generator=g, dtype=torch.float64), torch.randn(2, 3, 5, 2, generator=g, dtype=torch.float64)]
    X = torch.randn(6, 4, generator=g, dtype=torch.float64)
    out = pl.parallel_forward(Ws, X)
    for r in range(2):
        ref = sum(X @ Ws[0][r, j] @ Ws[1][r, j] for j in range(3))
        torch.testing.assert_close(out[r], ref)
    reg = pl.regularizer(Ws, "path")
    ref = sum(0.5 * (Ws[l][0, j].norm() ** 2) for l in range(2) for j in range(3))   # L = 2: ½Σ‖W‖²
    assert reg[0].item() == pytest.approx(ref.item())
    with pytest.raises(ValueError, match="unknown regularizer"):
        pl.regularizer(Ws, "l1")


def test_low_rank_bias_of_weight_decay():
    s = np.array([3.0, 2.0, 1.0])
    w = pl.weight_decay_regularized(s, 0.6, 3)
    assert w[-1] == 0.0 and w[0] > 0    # the smallest singular value is switched off, not shrunk
    # each w is the global minimiser of its 1-D problem (brute force on a fine grid)
    for si, wi in zip(s, w):
        grid = np.linspace(0, si, 400_001)
        f = 0.5 * (si - grid) ** 2 + 0.6 * 1.5 * grid ** (2 / 3)
        assert 0.5 * (si - wi) ** 2 + 0.9 * wi ** (2 / 3) <= f.min() + 1e-12
    X, Y = pl.spectrum_instance(s, seed=1)
    sv, obj = pl.train_regularized(Y, 3, 0.6, restarts=4, steps=1000, device="cpu")
    assert obj == pytest.approx(pl.regularized_value(s, w, 0.6, 3), rel=1e-6)
    np.testing.assert_allclose(np.sort(sv)[::-1], w, atol=1e-4)


def test_relative_gap_sweep_matches_the_pointwise_closed_forms():
    gaps, ok = pl.relative_gap_sweep([2, 3], [0.0, 0.5, 1.0])
    assert ok and gaps.shape == (2, 3)
    assert np.all(gaps[0] == pytest.approx(0.0, abs=1e-12)) and gaps[1, 0] == pytest.approx(0.0, abs=1e-12)
    s = np.array([1.0, 0.5, 0.25])
    P, D = pl.weight_decay_primal(s, 3), pl.weight_decay_dual(s, 3)
    assert gaps[1, 1] == pytest.approx((P - D) / P, rel=1e-12) and gaps[1, 1] > 0.01


def test_both_gap_measures_match_the_issue_table_and_each_other():
    s = [3.0, 2.0, 1.0]
    for L, (fixed, minimised) in {3: (1.681, 1.414), 4: (2.865, 1.693)}.items():
        f, m = pl.gap_measures(s, L)
        assert f == pytest.approx(fixed, abs=5e-4) and m == pytest.approx(minimised, abs=5e-4)
        assert m == pytest.approx(f ** (2 / L), rel=1e-12)          # minimised = fixed-t ratio to the power 2/L
        for t in (0.5, 2.0):                                          # the fixed-t ratio does not depend on t
            assert pl.fixed_t_primal(s, L, t) / pl.fixed_t_dual(s, L, t) == pytest.approx(f, rel=1e-12)
    assert pl.gap_measures([2.0], 4) == pytest.approx((1.0, 1.0))   # rank one: no gap either way
    with pytest.raises(ValueError, match="t must be > 0"):
        pl.fixed_t_primal(s, 3, 0.0)


@pytest.mark.parametrize("L", [3, 4])
def test_both_gap_measures_against_direct_optimisation(L):
    """σ = (3, 2, 1): the four closed forms against optimisation that does not use them, to 1e-6 relative."""
    X, Y = pl.spectrum_instance([3.0, 2.0, 1.0], seed=0)
    s = pl.singular_values(X, Y)
    kw = dict(restarts=4, outer=30, inner=200, seed=0, device="cpu")
    # fixed t: the rescaled primal trained directly (first L − 2 layers of norm t), the dual by cvxpy
    for t in (1.0, 1.5):
        assert pl.train_rescaled(X, Y, L, t, **kw).value == pytest.approx(pl.fixed_t_primal(s, L, t), rel=1e-6)
        assert pl.rescaled_dual_cvx(X, Y, L, t) == pytest.approx(pl.fixed_t_dual(s, L, t), rel=1e-6)
    # minimised over t: weight decay trained, the dual as cvxpy + a scalar search over t
    assert pl.train_interpolation(X, Y, L, kind="weight_decay", **kw).value == pytest.approx(
        pl.weight_decay_primal(s, L), rel=1e-6)
    assert pl.weight_decay_dual_numeric(pl.nuclear_dual_cvx(X, Y), L) == pytest.approx(pl.weight_decay_dual(s, L),
                                                                                        rel=1e-6)


@pytest.mark.parametrize("m", [3, 4])
def test_rank_one_branches_train_to_the_nuclear_norm(m):
    """P2's branch shape: scalar-output branches combined by the last layer reach ‖W*‖_* once m ≥ rank."""
    X, Y = pl.spectrum_instance([3.0, 2.0, 1.0], seed=0)
    r = pl.train_interpolation(X, Y, 3, kind="path", m=m, branch="rank_one", restarts=4, outer=20, inner=150,
                               device="cpu")
    assert abs(r.value / pl.path_dual([3.0, 2.0, 1.0]) - 1) <= 1e-4
    assert np.allclose(r.end_to_end, Y, atol=1e-5)
    assert r.layer_singular_values[1].shape == (1,)                   # the last hidden layer has width one


def test_rank_one_branches_cannot_interpolate_below_the_rank():
    X, Y = pl.spectrum_instance([3.0, 2.0, 1.0], seed=0)
    r = pl.train_interpolation(X, Y, 3, kind="path", m=2, branch="rank_one", restarts=2, outer=5, inner=50,
                               device="cpu")
    assert r.value == np.inf and r.violations.min() > 1e-3           # two rank-one branches: rank ≤ 2 < 3
    assert pl.path_primal([3.0, 2.0, 1.0], 3, 2, "rank_one") == np.inf
    assert pl.path_primal([3.0, 2.0, 1.0], 3, 3, "rank_one") == pytest.approx(6.0)
    with pytest.raises(ValueError, match="unknown branch shape"):
        pl.path_primal([1.0], 3, 1, "wide")
