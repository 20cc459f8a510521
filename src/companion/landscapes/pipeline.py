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
from typing import Any, Callable, ContextManager, Literal, Mapping, Sequence

import numpy as np
import pandas as pd
import torch

from companion.core import seeds
from companion.core.devices import Device, describe_device
from companion.landscapes.evaluate import Benchmark, benchmark_plane, evaluate_fast
from companion.landscapes.measures import (Score, converged, jensen_gaps, nonconvexity_score, score_vs_window,
                                          segment_barriers, zero_loss)
from companion.landscapes.plane import Plane, grid_for, plane_from_solutions
from companion.training.losses import LossFn, multiclass_hinge, tau_hinge
from companion.training.nets import Scale, example_chunk_for, forward, init_branches, n_parameters
from companion.landscapes.symmetry import alignment_change, match_to_first, relabel_
from companion.training.train import SGDConfig, TrainResult, train

View = Literal["none", "aligned"]
Stage = Callable[[str], ContextManager]
#: a claim for the chapter to record: (``"close"`` | ``"true"``, the keyword arguments of that method of
#: :class:`companion.book.claims.Claims`, ``kind`` included), in the order they are recorded
ClaimSpec = tuple[Literal["close", "true"], dict[str, Any]]
Progress = Callable[..., Any]


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

    def gap(self, view: View = "none") -> float:
        """The Jensen gap at the centre of ``view``'s plane ÷ the zero function's loss."""
        return self.views[view].jensen_gap / self.zero_loss

    def barriers(self, view: View = "none") -> np.ndarray:
        """(3,) the segment barriers of ``view`` ÷ the zero function's loss."""
        return self.views[view].barriers / self.zero_loss

    def converged(self, cap: int, *, rel_tol: float, check_every: int = 100) -> np.ndarray:
        """(3,) bool: which of the three runs converged (:func:`companion.landscapes.measures.converged`, the
        tolerance in units of the zero function's loss), trained with step cap ``cap``."""
        r = self.train
        return converged(r.history, r.steps, r.loss, cap, check_every=check_every, rel_tol=rel_tol, scale=self.zero_loss)


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

#: the I at which P1 calls each Figure 4 row's plane "almost convex" (P1 §5.1: "When I = 100 for
#: 1-hidden-layer networks on MNIST and CIFAR-10, and I = 50,000 for 3-hidden-layer network on CIFAR-10")
P1_ALMOST_CONVEX_I = {"mnist": 100, "cifar": 100, "cifar_deep": 50_000}


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


# ---- P1 Figure 1 (synthetic_landscape): one panel per width on the synthetic teacher set ----

def fig1_panels(x: torch.Tensor, y: torch.Tensor, Is: Sequence[int], *, seed: int, steps: int, lr0: float, G: int,
                margin: float, bench_G: int, device: Device = "cpu", progress: Progress | None = None) -> dict[int, Panel]:
    """Figure 1's panels, one per width I in ``Is``: three networks of I one-unit branches (widths (10, 1, 1),
    f = mean of branches) from seeds ``seed·1000 + 100 + k`` (seed layout ``"fig1_triple"``), trained by
    full-batch gradient descent at rate ``lr0``·I for at most ``steps`` steps on (x (n, 10), y (n,) ±1) with
    the hinge loss (τ = 1), the plane through them on a G×G grid, and both evaluators on a bench_G×bench_G grid."""
    triple = tuple(seeds.derive_many(seed, "fig1_triple", "solution", 3))
    panels = {}
    for I in (progress(Is, "widths I") if progress else Is):
        config = PanelConfig(I=I, widths=(10, 1, 1), seeds=triple, steps=steps, lr=lr0 * I, G=G, margin=margin,
                             scale="mean", parametrization="mean", bench_G=bench_G, device=device)
        panels[I] = landscape_panel(x, y, tau_hinge, config)
    return panels


