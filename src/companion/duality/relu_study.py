"""The parallel_relu chapter's experiments on P2's three-layer ReLU results, as functions returning tables.

A (:func:`whitened_table`): whitened data, closed forms against trained standard and parallel nets.
B (:func:`general_data`, :func:`gap_summary`, :func:`region_gaps`, :func:`exact_comparison`): the regularised
convex program against trained parallel nets as m grows, and where every pattern can be listed.
C (:func:`rank_one_table`): rank-one data, both sign cases. The mathematics is in :mod:`companion.duality.relu_duality`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import pandas as pd

from companion.duality import relu_duality as rd
from companion.core.stats import mean_interval, wilson_interval


def whitened_table(n: int, ratios: Sequence[float], ms: Sequence[int], *, seed: int, **train: Any) -> pd.DataFrame:
    """Whitened X (n × n), y with ‖y₋‖/‖y₊‖ = each ratio: closed forms P, D, γ = p + q and the best trained
    standard net and parallel nets (m in ``ms``) under weight decay and P2's regulariser, one row per ratio
    (index q/p). ``train``: :func:`relu_duality.train_nets` options (restarts, outer, inner, device)."""
    inst = [rd.whitened_instance(n, r, seed) for r in ratios]
    X, Y = inst[0][0], np.stack([y for _, y in inst])
    pq = [rd.split_signs(y) for y in Y]
    std = rd.train_nets(X, Y, [1], kind="weight_decay", h1=n, h2=n, seed=seed, **train).best()[:, 0]
    par = rd.train_nets(X, Y, ms, kind="path", h1=n, seed=seed, **train).best()
    par_wd = rd.train_nets(X, Y, ms, kind="weight_decay", h1=n, seed=seed, **train).best()
    table = pd.DataFrame({"q/p": list(ratios), "q": [q for _, q in pq],
                          "P closed": [rd.whitened_primal(p, q) for p, q in pq],
                          "D closed": [rd.whitened_dual(p, q) for p, q in pq], "standard, trained": std})
    for j, m in enumerate(ms):
        table[f"parallel m={m}, weight decay"] = par_wd[:, j]
    for j, m in enumerate(ms):
        table[f"parallel m={m}, P2 reg."] = par[:, j]
    table["γ = p + q"] = [p + q for p, q in pq]
    return table.set_index("q/p")


def rank_one_table(cases: Sequence[Sequence[float]], *, seed: int, **train: Any) -> pd.DataFrame:
    """Rank-one X = c aᵀ (n = 6, d = 3), y = y_a c₊ + y_b c₋ for each (y_a, y_b): best trained standard net
    (weight decay), our closed-form P, the dual D and (trained − D)/D, one row per case."""
    rows = []
    for ya, yb in cases:
        X, y, _ = rd.rank_one_instance(6, 3, ya, yb, seed)
        best = rd.train_nets(X, y, [1], kind="weight_decay", h1=6, h2=6, seed=seed, **train).best()[0, 0]
        D = rd.standard_dual(rd.rank_one_gauge(ya, yb))
        rows.append({"(y_a, y_b)": f"({ya:g}, {yb:g})", "y_a": ya, "y_b": yb, "trained": best,
                     "P (our closed form)": rd.rank_one_primal(ya, yb), "D": D, "(trained − D)/D": (best - D) / D})
    return pd.DataFrame(rows).set_index("(y_a, y_b)")


@dataclass
class GeneralData:
    """B: data sets k (X (K, n, 3), Y (K, n)), trained nets and the convex program per data set."""
    seeds: list[int]
    X: np.ndarray
    Y: np.ndarray
    parallel: rd.Trained                 # (K, |ms|, restarts)
    standard: rd.Trained                 # (K, 1, restarts), h₂ = h₁
    programs: list[rd.ProgramResult]     # estimated (harvested + sampled outer patterns)
    rebuilt: list[rd.Net]                # each program's solution as a parallel net
    reduced: list[rd.Net]                # the same after Carathéodory (≤ n + 1 branches)
    std_bound: np.ndarray                # (K,) βt²/2 + G(β/t) at the best standard net's own t
    pattern_counts: list[tuple[int, int]]  # (inner, outer) per data set
    beta: float

    @property
    def convex(self) -> np.ndarray:
        """(K,) the estimated convex values."""
        return np.array([r.value for r in self.programs])

    def gaps(self) -> np.ndarray:
        """(K, |ms|, restarts) (trained − convex)/convex."""
        return rd.relative_gap(self.parallel.values, self.convex[:, None, None])

    def objectives(self, nets: Sequence[rd.Net]) -> np.ndarray:
        """(K,) ½‖f − y‖² + β·(path norm) of one parallel net per data set."""
        return np.array([rd.net_objective(self.X[k], self.Y[k], net, self.beta) for k, net in enumerate(nets)])

    def std_gaps(self) -> np.ndarray:
        """(K,) the best standard net's (value − bound)/bound."""
        return rd.relative_gap(self.standard.values[:, 0].min(-1), self.std_bound)


