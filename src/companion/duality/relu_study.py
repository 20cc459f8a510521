"""The parallel_relu chapter's experiments on P2's three-layer ReLU results: each returns its numbers as arrays,
with a ``table()`` for display only.

A (:func:`whitened_study`): whitened data, closed forms against trained standard and parallel nets.
B (:func:`regularized_whitened_check`, :func:`general_data`, :func:`perturbed_polish`, :func:`gap_summary`,
:func:`region_gaps`, :func:`exact_comparison`): the regularised convex program against trained parallel nets as m
grows, and where every pattern can be listed.
C (:func:`rank_one_study`): rank-one data, both sign cases.
The mathematics is in :mod:`~companion.duality.relu_closed_forms`, :mod:`~companion.duality.relu_program`,
:mod:`~companion.duality.relu_nets` and :mod:`~companion.duality.relu_train`.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import pandas as pd

from companion.core.devices import Device
from companion.core.plotting import COLORS
from companion.core.stats import bootstrap_mean_interval, mean_interval, wilson_interval
from companion.duality import relu_closed_forms as cf
from companion.duality import relu_program as rp
from companion.duality.relu_nets import Net, net_objective
from companion.duality.relu_train import Trained, train_nets, train_relu_regularized, train_rescaled


def relative_gap(values: np.ndarray, reference: float | np.ndarray) -> np.ndarray:
    """(values − reference)/reference, elementwise (reference > 0 broadcast against values)."""
    ref = np.asarray(reference, float)
    if np.any(ref <= 0):
        raise ValueError("relative gaps need a positive reference value")
    return (np.asarray(values, float) - ref) / ref


def hit_share(values: np.ndarray, reference: float | np.ndarray, tol: float = 0.01, axis: int = -1) -> np.ndarray:
    """Share of restarts (along ``axis``) whose value is within ``tol`` (relative) of the reference optimum:
    P1 Table 1's hitting rate with "hit" = (value − ref)/ref ≤ tol. Infinite values (no solution) miss."""
    if tol < 0:
        raise ValueError(f"tol must be ≥ 0, got {tol}")
    return np.mean(relative_gap(values, reference) <= tol, axis=axis)


# ---- A: whitened data ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Whitened:
    """A: per ratio q/p (T of them) the closed forms and the best trained nets; parallel nets per m in ``ms``."""
    ratios: tuple[float, ...]
    ms: tuple[int, ...]
    p: np.ndarray              # (T,) ‖y₊‖
    q: np.ndarray              # (T,) ‖y₋‖
    primal: np.ndarray         # (T,) P closed form, (3/2)(p^{2/3} + q^{2/3})
    dual: np.ndarray           # (T,) D closed form, (3/2)(p + q)^{2/3}
    standard: np.ndarray       # (T,) best trained standard net (weight decay)
    parallel_wd: np.ndarray    # (T, M) best trained parallel net, weight decay
    parallel_path: np.ndarray  # (T, M) best trained parallel net, P2's regulariser

    @property
    def gauge(self) -> np.ndarray:
        """(T,) γ = p + q, the parallel net's optimum and dual under P2's regulariser."""
        return self.p + self.q

    def table(self) -> pd.DataFrame:
        """For display: one row per ratio (index q/p)."""
        cols: dict[str, Any] = {"P closed": self.primal, "D closed": self.dual, "standard, trained": self.standard}
        cols |= {f"parallel m={m}, weight decay": self.parallel_wd[:, j] for j, m in enumerate(self.ms)}
        cols |= {f"parallel m={m}, P2 reg.": self.parallel_path[:, j] for j, m in enumerate(self.ms)}
        fixed, minimised = np.array([cf.gap_measures(P, g) for P, g in zip(self.primal, self.gauge)]).T
        return pd.DataFrame({**cols, "γ = p + q": self.gauge, "P/D, minimised over t": minimised,
                             "P(t)/D(t), fixed t": fixed}, index=pd.Index(list(self.ratios), name="q/p"))


