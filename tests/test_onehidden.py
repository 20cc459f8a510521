"""The fast one-hidden-layer trainer against autograd, one network at a time, in float64."""

from __future__ import annotations

import pytest
import torch

from companion.core.data import synthetic_teacher
from companion.training.losses import tau_hinge
from companion.training.nets import forward
from companion.training.onehidden import (compare_with_autograd, epoch_batches, full_loss, init_nets, intra_op_threads, outputs, train_autograd,
                                 train_onehidden)


def data(n: int = 130):
    ds = synthetic_teacher(n=n, d=6, hidden=5, seed=3)
    return ds.x, ds.y


@pytest.mark.parametrize("output,tau,lr", [("sum", 1.0, 2.0), ("mean", 0.5, 3.0)])
def test_trajectories_equal_autograd_with_the_rule(output, tau, lr):
    x, y = data()
    widths = [2, 3, 5, 8, 4, 1]
    nets = init_nets(widths, 6, [11, 12, 13, 14, 15, 16], output=output, dtype=torch.float64)
    # batch 40 does not divide n = 130 (a short last batch); checks every 5 steps exercise cuts and stops
    kw = dict(lr=lr, batch_size=40, steps=300, batch_seed=5, tau=tau, output=output, check_every=5)
    fast = train_onehidden(nets, x, y, **kw)
    ref = train_autograd(nets, x, y, **kw)
    for s, (w, a, taken) in enumerate(ref):
        fw, fa = fast.nets.network(s)
        assert int(fast.steps[s]) == taken
        assert torch.allclose(fw, w, rtol=0, atol=1e-10) and torch.allclose(fa, a, rtol=0, atol=1e-10)
    assert (fast.steps < 300).sum() >= 2, "some networks must be stopped by the rule"
    assert int(fast.cuts.max()) >= 1, "the rule must cut some rate"
    assert fast.net_steps == int(fast.steps.sum())


def test_recorded_loss_is_the_full_data_loss_of_the_returned_weights():
    x, y = data()
    nets = init_nets([3, 7, 2], 6, [1, 2, 3], dtype=torch.float64)
    r = train_onehidden(nets, x, y, lr=1.0, batch_size=20, steps=200, check_every=10)
    for s in range(3):
        w, a = r.nets.network(s)
        ref = tau_hinge(forward([w.reshape(1, -1, 1, 6), a.reshape(1, -1, 1, 1)], x), y)
        assert float(r.loss[s]) == pytest.approx(float(ref), abs=1e-12)


def test_a_network_trains_the_same_alone_or_among_others():
    x, y = data()
    nets = init_nets([4, 9, 3, 6], 6, [7, 8, 9, 10], dtype=torch.float64)
    kw = dict(lr=1.5, batch_size=25, steps=150, check_every=10)
    together = train_onehidden(nets, x, y, **kw)
    alone = train_onehidden(nets.select(torch.tensor([2])), x, y, **kw)
    assert torch.allclose(together.nets.network(2)[0], alone.nets.W, atol=1e-12)
    assert int(together.steps[2]) == int(alone.steps[0])


def test_outputs_and_full_loss_match_the_padded_forward():
    x, y = data()
    nets = init_nets([3, 5], 6, [1, 2], output="mean", dtype=torch.float64)
    f = outputs(nets, x, "mean")
    for s in range(2):
        w, a = nets.network(s)
        ref = forward([w.reshape(1, -1, 1, 6), a.reshape(1, -1, 1, 1)], x, scale="mean")[0, :, 0]
        assert torch.allclose(f[s], ref, atol=1e-13)
    assert torch.allclose(full_loss(nets, x, y, output="mean", tau=0.7, chunk=1), tau_hinge(f, y, 0.7), atol=1e-13)


def test_epoch_batches_are_shuffles_of_the_data_cut_in_order():
    it = epoch_batches(10, 4, seed=1)
    first = [next(it) for _ in range(3)]
    assert [len(b) for b in first] == [4, 4, 2]
    assert sorted(torch.cat(first).tolist()) == list(range(10))
    second = torch.cat([next(it) for _ in range(3)])
    assert sorted(second.tolist()) == list(range(10)) and not torch.equal(second, torch.cat(first))
    again = epoch_batches(10, 4, seed=1)
    assert torch.equal(next(again), first[0])


def test_threads_are_restored():
    before = torch.get_num_threads()
    with intra_op_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


@pytest.mark.parametrize("change,message", [
    (dict(y=torch.zeros(130)), "±1"),
    (dict(x=torch.zeros(130, 5)), r"need x: \(n, 6\)"),
    (dict(batch_size=0), "batch_size"),
    (dict(output="max"), "choose 'sum' or 'mean'"),
])
def test_bad_input_is_refused_with_the_fix(change, message):
    x, y = data()
    nets = init_nets([2], 6, [0], dtype=torch.float64)
    kw = dict(x=x, y=y, lr=1.0, batch_size=10, steps=5, output="sum") | change
    with pytest.raises(ValueError, match=message):
        train_onehidden(nets, kw.pop("x"), kw.pop("y"), **kw)


def test_compare_with_autograd_reports_a_real_difference():
    """Equal trainings give a rounding-level difference and the same stops; a different rate for one side
    (the comparison must be able to fail) gives a large difference."""
    x, y = data()
    nets = init_nets([2, 5], 6, [1, 2], dtype=torch.float64)
    kw = dict(lr=2.0, batch_size=40, steps=100, batch_seed=1, check_every=5)
    diff, same = compare_with_autograd(nets, x, y, **kw)
    assert diff < 1e-10 and same
    fast = train_onehidden(nets, x, y, **{**kw, "lr": 1.0})
    ref = train_autograd(nets, x, y, **kw)
    assert float((fast.nets.network(0)[0] - ref[0][0]).abs().max()) > 1e-6
