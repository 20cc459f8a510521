"""Batched three-layer ReLU nets (companion.duality.relu_nets): the batched forward against a loop, the regularisers
and the objective against their definitions."""

import numpy as np
import pytest
import torch

from companion.duality import relu_nets as rn


def test_batched_forward_matches_loop_and_masks_branches():
    g = torch.Generator().manual_seed(0)
    W1, W2, w3 = (torch.randn(2, 3, 4, 5, generator=g), torch.randn(2, 3, 5, 2, generator=g),
                  torch.randn(2, 3, 2, generator=g))
    X = torch.randn(6, 4, generator=g)
    mask = torch.tensor([[1.0, 1.0, 1.0], [1.0, 0.0, 0.0]])
    out = rn.relu_forward(W1, W2, w3, mask, X)
    for b in range(2):
        ref = sum(torch.relu(torch.relu(X @ W1[b, j]) @ W2[b, j]) @ w3[b, j] for j in range(3) if mask[b, j])
        torch.testing.assert_close(out[b], ref)
    reg = rn.relu_regularizer(W1, W2, w3, mask, "weight_decay")
    assert reg[1].item() == pytest.approx(0.5 * sum(W[1, 0].pow(2).sum().item() for W in (W1, W2, w3)), rel=1e-6)
    with pytest.raises(ValueError, match="unknown regularizer"):
        rn.relu_regularizer(W1, W2, w3, mask, "l1")


def test_smooth_relu_bounds_and_path_regularizer_is_the_rescaled_path_norm():
    z = torch.linspace(-3, 3, 61, dtype=torch.float64)
    s = rn.smooth_relu(z, 0.1)
    assert torch.all(s >= torch.relu(z)) and torch.all(s - torch.relu(z) <= 0.1 * np.log(2) + 1e-12)
    assert torch.equal(rn.smooth_relu(z, 0.0), torch.relu(z))
    g = torch.Generator().manual_seed(1)
    W1, W2, w3 = torch.randn(4, 3, generator=g), torch.randn(3, 1, generator=g), torch.randn(1, generator=g)
    path = W1.norm() * W2.norm() * w3.abs().sum()
    assert rn.branch_regularizer(W1, W2, w3, "path") >= path                          # AM–GM over the three layers
    c = path ** (1 / 3)
    balanced = (W1 * c / W1.norm(), W2 * c / W2.norm(), w3 * c / w3.abs().sum())
    assert rn.branch_regularizer(*balanced, "path").item() == pytest.approx(path.item(), rel=1e-6)


def test_net_objective_against_numpy():
    rng = np.random.default_rng(0)
    net = (rng.standard_normal((3, 4, 5)), rng.standard_normal((3, 5, 2)), rng.standard_normal((3, 2)))
    X, y = rng.standard_normal((6, 4)), rng.standard_normal(6)
    f = sum(np.maximum(np.maximum(X @ net[0][j], 0) @ net[1][j], 0) @ net[2][j] for j in range(3))
    path = sum(np.linalg.norm(W[j]) ** 3 for W in net for j in range(3)) / 3
    wd = sum(np.linalg.norm(W) ** 2 for W in net) / 2
    assert rn.net_objective(X, y, net, 0.2) == pytest.approx(0.5 * np.sum((f - y) ** 2) + 0.2 * path, rel=1e-12)
    assert rn.net_objective(X, y, net, 0.2, "weight_decay") == pytest.approx(0.5 * np.sum((f - y) ** 2) + 0.2 * wd,
                                                                             rel=1e-12)
