"""Losses of P1: the τ-hinge loss and the multi-class hinge loss, batched over leading dimensions."""

from __future__ import annotations

from typing import Callable

import torch

#: A loss of batched outputs: (…, n, out) scores and the targets -> (…,) one loss per network.
LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def tau_hinge(f: torch.Tensor, y: torch.Tensor, tau: float = 1.0) -> torch.Tensor:
    """mean_n max(0, 1 − y f/τ).

    f: (..., n) or (..., n, 1) scores; y: (n,) or broadcastable, in {−1, +1}. Returns (...,).
    τ = 1 is the hinge loss.
    """
    if tau <= 0:
        raise ValueError(f"τ must be > 0, got {tau}")
    if f.shape[-1] == 1 and f.dim() >= 2 and f.shape[-2] == y.shape[-1]:
        f = f[..., 0]
    return torch.clamp(1.0 - y * f / tau, min=0.0).mean(-1)


def multiclass_hinge(f: torch.Tensor, y: torch.Tensor, margin: float = 1.0) -> torch.Tensor:
    """Multi-class hinge (Weston–Watkins, as torch's MultiMarginLoss): mean_n Σ_{j≠y_n} max(0, m − f_{y_n} + f_j) / C.

    f: (..., n, C) scores; y: (n,) int64 labels (or broadcastable). Returns (...,).
    """
    C = f.shape[-1]
    idx = y.expand(f.shape[:-1]).unsqueeze(-1)
    fy = torch.gather(f, -1, idx)                                   # (..., n, 1)
    viol = torch.clamp(margin - fy + f, min=0.0)
    viol = viol.scatter(-1, idx, 0.0)                               # drop j = y
    return viol.sum(-1).mean(-1) / C
