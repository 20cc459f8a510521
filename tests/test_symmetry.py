"""Permutation symmetry: aligning undoes a known permutation exactly and never changes a network's function."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from companion.training.losses import multiclass_hinge
from companion.training.nets import forward, init_branches
from companion.landscapes.pipeline import plane_view
from companion.landscapes.symmetry import align_to_first, assignment, blocked_assignment, random_symmetry

WIDTHS = [(6, 4, 3), (6, 4, 3, 5, 3)]


def _copies(widths, I, seed=3):
    """Network 0 and two randomly permuted copies of it (S = 3), float64."""
    L = init_branches(1, I, widths, seed=seed, device="cpu", dtype=torch.float64)
    P = random_symmetry([W.expand(3, *W.shape[1:]).clone() for W in L], seed=seed + 1)
    return [torch.cat([W, Q[1:]]) for W, Q in zip(L, P)]


@pytest.mark.parametrize("widths", WIDTHS)
@pytest.mark.parametrize("I", [1, 7])
def test_random_symmetry_keeps_the_function_and_aligning_undoes_it(widths, I):
    x = torch.randn(60, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    L = _copies(widths, I)
    f = forward(L, x)
    torch.testing.assert_close(f[1], f[0])                   # permuted copies compute the same function ...
    assert max(float((W[1] - W[0]).abs().max()) for W in L) > 0.1    # ... with different weights
    for block in (1024, 2):                                  # exact and blocked branch assignment
        A = align_to_first(L, x, block=block, branch_chunk=3)
        for W in A:
            torch.testing.assert_close(W[1], W[0], rtol=0, atol=0)
            torch.testing.assert_close(W[2], W[0], rtol=0, atol=0)


@pytest.mark.parametrize("widths", WIDTHS)
def test_aligning_unrelated_networks_changes_coordinates_not_functions(widths):
    L = init_branches(3, 5, widths, seed=[1, 2, 3], device="cpu", dtype=torch.float64)
    x = torch.randn(40, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    A = align_to_first(L, x)
    torch.testing.assert_close(forward(A, x), forward(L, x))
    for W, V in zip(A, L):
        torch.testing.assert_close(W[0], V[0], rtol=0, atol=0)   # network 0 is the reference, untouched
    with pytest.raises(ValueError, match="without hidden layers"):
        align_to_first(L[:1], x)


def test_assignments_against_brute_force():
    rng = np.random.default_rng(0)
    S = rng.normal(size=(5, 5))
    best = max(itertools.permutations(range(5)), key=lambda p: sum(S[k, p[k]] for k in range(5)))
    assert list(assignment(S)) == list(best)
    A = rng.normal(size=(6, 3))
    B = A[[3, 0, 5, 1, 4, 2]] + 1e-3 * rng.normal(size=(6, 3))
    cost = lambda p: sum(((A[k] - B[p[k]]) ** 2).sum() for k in range(6))
    brute = min(itertools.permutations(range(6)), key=cost)
    assert list(blocked_assignment(A, B, block=6)) == list(brute) == [1, 3, 5, 0, 4, 2]
    # blocks: still a permutation, and exact here since the sorted order separates the pairs
    p = blocked_assignment(A, B, block=2)
    assert sorted(p) == list(range(6)) and cost(p) >= cost(brute) - 1e-12


def test_plane_view_jensen_gap():
    """Three permuted copies of one network: aligned, the plane collapses onto it (zero Jensen gap at the
    centre); as trained, the centre averages unrelated units and its loss is higher."""
    L = _copies((6, 4, 3), 7)
    x = torch.randn(80, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    y = forward(L, x)[0].argmax(-1)
    with pytest.raises(ValueError, match="coincide"):        # aligned, the three solutions are one point
        plane_view(L, "aligned", x, y, multiclass_hinge, G=3)
    raw = plane_view(L, "none", x, y, multiclass_hinge, G=5)
    centre = float(multiclass_hinge(forward([W.mean(0, keepdim=True) for W in L], x), y)[0])
    own = float(multiclass_hinge(forward(L, x), y).mean())
    assert raw.jensen_gap == pytest.approx(centre - own) and raw.jensen_gap > 0
    assert raw.surface[2, 2] == pytest.approx(centre)        # the grid's middle point is the centre
    # the segments between the copies: the same function at both ends, a positive barrier between
    assert raw.barriers.shape == (3,) and raw.barriers.min() > 0
    mid = float(multiclass_hinge(forward([(W[0:1] + W[1:2]) / 2 for W in L], x), y)[0])
    assert raw.barriers[0] >= mid - own - 1e-12           # t = ½ is one of the K points
    with pytest.raises(ValueError, match="unknown view"):
        plane_view(L, "sideways", x, y, multiclass_hinge, G=3)


def test_constant_units_carrying_biases_stay_in_place():
    """Networks with biases (init_default: a frozen constant unit per hidden layer): aligning with n_fixed = 1
    undoes a permutation of the real units, keeps every function, and never moves a constant unit."""
    from companion.training.nets import init_default, with_ones

    x = with_ones(torch.randn(50, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(0)))
    L = init_default(1, 4, (6, 3, 2), seed=5, device="cpu", dtype=torch.float64)
    real = [L[0][:, :, :-1], L[1][..., :-1]]
    P = random_symmetry([W.expand(3, *W.shape[1:]).clone() for W in real], seed=9)
    copies = [torch.cat([P[0], L[0][:, :, -1:].expand(3, -1, -1, -1)], 2),
              torch.cat([P[1], L[1][..., -1:].expand(3, -1, -1, -1)], 3)]
    torch.testing.assert_close(forward(copies, x)[1], forward(copies, x)[0])
    A = align_to_first(copies, x, n_fixed=1)
    for W in A:
        torch.testing.assert_close(W[1], W[0], rtol=0, atol=0)
        torch.testing.assert_close(W[2], W[0], rtol=0, atol=0)
    D = init_default(3, 3, (6, 3, 3, 2), seed=[1, 2, 3], device="cpu", dtype=torch.float64)
    B = align_to_first(D, x, n_fixed=1)
    torch.testing.assert_close(forward(B, x), forward(D, x))
    for l in range(2):                          # every branch's constant unit: still last, still (0, …, 0, 1)
        torch.testing.assert_close(B[l][:, :, -1], D[l][:, :, -1], rtol=0, atol=0)


def test_batched_assignments_equal_the_hungarian_algorithm():
    from scipy.optimize import linear_sum_assignment
    from companion.landscapes.symmetry import assignments

    g = torch.Generator().manual_seed(0)
    for k in (1, 2, 5, 8):
        C = torch.randn(300, k, k, dtype=torch.float64, generator=g)
        ref = np.stack([assignment(c) for c in C.numpy()])
        assert np.array_equal(assignments(C).numpy(), ref)
        assert np.array_equal(assignments(C, max_exact=0).numpy(), ref)     # the Hungarian fallback
    # ties (small integers): the same optimal value as scipy's, a permutation, and the same choice whether a
    # matrix is solved alone or in a batch
    C = torch.randint(0, 3, (200, 6, 6), generator=g).double()
    P = assignments(C)
    for c, p in zip(C.numpy(), P.numpy()):
        r, q = linear_sum_assignment(c, maximize=True)
        assert sorted(p) == list(range(6)) and c[np.arange(6), p].sum() == c[r, q].sum()
    assert all(torch.equal(assignments(C[i:i + 1])[0], P[i]) for i in (0, 17, 199))
    with pytest.raises(ValueError, match="B, k, k"):
        assignments(torch.zeros(3, 4, 5))


def test_relabelling_in_place_is_exact_and_undone_by_its_inverse():
    from companion.training.nets import init_default, with_ones
    from companion.landscapes.symmetry import match_to_first, relabel_

    x = torch.randn(50, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    for L, xp, nf in ((init_branches(3, 6, (6, 4, 3, 5, 2), seed=[1, 2, 3], device="cpu", dtype=torch.float64), x, 0),
                      (init_default(3, 4, (6, 3, 4, 2), seed=[4, 5, 6], device="cpu", dtype=torch.float64), with_ones(x), 1),
                      (init_branches(3, 5, (6, 3, 2), seed=[7, 8, 9], device="cpu", dtype=torch.float64), x, 0)):
        copy = align_to_first(L, xp, n_fixed=nf, branch_chunk=4)
        orig = [W.clone() for W in L]
        rel = match_to_first(L, xp, n_fixed=nf, branch_chunk=4)
        relabel_(L, rel, column_block=2)                                  # in place, in column blocks
        assert all(torch.equal(W, V) for W, V in zip(L, copy))
        torch.testing.assert_close(forward(L, xp), forward(orig, xp))
        relabel_(L, rel.inverse())
        assert all(torch.equal(W, V) for W, V in zip(L, orig))            # undone exactly


def test_leading_direction_is_the_top_singular_vector():
    from companion.landscapes.symmetry import leading_direction

    rng = np.random.default_rng(3)
    A = rng.normal(size=(40, 12)) * np.linspace(3, 0.5, 12)              # a clear leading direction
    B = A[rng.permutation(40)] + 0.01 * rng.normal(size=(40, 12))
    both = np.concatenate([A, B])
    v = np.linalg.svd(both - both.mean(0), full_matrices=False)[2][0]
    w = leading_direction(A, B)
    assert abs(float(v @ w)) == pytest.approx(1.0, abs=1e-10) and w[np.argmax(np.abs(w))] > 0