def whitened_study(n: int, ratios: Sequence[float], ms: Sequence[int], *, seed: int, **train: Any) -> Whitened:
    """Whitened X (n × n), y with ‖y₋‖/‖y₊‖ = each ratio: closed forms P, D, γ = p + q and the best trained
    standard net and parallel nets (m in ``ms``) under weight decay and P2's regulariser.
    ``train``: :func:`~companion.duality.relu_train.train_nets` options (restarts, outer, inner, device)."""
    inst = [cf.whitened_instance(n, r, seed) for r in ratios]
    X, Y = inst[0][0], np.stack([y for _, y in inst])
    p, q = np.array([cf.split_signs(y) for y in Y]).T
    std = train_nets(X, Y, [1], kind="weight_decay", h1=n, h2=n, seed=seed, **train).best()[:, 0]
    par = train_nets(X, Y, ms, kind="path", h1=n, seed=seed, **train).best()
    par_wd = train_nets(X, Y, ms, kind="weight_decay", h1=n, seed=seed, **train).best()
    return Whitened(tuple(ratios), tuple(ms), p, q, np.array([cf.whitened_primal(a, b) for a, b in zip(p, q)]),
                    np.array([cf.whitened_dual(a, b) for a, b in zip(p, q)]), std, par_wd, par)


# ---- C: rank-one data ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RankOne:
    """C: per case (y_a, y_b) (C of them) and rank-one data set k (K of them, X = c aᵀ with ‖a‖ = 1): the best
    trained standard net, minimised over t and at the fixed t = 1, and the gauge γ = D(1) by the exact program;
    our closed forms beside them. Both gap measures: minimised over t, (trained − D)/D; at t = 1,
    (trained P(1) − γ)/γ."""
    cases: tuple[tuple[float, float], ...]
    trained: np.ndarray     # (C, K) best trained standard net, weight decay (minimised over t)
    trained_t: np.ndarray   # (C, K) best trained at ‖W₁‖_F = 1, ½(‖W₂‖² + ‖w₃‖²)
    gauge: np.ndarray       # (C, K) γ(y) by the exact convex program: D(1)
    primal: np.ndarray      # (C,) P, our closed form
    dual: np.ndarray        # (C,) D = (3/2)γ^{2/3}, γ = |y_a| + |y_b|

    @property
    def gap(self) -> np.ndarray:
        """(C, K) (trained − D)/D, both minimised over t."""
        return (self.trained - self.dual[:, None]) / self.dual[:, None]

    @property
    def gap_fixed_t(self) -> np.ndarray:
        """(C, K) (P(1) trained − γ)/γ at the fixed t = 1."""
        return (self.trained_t - self.gauge) / self.gauge

    @property
    def closed_gap(self) -> np.ndarray:
        """(C, 2) our closed forms of both relative gaps: (fixed t, minimised over t)."""
        r = np.array([cf.rank_one_fixed_t_ratio(a, b) for a, b in self.cases])
        return np.stack([r - 1, r ** (2 / 3) - 1], 1)

    def primal_error(self) -> np.ndarray:
        """(C,) largest |trained − P|/P over the data sets: how far training is from our closed-form optimum."""
        return np.abs(self.trained / self.primal[:, None] - 1).max(1)

    def table(self) -> pd.DataFrame:
        """For display: one row per case (the first data set's numbers), both gap measures."""
        cg = self.closed_gap
        return pd.DataFrame({"trained": self.trained[:, 0], "P (our closed form)": self.primal, "D": self.dual,
                             "(trained − D)/D, minimised over t": self.gap[:, 0], "closed form, minimised": cg[:, 1],
                             "P(1) trained at t = 1": self.trained_t[:, 0], "γ = D(1), exact program": self.gauge[:, 0],
                             "(P(1) − D(1))/D(1), fixed t": self.gap_fixed_t[:, 0], "closed form, fixed t": cg[:, 0]},
                            index=pd.Index([f"({a:g}, {b:g})" for a, b in self.cases], name="(y_a, y_b)"))


