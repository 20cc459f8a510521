"""The parallel_linear chapter's experiments on P2's deep linear results: each returns its numbers as arrays, with a
``table()`` for display only. The mathematics (closed forms, convex programs, training) is in
:mod:`companion.duality.parallel_linear`.

1. :func:`weight_decay_study`: standard nets with weight decay, closed forms, the dual by cvxpy, training; both gap
   measures (at a fixed rescaling t = 1, with P(1) trained directly and D(1) by cvxpy, and minimised over t).
2. :func:`low_rank_study`: the regularised problem's low-rank bias, 1-D global minimum against training.
3. :func:`path_study`: parallel nets with the path regulariser as m grows, with full-width branches or P2's
   rank-one branches (``branch``).
4. :class:`Meeting`: P1's Schatten regulariser beside P2's on the same data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import pandas as pd

from companion.core.devices import Device
from companion.duality import parallel_linear as pl

#: wraps a loop over configurations, e.g. a progress bar: (iterable, label) → iterable
Progress = Callable[[Iterable[Any], str], Iterable[Any]]


def _plain(it: Iterable[Any], _label: str) -> Iterable[Any]:
    return it


@dataclass(frozen=True)
class WeightDecay:
    """Standard nets (m = 1) with weight decay, per depth L (sorted): closed forms, the dual by cvxpy, training."""
    sigma: np.ndarray                        # singular values of W*
    depths: tuple[int, ...]                  # every depth, sorted
    primal: np.ndarray                       # (D,) (L/2) Σ σ^{2/L}
    dual: np.ndarray                         # (D,) (L/2) (Σ σ)^{2/L}
    nuclear_cvx: float                       # max ⟨Λ, Y⟩ s.t. ‖XᵀΛ‖₂ ≤ 1 by cvxpy
    dual_cvx: np.ndarray                     # (D,) the 1-D minimisation over t on nuclear_cvx
    trained: dict[int, pl.InterpolationResult]   # the trained depths, in the order asked for
    rescaled: dict[int, pl.InterpolationResult]  # trained depths L ≥ 3: the rescaled primal P(1), trained directly
    rescaled_dual_cvx: np.ndarray            # (D,) D(1) = max ⟨Λ, Y⟩ s.t. ‖XᵀΛ‖₂ ≤ 1 by cvxpy (t = 1)

    def best(self) -> np.ndarray:
        """(D,) best training value, NaN at depths not trained."""
        return np.array([self.trained[L].value if L in self.trained else np.nan for L in self.depths])

    @property
    def fixed_t_ratio(self) -> np.ndarray:
        """(D,) P(t)/D(t) at a fixed rescaling t (closed forms; the same for every t)."""
        return np.array([pl.gap_measures(self.sigma, L)[0] for L in self.depths])

    @property
    def minimised_ratio(self) -> np.ndarray:
        """(D,) P/D, both minimised over t (closed forms): the fixed-t ratio to the power 2/L."""
        return self.primal / self.dual

    def table(self) -> pd.DataFrame:
        """For display: one row per depth, with both gap measures."""
        trained_t = [self.rescaled[L].value if L in self.rescaled else np.nan for L in self.depths]
        return pd.DataFrame({"primal (closed form)": self.primal, "dual (closed form)": self.dual,
                             "dual (cvxpy + 1-D min over t)": self.dual_cvx, "best training": self.best(),
                             "gap P − D": self.primal - self.dual, "P/D, minimised over t": self.minimised_ratio,
                             "P(t)/D(t), fixed t": self.fixed_t_ratio, "P(1) trained at t = 1": trained_t,
                             "D(1) by cvxpy": self.rescaled_dual_cvx}, index=pd.Index(list(self.depths), name="L"))


def weight_decay_study(X: np.ndarray, Y: np.ndarray, depths: Sequence[int], train_depths: Sequence[int], *,
                       progress: Progress = _plain, **train: Any) -> WeightDecay:
    """Closed forms and the cvxpy dual at every depth in ``depths`` ∪ ``train_depths``; the best of the batched
    restarts (``train``: :func:`~companion.duality.parallel_linear.train_interpolation` options) at
    ``train_depths``, and at those ≥ 3 the rescaled primal at t = 1 trained directly
    (:func:`~companion.duality.parallel_linear.train_rescaled`). X n × d, Y n × k."""
    s = pl.singular_values(X, Y)
    nuc = pl.nuclear_dual_cvx(X, Y)
    trained = {L: pl.train_interpolation(X, Y, L, kind="weight_decay", m=1, **train)
               for L in progress(train_depths, "weight decay, L")}
    rescaled = {L: pl.train_rescaled(X, Y, L, 1.0, **train) for L in train_depths if L >= 3}
    Ls = tuple(sorted(set(depths) | set(train_depths)))
    return WeightDecay(s, Ls, np.array([pl.weight_decay_primal(s, L) for L in Ls]),
                       np.array([pl.weight_decay_dual(s, L) for L in Ls]), nuc,
                       np.array([pl.weight_decay_dual_numeric(nuc, L) for L in Ls]), trained, rescaled,
                       np.array([pl.rescaled_dual_cvx(X, Y, L, 1.0) for L in Ls]))


@dataclass(frozen=True)
class LowRank:
    """min ½‖W₁⋯W_L − Y‖² + (β/2)Σ‖W_l‖² (X = I) per β: the 1-D global minimum per singular value against training."""
    L: int
    betas: tuple[float, ...]
    closed_sv: list[np.ndarray]     # per β: the minimiser's singular values (one per singular value of Y)
    trained_sv: list[np.ndarray]    # per β: the best restart's end-to-end singular values
    closed: np.ndarray              # (B,) objective at the closed-form minimiser
    trained: np.ndarray             # (B,) best restart's objective

    def sv_error(self) -> np.ndarray:
        """(B,) largest |trained − closed-form| singular value (trained sorted decreasing, as many as closed)."""
        return np.array([float(np.max(np.abs(np.sort(t)[::-1][: len(c)] - c)))
                         for t, c in zip(self.trained_sv, self.closed_sv)])

    def table(self, rank_tol: float = 1e-6) -> pd.DataFrame:
        """For display: one row per β; ranks count singular values above ``rank_tol``."""
        return pd.DataFrame({"closed-form σ(W)": [np.round(w, 5) for w in self.closed_sv],
                             "trained σ(W)": [np.round(w, 5) for w in self.trained_sv],
                             "closed-form rank": [int(np.sum(w > rank_tol)) for w in self.closed_sv],
                             "trained rank": [int(np.sum(w > rank_tol)) for w in self.trained_sv],
                             "objective closed form": self.closed, "objective trained": self.trained},
                            index=pd.Index(list(self.betas), name="β"))


def low_rank_study(Y: np.ndarray, L: int, betas: Sequence[float], *, restarts: int, steps: int, seed: int,
                   device: Device = "cpu", progress: Progress = _plain) -> LowRank:
    """Per β: :func:`~companion.duality.parallel_linear.weight_decay_regularized` on Y's singular values against
    :func:`~companion.duality.parallel_linear.train_regularized` (Y d × k, X = I)."""
    s = pl.singular_values(np.eye(Y.shape[0]), Y)
    closed_sv, trained_sv, closed, trained = [], [], [], []
    for beta in progress(betas, "beta"):
        w = pl.weight_decay_regularized(s, beta, L)
        sv, obj = pl.train_regularized(Y, L, beta, restarts=restarts, steps=steps, seed=seed, device=device)
        closed_sv.append(w)
        trained_sv.append(sv)
        closed.append(pl.regularized_value(s, w, beta, L))
        trained.append(obj)
    return LowRank(L, tuple(betas), closed_sv, trained_sv, np.array(closed), np.array(trained))


@dataclass(frozen=True)
class Path:
    """Parallel nets with the path regulariser at depth L, per branch count m: closed form, training, the dual;
    ``branch`` says which branch shape (:data:`~companion.duality.parallel_linear.Branch`)."""
    L: int
    ms: tuple[int, ...]
    primal: np.ndarray                     # (M,) best grouping of σ into ≤ m branches
    dual: float                            # ‖W*‖_*
    trained: dict[int, pl.InterpolationResult]
    feasible: np.ndarray                   # (M,) int, restarts whose violation is ≤ 1e-6 · max(1, ‖Y‖_F)
    restarts: int
    branch: pl.Branch = "full"

    def best(self) -> np.ndarray:
        """(M,) best training value per m."""
        return np.array([self.trained[m].value for m in self.ms])

    def table(self) -> pd.DataFrame:
        """For display: one row per m."""
        best = self.best()
        return pd.DataFrame({"primal (closed form)": self.primal, "best training": best, "dual ‖W*‖_*": self.dual,
                             "gap (training − dual)": best - self.dual,
                             "feasible restarts": [f"{k}/{self.restarts}" for k in self.feasible]},
                            index=pd.Index(list(self.ms), name="m"))


def path_study(X: np.ndarray, Y: np.ndarray, L: int, ms: Sequence[int], *, restarts: int, branch: pl.Branch = "full",
               progress: Progress = _plain, **train: Any) -> Path:
    """Per m in ``ms``: :func:`~companion.duality.parallel_linear.path_primal` against the best of ``restarts``
    trained parallel nets of the given ``branch`` shape (``train``:
    :func:`~companion.duality.parallel_linear.train_interpolation` options)."""
    s = pl.singular_values(X, Y)
    trained = {m: pl.train_interpolation(X, Y, L, kind="path", m=m, branch=branch, restarts=restarts, **train)
               for m in progress(ms, f"branches m ({branch})")}
    limit = 1e-6 * max(1, np.linalg.norm(Y))
    return Path(L, tuple(ms), np.array([pl.path_primal(s, L, m, branch) for m in ms]), pl.path_dual(s), trained,
                np.array([int(np.sum(trained[m].violations <= limit)) for m in ms]), restarts, branch)


@dataclass(frozen=True)
class Meeting:
    """P1's and P2's regularisers of one depth-L network on the same data: per row the best training, the closed
    form and the dual."""
    labels: tuple[str, ...]
    short: tuple[str, ...]       # the same, in a word or two (plot ticks)
    trained: np.ndarray
    closed: np.ndarray
    dual: np.ndarray

    def table(self) -> pd.DataFrame:
        """For display: one row per network and regulariser."""
        return pd.DataFrame({"primal (trained)": self.trained, "primal (closed)": self.closed, "dual": self.dual,
                             "gap (closed − dual)": self.closed - self.dual},
                            index=pd.Index(list(self.labels), name="network and regulariser"))


def meeting(sigma: np.ndarray, L: int, *, schatten: float, weight_decay: float, parallel_wd: tuple[int, float],
            parallel_path: tuple[int, float]) -> Meeting:
    """The four rows: standard net with P1's Schatten-L regulariser, standard and parallel (m branches) nets with
    weight decay, the parallel net with the path regulariser; the trained values are given, ``parallel_*`` as
    (m, value). The closed forms and duals come from σ."""
    (m_wd, wd), (m_path, path) = parallel_wd, parallel_path
    labels = (f"standard, P1's Schatten-H (H = L = {L})", "standard, weight decay (P2)",
              f"parallel m = {m_wd}, weight decay",
              f"parallel m = {m_path}, path regulariser (P2's modification, our reading)")
    P, D, nuc = pl.weight_decay_primal(sigma, L), pl.weight_decay_dual(sigma, L), pl.path_dual(sigma)
    return Meeting(labels, ("P1 Schatten", "P2 weight decay", "parallel + WD", "parallel + path"),
                   np.array([schatten, weight_decay, wd, path]),
                   np.array([nuc, P, P, pl.path_primal(sigma, L, m_path)]), np.array([nuc, D, D, nuc]))


# ---- figures -----------------------------------------------------------------------------------------------

def plot_weight_decay(axes: Sequence[Any], wd: WeightDecay, gap_depths: Sequence[int], spreads: Sequence[float],
                      rel_gaps: Sequence[np.ndarray]) -> None:
    """Two panels: (left) the closed-form primal and dual and the best training against depth; (right) the
    relative gap (P − D)/P against the spread r of σ = (1, r, r²), one line per depth in ``gap_depths``
    (``rel_gaps``: one (len(spreads),) array per depth)."""
    from companion.core.plotting import COLORS

    ax, ax2 = axes
    ax.plot(wd.depths, wd.primal, "o-", ms=3.5, color=COLORS["measured"], label=r"primal $\frac{L}{2}\sum\sigma_i^{2/L}$")
    ax.plot(wd.depths, wd.dual, "s-", ms=3.5, mfc="none", color=COLORS["reference"],
            label=r"dual $\frac{L}{2}(\sum\sigma_i)^{2/L}$")
    ax.plot(list(wd.trained), [r.value for r in wd.trained.values()], "x", ms=8, color="k", label="best training")
    ax.set(xlabel="depth $L$", ylabel="value", title=f"weight decay, σ = {tuple(np.round(wd.sigma, 3))}")
    ax.legend()
    for L, g in zip(gap_depths, rel_gaps):
        ax2.plot(spreads, g, "o-", ms=3, label=f"L = {L}")
    ax2.set(xlabel=r"spread $r$ in $\sigma = (1, r, r^2)$", ylabel="(P − D) / P", title="relative duality gap")
    ax2.legend()


def plot_path(ax: Any, path: Path, rank_one: Path, rank: int) -> None:
    """Primal − dual against the branch count m: the closed form (line), the best training with full-width
    branches (dots) and with P2's rank-one branches (crosses); a dotted line at m = rank W*."""
    from companion.core.plotting import COLORS

    ax.plot(path.ms, path.primal - path.dual, "-", color=COLORS["reference"], label="closed form")
    ax.plot(path.ms, path.best() - path.dual, "o", ms=5, color=COLORS["measured"], label="best training, full width")
    ax.plot(rank_one.ms, rank_one.best() - rank_one.dual, "x", ms=7, color="k",
            label="best training, P2's rank-one branches")
    ax.axvline(rank, ls=":", color=COLORS["bound"])
    ax.text(rank, ax.get_ylim()[1] * 0.9, " m = rank W*")
    ax.set(xlabel="branches $m$", ylabel=r"primal $-$ dual", title=f"parallel net, path regulariser, L = {path.L}")
    ax.legend()


def plot_meeting(ax: Any, meet: Meeting) -> None:
    """Bars per network and regulariser: the primal (best training) beside the dual."""
    from companion.core.plotting import COLORS

    xx = np.arange(len(meet.labels))
    ax.bar(xx - 0.2, meet.trained, 0.4, color=COLORS["measured"], label="primal (best training)")
    ax.bar(xx + 0.2, meet.dual, 0.4, color=COLORS["reference"], alpha=0.8, label="dual")
    ax.set_xticks(xx, meet.short)
    ax.set(ylabel="value", title="same data, depth 3: where the gap opens")
    ax.legend()
