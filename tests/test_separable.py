import itertools

import numpy as np
import pytest

from companion.convexity import separable as sp
from companion.core.data import synthetic_teacher


@pytest.fixture(scope="module")
def branches():
    ds = synthetic_teacher(n=80, d=2, hidden=5, seed=3)
    x, y = ds.x.numpy(), ds.y.numpy()
    dirs = np.array([[1.0, 0.5], [0.2, 1.0]])
    return sp.make_branches(x, y, dirs, biases=[-1.0, -0.5], signs=[1.0, -1.0], boxes=[1.5, 1.0], tau=10.0)


def test_exact_branch_quantities_match_dense_grids(branches):
    for b in branches:
        w = np.linspace(-b.A, b.A, 200_001)
        gw = b.g(w)
        for t in (0.0, 0.1, 0.5, b.A**2):
            assert b.phi(np.array([t]))[0] == pytest.approx(gw[w**2 <= t].min(), abs=1e-6)
            assert b.phi(np.array([t]))[0] <= gw[w**2 <= t].min() + 1e-12     # exact min ≤ any sampled value
        for lam in (0.0, 0.01, 0.3, 5.0):
            assert b.lagrangian_min(np.array([lam]))[0] == pytest.approx((gw + lam * w**2).min(), abs=1e-8)
        env = b.envelope(w)
        assert np.all(env <= gw + 1e-12)                                         # an under-estimator ...
        assert np.all(np.diff(env, 2) >= -1e-9)                                  # ... that is convex
        assert b.delta(2001) >= 0
        assert b.max_yf() == pytest.approx(np.max(b.y * b.f(w[::100])), abs=1e-9)


def discrete_phi(b, K_units, w_set):
    """φ on the unit grid t = u·δ for the finite parameter set w_set (w² integer multiples of δ)."""
    return np.array([b.g(w_set[w_set**2 <= u * 0.01 + 1e-12]).min() for u in range(K_units + 1)])


@pytest.mark.parametrize("I", [1, 2, 3])
def test_dp_equals_brute_force_enumeration(branches, I):
    b0, b1 = branches
    w_set = np.arange(-10, 11) * 0.1                  # w = k/10 ⇒ w² = k²/100: integer multiples of δ = 0.01
    U = 100
    phis = [discrete_phi(b0, U, w_set), discrete_phi(b1, U, w_set)]
    Ks = [0.05, 0.2, 0.5]
    tab = sp.primal_table_from_phis(phis, Ks, 3, 0.01)
    gvals = [b0.g(w_set), b1.g(w_set)]
    for j, K in enumerate(Ks):
        best = np.inf
        for combo in itertools.product(range(len(w_set)), repeat=I):
            if np.mean(w_set[list(combo)] ** 2) <= K + 1e-12:
                best = min(best, np.mean([gvals[i % 2][k] for i, k in enumerate(combo)]))
        assert tab.values[I - 1, j] == pytest.approx(best, abs=1e-12)


def test_dual_equals_convex_envelope_and_weak_duality(branches):
    b = branches[0]
    tab = sp.primal_table([b], [0.1, 0.5, 1.5], 4, 0.005)
    for j, K in enumerate([0.1, 0.5, 1.5]):
        D, lam = sp.dual_and_multiplier([b], [1], K)
        assert lam >= 0
        assert D == pytest.approx(sp.convexified_value(b, K, 0.0005), abs=1e-6)
        assert np.all(tab.values[:, j] >= D - 1e-12)                             # weak duality at every I
    # heterogeneous: weak duality on random mixes
    tabh = sp.primal_table(branches, [0.3], 6, 0.005)
    for I in range(1, 7):
        D, _ = sp.dual_and_multiplier(branches, sp.branch_counts(2, I), 0.3)
        assert tabh.values[I - 1, 0] >= D - 1e-12


def test_branch_counts_and_lower_hull():
    assert sp.branch_counts(3, 7) == [3, 2, 2] and sum(sp.branch_counts(4, 10)) == 10
    hx, hy = sp.lower_hull(np.array([0.0, 1, 2, 3]), np.array([0.0, 2, 1, 3]))
    np.testing.assert_allclose(hx, [0, 2, 3])
    np.testing.assert_allclose(hy, [0, 1, 3])


def test_brute_force_hinge_separable_case_matches_linear_loss(branches):
    """With τ above max y·f the hinge is linear, so the brute force equals the separable objective."""
    b = branches[0]
    tau = 1.1 * b.max_yf()
    bt = sp.Branch(z=b.z, y=b.y, c=b.c, a=b.a, A=b.A, tau=tau)
    w_set = np.linspace(-b.A, b.A, 11)
    P, D = sp.brute_force_hinge(bt, 2, 0.5, w_set, tau, np.linspace(0, 2, 201))
    g = bt.g(w_set)
    best = min((g[i] + g[j]) / 2 for i in range(11) for j in range(11) if (w_set[i]**2 + w_set[j]**2) / 2 <= 0.5)
    assert P == pytest.approx(best, abs=1e-12) and D <= P + 1e-12


