"""Theorem 1 of P1 computed exactly: the duality gap of a multi-branch network under Assumption 1.

Branches are single ReLU units with one trainable parameter,
``f_i(w; x) = a_i · relu(w · z_i(x) + c_i)``, ``w ∈ W_i = [−A_i, A_i]``, ``h_i(w) = w²`` (weight decay),
where ``z_i(x) = u_iᵀx`` is a fixed projection of the input. Under Assumption 1 (τ > y·f everywhere)
the τ-hinge loss is linear in f, so problem (2) separates into
``min (1/I) Σ g_i(w_i)  s.t. (1/I) Σ w_i² ≤ K``, with ``g_i(w) = E[1 − y f_i(w; x)/τ]``.

Each ``g_i`` is piecewise linear in ``w`` with kinks at ``w = −c_i/z_i(x_j)``, so everything about one
branch is exact: its convex envelope ``f̃_i`` (lower hull of the kinks), its restricted minimum
``φ_i(t) = min{g_i(w) : w² ≤ t}`` (= f̂_i), and its Lagrangian ``min_w g_i(w) + λw²``. Two things are
discretised, both towards a *larger* normalised gap (so the check of the 2/I bound is conservative):
the primal allocates the budget on a grid ``t = uδ`` (an upper bound on inf P, above it by at most the
stated resolution), and ``Δ_i = sup_w φ_i(w²) − f̃_i(w)`` is a maximum over a grid of w (a lower bound).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable, Mapping, Sequence

import numpy as np
import torch
from scipy.optimize import minimize_scalar

from companion.core.devices import Device
from companion.convexity.tropical import lower_hull, min_plus_convolve


@dataclass(frozen=True)
class Branch:
    """One branch: ``f(w; x) = a · relu(w z + c)`` on data projections ``z`` (n,), labels ``y`` (n,) ∈ {±1}."""

    z: np.ndarray
    y: np.ndarray
    c: float
    a: float
    A: float
    tau: float

    def f(self, w: np.ndarray) -> np.ndarray:
        """Branch outputs, shape (len(w), n)."""
        w = np.atleast_1d(np.asarray(w, dtype=float))
        return self.a * np.maximum(w[:, None] * self.z[None, :] + self.c, 0.0)

    def g(self, w: np.ndarray) -> np.ndarray:
        """g(w) = mean_j (1 − y_j f(w; x_j)/τ), shape (len(w),) — chunked over w."""
        w = np.atleast_1d(np.asarray(w, dtype=float))
        out = np.empty(len(w))
        step = max(1, 2**22 // max(len(self.z), 1))
        for s in range(0, len(w), step):
            out[s:s + step] = 1.0 - (self.f(w[s:s + step]) @ self.y) / (len(self.y) * self.tau)
        return out

    def kinks(self) -> np.ndarray:
        """Sorted breakpoints of g in [−A, A], with the endpoints and 0."""
        nz = self.z != 0
        k = -self.c / self.z[nz]
        k = k[np.abs(k) < self.A]
        return np.unique(np.concatenate([k, [-self.A, 0.0, self.A]]))

    def max_yf(self) -> float:
        """max over w ∈ [−A, A] and the data of y·f(w; x): attained at w ∈ {−A, 0, A} (f is convex in w)."""
        return float(np.max(self.y[None, :] * self.f(np.array([-self.A, 0.0, self.A]))))

    def envelope(self, w: np.ndarray) -> np.ndarray:
        """f̃: the convex envelope of g over [−A, A] (exact: lower hull of g at its kinks), at w."""
        k = self.kinks()
        hx, hy = lower_hull(k, self.g(k))
        return np.interp(w, hx, hy)

    def phi(self, t: np.ndarray) -> np.ndarray:
        """φ(t) = min{g(w) : |w| ≤ min(√t, A)} (= f̂ at any w̃ with w̃² = t), exact; shape (len(t),)."""
        t = np.atleast_1d(np.asarray(t, dtype=float))
        r = np.minimum(np.sqrt(np.maximum(t, 0.0)), self.A)
        k = self.kinks()
        order = np.argsort(np.abs(k), kind="stable")
        ak, gk = np.abs(k)[order], self.g(k)[order]
        prefix = np.minimum.accumulate(gk)
        idx = np.searchsorted(ak, r, side="right") - 1      # kinks with |k| ≤ r (always ≥ 0: k = 0 is there)
        return np.minimum(prefix[idx], np.minimum(self.g(r), self.g(-r)))

    def lagrangian_min(self, lam: np.ndarray) -> np.ndarray:
        """min_{w ∈ [−A, A]} g(w) + λ w², exact (per linear piece of g, the vertex −slope/(2λ), clipped)."""
        lam = np.atleast_1d(np.asarray(lam, dtype=float))
        k = self.kinks()
        gk = self.g(k)
        s = np.diff(gk) / np.diff(k)                                   # slopes of the pieces
        lo, hi = k[:-1], k[1:]
        with np.errstate(divide="ignore", invalid="ignore"):
            w = np.where(lam[:, None] > 0, -s[None, :] / (2 * lam[:, None]), np.where(s[None, :] > 0, -np.inf, np.inf))
        w = np.clip(w, lo[None, :], hi[None, :])
        vals = gk[:-1][None, :] + s[None, :] * (w - lo[None, :]) + lam[:, None] * w**2
        ends = gk[None, :] + lam[:, None] * k[None, :] ** 2
        return np.minimum(vals.min(1), ends.min(1))

    def delta(self, n_grid: int = 20001) -> float:
        """Δ = sup_w φ(w²) − f̃(w), as a maximum over a grid of w (a lower bound on the supremum)."""
        w = np.linspace(-self.A, self.A, n_grid)
        return float(np.max(self.phi(w**2) - self.envelope(w)))


def make_branches(x: np.ndarray, y: np.ndarray, directions: np.ndarray, biases: Sequence[float],
                  signs: Sequence[float], boxes: Sequence[float], tau: float) -> list[Branch]:
    """Branch types from unit ``directions`` (T, d), biases, output signs and box half-widths (each length T)."""
    u = directions / np.linalg.norm(directions, axis=1, keepdims=True)
    return [Branch(z=x @ u[t], y=y, c=float(biases[t]), a=float(signs[t]), A=float(boxes[t]), tau=tau)
            for t in range(len(u))]


#: The chapter's branch types (P1 Theorem 1 in numbers): direction angle of u_i, bias c_i, output sign a_i and box
#: half-width A_i, one entry per type; type 0 alone is the identical-branch case.
BRANCH_TYPES: dict[str, tuple[float, ...]] = {"angle": (np.pi / 3, np.pi / 6, np.pi / 2), "c": (-1.5, -1.0, -1.5),
                                              "a": (1.0, -1.0, -1.0), "A": (2.0, 1.5, 2.5)}


def chapter_branches(x: np.ndarray, y: np.ndarray, tau_factor: float,
                     types: Mapping[str, Sequence[float]] = BRANCH_TYPES) -> tuple[list[Branch], list[Branch]]:
    """The branch types ``types`` on 2-D data x (n, 2), y (n,) ±1, with τ = ``tau_factor`` × max y·f over all
    of them (:func:`assumption1_tau`): (heterogeneous: every type, identical: type 0 alone, same τ)."""
    angle = np.asarray(types["angle"], dtype=float)
    dirs = np.stack([np.cos(angle), np.sin(angle)], 1)
    hetero = assumption1_tau(make_branches(x, y, dirs, types["c"], types["a"], types["A"], tau=1.0), tau_factor)
    return hetero, hetero[:1]


def largest_yf(branches: Sequence[Branch]) -> float:
    """max over the branch types, their parameters and the data of y·f_i: Assumption 1 holds for every I
    (f = (1/I)Σf_i) exactly when τ exceeds it. Independent of the branches' τ."""
    return max(b.max_yf() for b in branches)


