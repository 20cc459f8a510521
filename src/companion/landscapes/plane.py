"""Planes through parameter space: ``θ(α, β) = c + α d₁ + β d₂``.

The plane through three solutions has centre ``c`` = their mean and axes ``θ₁ − θ₂`` and ``θ₁ − θ₃``, scaled
either to unit norm (``axes="unit"``, ours) or each to ‖θ₃‖ (``axes="authors"``, as the authors'
``fully_connected.py`` does, plotted on ``linspace(−range, range)``); the other option is filter-normalised
random directions (Li et al. 2018). ``Plane.unit`` is the length ‖θ₃‖ in plane coordinates, so windows are
stated in units of ‖θ₃‖ either way (:func:`window_grid`). Evaluating the loss on a plane:
:mod:`companion.landscapes.evaluate`; measures of its surface and of triples: :mod:`companion.landscapes.measures`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Literal, Sequence

import numpy as np
import torch

from companion.training.nets import Layers

Axes = Literal["unit", "authors"]

#: entries of one block of a layer when solutions are differenced in bounded blocks
BLOCK_ENTRIES = 2**26


@dataclass(frozen=True)
class Plane:
    center: Layers            # each (1, I, ·, ·)
    d1: Layers
    d2: Layers
    points: np.ndarray        # (k, 2) plane coordinates of the solutions it was built from (k = 0 for random)
    unit: float = 1.0         # ‖θ₃‖ in plane coordinates (1 for random planes): windows are in units of it


def _norm(layers: Iterable[torch.Tensor]) -> torch.Tensor:
    """Euclidean norm of all layers together, as a float64 scalar (per-layer BLAS norms, no temporaries)."""
    return torch.sqrt(sum(torch.linalg.vector_norm(W).double() ** 2 for W in layers))


def plane_from_solutions(layers: Sequence[torch.Tensor], *, axes: Axes = "unit",
                         trainable: Sequence[torch.Tensor] | None = None) -> Plane:
    """The plane through three solutions (``layers`` has S = 3): centre = mean, axes θ₁ − θ₂ and θ₁ − θ₃,
    each scaled to unit norm (``axes="unit"``) or to ‖θ₃‖ (``"authors"``); returns their coordinates too.

    ``trainable``: per-layer 0/1 masks (broadcastable to each layer) of the real parameters; entries
    outside them (a frozen constant unit, see :func:`companion.training.nets.init_default`) are left out of ‖θ₃‖.

    Memory, in single-network tensors (one is 5 GB at I = 50,000 in float32): the plane's centre and two
    axes (3, scaled in place); temporaries: θ₃ masked by ``trainable`` (one layer, only with masks) and a
    solution minus the centre, a block of at most 2²⁶ entries of one layer at a time.
    """
    if layers[0].shape[0] != 3:
        raise ValueError(f"need exactly 3 solutions, got {layers[0].shape[0]}")
    if axes not in ("unit", "authors"):
        raise ValueError(f"unknown axes {axes!r}: choose 'unit' or 'authors'")
    c = [W.mean(0, keepdim=True) for W in layers]
    d1 = [W[0:1] - W[1:2] for W in layers]
    d2 = [W[0:1] - W[2:3] for W in layers]
    n1, n2 = _norm(d1), _norm(d2)
    if float(n1) == 0 or float(n2) == 0:
        raise ValueError("two of the three solutions coincide: the plane is undefined")
    third = (W[2:3] if m is None else W[2:3] * m for W, m in zip(layers, trainable or [None] * len(layers)))
    n3 = float(_norm(third))
    length = n3 if axes == "authors" else 1.0
    for D in d1:
        D.mul_((length / n1).to(D.dtype))
    for D in d2:
        D.mul_((length / n2).to(D.dtype))
    # coordinates of the three solutions: least squares in the (non-orthogonal) basis d1, d2, from the 2×2
    # normal equations, one BLAS dot product per layer (one layer's difference at a time: I can be 50 000)
    dot = lambda a, b: float(torch.dot(a.reshape(-1), b.reshape(-1)))
    gram = np.array([[sum(map(dot, d1, d1)), sum(map(dot, d1, d2))], [sum(map(dot, d2, d1)), sum(map(dot, d2, d2))]])
    pts = []
    for s in range(3):
        r1 = r2 = 0.0
        for W, C, A, B in zip(layers, c, d1, d2):
            for sl in _blocks(W):                                  # one block unless the layer is huge
                v = W[s:s + 1, sl] - C[:, sl]
                r1, r2 = r1 + dot(A[:, sl], v), r2 + dot(B[:, sl], v)
        pts.append(np.linalg.solve(gram, np.array([r1, r2])))
    return Plane(center=c, d1=d1, d2=d2, points=np.array(pts), unit=n3 / length)


def _blocks(W: torch.Tensor, max_elements: int = BLOCK_ENTRIES) -> list[slice]:
    """Branch slices of a layer (S, I, ·, ·) holding at most ``max_elements`` entries per network (one slice
    for any layer up to that size)."""
    per = max(1, W[0, 0].numel())
    step = max(1, max_elements // per)
    return [slice(a, a + step) for a in range(0, W.shape[1], step)]


def random_plane(center: Sequence[torch.Tensor], seed: int, *, filter_normalize: bool = True) -> Plane:
    """Two random Gaussian directions at ``center`` (S = 1); filter-normalised: each row of each branch's
    weight matrix (a 'filter') rescaled to the norm of the same row of the centre."""
    g = torch.Generator().manual_seed(seed)
    dirs = []
    for _ in range(2):
        d = [torch.randn(W.shape, generator=g, dtype=torch.float64).to(W) for W in center]
        if filter_normalize:
            d = [D * (W.norm(dim=-1, keepdim=True) / D.norm(dim=-1, keepdim=True).clamp_min(1e-12)) for D, W in zip(d, center)]
        dirs.append(d)
    return Plane(center=list(center), d1=dirs[0], d2=dirs[1], points=np.zeros((0, 2)))


def plane_point(plane: Plane, alpha: float, beta: float) -> Layers:
    """θ(α, β) as layers with S = 1."""
    return [C + alpha * A + beta * B for C, A, B in zip(plane.center, plane.d1, plane.d2)]



def grid_for(plane: Plane, G: int, margin: float = 0.5) -> np.ndarray:
    """G coordinates spanning the solutions' coordinates with a margin (symmetric; [−1, 1] for random planes)."""
    r = float(np.abs(plane.points).max()) * (1 + margin) if len(plane.points) else 1.0
    return np.linspace(-r, r, G)



def window_grid(plane: Plane, radius: float, G: int) -> np.ndarray:
    """G plane coordinates spanning ±``radius``·‖θ₃‖ (the authors' ``linspace(−range, range)`` for their axes)."""
    if radius <= 0 or G < 2:
        raise ValueError(f"need radius > 0 and G ≥ 2, got {radius}, {G}")
    return np.linspace(-radius * plane.unit, radius * plane.unit, G)

