"""The landscape pipeline: train three solutions as one batch, span the plane through them, evaluate and score.

A panel can look at the same three solutions in several ways (``views``): ``"none"``, the plane through
the solutions as trained (the authors' protocol), and ``"aligned"``, the plane through them after the
permutation symmetry of the branches and units has been undone (:mod:`companion.landscapes.symmetry`).

Memory at P1's largest panel (I = 50,000 branches of 8-8-8 units on CIFAR-10: N = 5 GB per network in
float32), in units of N: the three solutions (3, trained in place with chunk-sized gradients), one plane
at a time (3 more: centre and two axes; dropped after its surface unless ``keep_planes``), and transients of
at most one layer of one network (the plane's construction, a segment's axis) or one branch chunk (the
evaluators, training). The aligned view relabels the solutions in place and undoes it exactly afterwards.
So the peak is about 6N + 1N = 35 GB plus the evaluator's buffers, against 18N = 90 GB before.
:func:`companion.landscapes.profile.profile_stages` measures each stage's time and peak memory.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from typing import Callable, ContextManager, Literal, Sequence

import numpy as np
import torch

from companion.core.devices import Device
from companion.landscapes.evaluate import Benchmark, benchmark_plane, evaluate_fast
from companion.landscapes.measures import Score, jensen_gaps, nonconvexity_score, segment_barriers, zero_loss
from companion.landscapes.plane import Plane, grid_for, plane_from_solutions
from companion.training.losses import LossFn
from companion.training.nets import Scale, example_chunk_for, forward, init_branches
from companion.landscapes.symmetry import align_to_first, match_to_first, relabel_
from companion.training.train import SGDConfig, TrainResult, train

View = Literal["none", "aligned"]
Stage = Callable[[str], ContextManager]


def _no_stage(name: str) -> ContextManager:
    """The default stage hook: nothing recorded."""
    return contextlib.nullcontext()


@dataclass
class PlaneView:
    plane: Plane | None      # the plane's weights (None when not kept: 3 networks' worth at huge I)
    points: np.ndarray          # (3, 2) the solutions' plane coordinates
    unit: float                 # ‖θ₃‖ in plane coordinates
    grid: np.ndarray            # (G,) coordinates on both axes
    surface: np.ndarray         # (G, G) loss on the evaluation set
    score: Score
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
    bench: Benchmark | None  # fast vs per-point on a small grid, float64 (None if not asked)
    n_eval: int
    zero_loss: float            # the loss of the zero function on the evaluation set (a scale for barriers)

    @property
    def main(self) -> PlaneView:
        return next(iter(self.views.values()))

    @property
    def plane(self) -> Plane | None:
        return self.main.plane

    @property
    def grid(self) -> np.ndarray:
        return self.main.grid

    @property
    def surface(self) -> np.ndarray:
        return self.main.surface

    @property
    def score(self) -> Score:
        return self.main.score

    @property
    def eval_seconds(self) -> float:
        return self.main.eval_seconds


def accuracy(layers: Sequence[torch.Tensor], x: torch.Tensor, y: torch.Tensor, *, scale: Scale = "sum",
             branch_chunk: int | None = None, example_chunk: int | None = None) -> np.ndarray:
    """(S,) accuracy: argmax for multi-class outputs, sign for one output."""
    with torch.no_grad():
        f = forward(layers, x, scale=scale, branch_chunk=branch_chunk, example_chunk=example_chunk)
        pred = f.argmax(-1) if f.shape[-1] > 1 else torch.where(f[..., 0] >= 0, 1.0, -1.0).to(y.dtype)
        return (pred == y).double().mean(-1).cpu().numpy()


@contextlib.contextmanager
def _aligned(solutions: Sequence[torch.Tensor], x_probe: torch.Tensor, branch_chunk: int | None, stage: Stage):
    """The solutions relabelled in place to match the first, for the ``with`` block; restored exactly after."""
    with stage("align"):
        rel = match_to_first(solutions, x_probe, branch_chunk=branch_chunk or 4096)
        with torch.no_grad():
            relabel_(solutions, rel)
    try:
        yield solutions
    finally:
        with stage("align"), torch.no_grad():
            relabel_(solutions, rel.inverse())


def plane_view(solutions: Sequence[torch.Tensor], view: View, x: torch.Tensor, y: torch.Tensor, loss_fn: LossFn, *,
               G: int, margin: float = 0.5, x_probe: torch.Tensor | None = None, scale: Scale = "sum",
               branch_chunk: int | None = None, K: int = 21, keep_plane: bool = True,
               stage: Stage = _no_stage) -> PlaneView:
    """The plane through three solutions (layers with S = 3) in one ``view``, its loss on (x, y) on a G×G
    grid, its score, the Jensen gap at its centre and the three segment barriers (``K`` points each; these two
    do not depend on the grid). ``x_probe``: inputs for aligning (default: x). The aligned view relabels
    ``solutions`` in place and restores them exactly before returning. ``keep_plane``: keep the plane's
    weights in the result (3 networks' worth); else only its coordinates. ``stage``: a hook timing the
    stages ``align``, ``plane``, ``evaluate``, ``measures`` (:func:`companion.landscapes.profile.profile_stages`)."""
    if view not in ("none", "aligned"):
        raise ValueError(f"unknown view {view!r}: choose 'none' or 'aligned'")
    t0 = time.perf_counter()
    with (_aligned(solutions, x if x_probe is None else x_probe, branch_chunk, stage) if view == "aligned"
          else contextlib.nullcontext(solutions)) as sols:
        with stage("plane"):
            plane = plane_from_solutions(sols)
        g = grid_for(plane, G, margin=margin)
        with stage("evaluate"):
            surf = evaluate_fast(plane, x, y, loss_fn, g, g, scale=scale, branch_chunk=branch_chunk)
        points, unit = plane.points, plane.unit
        plane = plane if keep_plane else None
        with stage("measures"):
            gap = float(jensen_gaps(sols, x, y, loss_fn, scale=scale, branch_chunk=branch_chunk)[0])
            bars = segment_barriers(sols, x, y, loss_fn, K=K, scale=scale, branch_chunk=branch_chunk)[0]
    return PlaneView(plane=plane, points=points, unit=unit, grid=g, surface=surf,
                     score=nonconvexity_score(surf, g, g), jensen_gap=gap, barriers=bars,
                     eval_seconds=time.perf_counter() - t0)


@dataclass(frozen=True)
class PanelConfig:
    """What a landscape panel trains and measures, validated once.

    3 networks of ``I`` branches of layer widths ``widths`` (seeds ``seeds``, initialised with
    ``parametrization``), trained ``steps`` SGD steps at rate ``lr`` (batch ``batch_size``, None: full batch;
    the check-full rule every ``check_every`` steps); the plane through them on a G×G grid with ``margin``,
    once per view in ``views``; ``"aligned"`` matches activations on the first ``n_probe`` training inputs;
    ``K`` points per segment. ``bench_G`` > 0 also times both evaluators (float64) on a bench_G×bench_G grid
    of the main view, on the sub-network of the first ``bench_branches`` branches (default: all).
    ``branch_chunk`` bounds memory for huge I everywhere; ``keep_planes``: keep the planes' weights.
    """

    I: int
    widths: tuple[int, ...]
    seeds: tuple[int, ...]
    steps: int
    lr: float
    G: int
    margin: float = 0.5
    batch_size: int | None = None
    scale: Scale = "sum"
    parametrization: Scale = "sum"
    check_every: int = 100
    branch_chunk: int | None = None
    views: tuple[View, ...] = ("none",)
    n_probe: int = 500
    K: int = 21
    bench_G: int = 0
    bench_branches: int | None = None
    keep_planes: bool = True
    device: Device = "cpu"
    dtype: torch.dtype = torch.float32

    def __post_init__(self) -> None:
        for name in ("widths", "seeds", "views"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        if len(self.seeds) != 3:
            raise ValueError(f"a panel needs exactly 3 seeds, got {len(self.seeds)}")
        if len(self.widths) < 2:
            raise ValueError(f"widths must be (d, hidden…, out), got {self.widths}")
        unknown = [v for v in self.views if v not in ("none", "aligned")]
        if unknown or not self.views:
            raise ValueError(f"unknown views {unknown or list(self.views)}: choose among 'none', 'aligned'")
        for name in ("scale", "parametrization"):
            if getattr(self, name) not in ("sum", "mean"):
                raise ValueError(f"unknown {name} {getattr(self, name)!r}: choose 'sum' or 'mean'")
        for name, least in (("I", 1), ("G", 2), ("n_probe", 1), ("K", 2), ("bench_G", 0), ("steps", 0)):
            if int(getattr(self, name)) < least:
                raise ValueError(f"{name} must be ≥ {least}, got {getattr(self, name)}")
        for name in ("batch_size", "branch_chunk", "bench_branches"):
            v = getattr(self, name)
            if v is not None and int(v) < 1:
                raise ValueError(f"{name} must be a positive integer or None, got {v}")

    @property
    def example_chunk(self) -> int:
        """Examples per block of the full-data forwards, so that one activation stays ≤ 256 MB."""
        return example_chunk_for(3, self.I, self.widths, self.branch_chunk)

    def sgd(self) -> SGDConfig:
        """The trainer's settings."""
        return SGDConfig(steps=self.steps, lr=self.lr, batch_size=self.batch_size, scale=self.scale,
                         check_every=self.check_every, branch_chunk=self.branch_chunk,
                         example_chunk=self.example_chunk)


def _bench(plane: Plane, grid: np.ndarray, x: torch.Tensor, y: torch.Tensor, loss_fn: LossFn,
           config: PanelConfig) -> Benchmark:
    """Both evaluators, float64, on a bench_G×bench_G grid over the main view's window, on the first
    ``bench_branches`` branches (a float64 copy of three planes' worth of weights: bounded for huge I)."""
    k = config.bench_branches or config.I
    p64 = Plane(*[[W[:, :k].double() for W in part] for part in (plane.center, plane.d1, plane.d2)], plane.points)
    gb = np.linspace(grid[0], grid[-1], config.bench_G)
    y64 = y.double() if y.is_floating_point() else y
    return benchmark_plane(p64, x.double(), y64, loss_fn, gb, gb, scale=config.scale)[1]


def landscape_panel(x: torch.Tensor, y: torch.Tensor, loss_fn: LossFn, config: PanelConfig, *,
                    x_eval: torch.Tensor | None = None, y_eval: torch.Tensor | None = None,
                    x_test: torch.Tensor | None = None, y_test: torch.Tensor | None = None,
                    stage: Stage = _no_stage) -> Panel:
    """Train 3 networks as one batch on (x, y) (:class:`PanelConfig`), then evaluate the loss on the plane
    through them on a G×G grid over (x_eval, y_eval) (default: the training data) and score it, once per view.
    (x_test, y_test): test accuracy. ``stage``: a hook timing the stages ``init``, ``train``, ``align``,
    ``plane``, ``evaluate``, ``measures``, ``bench``, ``accuracy`` (:func:`companion.landscapes.profile.profile_stages`)."""
    c = config
    with stage("init"):
        L0 = init_branches(3, c.I, c.widths, seed=list(c.seeds), device=c.device, dtype=c.dtype,
                           parametrization=c.parametrization)
    dev = L0[0].device
    x, y = x.to(dev, c.dtype), y.to(dev)
    y = y.to(c.dtype) if y.is_floating_point() else y
    with stage("train"):
        r = train(L0, x, y, loss_fn, c.sgd(), seeds=list(c.seeds), in_place=True)
    del L0
    xe = x if x_eval is None else x_eval.to(dev, c.dtype)
    ye = y if y_eval is None else y_eval.to(dev)
    out, bench = {}, None
    for i, view in enumerate(c.views):
        v = out[view] = plane_view(r.layers, view, xe, ye, loss_fn, G=c.G, margin=c.margin, x_probe=x[:c.n_probe],
                                   scale=c.scale, branch_chunk=c.branch_chunk, K=c.K, stage=stage,
                                   keep_plane=c.keep_planes or (c.bench_G > 0 and i == 0))
        if i == 0 and c.bench_G:                     # the main view's plane, before the next view's is built
            with stage("bench"):
                bench = _bench(v.plane, v.grid, xe, ye, loss_fn, c)
            v.plane = v.plane if c.keep_planes else None
    with stage("accuracy"):
        chunks = dict(scale=c.scale, branch_chunk=c.branch_chunk, example_chunk=c.example_chunk)
        acc_tr = accuracy(r.layers, x, y, **chunks)
        acc_te = (accuracy(r.layers, x_test.to(dev, c.dtype), y_test.to(dev), **chunks) if x_test is not None
                  else np.full(3, np.nan))
    zero = zero_loss(loss_fn, ye, r.layers[-1].shape[2], dtype=c.dtype)
    return Panel(I=c.I, views=out, train=r, accuracy_train=acc_tr, accuracy_test=acc_te, bench=bench,
                 n_eval=int(xe.shape[0]), zero_loss=zero)


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
    from companion.core.data import load_cifar10, load_mnist, standardize

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