def assumption1_tau(branches: Sequence[Branch], factor: float) -> list[Branch]:
    """The same branch types with τ = ``factor`` × :func:`largest_yf` (factor > 1: Assumption 1 holds)."""
    if factor <= 0:
        raise ValueError(f"factor must be > 0, got {factor}")
    tau = factor * largest_yf(branches)
    return [replace(b, tau=tau) for b in branches]


# ---- primal by dynamic programming over the budget --------------------------------------------------------

@dataclass(frozen=True)
class PrimalTable:
    """inf P on the budget grid, for I = 1…I_max and each K; with its resolution."""

    Is: np.ndarray          # (I_max,)
    Ks: np.ndarray          # (nK,)
    values: np.ndarray      # (I_max, nK): min (1/I)Σφ_i(t_i) s.t. Σ t_i ≤ I·K, t_i on the grid (≥ inf P)
    resolution: float       # values − inf P ≤ resolution (largest drop of any φ_i over one grid cell)
    t_step: float            # grid step of t


def primal_table(branches: Sequence[Branch], Ks: Sequence[float], I_max: int, t_step: float, *,
                 device: Device = "cpu") -> PrimalTable:
    """Exact primal on the t-grid for the branch sequence ``branches[i % T]``, i = 0…I_max−1."""
    Umax = max(int(np.floor(b.A**2 / t_step + 1e-9)) for b in branches)
    tgrid = np.arange(Umax + 1) * t_step
    return primal_table_from_phis([b.phi(tgrid) for b in branches], Ks, I_max, t_step, device=device)