def fig1_summary(panels: Mapping[int, Panel], *, G: int, bench_G: int, steps: int, rel_tol: float) -> pd.DataFrame:
    """One row per width I of :func:`fig1_panels`: parameters, training losses, steps taken and how many of the
    three runs converged (cap ``steps``, tolerance ``rel_tol``), accuracies and time, the Jensen gap and barriers
    (÷ zero loss), the score, the grid's evaluation time and the benchmark."""
    return pd.DataFrame([{
        "I": I, "parameters": n_parameters(I, (10, 1, 1)), "train losses": np.round(p.train.loss.cpu().numpy(), 5),
        "steps": p.train.steps.cpu().numpy(), "converged": int(p.converged(steps, rel_tol=rel_tol).sum()),
        "train accuracy": np.round(p.accuracy_train, 3), "train s": p.train.seconds,
        "Jensen gap / L(0)": p.gap(), "barriers / L(0)": np.round(p.barriers(), 3), "score (max)": p.score.max,
        "score (mean)": p.score.mean, f"{G}×{G} grid s": p.eval_seconds, "fast/naive rel. diff": p.bench.max_rel_diff,
        f"speed-up on {bench_G}×{bench_G}": p.bench.speedup} for I, p in panels.items()]).set_index("I")


def fig1_measures(panels: Mapping[int, Panel], x: torch.Tensor, y: torch.Tensor, *, G: int,
                  widen: float = 6.0) -> dict[str, np.ndarray]:
    """Per width of :func:`fig1_panels` (in their order): ``gaps`` (K,) Jensen gaps, ``barriers`` (K, 3)
    segment barriers (÷ zero loss), ``scores`` (K,) the score on the panel's window and ``wide`` (K,) the score
    of the same plane on a G×G window ``widen`` times wider."""
    return {"gaps": np.array([p.gap() for p in panels.values()]),
            "barriers": np.array([p.barriers() for p in panels.values()]),
            "scores": np.array([p.score.max for p in panels.values()]),
            "wide": np.array([score_vs_window(p.plane, x, y, tau_hinge, [widen * p.grid[-1] / p.plane.unit], G=G,
                                              scale="mean")[0].max for p in panels.values()])}


def fig1_claims(panels: Mapping[int, Panel]) -> list[ClaimSpec]:
    """Figure 1's claims: the sanity check fast = naive evaluator at every width (code equivalence). No finding:
    a panel is one triple, and the three pairs of one triple are not independent replicates; the findings on
    Figure 1, over seed triples, are landscape_verdict's (:func:`companion.landscapes.verdict.findings`)."""
    return [("close", dict(id=f"fast_equals_naive_I{I}", description=f"I = {I}: fast plane evaluator = per-point "
                           "forward (largest relative difference, float64)", measured=p.bench.max_rel_diff,
                           reference=0.0, tolerance=1e-5, kind="sanity")) for I, p in panels.items()]


# ---- P1 Figure 4 (real_landscapes): one panel per row and width ----

#: the Figure 4 rows whose widths are ``Is_deep`` in :func:`fig4_widths` (the others take ``Is_shallow``)
DEEP_ROWS = ("cifar_deep",)


def fig4_widths(rows: Sequence[str], Is_shallow: Sequence[int], Is_deep: Sequence[int]) -> dict[str, list[int]]:
    """The widths I of each Figure 4 row run, in the order of ``rows``."""
    return {key: list(Is_deep if key in DEEP_ROWS else Is_shallow) for key in rows}


def fig4_seeds(seed: int, row: int) -> tuple[int, ...]:
    """The three solutions' seeds of the ``row``-th row run: ``seed·1000 + 10·row + k`` (layout ``"fig4_triple"``)."""
    return tuple(seeds.derive_many(seed, "fig4_triple", "solution", 3, row=row))