def rank_one_study(cases: Sequence[Sequence[float]], *, seed: int, sets: int = 1, **train: Any) -> RankOne:
    """Rank-one X = c aᵀ (n = 6, d = 3; data set k seeded seed + k), y = y_a c₊ + y_b c₋ for each (y_a, y_b): the
    best trained standard nets (weight decay, every case and data set one batch; ``train``:
    :func:`~companion.duality.relu_train.train_nets` options), the same at ‖W₁‖_F = 1
    (:func:`~companion.duality.relu_train.train_rescaled`), γ by :func:`~companion.duality.relu_program.exact_program`,
    and our closed forms P and D."""
    pairs = tuple((float(a), float(b)) for a, b in cases)
    inst = [cf.rank_one_instance(6, 3, a, b, seed + k) for a, b in pairs for k in range(sets)]
    X, Y = np.stack([x for x, _, _ in inst]), np.stack([y for _, y, _ in inst])
    best = train_nets(X, Y, [1], kind="weight_decay", h1=6, h2=6, seed=seed, **train).best()[:, 0]
    best_t = train_rescaled(X, Y, 1.0, h1=6, h2=6, seed=seed, **train).best()[:, 0]
    gauge = np.array([rp.exact_program(x, y).value for x, y, _ in inst])
    C = len(pairs)
    return RankOne(pairs, best.reshape(C, sets), best_t.reshape(C, sets), gauge.reshape(C, sets),
                   np.array([cf.rank_one_primal(a, b) for a, b in pairs]),
                   np.array([cf.standard_dual(cf.rank_one_gauge(a, b)) for a, b in pairs]))


# ---- B: the regularised problem ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class OptimiserCheck:
    """B.1 on whitened data: the closed-form optimum and every restart's value."""
    closed: float
    values: np.ndarray    # (R,)
    share: float          # share of restarts within hit_tol of ``closed``

    @property
    def best(self) -> float:
        return float(self.values.min())


def regularized_whitened_check(n: int, ratio: float, *, beta: float, restarts: int, hit_tol: float, seed: int,
                               device: Device = "cpu", **train: Any) -> OptimiserCheck:
    """B.1: whitened X (n × n), ‖y₋‖/‖y₊‖ = ratio; parallel nets of m = n + 1 branches and P2's regulariser trained
    on ½‖f − y‖² + βR (``train``: :func:`~companion.duality.relu_train.train_relu_regularized` options) against
    the closed form h_β(p) + h_β(q) (:func:`~companion.duality.relu_closed_forms.whitened_regularized`)."""
    X, y = cf.whitened_instance(n, ratio, seed)
    closed = cf.whitened_regularized(*cf.split_signs(y), beta)
    tr = train_relu_regularized(X, y, [n + 1], kind="path", h1=n, restarts=restarts, beta=beta, seed=seed,
                                device=device, **train)
    return OptimiserCheck(closed, tr.values[0, 0], float(hit_share(tr.values[0, 0], closed, hit_tol)))


