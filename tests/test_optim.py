"""Per-problem L-BFGS (companion.duality.optim): minimisers across scales, kinks, the augmented Lagrangian."""

import numpy as np
import pytest
import torch

from companion.duality.optim import augmented_lagrangian, lbfgs_per_problem


def _quadratics(B: int = 6, P: int = 5, seed: int = 0):
    """f_b(x) = ½ (x − c_b)ᵀ A_b (x − c_b) with curvatures spanning 1e-3 … 1e3 across the batch."""
    g = torch.Generator().manual_seed(seed)
    scales = torch.logspace(-3, 3, B, dtype=torch.float64)
    Q, _ = torch.linalg.qr(torch.randn(B, P, P, generator=g, dtype=torch.float64))
    eig = torch.linspace(1.0, 10.0, P, dtype=torch.float64)
    A = scales[:, None, None] * Q @ torch.diag_embed(eig.expand(B, P)) @ Q.transpose(1, 2)
    c = torch.randn(B, P, generator=g, dtype=torch.float64)
    return A, c


def test_per_problem_steps_reach_every_minimiser_across_scales():
    A, c = _quadratics()
    x = torch.zeros_like(c, requires_grad=True)

    def f():
        r = x - c
        return 0.5 * torch.einsum("bp,bpq,bq->b", r, A, r)

    vals = lbfgs_per_problem([x], f, iters=200)
    torch.testing.assert_close(x.detach(), c, rtol=0, atol=1e-6)
    assert torch.all(vals <= 1e-10)


def test_per_problem_on_a_nonsmooth_batch_reaches_the_kink():
    # f_b(x) = a_b |x − c_b| + ½ (x − c_b)²: minimiser at the kink x = c_b for every scale a_b
    a = torch.tensor([1e-2, 1.0, 1e2], dtype=torch.float64)
    c = torch.tensor([0.3, -2.0, 5.0], dtype=torch.float64)
    x = torch.zeros(3, 1, dtype=torch.float64, requires_grad=True)
    lbfgs_per_problem([x], lambda: a * (x[:, 0] - c).abs() + 0.5 * (x[:, 0] - c) ** 2, iters=100)
    torch.testing.assert_close(x.detach()[:, 0], c, rtol=0, atol=1e-6)


def test_augmented_lagrangian_per_problem_solves_equality_constrained_batch():
    # min ½‖x‖² s.t. aᵀx = b_k: x* = b_k a/‖a‖², for very different right-hand sides
    a = torch.tensor([1.0, 2.0, -1.0], dtype=torch.float64)
    b = torch.tensor([1e-2, 1.0, 1e2], dtype=torch.float64)
    x = torch.ones(3, 3, dtype=torch.float64, requires_grad=True)
    augmented_lagrangian([x], lambda: (x @ a - b)[:, None], lambda: 0.5 * x.pow(2).sum(1), outer=30, inner=100,
                         line_search="per_problem")
    torch.testing.assert_close(x.detach(), b[:, None] * a / a.dot(a), rtol=1e-6, atol=1e-8)


def test_bad_input_is_refused():
    x = torch.zeros(2, 3, requires_grad=True)
    with pytest.raises(ValueError, match="iters"):
        lbfgs_per_problem([x], lambda: x.pow(2).sum(1), iters=0)
    with pytest.raises(ValueError, match="batch dimension"):
        lbfgs_per_problem([x, torch.zeros(3, 1, requires_grad=True)], lambda: x.pow(2).sum(1), iters=5)
    with pytest.raises(ValueError, match="unknown line search"):
        augmented_lagrangian([x], lambda: x, lambda: x.sum(1), outer=1, inner=1, line_search="global")