def general_data(n: int, seeds: Sequence[int], ms: Sequence[int], *, h1: int, restarts: int, beta: float,
                 harvest: float, samples: int, seed: int, device: str = "auto",
                 progress: Callable[[Iterable[int], str, int], Iterable[int]] | None = None,
                 **train: Any) -> GeneralData:
    """B.2: one planar data set per seed (n points and a bias column, ±1 targets); parallel nets (P2's
    regulariser, every m in ``ms``) and standard nets (weight decay, h₂ = h₁) trained by
    :func:`relu_duality.train_regularized` (``train``: steps, lr, taus, iters); per data set the convex program
    over every inner pattern and the outer patterns of the nets within ``harvest`` × the best plus ``samples``
    random branches', its solution rebuilt and reduced, and the standard nets' bound at the best one's t."""
    bar = progress or (lambda it, _label, _total: it)
    data = [rd.planar_instance(n, s) for s in seeds]
    X, Y = np.stack([x for x, _ in data]), np.stack([y for _, y in data])
    kw = dict(beta=beta, restarts=restarts, seed=seed, device=device, **train)
    steps = train.get("steps", 0)
    par = rd.train_regularized(X, Y, ms, kind="path", h1=h1, progress=lambda it: bar(it, "Adam steps (parallel)", steps),
                               **kw)
    std = rd.train_regularized(X, Y, [1], kind="weight_decay", h1=h1, h2=h1,
                               progress=lambda it: bar(it, "Adam steps (standard)", steps), **kw)
    programs, rebuilt, reduced, bounds, counts = [], [], [], [], []
    for k in bar(range(len(seeds)), "convex programs", len(seeds)):
        inner = rd.arrangement_patterns_3d(X[k])
        outer = rd.union_patterns(par.patterns(X[k], k, harvest)[1], std.patterns(X[k], k, harvest)[1],
                                  rd.sample_branch_patterns(X[k], h1, samples, seeds[k]))
        programs.append(rd.parallel_program(X[k], Y[k], inner, outer, beta=beta))
        rebuilt.append(rd.reconstruct(programs[-1]))
        reduced.append(rd.caratheodory(rebuilt[-1], X[k]))
        counts.append((len(inner), len(outer)))
        best = int(np.argmin(std.values[k, 0]))
        t = float(np.linalg.norm(std.W1[k, 0, best, 0]))
        # the bound needs the best standard net's own patterns; the rebuilt optimal net's keep it tight and small
        outer_std = rd.union_patterns(std.patterns(X[k], k, 1.0)[1], rd.branch_patterns(*rebuilt[-1][:2], X[k])[1])
        bounds.append(rd.rescaled_dual_bound(beta, t, rd.parallel_program(X[k], Y[k], inner, outer_std,
                                                                          beta=beta / t).value))
    return GeneralData(list(seeds), X, Y, par, std, programs, rebuilt, reduced, np.array(bounds), counts, beta)


