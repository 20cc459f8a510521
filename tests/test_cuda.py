"""Every kernel of the package on CUDA against its CPU result, at stated tolerances (float64 unless said).

Skipped, with a message, where torch sees no GPU; ``DEVICE=cuda make test`` also runs every chapter's
smoke preset on the GPU."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from companion import deep_linear as dl
from companion import landscape as ls
from companion import onehidden as oh
from companion.losses import multiclass_hinge, tau_hinge
from companion.nets import forward, init_branches

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU: the CUDA tests need one")


def both(fn):
    """fn(device) on CPU and on CUDA, results as numpy arrays."""
    def as_np(x):
        return [as_np(v) for v in x] if isinstance(x, (list, tuple)) else np.asarray(
            x.detach().cpu() if torch.is_tensor(x) else x)
    return as_np(fn("cpu")), as_np(fn("cuda"))


def close(a, b, tol):
    if isinstance(a, list):
        for u, v in zip(a, b):
            close(u, v, tol)
        return
    np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


def test_multi_branch_forward():
    x = torch.randn(50, 7, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    cpu, gpu = both(lambda d: forward(init_branches(3, 40, (7, 4, 3, 2), seed=1, device=d, dtype=torch.float64),
                                      x.to(d), scale="mean"))
    close(cpu, gpu, 1e-12)


@pytest.mark.parametrize("d, out", [(10, 1), (784, 10)])
def test_plane_evaluator(d, out):
    g = torch.Generator().manual_seed(2)
    x = torch.randn(300, d, dtype=torch.float64, generator=g)
    y = (torch.randint(0, 10, (300,), generator=g) if out > 1 else torch.sign(torch.randn(300, generator=g)))
    loss = multiclass_hinge if out > 1 else tau_hinge
    grid = np.linspace(-1, 1, 7)

    def run(dev):
        sols = init_branches(3, 20, (d, 4, out), seed=3, device=dev, dtype=torch.float64)
        plane = ls.plane_from_solutions(sols)
        return ls.evaluate_fast(plane, x.to(dev), y.to(dev), loss, grid, grid, scale="mean")
    close(*both(run), 1e-10)


def test_fast_one_hidden_trainer():
    g = torch.Generator().manual_seed(4)
    x = torch.randn(200, 10, dtype=torch.float64, generator=g)
    y = torch.sign(torch.randn(200, generator=g, dtype=torch.float64))

    def run(dev):
        nets = oh.init_nets([5, 9, 12], 10, [1, 2, 3], device=dev, dtype=torch.float64)
        r = oh.train_onehidden(nets, x.to(dev), y.to(dev), lr=0.1, batch_size=50, steps=300)
        return [r.nets.W, r.nets.a, r.loss]
    close(*both(run), 1e-9)


def test_deep_linear_primal():
    rng = np.random.default_rng(5)
    X, Y = rng.standard_normal((6, 12)), rng.standard_normal((4, 12))
    cpu, gpu = both(lambda d: dl.primal_value(X, Y, 0.3, (6, 3, 4), restarts=2, steps=200, device=d).values)
    close(cpu, gpu, 1e-6)
