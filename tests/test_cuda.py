"""Every kernel of the package on CUDA against its CPU result, at stated tolerances (float64 unless said).

Skipped, with a message, where torch sees no GPU; ``DEVICE=cuda make test`` also runs every chapter's
smoke preset on the GPU. ``COMPANION_CUDA_STANDIN=cpu`` runs them with the CPU standing in for the GPU: it
proves only that the tests execute, not that CUDA agrees."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from companion.duality import deep_linear as dl
from companion.landscapes import evaluate as ev, plane as pl
from companion.training import onehidden as oh
from companion.training.losses import multiclass_hinge, tau_hinge
from companion.training.nets import forward, init_branches

GPU = os.environ.get("COMPANION_CUDA_STANDIN") or "cuda"
pytestmark = pytest.mark.skipif(GPU == "cuda" and not torch.cuda.is_available(),
                                reason="no CUDA GPU: the CUDA tests need one")


def both(fn):
    """fn(device) on CPU and on CUDA, results as numpy arrays."""
    def as_np(x):
        return [as_np(v) for v in x] if isinstance(x, (list, tuple)) else np.asarray(
            x.detach().cpu() if torch.is_tensor(x) else x)
    return as_np(fn("cpu")), as_np(fn(GPU))


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
        plane = pl.plane_from_solutions(sols)
        return ev.evaluate_fast(plane, x.to(dev), y.to(dev), loss, grid, grid, scale="mean")
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


def test_seed_batched_sgd_both_rules():
    from companion.training.train import train_sgd

    g = torch.Generator().manual_seed(6)
    x = torch.randn(120, 5, dtype=torch.float64, generator=g)
    y = torch.sign(torch.randn(120, generator=g, dtype=torch.float64))

    def run(dev, rule):
        layers = init_branches(3, 4, (5, 3, 1), seed=7, device=dev, dtype=torch.float64)
        r = train_sgd(layers, x.to(dev), y.to(dev), tau_hinge, steps=60, lr=[0.1, 0.2, 0.05], seeds=[1, 2, 3],
                      weight_decay=1e-3, batch_size=20, check_every=10, rule=rule)
        return [*r.layers, r.loss, r.steps]
    for rule in ("check_full", "authors"):
        close(*both(lambda d: run(d, rule)), 1e-9)


def test_symmetry_alignment():
    from companion.landscapes.symmetry import align_to_first, random_symmetry

    x = torch.randn(64, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(8))
    for widths in ((6, 5, 1), (6, 4, 3, 1)):
        def run(dev):
            base = init_branches(1, 5, widths, seed=9, device=dev, dtype=torch.float64)
            pair = [torch.cat([W, V]) for W, V in zip(base, random_symmetry(base, seed=10))]
            return align_to_first(pair, x.to(dev))
        cpu, gpu = both(run)
        close(cpu, gpu, 1e-12)
        close([W[1] for W in gpu], [W[0] for W in gpu], 1e-12)      # the permutation is undone on the GPU too


def test_vgg_grouped_network_and_training():
    """Without augmentation: crops and flips are drawn on the device, and CUDA's generator is another stream."""
    from companion.training.vgg import Recipe, train_networks
    from companion.training.vgg_model import make_networks

    g = torch.Generator().manual_seed(11)
    images = torch.randint(0, 256, (16, 3, 32, 32), generator=g, dtype=torch.uint8)
    labels = torch.randint(0, 10, (16,), generator=g)

    def run(dev):
        model = make_networks(2, 2, [1, 2], form="grouped", device=torch.device(dev)).double().eval()
        logits = model(images.to(dev).double() / 255)
        r = train_networks((images, labels), (images, labels), I=2, w=2, seeds=[1, 2],
                           recipe=Recipe(epochs=1, batch_size=8, milestones=(), crop_pad=0, flip=False),
                           device=torch.device(dev),
                           amp="off", dtype=torch.float64)
        return [logits, torch.tensor(r.history[-1]["train_loss"])]
    close(*both(run), 1e-8)


def test_parallel_linear_training():
    from companion.duality.parallel_linear import train_interpolation

    rng = np.random.default_rng(12)
    X, Y = rng.standard_normal((5, 4)), rng.standard_normal((5, 2))
    cpu, gpu = both(lambda d: [train_interpolation(X, Y, 3, kind="path", m=2, restarts=2, outer=3, inner=30,
                                                   seed=0, device=d).values])
    close(cpu, gpu, 1e-6)


def test_relu_parallel_training():
    from companion.duality.relu_closed_forms import planar_instance
    from companion.duality.relu_train import train_nets

    X, y = planar_instance(6, seed=13)
    cpu, gpu = both(lambda d: [train_nets(X, y[None], [1, 3], kind="path", h1=3, restarts=2, outer=3,
                                          inner=30, seed=0, device=d).values])
    close(cpu, gpu, 1e-6)


def test_relu_regularized_training_adam_and_per_problem_lbfgs():
    from companion.duality.relu_closed_forms import planar_instance
    from companion.duality.relu_train import train_relu_regularized

    X, y = planar_instance(6, seed=13)
    cpu, gpu = both(lambda d: [train_relu_regularized(X, y[None], [1, 3], kind="path", beta=0.05, h1=3, restarts=2,
                                                      steps=50, taus=(1e-3, 0.0), iters=20, seed=0, device=d,
                                                      adam_dtype=torch.float64).values])
    close(cpu, gpu, 1e-6)
