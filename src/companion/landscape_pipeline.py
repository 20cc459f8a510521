"""The landscape pipeline: train three solutions as one batch, span the plane through them, evaluate and score.

A panel can look at the same three solutions in several ways (``views``): ``"none"``, the plane through
the solutions as trained (the authors' protocol), and ``"aligned"``, the plane through them after the
permutation symmetry of the branches and units has been undone (:mod:`companion.symmetry`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal, Sequence

import numpy as np
import torch

from companion import landscape as ls
from companion.losses import LossFn
from companion.nets import Scale, forward, init_branches
from companion.symmetry import align_to_first
from companion.train import TrainResult, train_sgd

View = Literal["none", "aligned"]


@dataclass
class PlaneView:
    plane: ls.Plane
    grid: np.ndarray            # (G,) coordinates on both axes
    surface: np.ndarray         # (G, G) loss on the evaluation set
    score: ls.Score
    jensen_gap: float           # L(centre) − mean of the three solutions' losses (≤ 0 if L is convex)
    barriers: np.ndarray        # (3,) largest barrier along θ₁→θ₂, θ₁→θ₃, θ₂→θ₃ (≥ 0; 0 if L is convex on them)
    eval_seconds: float         # evaluating the surface (and aligning, for "aligned")


@dataclass
class Panel:
    I: int
    views: dict[str, PlaneView]  # one per requested view, in the order asked; the first is the main one
    train: TrainResult
    accuracy_train: np.ndarray  # (3,)
    accuracy_test: np.ndarray   # (3,) (nan without a test set)
    bench: ls.Benchmark | None  # fast vs per-point on a small grid, float64 (None if not asked)
    n_eval: int
    zero_loss: float            # the loss of the zero function on the evaluation set (a scale for barriers)

    @property
    def main(self) -> PlaneView:
        return next(iter(self.views.values()))

    @property
    def plane(self) -> ls.Plane:
        return self.main.plane

    @property
    def grid(self) -> np.ndarray:
        return self.main.grid

    @property
    def surface(self) -> np.ndarray:
        return self.main.surface

    @property
    def score(self) -> ls.Score:
        return self.main.score

    @property
    def eval_seconds(self) -> float:
        return self.main.eval_seconds


def accuracy(layers: Sequence[torch.Tensor], x: torch.Tensor, y: torch.Tensor, *, scale: Scale = "sum",
             branch_chunk: int | None = None) -> np.ndarray:
    """(S,) accuracy: argmax for multi-class outputs, sign for one output."""
    with torch.no_grad():
        f = forward(layers, x, scale=scale, branch_chunk=branch_chunk)
        pred = f.argmax(-1) if f.shape[-1] > 1 else torch.where(f[..., 0] >= 0, 1.0, -1.0).to(y.dtype)
        return (pred == y).double().mean(-1).cpu().numpy()


def plane_view(solutions: Sequence[torch.Tensor], view: View, x: torch.Tensor, y: torch.Tensor, loss_fn: LossFn, *,
               G: int, margin: float = 0.5, x_probe: torch.Tensor | None = None, scale: Scale = "sum",
               branch_chunk: int | None = None, K: int = 21) -> PlaneView:
    """The plane through three solutions (layers with S = 3) in one ``view``, its loss on (x, y) on a G×G
    grid, its score, the Jensen gap at its centre and the three segment barriers (``K`` points each; these two
    do not depend on the grid). ``x_probe``: inputs for aligning (default: x)."""
    t0 = time.perf_counter()
    if view == "aligned":
        solutions = align_to_first(solutions, x if x_probe is None else x_probe, branch_chunk=branch_chunk or 4096)
    elif view != "none":
        raise ValueError(f"unknown view {view!r}: choose 'none' or 'aligned'")
    plane = ls.plane_from_solutions(solutions)
    g = ls.grid_for(plane, G, margin=margin)
    surf = ls.evaluate_fast(plane, x, y, loss_fn, g, g, scale=scale, branch_chunk=branch_chunk)
    gap = float(ls.jensen_gaps(solutions, x, y, loss_fn, scale=scale, branch_chunk=branch_chunk)[0])
    bars = ls.segment_barriers(solutions, x, y, loss_fn, K=K, scale=scale, branch_chunk=branch_chunk)[0]
    return PlaneView(plane=plane, grid=g, surface=surf, score=ls.nonconvexity_score(surf, g, g),
                     jensen_gap=gap, barriers=bars, eval_seconds=time.perf_counter() - t0)


def landscape_panel(x: torch.Tensor, y: torch.Tensor, loss_fn: LossFn, *, I: int, widths: Sequence[int],
                    seeds: Sequence[int], steps: int, lr: float, G: int, margin: float = 0.5,
                    batch_size: int | None = None, scale: Scale = "sum", parametrization: Scale = "sum",
                    x_eval: torch.Tensor | None = None, y_eval: torch.Tensor | None = None,
                    x_test: torch.Tensor | None = None, y_test: torch.Tensor | None = None, bench_G: int = 0,
                    check_every: int = 100, branch_chunk: int | None = None, views: Sequence[View] = ("none",),
                    n_probe: int = 500, bench_branches: int | None = None, device: str = "auto",
                    dtype: torch.dtype = torch.float32) -> Panel:
    """Train 3 networks of I branches (``seeds``) on (x, y) as one batch, then evaluate the loss on the plane
    through them on a G×G grid over (x_eval, y_eval) (default: the training data) and score it, once per
    view in ``views``. ``"aligned"`` matches activations on the first ``n_probe`` training inputs.
    ``bench_G`` > 0 also times both evaluators (float64) on a bench_G×bench_G grid of the main view, on the
    sub-network of the first ``bench_branches`` branches (default: all)."""
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
    out = {view: plane_view(r.layers, view, xe, ye, loss_fn, G=G, margin=margin, x_probe=x[:n_probe], scale=scale,
                            branch_chunk=branch_chunk) for view in views}
    plane = next(iter(out.values())).plane
    bench = None
    if bench_G:
        k = bench_branches or I             # a float64 copy of three planes' worth of weights: bound it for huge I
        p64 = ls.Plane(*[[W[:, :k].double() for W in part] for part in (plane.center, plane.d1, plane.d2)],
                       plane.points)
        g = next(iter(out.values())).grid
        gb = np.linspace(g[0], g[-1], bench_G)
        ye64 = ye.double() if ye.is_floating_point() else ye
        _, bench = ls.benchmark_plane(p64, xe.double(), ye64, loss_fn, gb, gb, scale=scale)
    acc_te = (accuracy(r.layers, x_test.to(dev, dtype), y_test.to(dev), scale=scale, branch_chunk=branch_chunk)
              if x_test is not None else np.full(3, np.nan))
    zero = ls.zero_loss(loss_fn, ye, r.layers[-1].shape[2], dtype=dtype)
    return Panel(I=I, views=out, train=r,
                 accuracy_train=accuracy(r.layers, x, y, scale=scale, branch_chunk=branch_chunk),
                 accuracy_test=acc_te, bench=bench, n_eval=int(xe.shape[0]), zero_loss=zero)


#: P1 Figure 4's rows: (description, layer widths (d, hidden…, classes))
FIG4_ROWS = {"mnist": ("MNIST, one hidden layer (h = 8)", (784, 8, 10)),
             "cifar": ("CIFAR-10, one hidden layer (h = 8)", (3072, 8, 10)),
             "cifar_deep": ("CIFAR-10, three hidden layers (8-8-8)", (3072, 8, 8, 8, 10))}


def fig4_data(rows: Sequence[str], *, n_train: int, n_test: int, seed: int, data_dir: str | None,
              mnist_split: Literal["test", "train"] = "test") -> tuple[dict, list[str]]:
    """Standardised (x_train, y_train, x_test, y_test) per Figure 4 row, and a description of every data set used
    (``n_test = 0``: no test set; x_test and y_test are then empty).

    MNIST offline has only the official test split: with ``mnist_split="test"`` it is split into disjoint seeded
    training and test parts. CIFAR-10: seeded subsets of the train and test splits. Per-pixel standardisation
    with the training subset's statistics."""
    from companion.data import load_cifar10, load_mnist, standardize

    unknown = sorted(set(rows) - set(FIG4_ROWS))
    if unknown or not rows:
        raise ValueError(f"rows {unknown or list(rows)} not known: choose among {list(FIG4_ROWS)}")
    if mnist_split not in ("test", "train"):
        raise ValueError(f"unknown mnist_split {mnist_split!r}: choose 'test' or 'train'")
    used, sets = [], {}
    if "mnist" in rows:
        if mnist_split == "test":
            mn = load_mnist("test", data_dir)
            perm = torch.randperm(len(mn.labels), generator=torch.Generator().manual_seed(seed))
            n_mn = min(n_train, len(mn.labels) - n_test)
            tr, te = perm[:n_mn], perm[n_mn:n_mn + n_test]
            x_tr, x_te = standardize(mn.images[tr], mn.images[te if n_test else tr[:1]])   # empty test: a stand-in row
            sets["mnist"] = (x_tr, mn.labels[tr], x_te[:len(te)], mn.labels[te])
            used.append(mn.record.describe() + f" — {n_mn} of them for training"
                        + (f", a disjoint {len(te)} for test (seeded)" if n_test else " (seeded)"))
        else:   # the official training split (downloaded where there is a network)
            mn, mt = load_mnist("train", data_dir), load_mnist("test", data_dir)
            g = torch.Generator().manual_seed(seed)
            tr = torch.randperm(len(mn.labels), generator=g)[:n_train]
            te = torch.randperm(len(mt.labels), generator=g)[:n_test]
            x_tr, x_te = standardize(mn.images[tr], mt.images[te])
            sets["mnist"] = (x_tr, mn.labels[tr], x_te, mt.labels[te])
            used += [mn.record.describe() + f" — {len(tr)} for training", mt.record.describe() + f" — {len(te)} for test"]
    if {"cifar", "cifar_deep"} & set(rows):
        cf_tr = load_cifar10("train", data_dir, limit=n_train, seed=seed)
        cf_te = load_cifar10("test", data_dir, limit=n_test, seed=seed + 1) if n_test else None
        cx_tr, cx_te = standardize(cf_tr.images, cf_te.images if cf_te else cf_tr.images[:1])
        sets["cifar"] = sets["cifar_deep"] = (cx_tr, cf_tr.labels, cx_te if cf_te else cx_te[:0],
                                              cf_te.labels if cf_te else cf_tr.labels[:0])
        used += [cf_tr.record.describe()] + ([cf_te.record.describe()] if cf_te else [])
    return sets, used
