"""Window-independent landscape measures (Jensen gap, segment barriers), the score as a function of the
window, and the authors' plane (axes scaled to ‖θ₃‖), against hand-computed cases."""

import numpy as np
import pytest
import torch

from companion.landscapes import evaluate as ev, measures as ms, plane as pl
from companion.training.losses import multiclass_hinge
from companion.training.nets import init_branches
from companion.training.losses import tau_hinge


def sq_loss(f: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """mean_n (f − y)² for one output: (S, n, 1), (n,) → (S,)."""
    return ((f[..., 0] - y) ** 2).mean(-1)


def scalar_nets(pairs):
    """One-unit networks f(x) = a·relu(w x) (widths (1, 1, 1), I = 1) from (w, a) pairs: layers (S, 1, 1, 1)."""
    w = torch.tensor([p[0] for p in pairs], dtype=torch.float64).view(-1, 1, 1, 1)
    a = torch.tensor([p[1] for p in pairs], dtype=torch.float64).view(-1, 1, 1, 1)
    return [w, a]


X1, Y1 = torch.ones(1, 1, dtype=torch.float64), torch.ones(1, dtype=torch.float64)


def test_jensen_gap_hand_computed():
    # θ = (w, a), L = (a·relu(w) − 1)². Triple 1: (1, 1), (1, −1), (1, 0): losses 0, 4, 1; centre (1, 0): loss 1
    # → gap 1 − 5/3 = −2/3. Triple 2: (1, 1), (−1, 1), (−1, −1): losses 0, 1, 1; centre (−1/3, 1/3): f = 0,
    # loss 1 → gap 1 − 2/3 = 1/3.
    L = scalar_nets([(1, 1), (1, -1), (1, 0), (1, 1), (-1, 1), (-1, -1)])
    np.testing.assert_allclose(ms.jensen_gaps(L, X1, Y1, sq_loss), [-2 / 3, 1 / 3], atol=1e-12)
    assert ms.zero_loss(sq_loss, Y1, 1, dtype=torch.float64) == 1.0
    np.testing.assert_allclose(ms.losses_of(L, X1, Y1, sq_loss, max_elements=1).numpy(), [0, 4, 1, 0, 1, 1])


def test_segment_barriers_hand_computed():
    # triple (1, 1), (−1, 1), (−1, −1). Segment 1→2: f = relu(1 − 2t), L = (f − 1)²: 0, .25, 1, 1, 1 at
    # t = 0, .25, .5, .75, 1 against the line t: excess 0, 0, .5, .25, 0 → barrier .5. Segment 1→3:
    # f = (1 − 2t)·relu(1 − 2t): L = 0, .5625, 1, 1, 1 → excess .5 at t = .5 on this grid; on a finer grid the
    # excess (1 − (1 − 2t)²)² − t (t ≤ ½) peaks inside, e.g. .5301 at t = .45. Segment 2→3: f ≡ 0: no barrier.
    L = scalar_nets([(1, 1), (-1, 1), (-1, -1)])
    np.testing.assert_allclose(ms.segment_losses(L, X1, Y1, sq_loss, np.array([0, .25, .5, .75, 1]))[0],
                               [[0, .25, 1, 1, 1], [0, .5625, 1, 1, 1], [1, 1, 1, 1, 1]], atol=1e-12)
    np.testing.assert_allclose(ms.segment_barriers(L, X1, Y1, sq_loss, K=5), [[.5, .5, 0]], atol=1e-12)
    np.testing.assert_allclose(ms.segment_barriers(L, X1, Y1, sq_loss, K=21), [[.5, .5301, 0]], atol=1e-12)


def test_convex_loss_has_no_gap_no_barrier_and_zero_score_at_every_window():
    """Networks without a hidden layer are linear in their weights: the squared loss is convex on every
    plane and segment, whatever the window."""
    g = torch.Generator().manual_seed(0)
    L = [torch.randn(6, 3, 1, 4, generator=g, dtype=torch.float64)]      # T = 2 triples, I = 3, widths (4, 1)
    x = torch.randn(30, 4, generator=g, dtype=torch.float64)
    y = torch.randn(30, generator=g, dtype=torch.float64)
    assert np.all(ms.jensen_gaps(L, x, y, sq_loss) <= 1e-12)
    assert np.all(ms.segment_barriers(L, x, y, sq_loss, K=11) <= 1e-12)
    plane = pl.plane_from_solutions([W[:3] for W in L])
    scores = ms.score_vs_window(plane, x, y, sq_loss, [0.3, 1.0, 4.0], G=9)
    assert len(scores) == 3 and max(s.max for s in scores) < 1e-9


def test_triples_batched_equal_one_at_a_time():
    L = init_branches(6, 5, (4, 3, 3), seed=0, device="cpu", dtype=torch.float64)
    x = torch.randn(25, 4, dtype=torch.float64)
    y = torch.randint(0, 3, (25,))
    gaps = ms.jensen_gaps(L, x, y, multiclass_hinge, scale="mean")
    bars = ms.segment_barriers(L, x, y, multiclass_hinge, K=7, scale="mean")
    for t in range(2):
        one = [W[3 * t:3 * t + 3] for W in L]
        np.testing.assert_allclose(ms.jensen_gaps(one, x, y, multiclass_hinge, scale="mean"), gaps[t:t + 1])
        np.testing.assert_allclose(ms.segment_barriers(one, x, y, multiclass_hinge, K=7, scale="mean"), bars[t:t + 1])


def authors_project(weights):
    """A transcription of the authors' ``_project`` (fully_connected.py) on flat parameter vectors."""
    theta_0 = torch.cat(weights, dim=0).mean(dim=0)
    axis_x = (weights[0] - weights[1]).view(-1)
    axis_y = (weights[0] - weights[2]).view(-1)
    axis_x = axis_x / axis_x.norm(p=2) * weights[-1].norm(p=2)
    axis_y = axis_y / axis_y.norm(p=2) * weights[-1].norm(p=2)
    return theta_0, axis_x, axis_y


def test_authors_axes_match_their_projection_and_windows_agree_across_scalings():
    L = init_branches(3, 4, (5, 2, 3), seed=1, device="cpu", dtype=torch.float64)
    flat = lambda layers, s: torch.cat([W[s].reshape(-1) for W in layers])
    c, ax, ay = authors_project([flat(L, s).view(1, -1) for s in range(3)])
    pa = pl.plane_from_solutions(L, axes="authors")
    pu = pl.plane_from_solutions(L)
    torch.testing.assert_close(flat(pa.center, 0), c)
    torch.testing.assert_close(flat(pa.d1, 0), ax)
    torch.testing.assert_close(flat(pa.d2, 0), ay)
    n3 = float(flat(L, 2).norm())
    assert pa.unit == pytest.approx(1.0) and pu.unit == pytest.approx(n3)
    np.testing.assert_allclose(pa.points * n3, pu.points, rtol=1e-10)        # same points, other units
    np.testing.assert_allclose(pl.window_grid(pa, 2.0, 5), np.linspace(-2, 2, 5))
    x = torch.randn(20, 5, dtype=torch.float64)
    y = torch.randint(0, 3, (20,))
    # the same window (radius 0.7‖θ₃‖) through either scaling: the same surface, the same score
    ga, gu = pl.window_grid(pa, 0.7, 6), pl.window_grid(pu, 0.7, 6)
    np.testing.assert_allclose(ev.evaluate_fast(pa, x, y, multiclass_hinge, ga, ga),
                               ev.evaluate_naive(pu, x, y, multiclass_hinge, gu, gu), rtol=1e-10)
    sa = ms.score_vs_window(pa, x, y, multiclass_hinge, [0.7], G=6)[0]
    assert sa.max == pytest.approx(ms.nonconvexity_score(ev.evaluate_naive(pu, x, y, multiclass_hinge, gu, gu),
                                                         gu, gu).max)


def test_trainable_mask_leaves_frozen_entries_out_of_the_norm():
    L = init_branches(3, 2, (3, 2, 1), seed=2, device="cpu", dtype=torch.float64)
    mask = [torch.ones(1, 1, 2, 3, dtype=torch.float64), torch.ones(1, 1, 1, 2, dtype=torch.float64)]
    mask[0][..., 1, :] = 0                                                 # the second unit's row is frozen
    pa = pl.plane_from_solutions(L, axes="authors", trainable=mask)
    n3 = float(torch.sqrt((L[0][2, :, 0] ** 2).sum() + (L[1][2] ** 2).sum()))
    assert float(pl._norm(pa.d1)) == pytest.approx(n3)


def test_bad_input_is_refused():
    L = scalar_nets([(1, 1), (-1, 1), (-1, -1), (1, 0)])
    with pytest.raises(ValueError, match="multiple of 3"):
        ms.jensen_gaps(L, X1, Y1, sq_loss)
    with pytest.raises(ValueError, match="K ≥ 2"):
        ms.segment_barriers([W[:3] for W in L], X1, Y1, sq_loss, K=1)
    with pytest.raises(ValueError, match="radius > 0"):
        pl.window_grid(pl.plane_from_solutions([W[:3] for W in L]), 0.0, 5)
    with pytest.raises(ValueError, match="unknown axes"):
        pl.plane_from_solutions([W[:3] for W in L], axes="sideways")


# ---- from the former test_engines.py ----------------------------------------

@pytest.mark.parametrize("widths", [(6, 1, 1), (6, 3, 2, 4)])
def test_fast_plane_evaluator_equals_naive(widths):
    torch.manual_seed(0)
    L = init_branches(3, 9, widths, seed=0, device="cpu", dtype=torch.float64)
    plane = pl.plane_from_solutions(L)
    x = torch.randn(40, widths[0], dtype=torch.float64)
    if widths[-1] == 1:
        y, loss = torch.sign(torch.randn(40, dtype=torch.float64)), tau_hinge
    else:
        y, loss = torch.randint(0, widths[-1], (40,)), multiclass_hinge
    g = pl.grid_for(plane, 5)
    fast = ev.evaluate_fast(plane, x, y, loss, g, g, max_elements=500, branch_chunk=4)   # several chunks
    naive = ev.evaluate_naive(plane, x, y, loss, g, g)
    np.testing.assert_allclose(fast, naive, rtol=1e-10)
    # the three solutions lie on the plane at the returned coordinates
    for s in range(3):
        p = pl.plane_point(plane, *plane.points[s])
        for W, P in zip(L, p):
            torch.testing.assert_close(P[0], W[s])


def test_random_plane_is_filter_normalised():
    L = init_branches(1, 4, (5, 3, 2), seed=0, device="cpu", dtype=torch.float64)
    rp = pl.random_plane(L, seed=1)
    for C, D in zip(rp.center, rp.d1):
        torch.testing.assert_close(D.norm(dim=-1), C.norm(dim=-1))


def test_nonconvexity_score():
    g = np.linspace(-1, 1, 21)
    A, B = np.meshgrid(g, g)
    assert ms.nonconvexity_score(A**2 + B**2, g, g).max < 1e-9                 # convex: 0
    assert ms.nonconvexity_score(np.abs(A) + 0.3 * B, g, g).max < 1e-9        # convex, non-smooth: 0
    bumpy = A**2 + B**2 + 0.5 * np.exp(-20 * (A**2 + B**2))                    # a bump on a bowl
    sc = ms.nonconvexity_score(bumpy, g, g)
    assert 0.1 < sc.max < 0.25 and 0 < sc.mean < sc.max        # bump 0.5 high on a range of about 2.5
    assert sc.gap == pytest.approx(sc.max * (bumpy.max() - bumpy.min()))    # the same gap in loss units
    small = ms.nonconvexity_score(bumpy / 10, g, g)
    assert small.max == pytest.approx(sc.max) and small.gap == pytest.approx(sc.gap / 10)   # shape vs height
    assert ms.nonconvexity_score(np.zeros_like(A), g, g).max == 0.0


def test_plane_coordinates_in_blocks_equal_one_piece(monkeypatch):
    """Huge layers are differenced block by block (bounded temporaries); the coordinates are unchanged, and
    each solution is exactly centre + α d₁ + β d₂ at its coordinates."""
    L = init_branches(3, 50, (30, 8, 8, 3), seed=[1, 2, 3], device="cpu", dtype=torch.float64)
    whole = pl.plane_from_solutions(L)
    blocks = pl._blocks
    monkeypatch.setattr(pl, "_blocks", lambda W, max_elements=2**26: blocks(W, 1000))
    assert len(pl._blocks(L[0])) > 1
    cut = pl.plane_from_solutions(L)
    np.testing.assert_allclose(cut.points, whole.points, rtol=0, atol=1e-12)
    for s, (a, b) in enumerate(cut.points):
        for W, P in zip(L, pl.plane_point(cut, float(a), float(b))):
            torch.testing.assert_close(P[0], W[s], rtol=1e-10, atol=1e-12)
