"""Multi-branch nets, losses, the seed-batched trainer and the landscape engine."""

import numpy as np
import pytest
import torch

from companion import landscape as ls
from companion.data import synthetic_teacher
from companion.losses import multiclass_hinge, tau_hinge
from companion.nets import flatten, forward, init_branches, n_parameters
from companion.train import batch_indices, init_padded, train_sequential, train_sgd


def loop_forward(layers, x, s):
    """Reference: a Python loop over branches of network s."""
    out = 0
    for i in range(layers[0].shape[1]):
        h = x.T
        for l, W in enumerate(layers):
            h = W[s, i] @ (torch.relu(h) if l > 0 else h)
        out = out + h
    return out.T


@pytest.mark.parametrize("widths", [(5, 1, 1), (5, 3, 4), (6, 2, 3, 2, 4)])
def test_forward_matches_loop_over_branches(widths):
    L = init_branches(2, 7, widths, seed=0, device="cpu", dtype=torch.float64)
    x = torch.randn(9, widths[0], dtype=torch.float64)
    out = forward(L, x)
    assert out.shape == (2, 9, widths[-1])
    for s in range(2):
        torch.testing.assert_close(out[s], loop_forward(L, x, s))
    torch.testing.assert_close(forward(L, x, scale="mean"), out / 7)
    torch.testing.assert_close(forward(L, x, branch_chunk=3), out)           # chunked over branches
    xs = x.expand(2, 9, widths[0])
    torch.testing.assert_close(forward(L, xs), out)                          # per-network inputs
    assert flatten(L).shape == (2, n_parameters(7, widths))


def test_losses_against_definitions():
    f = torch.tensor([[2.0, -0.5, 0.2]])
    y = torch.tensor([1.0, 1.0, -1.0])
    assert tau_hinge(f, y).item() == pytest.approx((0 + 1.5 + 1.2) / 3)
    assert tau_hinge(f, y, tau=2.0).item() == pytest.approx((0 + 1.25 + 1.1) / 3)
    with pytest.raises(ValueError):
        tau_hinge(f, y, tau=0)
    F = torch.randn(4, 6, 10)
    Y = torch.randint(0, 10, (6,))
    ref = torch.stack([torch.nn.functional.multi_margin_loss(F[b], Y) for b in range(4)])
    torch.testing.assert_close(multiclass_hinge(F, Y), ref)


def test_batch_indices_are_per_network_and_in_range():
    a = batch_indices(torch.tensor([3, 4]), 7, 50, 100)
    b = batch_indices(torch.tensor([4]), 7, 50, 100)
    assert a.shape == (2, 50) and int(a.min()) >= 0 and int(a.max()) < 100
    assert torch.equal(a[1], b[0]) and not torch.equal(a[0], a[1])


@pytest.mark.parametrize("batch_size", [None, 32])
def test_batched_training_equals_single_seed_training(batch_size):
    ds = synthetic_teacher(n=120, d=4, hidden=3, seed=0)
    seeds = [11, 12, 13]
    L = init_branches(3, 5, (4, 1, 1), seed=seeds, device="cpu", dtype=torch.float64)
    kw = dict(steps=60, lr=0.5, check_every=20, batch_size=batch_size, stop_loss=0.0)
    batched = train_sgd(L, ds.x, ds.y, tau_hinge, seeds=seeds, **kw)
    single = train_sequential(L, ds.x, ds.y, tau_hinge, seeds=seeds, **kw)
    for s in range(3):
        for W, Ws in zip(batched.layers, single[s].layers):
            torch.testing.assert_close(W[s:s + 1], Ws, rtol=1e-10, atol=1e-12)
    # and a network initialised alone is the same as in a batch
    alone = init_branches(1, 5, (4, 1, 1), seed=[12], device="cpu", dtype=torch.float64)
    torch.testing.assert_close(alone[0][0], L[0][1])


def test_padding_and_compaction_do_not_change_a_network():
    ds = synthetic_teacher(n=200, d=5, hidden=3, seed=1)
    layers, mask = init_padded([3, 6], (5, 1, 1), seeds=[1, 2], device="cpu", dtype=torch.float64)
    assert float(mask[0].sum()) == 3 and float(layers[0][0, 3:].abs().sum()) == 0
    r = train_sgd(layers, ds.x, ds.y, tau_hinge, steps=300, lr=1.0, seeds=[1, 2], check_every=25, mask=mask,
                  stop_loss=0.02)
    assert float(r.layers[0][0, 3:].abs().sum()) == 0            # padded branches stay zero
    narrow = init_branches(1, 3, (5, 1, 1), seed=[1], device="cpu", dtype=torch.float64)
    r1 = train_sgd(narrow, ds.x, ds.y, tau_hinge, steps=300, lr=1.0, seeds=[1], check_every=25, stop_loss=0.02)
    torch.testing.assert_close(r.layers[0][0, :3], r1.layers[0][0], rtol=1e-9, atol=1e-12)
    assert int(r.steps[0]) == int(r1.steps[0])


