"""One landscape panel: train three solutions as one batch, span the plane through them, evaluate and score."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch

from companion import landscape as ls
from companion.nets import Scale, forward, init_branches
from companion.train import TrainResult, train_sgd

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass
class Panel:
    I: int
    plane: ls.Plane
    grid: np.ndarray            # (G,) coordinates on both axes
    surface: np.ndarray         # (G, G) loss on the evaluation set
    score: ls.Score
    train: TrainResult
    eval_seconds: float
    accuracy_train: np.ndarray  # (3,)
    accuracy_test: np.ndarray   # (3,) (nan without a test set)
    bench: ls.Benchmark | None  # fast vs per-point on a small grid, float64 (None if not asked)
    n_eval: int


def accuracy(layers: Sequence[torch.Tensor], x: torch.Tensor, y: torch.Tensor, *, scale: Scale = "sum",
             branch_chunk: int | None = None) -> np.ndarray:
    """(S,) accuracy: argmax for multi-class outputs, sign for one output."""
    with torch.no_grad():
        f = forward(layers, x, scale=scale, branch_chunk=branch_chunk)
        pred = f.argmax(-1) if f.shape[-1] > 1 else torch.where(f[..., 0] >= 0, 1.0, -1.0).to(y.dtype)
        return (pred == y).double().mean(-1).cpu().numpy()


def landscape_panel(x: torch.Tensor, y: torch.Tensor, loss_fn: LossFn, *, I: int, widths: Sequence[int],
                    seeds: Sequence[int], steps: int, lr: float, G: int, margin: float = 0.5,
                    batch_size: int | None = None, scale: Scale = "sum", parametrization: Scale = "sum",
                    x_eval: torch.Tensor | None = None, y_eval: torch.Tensor | None = None,
                    x_test: torch.Tensor | None = None, y_test: torch.Tensor | None = None, bench_G: int = 0,
                    check_every: int = 100, branch_chunk: int | None = None, device: str = "auto",
                    dtype: torch.dtype = torch.float32) -> Panel:
    """Train 3 networks of I branches (``seeds``) on (x, y) as one batch, then evaluate the loss on the plane
    through them on a G×G grid over (x_eval, y_eval) (default: the training data) and score it."""
    if len(seeds) != 3:
        raise ValueError("a panel needs exactly 3 seeds")
    L0 = init_branches(3, I, widths, seed=list(seeds), device=device, dtype=dtype, parametrization=parametrization)
    dev = L0[0].device
    x, y = x.to(dev, dtype), y.to(dev)
    y = y.to(dtype) if y.is_floating_point() else y
    r = train_sgd(L0, x, y, loss_fn, steps=steps, lr=lr, seeds=list(seeds), batch_size=batch_size, scale=scale,
                  check_every=check_every, branch_chunk=branch_chunk)
    xe = x if x_eval is None else x_eval.to(dev, dtype)
    ye = y if y_eval is None else y_eval.to(dev)
    plane = ls.plane_from_solutions(r.layers)
    g = ls.grid_for(plane, G, margin=margin)
    t0 = time.perf_counter()
    surf = ls.evaluate_fast(plane, xe, ye, loss_fn, g, g, scale=scale, branch_chunk=branch_chunk)
    t_eval = time.perf_counter() - t0
    bench = None
    if bench_G:
        p64 = ls.Plane(*[[W.double() for W in part] for part in (plane.center, plane.d1, plane.d2)], plane.points)
        gb = np.linspace(g[0], g[-1], bench_G)
        ye64 = ye.double() if ye.is_floating_point() else ye
        _, bench = ls.benchmark_plane(p64, xe.double(), ye64, loss_fn, gb, gb, scale=scale)
    acc_te = (accuracy(r.layers, x_test.to(dev, dtype), y_test.to(dev), scale=scale, branch_chunk=branch_chunk)
              if x_test is not None else np.full(3, np.nan))
    return Panel(I=I, plane=plane, grid=g, surface=surf, score=ls.nonconvexity_score(surf, g, g), train=r,
                 eval_seconds=t_eval, accuracy_train=accuracy(r.layers, x, y, scale=scale, branch_chunk=branch_chunk),
                 accuracy_test=acc_te, bench=bench, n_eval=int(xe.shape[0]))
