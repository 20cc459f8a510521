"""Multi-branch nets as batched tensors: the batched forward against a loop over branches."""

import numpy as np
import pytest
import torch

from companion.core.data import synthetic_teacher
from companion.training.losses import multiclass_hinge, tau_hinge
from companion.training.nets import flatten, forward, init_branches, n_parameters
from companion.training.train import batch_indices, init_padded, train_sequential, train_sgd


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


def test_init_is_drawn_in_chunks_without_changing_a_number():
    """init_branches writes each layer a chunk of branches at a time; the numbers are those of one
    ``torch.randn`` per layer and network (the definition), also where a shape cannot be chunked."""
    from companion.training.nets import _fill_normal

    for I, widths in [(40, (3072, 8, 8, 8, 10)), (33, (3, 5, 2))]:
        L = init_branches(2, I, widths, seed=[4, 5], device="cpu", dtype=torch.float32, parametrization="mean")
        for s, sd in enumerate([4, 5]):
            g = torch.Generator().manual_seed(sd)
            for l, W in enumerate(L):
                ref = torch.randn(I, widths[l + 1], widths[l], generator=g, dtype=torch.float64) / np.sqrt(widths[l])
                assert torch.equal(W[s], ref.float())
    for shape in [(100, 8, 3072), (64, 3, 5), (9, 10, 8)]:
        out = torch.empty(shape, dtype=torch.float64)
        _fill_normal(torch.Generator().manual_seed(1), out, 2.0, chunk_elements=240)   # many chunks
        assert torch.equal(out, torch.randn(shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64) / 2)


def test_forward_in_example_chunks_equals_one_piece():
    from companion.training.nets import example_chunk_for

    L = init_branches(2, 7, (5, 4, 3, 2), seed=[1, 2], device="cpu", dtype=torch.float64)
    x = torch.randn(23, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    xs = torch.randn(2, 23, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    for inp in (x, xs):
        ref = forward(L, inp, scale="mean")
        for ec, bc in ((1, None), (5, 3), (22, 2), (23, None), (100, 4)):
            torch.testing.assert_close(forward(L, inp, scale="mean", branch_chunk=bc, example_chunk=ec), ref,
                                       rtol=1e-13, atol=1e-14)
    # blocks sized so that one activation (S, branch chunk, widest layer, block) stays within the bound
    assert example_chunk_for(3, 50_000, (3072, 8, 8, 8, 10), 2048) == 2**26 // (3 * 2048 * 8)
    assert example_chunk_for(3, 20, (784, 8, 10), None) == 2**26 // (3 * 20 * 8)