@dataclass
class GeneralData:
    """B: data sets k (X (K, n, 3), Y (K, n)), trained nets and the convex program per data set."""
    seeds: list[int]
    X: np.ndarray
    Y: np.ndarray
    parallel: Trained                    # (K, |ms|, restarts)
    standard: Trained                    # (K, 1, restarts), h₂ = h₁
    programs: list[rp.ProgramResult]     # estimated (harvested + sampled outer patterns)
    rebuilt: list[Net]                   # each program's solution as a parallel net
    reduced: list[Net]                   # the same after Carathéodory (≤ n + 1 branches)
    std_bound: np.ndarray                # (K,) βt²/2 + G(β/t) at the best standard net's own t
    pattern_counts: list[tuple[int, int]]  # (inner, outer) per data set
    beta: float
    seconds: float                       # training and convex programs, wall time

    @property
    def convex(self) -> np.ndarray:
        """(K,) the estimated convex values."""
        return np.array([r.value for r in self.programs])

    def gaps(self) -> np.ndarray:
        """(K, |ms|, restarts) (trained − convex)/convex."""
        return relative_gap(self.parallel.values, self.convex[:, None, None])

    def shares(self, hit_tol: float) -> np.ndarray:
        """(K, |ms|) share of restarts within ``hit_tol`` of the convex value."""
        return hit_share(self.parallel.values, self.convex[:, None, None], hit_tol)

    def objectives(self, nets: Sequence[Net]) -> np.ndarray:
        """(K,) ½‖f − y‖² + β·(path norm) of one parallel net per data set."""
        return np.array([net_objective(self.X[k], self.Y[k], net, self.beta) for k, net in enumerate(nets)])

    def std_gaps(self) -> np.ndarray:
        """(K,) the best standard net's (value − bound)/bound."""
        return relative_gap(self.standard.values[:, 0].min(-1), self.std_bound)

    def table(self, hit_tol: float) -> pd.DataFrame:
        """For display: one row per data set (index: its seed); gaps and shares at the largest m."""
        m, best_gap, share = self.parallel.ms[-1], self.gaps().min(-1)[:, -1], self.shares(hit_tol)[:, -1]
        return pd.DataFrame({
            "inner patterns (all)": [a for a, _ in self.pattern_counts],
            "outer patterns (harvested + sampled)": [b for _, b in self.pattern_counts],
            "convex value (estimated)": self.convex, "branches: solver's net": [len(w[0]) for w in self.rebuilt],
            "branches: after Carathéodory": [len(w[0]) for w in self.reduced], f"best gap, m = {m}": best_gap,
            f"share within {hit_tol:.0%}, m = {m}": share, "standard: best": self.standard.values[:, 0].min(-1),
            "standard: dual bound": self.std_bound, "standard: best gap (≥)": self.std_gaps(),
        }, index=pd.Index(self.seeds, name="data seed"))


def _convex_one(job: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float, float]
                ) -> tuple[rp.ProgramResult, Net, Net, float, tuple[int, int]]:
    """One data set's convex work (a module-level function, so a worker process can run it): the program over
    every inner pattern and the given outer ones, its solution rebuilt and reduced, and the best standard net's
    bound βt²/2 + G(β/t) over that net's outer patterns and the rebuilt optimal net's (which keep it tight and
    small). ``job`` = (X, y, outer, the standard net's outer patterns, its t = ‖W₁‖_F, β)."""
    X, y, outer, outer_std, t, beta = job
    inner = rp.arrangement_patterns_3d(X)
    program = rp.parallel_program(X, y, inner, outer, beta=beta)
    rebuilt = rp.reconstruct(program)
    both = rp.union_patterns(outer_std, rp.branch_patterns(*rebuilt[:2], X)[1])
    bound = cf.rescaled_dual_bound(beta, t, rp.parallel_program(X, y, inner, both, beta=beta / t).value)
    return program, rebuilt, rp.caratheodory(rebuilt, X), bound, (len(inner), len(outer))


def _map_programs(jobs: list[Any], workers: int | None) -> Iterable[Any]:
    """:func:`_convex_one` over the jobs, in order: in this process (``workers`` ≤ 1), or in that many spawned
    worker processes (each program is a single-threaded interior-point solve; the results are the same)."""
    workers = min(len(jobs), os.cpu_count() or 1, 2) if workers is None else min(workers, len(jobs))
    if workers <= 1:
        yield from map(_convex_one, jobs)
        return
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        yield from pool.map(_convex_one, jobs)