def primal_table_from_phis(phis: Sequence[np.ndarray], Ks: Sequence[float], I_max: int, t_step: float, *,
                           device: Device = "cpu") -> PrimalTable:
    """The DP behind :func:`primal_table`, from φ_i tabulated on ``t = uδ`` (each (U+1,), non-increasing).

    One min-plus convolution per added branch gives every I at once; tables are truncated to the
    largest budget needed.
    """
    Ks = np.asarray(Ks, dtype=float)
    T = len(phis)
    ph = [torch.as_tensor(p, dtype=torch.float64, device=device) for p in phis]
    res = max(float(torch.max(p[:-1] - p[1:])) if p.numel() > 1 else 0.0 for p in ph)
    Kmax = float(Ks.max())
    values = np.empty((I_max, len(Ks)))
    Phi = ph[0].clone()
    for I in range(1, I_max + 1):
        if I > 1:
            keep = int(np.floor(I * Kmax / t_step + 1e-9)) + 1
            Phi = min_plus_convolve(Phi, ph[(I - 1) % T])[:keep]
        budgets = np.minimum(np.floor(I * Ks / t_step + 1e-9).astype(int), Phi.numel() - 1)
        prefix = torch.cummin(Phi, 0).values          # Σ t_i ≤ budget
        values[I - 1] = prefix[torch.as_tensor(budgets, device=Phi.device)].cpu().numpy() / I
    return PrimalTable(Is=np.arange(1, I_max + 1), Ks=Ks, values=values, resolution=res, t_step=t_step)


def minkowski_staircase(branch: Branch, Is: Sequence[int], t_step: float) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """φ_I(t) = min{(1/I)Σφ(t_i) : (1/I)Σt_i ≤ t} for identical branches, on t ∈ [0, A²]: {I: (t, φ_I(t))}."""
    U = int(np.floor(branch.A**2 / t_step + 1e-9))
    phi = torch.as_tensor(branch.phi(np.arange(U + 1) * t_step), dtype=torch.float64)
    out, Phi = {}, phi.clone()
    for I in range(1, max(Is) + 1):
        if I > 1:
            Phi = min_plus_convolve(Phi, phi)
        if I in Is:
            u = np.arange(Phi.numel())
            out[I] = (u * t_step / I, torch.cummin(Phi, 0).values.numpy() / I)
    return out


# ---- dual -------------------------------------------------------------------------------------------------------

