"""Batched three-layer ReLU nets of P2: outputs and regularisers of many nets at once, as torch tensors.

A *branch* is ``x ↦ ((x W₁)₊ W₂)₊ w₃`` with W₁ d × h₁, W₂ h₁ × h₂, w₃ ∈ ℝ^{h₂}; a net is m branches summed
(a standard net: m = 1, h₂ ≥ 2; a parallel net: h₂ = 1). Two regularisers R:

- weight decay ``R = ½ Σ_j (‖W₁ⱼ‖² + ‖W₂ⱼ‖² + ‖w₃ⱼ‖²)``;
- P2's modification as we read it, ``R = ⅓ Σ_j (‖W₁ⱼ‖³ + ‖W₂ⱼ‖³ + ‖w₃ⱼ‖³)`` ("path"), which after rescaling inside
  each branch (AM–GM) is the path norm ``Σ_j ‖W₁ⱼ‖ ‖w₂ⱼ‖ |αⱼ|``.

(Named ``relu_forward`` / ``relu_regularizer`` / ``ReluRegularizer`` to keep them apart from
:func:`companion.training.nets.forward` and :func:`companion.duality.parallel_linear.regularizer`.)
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch

ReluRegularizer = Literal["weight_decay", "path"]
RELU_REGULARIZERS: tuple[str, ...] = ("weight_decay", "path")
#: one parallel net: W1 (m, d, h₁), W2 (m, h₁, h₂), w3 (m, h₂)
Net = tuple[np.ndarray, np.ndarray, np.ndarray]


def smooth_relu(z: torch.Tensor, tau: float) -> torch.Tensor:
    """τ·softplus(z/τ) (≥ relu(z), at most τ·log 2 above it); relu(z) itself for τ = 0."""
    return torch.relu(z) if tau == 0 else tau * torch.nn.functional.softplus(z / tau)


def branch_outputs(W1: torch.Tensor, W2: torch.Tensor, w3: torch.Tensor, X: torch.Tensor, tau: float = 0.0) -> torch.Tensor:
    """((X W₁)₊ W₂)₊ w₃ of every branch: W1 (..., d, h₁), W2 (..., h₁, h₂), w3 (..., h₂), X (n, d) or broadcastable
    (..., n, d); returns (..., n). τ > 0: both ReLUs smoothed (:func:`smooth_relu`)."""
    A2 = smooth_relu(smooth_relu(X @ W1, tau) @ W2, tau)         # (..., n, h₂)
    return torch.einsum("...nk,...k->...n", A2, w3)


def branch_regularizer(W1: torch.Tensor, W2: torch.Tensor, w3: torch.Tensor, kind: ReluRegularizer) -> torch.Tensor:
    """R of every branch, (...,): weight decay ½Σ‖·‖² or P2's (our reading) ⅓Σ‖·‖³ over its three layers."""
    sq = [W1.pow(2).sum((-1, -2)), W2.pow(2).sum((-1, -2)), w3.pow(2).sum(-1)]
    if kind == "weight_decay":
        return 0.5 * sum(sq)
    if kind == "path":
        return sum(q.pow(1.5) for q in sq) / 3.0
    raise ValueError(f"unknown regularizer {kind!r}: choose one of {', '.join(RELU_REGULARIZERS)}")


def relu_forward(W1: torch.Tensor, W2: torch.Tensor, w3: torch.Tensor, mask: torch.Tensor, X: torch.Tensor,
                 tau: float = 0.0) -> torch.Tensor:
    """Σ_j mask_j ((X W₁ⱼ)₊ W₂ⱼ)₊ w₃ⱼ: W1 (B, m, d, h₁), W2 (B, m, h₁, h₂), w3 (B, m, h₂), mask (B, m), X (n, d)
    shared by all nets or (B, 1, n, d) one per net; returns (B, n)."""
    return torch.einsum("bmn,bm->bn", branch_outputs(W1, W2, w3, X, tau), mask)


def relu_regularizer(W1: torch.Tensor, W2: torch.Tensor, w3: torch.Tensor, mask: torch.Tensor,
                     kind: ReluRegularizer) -> torch.Tensor:
    """R per net, (B,), over its active branches (see :func:`branch_regularizer`)."""
    return (branch_regularizer(W1, W2, w3, kind) * mask).sum(-1)


def net_objective(X: np.ndarray, y: np.ndarray, net: Net, beta: float, kind: ReluRegularizer = "path") -> float:
    """½‖f(X) − y‖² + β R of one parallel net (W1 (m, d, h₁), W2 (m, h₁, h₂), w3 (m, h₂)), in float64."""
    W1, W2, w3 = (torch.as_tensor(np.asarray(W, float))[None] for W in net)
    mask = torch.ones(1, W1.shape[1], dtype=torch.float64)
    res = relu_forward(W1, W2, w3, mask, torch.as_tensor(np.asarray(X, float))) - torch.as_tensor(np.asarray(y, float))
    return float(0.5 * res.pow(2).sum() + beta * relu_regularizer(W1, W2, w3, mask, kind)[0])