def region_gaps(study: GeneralData) -> np.ndarray:
    """Relative improvement (value − region optimum)/value of the best restart of every (data set, m ≥ 2) by
    :func:`relu_duality.region_program`: how far training stopped short of its own activation region's optimum."""
    out = []
    for k in range(len(study.seeds)):
        for mi, m in enumerate(study.parallel.ms):
            if m >= 2:
                r = int(np.argmin(study.parallel.values[k, mi]))
                v = study.parallel.values[k, mi, r]
                out.append((v - rd.region_program(study.X[k], study.Y[k], study.parallel.net(k, mi, r), study.beta)) / v)
    return np.array(out)


def gap_summary(gaps: np.ndarray, values: np.ndarray, convex: np.ndarray, ms: Sequence[int],
                hit_tol: float) -> pd.DataFrame:
    """Per m (index): the best restart's gap (mean over data sets, 95% t-interval), the median restart's gap
    (mean), and the share of all restarts within ``hit_tol`` (pooled, Wilson interval); gaps and values
    (K, |ms|, R), convex (K,)."""
    K, _, R = gaps.shape
    best, med = gaps.min(-1), np.median(gaps, -1)
    bm, blo, bhi = mean_interval(best, axis=0)
    hits = np.round(rd.hit_share(values, convex[:, None, None], hit_tol).sum(0) * R).astype(int)   # (|ms|,)
    lo, hi = wilson_interval(hits, K * R)
    return pd.DataFrame({"m": list(ms), "best gap (mean over data)": bm, "low": blo, "high": bhi,
                         "median gap (mean)": med.mean(0), "share within tol": hits / (K * R),
                         "share low": np.asarray(lo, float), "share high": np.asarray(hi, float)}).set_index("m")


def exact_comparison(n: int, seeds: Sequence[int], *, restarts: int, beta: float, harvest: float, samples: int,
                     hit_tol: float, seed: int, device: str = "auto", **train: Any) -> pd.DataFrame:
    """B.3, n small enough to list every outer pattern: per data set (index: its seed) the exact convex value,
    B.2's estimate, the best trained net at m = n + 1 and its share within ``hit_tol``, and the exact solution
    rebuilt and reduced to at most n + 1 branches with its value."""
    data = [rd.planar_instance(n, s) for s in seeds]
    X, Y = np.stack([x for x, _ in data]), np.stack([y for _, y in data])
    tr = rd.train_regularized(X, Y, [n + 1], kind="path", h1=n, restarts=restarts, beta=beta, seed=seed,
                              device=device, **train)
    rows = []
    for k, s in enumerate(seeds):
        inner = rd.arrangement_patterns_3d(X[k])
        exact = rd.parallel_program(X[k], Y[k], inner, rd.exact_patterns(rd.feature_basis(X[k], inner)), beta=beta)
        net = rd.caratheodory(rd.reconstruct(exact), X[k])
        est = rd.parallel_program(X[k], Y[k], inner, rd.union_patterns(
            tr.patterns(X[k], k, harvest)[1], rd.sample_branch_patterns(X[k], n, samples, s)), beta=beta).value
        rows.append({"data seed": s, "exact": exact.value, "estimated": est,
                     "(estimated − exact)/exact": (est - exact.value) / exact.value,
                     "best trained gap vs exact": float(rd.relative_gap(tr.values[k, 0].min(), exact.value)),
                     "share within tol of exact": float(rd.hit_share(tr.values[k, 0], exact.value, hit_tol)),
                     "optimal net: branches": len(net[0]),
                     "optimal net: (value − exact)/exact": rd.net_objective(X[k], Y[k], net, beta) / exact.value - 1})
    return pd.DataFrame(rows).set_index("data seed")