def dual_and_multiplier(branches: Sequence[Branch], counts: Sequence[int], K: float) -> tuple[float, float]:
    """sup_{λ ≥ 0} (1/I) Σ_i min_w [g_i(w) + λ w²] − λK, for ``counts[t]`` branches of type t (I = Σ counts).

    The dual function is concave in λ; it is maximised by bounded Brent search and compared with λ = 0.
    Returns (value, λ*).
    """
    I = float(sum(counts))
    active = [(b, c / I) for b, c in zip(branches, counts) if c > 0]

    def q(lam: float) -> float:
        return float(sum(wt * b.lagrangian_min(np.array([lam]))[0] for b, wt in active) - lam * K)

    # beyond λ_hi every branch sits at w = 0 (the steepest slope of g is bounded), so q only decreases
    smax = max(np.max(np.abs(np.diff(b.g(b.kinks())) / np.diff(b.kinks()))) for b, _ in active)
    amin = min(np.min(np.abs(b.kinks()[b.kinks() != 0]), initial=np.inf) for b, _ in active)
    lam_hi = max(1.0, 2 * smax / max(min(amin, 1.0), 1e-6))
    res = minimize_scalar(lambda l: -q(l), bounds=(0.0, lam_hi), method="bounded", options={"xatol": 1e-12})
    best = max((q(0.0), 0.0), (-res.fun, float(res.x)))
    return best