def test_gap_table_equals_direct_computation(branches):
    gt = sp.gap_table(branches, [0.2, 0.6], 5, 0.01, n_delta_grid=2001)
    for I in range(1, 6):
        for j, K in enumerate([0.2, 0.6]):
            assert gt.dual[I - 1, j] == pytest.approx(sp.dual_and_multiplier(branches, sp.branch_counts(2, I), K)[0], abs=1e-12)
    assert gt.delta_worst[0] == gt.deltas[0] and gt.delta_worst[1] == gt.deltas.max()
    assert np.all(gt.normalized_gap >= -1e-12)


def test_assumption1_tau_scales_the_largest_yf_and_keeps_the_rest():
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((40, 2)), np.sign(rng.standard_normal(40))
    base = sp.make_branches(x, y, np.array([[1.0, 0.0], [0.6, 0.8]]), [-1.0, 0.5], [1.0, -1.0], [2.0, 1.0], tau=1.0)
    # brute force over a fine grid of w: the maximum of y·f is attained on the grid's endpoints or 0
    grid = np.linspace(-2.0, 2.0, 4001)
    brute = max(float(np.max(b.y[None, :] * b.f(grid[np.abs(grid) <= b.A]))) for b in base)
    assert sp.largest_yf(base) == pytest.approx(brute, rel=1e-12)
    scaled = sp.assumption1_tau(base, 1.05)
    assert all(b.tau == pytest.approx(1.05 * brute) for b in scaled) and scaled[1].A == base[1].A
    with pytest.raises(ValueError, match="factor"):
        sp.assumption1_tau(base, 0.0)


def test_chapter_branches_are_the_types_with_assumption1_tau():
    ds = synthetic_teacher(n=60, d=2, hidden=5, seed=1)
    x, y = ds.x.numpy(), ds.y.numpy()
    hetero, identical = sp.chapter_branches(x, y, 1.05)
    assert len(hetero) == len(sp.BRANCH_TYPES["angle"]) and len(identical) == 1 and identical[0] is hetero[0]
    assert all(b.tau == pytest.approx(1.05 * sp.largest_yf(hetero), rel=1e-15) for b in hetero)
    t = 1
    u = np.array([np.cos(sp.BRANCH_TYPES["angle"][t]), np.sin(sp.BRANCH_TYPES["angle"][t])])
    np.testing.assert_allclose(hetero[t].z, x @ u, rtol=0, atol=1e-15)
    assert (hetero[t].c, hetero[t].a, hetero[t].A) == (sp.BRANCH_TYPES["c"][t], sp.BRANCH_TYPES["a"][t],
                                                       sp.BRANCH_TYPES["A"][t])


def test_gap_properties_and_gap_tables_equal_the_direct_formulas(branches):
    tables = sp.gap_tables({"one": branches[:1], "two": branches}, [0.3, 0.8], 4, 0.05, n_delta_grid=501)
    assert list(tables) == ["one", "two"]
    for brs, t in zip((branches[:1], branches), tables.values()):
        direct = sp.gap_table(brs, [0.3, 0.8], 4, 0.05, n_delta_grid=501)
        np.testing.assert_array_equal(t.gap, direct.primal.values - direct.dual)
        np.testing.assert_array_equal(t.bound_ratio, direct.normalized_gap / (2.0 / np.arange(1, 5)[:, None]))


def test_convexified_value_takes_many_budgets(branches):
    b = branches[0]
    Ks = [0.1, 0.4, 0.9]
    many = sp.convexified_value(b, Ks, 0.01)
    assert many.shape == (3,) and list(many) == [sp.convexified_value(b, K, 0.01) for K in Ks]


def test_brute_force_table_rows_are_brute_force_hinge(branches):
    b = branches[0]
    rows = sp.brute_force_table(b, 2, [0.2, 0.5], {"big": 20.0, "small": 0.3}, n_grid=7)
    assert [(r["I"], r["τ"], r["K"]) for r in rows] == [(I, t, K) for I in (1, 2) for t in ("big", "small")
                                                         for K in (0.2, 0.5)]
    P, D = sp.brute_force_hinge(b, 2, 0.5, np.linspace(-b.A, b.A, 7), 0.3, sp.LAM_GRID)
    assert (rows[-1]["P"], rows[-1]["D"]) == (P, D) and rows[-1]["P − D"] == P - D >= -1e-12