def fig4_panels(sets: Mapping[str, tuple], widths: Mapping[str, Sequence[int]], *, seed: int, steps: int, lr: float,
                G: int, margin: float, batch_size: int, bench_G: int, branch_chunk: int | None, n_probe: int,
                bench_branches: int | None, n_eval: int, device: Device = "cpu",
                progress: Progress | None = None) -> dict[tuple[str, int], Panel]:
    """Figure 4's panels, keyed (row, I): for each row of ``widths`` (:func:`fig4_widths`) and each of its I,
    three networks of :data:`FIG4_ROWS`' widths (seeds :func:`fig4_seeds`) trained by minibatch SGD at rate
    ``lr``·I on ``sets[row]`` = (x_train, y_train, x_test, y_test) (:func:`fig4_data`) with the 10-class hinge
    loss, their plane as trained and aligned on the first ``n_eval`` training examples, and, at the row's widest
    I, both evaluators on a bench_G×bench_G grid."""
    panels = {}
    for r, (key, Is) in enumerate(widths.items()):
        x_tr, y_tr, x_te, y_te = sets[key]
        for I in (progress(Is, key) if progress else Is):
            config = PanelConfig(I=I, widths=FIG4_ROWS[key][1], seeds=fig4_seeds(seed, r), steps=steps, lr=lr * I, G=G,
                                 margin=margin, batch_size=batch_size, scale="mean", parametrization="mean",
                                 bench_G=bench_G if I == Is[-1] else 0, branch_chunk=branch_chunk,
                                 views=("none", "aligned"), n_probe=n_probe, bench_branches=bench_branches,
                                 keep_planes=False, device=device)
            panels[key, I] = landscape_panel(x_tr, y_tr, multiclass_hinge, config, x_eval=x_tr[:n_eval],
                                             y_eval=y_tr[:n_eval], x_test=x_te, y_test=y_te)
    return panels


def fig4_summary(panels: Mapping[tuple[str, int], Panel], *, steps: int, rel_tol: float) -> pd.DataFrame:
    """One row per (row, I) of :func:`fig4_panels`: parameters, training loss, steps taken, how many of the three
    runs converged (cap ``steps``, tolerance ``rel_tol``) and accuracies of the three solutions, Jensen gap and
    largest barrier (÷ zero loss) and score as trained and aligned, and the seconds spent training and on the
    planes."""
    return pd.DataFrame([{
        "row": FIG4_ROWS[key][0], "I": I, "parameters": n_parameters(I, FIG4_ROWS[key][1]),
        "train loss": np.round(p.train.loss.cpu().numpy(), 3), "steps": p.train.steps.cpu().numpy(),
        "converged": int(p.converged(steps, rel_tol=rel_tol).sum()), "train acc.": np.round(p.accuracy_train, 3),
        "test acc.": np.round(p.accuracy_test, 3),
        "Jensen gap, as trained": p.gap("none"), "Jensen gap, aligned": p.gap("aligned"),
        "barrier, as trained": p.barriers("none").max(), "barrier, aligned": p.barriers("aligned").max(),
        "score, as trained": p.views["none"].score.max, "score, aligned": p.views["aligned"].score.max,
        "train s": p.train.seconds, "planes s": p.views["none"].eval_seconds + p.views["aligned"].eval_seconds}
        for (key, I), p in panels.items()]).set_index(["row", "I"])


def fig4_convergence(summary: pd.DataFrame) -> pd.DataFrame:
    """Per row of :func:`fig4_summary`'s table (in its order): the runs that converged, the runs (3 per panel)
    and their share."""
    g = summary.groupby(level="row", sort=False)["converged"]
    t = pd.DataFrame({"converged": g.sum().astype(int), "runs": 3 * g.size()})
    return t.assign(share=t.converged / t.runs)