def branch_counts(T: int, I: int) -> list[int]:
    """How many of the first I branches (types cycling 0, 1, …, T−1) are of each type."""
    return [I // T + (1 if t < I % T else 0) for t in range(T)]


def convexified_value(branch: Branch, K: float | Sequence[float], t_step: float) -> float | np.ndarray:
    """For identical branches the dual equals conv φ at K: lower hull of φ on the t-grid, evaluated at K (a
    number, or an array of K: then an array of the same shape)."""
    t = np.arange(int(np.floor(branch.A**2 / t_step + 1e-9)) + 1) * t_step
    hx, hy = lower_hull(t, branch.phi(t))
    v = np.interp(np.asarray(K, dtype=float), hx, hy)
    return float(v) if v.ndim == 0 else v


# ---- beyond Assumption 1: brute force for tiny I ----------------------------------------------------------------

def brute_force_hinge(branch: Branch, I: int, K: float, w_grid: np.ndarray, tau: float,
                      lam_grid: np.ndarray, *, device: Device = "cpu") -> tuple[float, float]:
    """Primal and dual of the *non-separable* τ-hinge problem with I identical branches, by enumeration.

    Each w_i ranges over ``w_grid``; objective mean_j max(0, 1 − y_j (1/I)Σ_i f(w_i; x_j)/τ), constraint
    (1/I)Σ w_i² ≤ K. The dual maximises min_combos [obj + λ(avg h − K)] over ``lam_grid`` (a lower bound
    on the true dual supremum over λ, computed on the same finite parameter set). Returns (P, D).
    """
    Fw = torch.as_tensor(branch.f(w_grid), device=device)        # (N, n)
    y = torch.as_tensor(branch.y, device=device)
    wg = torch.as_tensor(w_grid, dtype=torch.float64, device=device)
    N = len(w_grid)
    ar = torch.arange(N, device=device)
    idx = torch.cartesian_prod(*[ar] * I) if I > 1 else ar[:, None]
    idx = idx[(idx[:, :-1] <= idx[:, 1:]).all(1)] if I > 1 else idx   # identical branches: sorted tuples suffice
    objs, hs = [], []
    for s in range(0, len(idx), 4096):
        ch = idx[s:s + 4096]
        f = Fw[ch].mean(1)                                         # (c, n)
        objs.append(torch.clamp(1 - y * f / tau, min=0).mean(1))
        hs.append(wg[ch].pow(2).mean(1))
    obj, h = torch.cat(objs), torch.cat(hs)
    feas = h <= K + 1e-12
    P = float(obj[feas].min()) if bool(feas.any()) else float("inf")
    lam = torch.as_tensor(lam_grid, dtype=torch.float64, device=device)
    D = float((obj[None, :] + lam[:, None] * (h[None, :] - K)).min(1).values.max())
    return P, D


#: λ grid of :func:`brute_force_table`'s dual: 0 and 400 values from 10⁻⁴ to 10, log-spaced
LAM_GRID: np.ndarray = np.concatenate([[0.0], np.geomspace(1e-4, 10, 400)])


def brute_force_table(branch: Branch, I_max: int, Ks: Sequence[float], taus: Mapping[str, float], *, n_grid: int,
                      lam_grid: np.ndarray = LAM_GRID, device: Device = "cpu") -> list[dict[str, float | str]]:
    """:func:`brute_force_hinge` for I = 1…I_max identical branches, each τ (name → value) and each K, with w on
    ``n_grid`` points of [−A, A]: one row per (I, τ, K) in that order, with P, D, P − D and (P − D)/P."""
    w_grid = np.linspace(-branch.A, branch.A, n_grid)
    rows = []
    for I in range(1, I_max + 1):
        for name, tau in taus.items():
            for K in Ks:
                P, D = brute_force_hinge(branch, I, K, w_grid, tau, lam_grid, device=device)
                rows.append({"I": I, "τ": name, "K": K, "P": P, "D": D, "P − D": P - D, "(P − D)/P": (P - D) / P})
    return rows


@dataclass(frozen=True)
class GapTable:
    """Both sides of Theorem 1 for I = 1…I_max and each K, with Δ."""

    primal: PrimalTable
    dual: np.ndarray         # (I_max, nK)
    delta_worst: np.ndarray  # (I_max,): Δ_worst over the branch types among the first I branches
    deltas: np.ndarray       # (T,): Δ_t per branch type
    dp_seconds: float

    @property
    def normalized_gap(self) -> np.ndarray:
        """(inf P − sup D)/Δ_worst, (I_max, nK)."""
        return (self.primal.values - self.dual) / self.delta_worst[:, None]

    @property
    def gap(self) -> np.ndarray:
        """inf P − sup D, (I_max, nK) (≥ 0: weak duality)."""
        return self.primal.values - self.dual

    @property
    def bound_ratio(self) -> np.ndarray:
        """The normalised gap over Theorem 1's bound 2/I, (I_max, nK) (≤ 1 is the theorem)."""
        return self.normalized_gap / (2.0 / self.primal.Is[:, None])


def gap_table(branches: Sequence[Branch], Ks: Sequence[float], I_max: int, t_step: float, *, n_delta_grid: int = 20001,
              device: Device = "cpu") -> GapTable:
    """Primal (DP), dual and Δ_worst for the branch sequence ``branches[i % T]``, every I ≤ I_max and K.

    The dual depends on I only through the fractions of each branch type, so it is computed once per
    distinct mix (once in all for identical branches).
    """
    import time

    t0 = time.perf_counter()
    tab = primal_table(branches, Ks, I_max, t_step, device=device)
    t_dp = time.perf_counter() - t0
    T = len(branches)
    cache: dict[tuple, np.ndarray] = {}
    D = np.empty_like(tab.values)
    for I in range(1, I_max + 1):
        counts = branch_counts(T, I)
        g = np.gcd.reduce(counts) if any(counts) else 1
        key = tuple(c // g for c in counts)
        if key not in cache:
            cache[key] = np.array([dual_and_multiplier(branches, list(key), K)[0] for K in Ks])
        D[I - 1] = cache[key]
    deltas = np.array([b.delta(n_delta_grid) for b in branches])
    dworst = np.array([deltas[: min(I, T)].max() for I in range(1, I_max + 1)])
    return GapTable(primal=tab, dual=D, delta_worst=dworst, deltas=deltas, dp_seconds=t_dp)


def gap_tables(sets: Mapping[str, Sequence[Branch]], Ks: Sequence[float], I_max: int, t_step: float, *,
               n_delta_grid: int = 20001, device: Device = "cpu",
               progress: Callable | None = None) -> dict[str, GapTable]:
    """:func:`gap_table` for every branch set (name → branch types), in order; ``progress(iterable, desc)``:
    an optional progress bar over the sets."""
    items = list(sets.items())
    loop = progress(items, "branch sets") if progress else items
    return {name: gap_table(brs, Ks, I_max, t_step, n_delta_grid=n_delta_grid, device=device) for name, brs in loop}


# ---- figures -----------------------------------------------------------------------------------------------

def plot_gaps(axes: Sequence, results: Mapping[str, GapTable], Is: np.ndarray, Ks: Sequence[float]) -> None:
    """One log–log panel per branch set (``results``: label → :class:`GapTable`): the normalised gap against I,
    one line per budget K (floored at 1e-7), Theorem 1's 2/I (dashed) and the primal grid's resolution / Δ
    (dotted)."""
    from companion.core.plotting import COLORS

    for ax, (label, r) in zip(axes, results.items()):
        for j, K in enumerate(Ks):
            ax.loglog(Is, np.maximum(r.normalized_gap[:, j], 1e-7), "o-", ms=2.5, lw=1, label=f"K = {K:g}")
        ax.loglog(Is, 2.0 / np.asarray(Is), "--", color=COLORS["bound"], label="2/I (Theorem 1)")
        ax.axhline(r.primal.resolution / r.delta_worst.max(), ls=":", color=COLORS["reference"], lw=1,
                   label="resolution / Δ")
        ax.set(xlabel="branches I", ylabel=r"$(\inf P - \sup D)/\Delta_{\rm worst}$", title=f"{label} branches",
               ylim=(1e-7, 3))
        ax.legend(ncol=2)


def plot_staircase(ax, stairs: Mapping[int, tuple[np.ndarray, np.ndarray]], hull: tuple[np.ndarray, np.ndarray],
                   Ks: Sequence[float], title: str = "branch type 0") -> None:
    """φ_I against the budget t for each I of ``stairs`` (:func:`minkowski_staircase`; I = 1 is φ itself), the
    convex envelope ``hull`` = (t, value) (the dual, dashed) and a dotted line at each budget K."""
    from companion.core.plotting import COLORS

    for I, (t, v) in stairs.items():
        ax.plot(t, v, lw=1.2 if I > 1 else 2, label=f"φ_I, I = {I}" if I > 1 else "φ (I = 1)")
    ax.plot(*hull, "k--", lw=1, label="convex envelope (= dual)")
    for K in Ks:
        ax.axvline(K, color=COLORS["bound"], lw=0.6, ls=":")
    ax.set(xlabel="budget t = average weight decay", ylabel="objective", title=title)
    ax.legend()


def staircase_figure(branch: Branch, stair: tuple[np.ndarray, np.ndarray], I: int, Ks: Sequence[float], *,
                     n_t: int = 801):
    """φ, φ_I (``stair`` = (t, φ_I(t)) from :func:`minkowski_staircase`) and φ's convex envelope (= the dual) on
    [0, A²] (``n_t`` points), the budgets ``Ks`` dotted, titled with the largest primal − dual at them; one frame
    of the page's slider over I (the axes are φ's, the same in every frame). Returns the figure."""
    from companion.core.plotting import COLORS, subplots

    tt = np.linspace(0, branch.A**2, n_t)
    hx, hy = lower_hull(tt, branch.phi(tt))
    fig, ax = subplots(1, width=5.0, height=3.4)
    ax.plot(tt, branch.phi(tt), lw=2, label="φ")
    ax.plot(*stair, lw=1.2, label=f"φ_I, I = {I}")
    ax.plot(hx, hy, "k--", lw=1, label="convex envelope (= dual)")
    for K in Ks:
        ax.axvline(K, color=COLORS["bound"], lw=0.8, ls=":")
    gap = max(float(np.interp(K, *stair) - np.interp(K, hx, hy)) for K in Ks)
    ax.set(xlabel="budget t = average weight decay", ylabel="objective",
           title=f"I = {I}: largest primal − dual at the dotted K: {gap:.2e}")
    ax.legend()
    return fig
