"""Multi-branch nets as batched tensors: the batched forward against a loop over branches."""

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