def general_data(n: int, seeds: Sequence[int], ms: Sequence[int], *, h1: int, restarts: int, beta: float,
                 harvest: float, samples: int, seed: int, device: Device = "cpu",
                 progress: Callable[[Iterable[int], str, int], Iterable[int]] | None = None,
                 workers: int | None = None, **train: Any) -> GeneralData:
    """B.2: one planar data set per seed (n points and a bias column, ±1 targets); parallel nets (P2's
    regulariser, every m in ``ms``) and standard nets (weight decay, h₂ = h₁) trained by
    :func:`~companion.duality.relu_train.train_relu_regularized` (``train``: steps, lr, taus, iters); per data set
    the convex program over every inner pattern and the outer patterns of the nets within ``harvest`` × the best
    plus ``samples`` random branches', its solution rebuilt and reduced, and the standard nets' bound at the best
    one's t. ``workers``: processes for the convex programs (default: up to 2, one per core; 1 runs them here).
    """
    t0 = time.perf_counter()
    bar = progress or (lambda it, _label, _total: it)
    data = [cf.planar_instance(n, s) for s in seeds]
    X, Y = np.stack([x for x, _ in data]), np.stack([y for _, y in data])
    kw = dict(beta=beta, restarts=restarts, seed=seed, device=device, **train)
    steps = train.get("steps", 0)
    par = train_relu_regularized(X, Y, ms, kind="path", h1=h1,
                                 progress=lambda it: bar(it, "Adam steps (parallel)", steps), **kw)
    std = train_relu_regularized(X, Y, [1], kind="weight_decay", h1=h1, h2=h1,
                                 progress=lambda it: bar(it, "Adam steps (standard)", steps), **kw)
    jobs = []
    for k in range(len(seeds)):
        best = int(np.argmin(std.values[k, 0]))
        outer = rp.union_patterns(par.patterns(X[k], k, harvest)[1], std.patterns(X[k], k, harvest)[1],
                                  rp.sample_branch_patterns(X[k], h1, samples, seeds[k]))
        jobs.append((X[k], Y[k], outer, std.patterns(X[k], k, 1.0)[1], float(np.linalg.norm(std.W1[k, 0, best, 0])),
                     beta))
    done = list(bar(_map_programs(jobs, workers), "convex programs", len(seeds)))
    programs, rebuilt, reduced, bounds, counts = (list(c) for c in zip(*done))
    return GeneralData(list(seeds), X, Y, par, std, programs, rebuilt, reduced, np.array(bounds), counts, beta,
                       time.perf_counter() - t0)


def perturbed_polish(study: GeneralData, k: int = 0, *, restarts: int, noise: float = 0.01, seed: int,
                     device: Device = "cpu", **train: Any) -> float:
    """B.1's second part: data set k's convex solution as a net (``study.rebuilt[k]``), every weight times
    (1 + noise·N(0, 1)) in each of ``restarts`` copies, polished in float64 alone (no Adam steps; ``train``: taus,
    iters, lr) at the study's β. Returns the largest |relative difference| to the convex value over restarts."""
    net = study.rebuilt[k]
    back = train_relu_regularized(study.X[k], study.Y[k], [len(net[0])], kind="path", h1=net[0].shape[2],
                                  restarts=restarts, start=net, noise=noise, beta=study.beta, seed=seed, device=device,
                                  **{**train, "steps": 0})
    return float(np.abs(relative_gap(back.values[0, 0], study.convex[k])).max())


def region_gaps(study: GeneralData) -> np.ndarray:
    """(K, |ms|) relative improvement (value − region optimum)/value of the best restart of every (data set, m) by
    :func:`~companion.duality.relu_program.region_program` (NaN at m = 1): how far training stopped short of its own
    activation region's optimum."""
    out = np.full(study.parallel.values.shape[:2], np.nan)
    for k in range(len(study.seeds)):
        for mi, m in enumerate(study.parallel.ms):
            if m >= 2:
                r = int(np.argmin(study.parallel.values[k, mi]))
                v = study.parallel.values[k, mi, r]
                out[k, mi] = (v - rp.region_program(study.X[k], study.Y[k], study.parallel.net(k, mi, r), study.beta)) / v
    return out


