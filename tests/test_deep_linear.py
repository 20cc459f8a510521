import cvxpy as cp
import numpy as np
import pytest
import torch

from companion.duality import deep_linear as dl


def test_closed_form_matches_independent_convex_solve_when_rank_is_free():
    """H = 2, d_min ≥ rank: (4) is ½‖Y − Z‖² + γ‖Z‖_* over Row(Z) ⊆ Row(X), solved directly by cvxpy."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((5, 3)) @ rng.standard_normal((3, 7))   # rank 3, 5 × 7
    Y = rng.standard_normal((4, 7))
    gamma = 0.3
    M = cp.Variable((4, 5))
    Z = M @ X
    prob = cp.Problem(cp.Minimize(0.5 * cp.sum_squares(Y - Z) + gamma * cp.normNuc(Z)))
    prob.solve(solver="CLARABEL")
    dmin = 3
    assert dl.closed_form_value(X, Y, gamma, dmin, outside_theorem=True) == pytest.approx(prob.value, rel=1e-6)


@pytest.mark.parametrize("H", [2, 3])
def test_closed_form_against_many_restarts_on_tiny_instance(H):
    rng = np.random.default_rng(H)
    X, Y = np.eye(3), rng.standard_normal((3, 3))
    gamma = 0.5 * dl.sigma_min_nonzero(Y)
    widths = (3,) + (2,) * (H - 1) + (3,)
    p = dl.primal_value(X, Y, gamma, widths, restarts=16, steps=400, seed=1, device="cpu")
    closed = dl.closed_form_value(X, Y, gamma, 2)
    assert p.value == pytest.approx(closed, rel=1e-8)
    assert np.all(p.values >= closed - 1e-9 * abs(closed))   # no restart beats the closed form


def test_dual_sdp_matches_closed_form_and_weak_duality():
    for seed in range(3):
        X, Y = dl.rank_deficient_instance(d0=6, n=9, rank=4, dH=5, seed=seed)
        gamma = 0.7 * dl.sigma_min_nonzero(dl.effective_target(X, Y))
        closed = dl.closed_form_value(X, Y, gamma, 3)
        d = dl.dual_value(X, Y, gamma, 3)
        assert d.value == pytest.approx(closed, rel=1e-6)
        # Λ* is dual-feasible: rows in Row(X), spectral norm ≤ γ
        Q = dl.row_space_basis(X)
        np.testing.assert_allclose(d.Lambda, d.Lambda @ Q @ Q.T, atol=1e-8)
        assert np.linalg.norm(d.Lambda, 2) <= gamma * (1 + 1e-6)
        # any feasible Λ gives a lower bound (weak duality)
        rng = np.random.default_rng(seed)
        L = rng.standard_normal((5, 4)) @ Q.T
        L *= gamma / np.linalg.norm(L, 2)
        assert dl.dual_objective(L, X, Y, 3) <= closed + 1e-9


def test_recovered_weights_attain_the_dual_value_and_the_optimal_map():
    X, Y = dl.rank_deficient_instance(d0=7, n=10, rank=5, dH=4, seed=3)
    gamma = 0.4 * dl.sigma_min_nonzero(dl.effective_target(X, Y))
    widths = (7, 3, 4, 4)
    d = dl.dual_value(X, Y, gamma, 3)
    Ws = dl.recover_weights(d.Lambda, X, Y, widths)
    assert [W.shape for W in Ws] == [(3, 7), (4, 3), (4, 4)]
    assert dl.primal_objective(Ws, X, Y, gamma) == pytest.approx(d.value, rel=1e-6)
    np.testing.assert_allclose(dl.end_to_end(Ws, X), dl.closed_form_solution(X, Y, gamma, 3), atol=1e-5)


def test_schatten_power_matches_svd_and_has_finite_gradients_at_repeated_values():
    rng = np.random.default_rng(0)
    W = torch.tensor(rng.standard_normal((2, 4, 6)))
    for H in (2, 3, 4, 5):
        expected = (torch.linalg.svdvals(W) ** H).sum(-1)
        torch.testing.assert_close(dl.schatten_power(W, H), expected)
    Wr = torch.eye(4, dtype=torch.float64).repeat(2, 1, 1).requires_grad_()   # all singular values equal
    dl.schatten_power(Wr, 3).sum().backward()
    assert torch.isfinite(Wr.grad).all()
    torch.testing.assert_close(Wr.grad, 3 * torch.eye(4, dtype=torch.float64).repeat(2, 1, 1))


def test_batched_restarts_equal_single_restarts():
    X, Y = dl.gaussian_instance(4, seed=0)
    gamma = 0.5 * dl.sigma_min_nonzero(Y)
    Ws = [torch.randn(3, 2, 4, dtype=torch.float64), torch.randn(3, 2, 2, dtype=torch.float64),
          torch.randn(3, 4, 2, dtype=torch.float64)]
    batch = dl.batched_objective(Ws, torch.tensor(X), torch.tensor(Y), gamma)
    for r in range(3):
        single = dl.primal_objective([W[r].numpy() for W in Ws], X, Y, gamma)
        assert batch[r].item() == pytest.approx(single, rel=1e-12)


def test_validation_errors():
    X, Y = np.eye(4), np.random.default_rng(0).standard_normal((4, 4))
    smin = dl.sigma_min_nonzero(Y)
    with pytest.raises(dl.TheoremConditionError, match="Theorem 2 needs 0 ≤ γ < σ_min"):
        dl.closed_form_value(X, Y, 1.01 * smin, 2)
    with pytest.raises(dl.TheoremConditionError, match="must be ≥ 0"):
        dl.dual_value(X, Y, -0.1, 2)
    with pytest.raises(dl.TheoremConditionError, match="d_min = 5 must satisfy"):
        dl.closed_form_value(X, Y, 0.1 * smin, 5)
    with pytest.raises(dl.TheoremConditionError, match="same n"):
        dl.closed_form_value(np.eye(3), Y, 0.0, 2)
    with pytest.raises(dl.TheoremConditionError, match="must start with d0"):
        dl.recover_weights(np.zeros((4, 4)), X, Y, (3, 2, 4))
    with pytest.raises(dl.TheoremConditionError, match="H ≥ 2"):
        dl.primal_value(X, Y, 0.1, (4, 4))
    # outside the theorem on request: still a number
    assert np.isfinite(dl.closed_form_value(X, Y, 2 * smin, 2, outside_theorem=True))