def fig4_bench(panels: Mapping[tuple[str, int], Panel], device: Device = "cpu") -> pd.DataFrame:
    """The benchmarks of :func:`fig4_panels` (the widest I of each row): engine, throughput of both evaluators
    (grid points × examples per second), speed-up and largest relative difference."""
    return pd.DataFrame([{"row": FIG4_ROWS[key][0], "I": I, "device": describe_device(device), "engine": p.bench.engine,
                          "fast (points·examples/s)": p.bench.fast_rate,
                          "per-point (points·examples/s)": p.bench.naive_rate,
                          "speed-up": p.bench.speedup, "rel. difference": p.bench.max_rel_diff}
                         for (key, I), p in panels.items() if p.bench is not None]).set_index(["row", "I"])


def fig4_claims(panels: Mapping[tuple[str, int], Panel], sets: Mapping[str, tuple], widths: Mapping[str, Sequence[int]],
                *, n_probe: int, branch_chunk: int | None, device: Device = "cpu") -> list[ClaimSpec]:
    """Figure 4's claims, per row: at its widest I the sanity checks fast = naive evaluator (code equivalence)
    and aligning keeps the functions (it relabels units: true by construction;
    :func:`companion.landscapes.symmetry.alignment_change` on the first ``n_probe`` training inputs); and the
    check that the aligned Jensen gap is at most the gap as trained at every I (an empirical property of the
    alignment, which matches activations, not losses). No finding: a panel is one triple, not replicates; the
    findings on Figure 4 are landscape_verdict's."""
    out: list[ClaimSpec] = []
    for key, Is in widths.items():
        name, p = FIG4_ROWS[key][0], panels[key, Is[-1]]
        x_probe = sets[key][0][:n_probe].to(device)
        out += [("close", dict(id=f"{key}_fast_equals_naive", description=f"{name}, I = {Is[-1]:,}: fast plane "
                               "evaluator = per-point forward (largest relative difference, float64)",
                               measured=p.bench.max_rel_diff, reference=0.0, tolerance=1e-5, kind="sanity")),
                ("close", dict(id=f"{key}_alignment_keeps_functions", description=f"{name}, I = {Is[-1]:,}: aligning "
                               "relabels units only — largest change of any output, relative to the largest output "
                               "(float32)", measured=alignment_change(p.train.layers, x_probe, branch_chunk=branch_chunk),
                               reference=0.0, tolerance=1e-5, kind="sanity")),
                ("true", dict(id=f"{key}_alignment_lowers_the_barrier", description=f"{name}: the Jensen gap after "
                              f"alignment is at most the gap as trained, at every I in {Is}",
                              statement=all(panels[key, I].gap("aligned") <= panels[key, I].gap("none") for I in Is)))]
    return out


def fig4_trends(panels: Mapping[tuple[str, int], Panel], widths: Mapping[str, Sequence[int]]) -> dict[str, Any]:
    """For the page's table: per row of :data:`FIG4_ROWS`, the Jensen gap (÷ zero loss) as trained and aligned at
    the first and the widest I (``{row}_{view}_first``, ``…_last``), that I (``{row}_Ilast``) and whether the
    aligned gap falls (``{row}_aligned_trend``); rows not run get NaN, "—" and "was not run"."""
    out: dict[str, Any] = {}
    for key in set(FIG4_ROWS) - set(widths):
        out.update({f"{key}_{v}_{e}": float("nan") for v in ("none", "aligned") for e in ("first", "last")})
        out.update({f"{key}_Ilast": "—", f"{key}_aligned_trend": "was not run"})
    for key, Is in widths.items():
        for view in ("none", "aligned"):
            out[f"{key}_{view}_first"] = panels[key, Is[0]].gap(view)
            out[f"{key}_{view}_last"] = panels[key, Is[-1]].gap(view)
        out[f"{key}_Ilast"] = Is[-1]
        falls = out[f"{key}_aligned_last"] < out[f"{key}_aligned_first"]
        out[f"{key}_aligned_trend"] = "falls" if falls else "does not fall"
    return out