@dataclass(frozen=True)
class GapSummary:
    """Per m: the best restart's gap (mean over data sets and its 95% t-interval), the median restart's gap (mean
    over data sets), and the restarts within tolerance (pooled over data sets, Wilson interval)."""
    ms: tuple[int, ...]
    best: np.ndarray          # (M,)
    best_low: np.ndarray      # (M,)
    best_high: np.ndarray     # (M,)
    median: np.ndarray        # (M,)
    hits: np.ndarray          # (M,) int, restarts within tolerance
    total: int                # restarts per m (data sets × restarts)
    share_low: np.ndarray     # (M,)
    share_high: np.ndarray    # (M,)

    @property
    def share(self) -> np.ndarray:
        """(M,) pooled share of restarts within tolerance."""
        return self.hits / self.total

    def table(self) -> pd.DataFrame:
        """For display: one row per m."""
        return pd.DataFrame({"best gap (mean over data)": self.best, "low": self.best_low, "high": self.best_high,
                             "median gap (mean)": self.median, "share within tol": self.share,
                             "share low": self.share_low, "share high": self.share_high},
                            index=pd.Index(list(self.ms), name="m"))


def gap_summary(gaps: np.ndarray, values: np.ndarray, convex: np.ndarray, ms: Sequence[int],
                hit_tol: float) -> GapSummary:
    """:class:`GapSummary` of gaps and values (K, |ms|, R) against convex (K,)."""
    K, _, R = gaps.shape
    bm, blo, bhi = mean_interval(gaps.min(-1), axis=0)
    hits = np.round(hit_share(values, convex[:, None, None], hit_tol).sum(0) * R).astype(int)   # (|ms|,)
    lo, hi = wilson_interval(hits, K * R)
    return GapSummary(tuple(ms), np.asarray(bm), np.asarray(blo), np.asarray(bhi), np.median(gaps, -1).mean(0), hits,
                      K * R, np.asarray(lo, float), np.asarray(hi, float))


@dataclass(frozen=True)
class ExactComparison:
    """B.3 per data set (K of them): the exact convex value against B.2's estimate and the trained nets."""
    seeds: list[int]
    exact: np.ndarray          # (K,) the program over every pattern
    estimated: np.ndarray      # (K,) over harvested and sampled outer patterns
    best_gap: np.ndarray       # (K,) best trained net's (value − exact)/exact
    share: np.ndarray          # (K,) share of restarts within hit_tol of exact
    branches: np.ndarray       # (K,) int, branches of the exact solution after Carathéodory
    optimal_gap: np.ndarray    # (K,) that net's (value − exact)/exact

    @property
    def excess(self) -> np.ndarray:
        """(K,) (estimated − exact)/exact."""
        return (self.estimated - self.exact) / self.exact

    def table(self) -> pd.DataFrame:
        """For display: one row per data set (index: its seed)."""
        return pd.DataFrame({"exact": self.exact, "estimated": self.estimated, "(estimated − exact)/exact": self.excess,
                             "best trained gap vs exact": self.best_gap, "share within tol of exact": self.share,
                             "optimal net: branches": self.branches,
                             "optimal net: (value − exact)/exact": self.optimal_gap},
                            index=pd.Index(self.seeds, name="data seed"))


def exact_comparison(n: int, seeds: Sequence[int], *, restarts: int, beta: float, harvest: float, samples: int,
                     hit_tol: float, seed: int, device: Device = "cpu", **train: Any) -> ExactComparison:
    """B.3, n small enough to list every outer pattern: per data set the exact convex value, B.2's estimate, the
    trained nets at m = n + 1, and the exact solution rebuilt and reduced to at most n + 1 branches."""
    data = [cf.planar_instance(n, s) for s in seeds]
    X, Y = np.stack([x for x, _ in data]), np.stack([y for _, y in data])
    tr = train_relu_regularized(X, Y, [n + 1], kind="path", h1=n, restarts=restarts, beta=beta, seed=seed,
                                device=device, **train)
    rows = []
    for k, s in enumerate(seeds):
        inner = rp.arrangement_patterns_3d(X[k])
        exact = rp.exact_program(X[k], Y[k], inner=inner, beta=beta)
        net = rp.caratheodory(rp.reconstruct(exact), X[k])
        est = rp.parallel_program(X[k], Y[k], inner, rp.union_patterns(
            tr.patterns(X[k], k, harvest)[1], rp.sample_branch_patterns(X[k], n, samples, s)), beta=beta).value
        rows.append((exact.value, est, float(relative_gap(tr.values[k, 0].min(), exact.value)),
                     float(hit_share(tr.values[k, 0], exact.value, hit_tol)), len(net[0]),
                     net_objective(X[k], Y[k], net, beta) / exact.value - 1))
    cols = [np.array(c) for c in zip(*rows)]
    return ExactComparison(list(seeds), cols[0], cols[1], cols[2], cols[3], cols[4].astype(int), cols[5])