def test_lr_is_cut_when_the_loss_rises():
    ds = synthetic_teacher(n=100, d=3, hidden=2, seed=0)
    L = init_branches(1, 4, (3, 1, 1), seed=0, device="cpu", dtype=torch.float64)
    r = train_sgd(L, ds.x, ds.y, tau_hinge, steps=200, lr=1e4, seeds=[0], check_every=10, stop_loss=0.0)
    assert float(r.lr[0]) < 1e4                                  # a huge step made the loss rise: cut


@pytest.mark.parametrize("widths", [(6, 1, 1), (6, 3, 2, 4)])
def test_fast_plane_evaluator_equals_naive(widths):
    torch.manual_seed(0)
    L = init_branches(3, 9, widths, seed=0, device="cpu", dtype=torch.float64)
    plane = ls.plane_from_solutions(L)
    x = torch.randn(40, widths[0], dtype=torch.float64)
    if widths[-1] == 1:
        y, loss = torch.sign(torch.randn(40, dtype=torch.float64)), tau_hinge
    else:
        y, loss = torch.randint(0, widths[-1], (40,)), multiclass_hinge
    g = ls.grid_for(plane, 5)
    fast = ls.evaluate_fast(plane, x, y, loss, g, g, max_elements=500, branch_chunk=4)   # several chunks
    naive = ls.evaluate_naive(plane, x, y, loss, g, g)
    np.testing.assert_allclose(fast, naive, rtol=1e-10)
    # the three solutions lie on the plane at the returned coordinates
    for s in range(3):
        p = ls.plane_point(plane, *plane.points[s])
        for W, P in zip(L, p):
            torch.testing.assert_close(P[0], W[s])


def test_random_plane_is_filter_normalised():
    L = init_branches(1, 4, (5, 3, 2), seed=0, device="cpu", dtype=torch.float64)
    pl = ls.random_plane(L, seed=1)
    for C, D in zip(pl.center, pl.d1):
        torch.testing.assert_close(D.norm(dim=-1), C.norm(dim=-1))


def test_nonconvexity_score():
    g = np.linspace(-1, 1, 21)
    A, B = np.meshgrid(g, g)
    assert ls.nonconvexity_score(A**2 + B**2, g, g).max < 1e-9                 # convex: 0
    assert ls.nonconvexity_score(np.abs(A) + 0.3 * B, g, g).max < 1e-9        # convex, non-smooth: 0
    bumpy = A**2 + B**2 + 0.5 * np.exp(-20 * (A**2 + B**2))                    # a bump on a bowl
    sc = ls.nonconvexity_score(bumpy, g, g)
    assert 0.1 < sc.max < 0.25 and 0 < sc.mean < sc.max        # bump 0.5 high on a range of about 2.5
    assert sc.gap == pytest.approx(sc.max * (bumpy.max() - bumpy.min()))    # the same gap in loss units
    small = ls.nonconvexity_score(bumpy / 10, g, g)
    assert small.max == pytest.approx(sc.max) and small.gap == pytest.approx(sc.gap / 10)   # shape vs height
    assert ls.nonconvexity_score(np.zeros_like(A), g, g).max == 0.0


def test_wilson_interval_and_spearman():
    from companion.stats import spearman, wilson_interval

    lo, hi = wilson_interval(np.array([0, 50, 100]), 100)
    assert lo[0] < 1e-12 and 0 < hi[0] < 0.05 and lo[1] < 0.5 < hi[1] and hi[2] == 1 and 0.95 < lo[2] < 1
    np.testing.assert_allclose([lo[1], hi[1]], [0.4038, 0.5962], atol=1e-4)    # the textbook value
    assert spearman(np.arange(5), np.arange(5) ** 2)[0] == pytest.approx(1.0)
    assert spearman(np.arange(5), np.ones(5)) == (0.0, 1.0)
    L = init_branches(1, 100, (3, 1, 1), seed=0, device="cpu", parametrization="mean")
    assert 0.7 < float(L[-1].std()) < 1.3                            # O(1) output weights for f = (1/I)Σ f_i


def test_landscape_panel_and_accuracy():
    from companion.panels import accuracy, landscape_panel

    ds = synthetic_teacher(n=150, d=4, hidden=3, seed=2)
    p = landscape_panel(ds.x, ds.y, tau_hinge, I=6, widths=(4, 1, 1), seeds=[1, 2, 3], steps=100, lr=1.0, G=5,
                        bench_G=3, device="cpu", dtype=torch.float64)
    assert p.surface.shape == (5, 5) and p.plane.points.shape == (3, 2) and p.bench.max_rel_diff < 1e-10
    assert np.all((0 <= p.accuracy_train) & (p.accuracy_train <= 1)) and np.isnan(p.accuracy_test).all()
    # accuracy: sign for one output, argmax for several
    L = init_branches(2, 3, (4, 1, 3), seed=0, device="cpu", dtype=torch.float64)
    x = torch.randn(20, 4, dtype=torch.float64)
    f = forward(L, x)
    y = f[0].argmax(-1)
    acc = accuracy(L, x, y)
    assert acc[0] == 1.0 and acc[1] == pytest.approx(float((f[1].argmax(-1) == y).double().mean()))
    with pytest.raises(ValueError, match="3 seeds"):
        landscape_panel(ds.x, ds.y, tau_hinge, I=2, widths=(4, 1, 1), seeds=[1, 2], steps=1, lr=1.0, G=3, device="cpu")