def best_gap_interval(gaps: np.ndarray, seed: int = 0) -> tuple[float, float, float]:
    """Mean over data sets of the best restart's gap, with a percentile-bootstrap 95% interval that cannot reach
    below 0: ``gaps`` (K,) per data set, clipped at 0 first (a gap below 0 is the estimate's rounding, ≥ −1e-6 by
    the harvest bound)."""
    m, lo, hi = bootstrap_mean_interval(np.maximum(np.asarray(gaps, float), 0.0), seed=seed)
    return float(m), float(lo), float(hi)


def plot_whitened(ax: Any, wh: Whitened) -> None:
    """A's panel: P/D closed form against q/p, and the trained standard and parallel nets (largest m) against
    their duals."""
    rr = np.linspace(0, 1, 101)
    ax.plot(rr, [cf.whitened_primal(1, x) / cf.whitened_dual(1, x) for x in rr], color=COLORS["reference"],
            label="P/D closed form")
    ax.plot(wh.ratios, wh.standard / wh.dual, "o", color=COLORS["measured"], label="standard, trained / D")
    ax.plot(wh.ratios, wh.parallel_wd[:, -1] / wh.dual, "s", mfc="none", color=COLORS["other"],
            label=f"parallel m = {wh.ms[-1]}, weight decay / D")
    ax.plot(wh.ratios, wh.parallel_path[:, -1] / wh.gauge, "^", color=COLORS["bound"],
            label=f"parallel m = {wh.ms[-1]}, P2 reg. / its dual γ")
    ax.set(xlabel="q/p", ylabel="trained / dual", title="whitened data, three-layer ReLU nets")
    ax.legend()


def plot_gaps(axs: Sequence[Any], gaps: np.ndarray, summary: GapSummary, *, n: int, beta: float, hit_tol: float) -> None:
    """B.2's two panels: the gap of the best and median restart against m (one faint line per data set), and the
    share of restarts within ``hit_tol`` (pooled, Wilson interval). ``gaps`` (K, |ms|, restarts)."""
    ms, best = np.asarray(summary.ms), gaps.min(-1)
    axs[0].plot(ms, np.maximum(best, 1e-6).T, color=COLORS["measured"], alpha=0.25, lw=0.8)
    axs[0].plot(ms, np.maximum(summary.best, 1e-6), "o-", color=COLORS["measured"], label="best restart (mean)")
    axs[0].plot(ms, np.maximum(summary.median, 1e-6), "s--", color=COLORS["other"], label="median restart (mean)")
    axs[0].axhline(hit_tol, color=COLORS["reference"], lw=1, ls=":", label=f"{hit_tol:.0%}")
    axs[0].axvline(n + 1, color=COLORS["bound"], lw=1, ls="--", label="m = n + 1")
    axs[0].set(xscale="log", yscale="log", xlabel="branches m", ylabel="(trained − convex)/convex, estimated",
               title=f"n = {n}, β = {beta:g}, {len(gaps)} data sets")
    axs[0].legend()
    sh, lo, hi = summary.share, summary.share_low, summary.share_high
    axs[1].errorbar(ms, sh, yerr=[sh - lo, hi - sh], fmt="o-", color=COLORS["measured"], capsize=3)
    axs[1].axvline(n + 1, color=COLORS["bound"], lw=1, ls="--")
    axs[1].set(xscale="log", ylim=(-0.02, 1.02), xlabel="branches m", ylabel=f"share of restarts within {hit_tol:.0%}",
               title="hitting rate (pooled over data sets)")
