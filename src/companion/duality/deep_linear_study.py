"""The theorem2 chapter's sweeps (P1 Theorem 2, Figure 6, Table 3): each instance solved three ways by
:func:`companion.duality.deep_linear.compare`, over matrix sizes, regularisation strengths and depths.

Data as in the paper: X = I_n and Y with i.i.d. N(0, 1) entries; hidden widths d_min = ⌈width_ratio · n⌉ so the
rank constraint is active. :func:`comparison_table` lays the results out for display.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from companion.core.devices import Device
from companion.duality.deep_linear import ThreeWays, compare, gaussian_instance, sigma_min_nonzero

#: wraps a loop over configurations, e.g. a progress bar: (iterable, label) → iterable
Progress = Callable[[Iterable[Any], str], Iterable[Any]]


def _plain(it: Iterable[Any], _label: str) -> Iterable[Any]:
    return it


def hidden_widths(n: int, depth: int, ratio: float) -> tuple[int, ...]:
    """(n, k, …, k, n): square input and output of size n, depth − 1 hidden layers of width k = max(1, ⌈ratio·n⌉)."""
    k = max(1, int(math.ceil(ratio * n)))
    return (n,) + (k,) * (depth - 1) + (n,)


def size_sweep(sizes: Sequence[int], seeds: Sequence[int], *, depth: int, width_ratio: float, gamma_ratio: float,
               restarts: int, steps: int, device: Device = "cpu", progress: Progress = _plain) -> dict[int, ThreeWays]:
    """Figure 6: per size n (instance and restarts seeded by ``seeds[i]``) X = I_n, Gaussian Y (n × n) and
    γ = gamma_ratio · σ_min(Y)."""
    if len(seeds) != len(sizes):
        raise ValueError(f"one seed per size: {len(sizes)} sizes, {len(seeds)} seeds")
    out = {}
    for n, s in zip(progress(sizes, "sizes"), seeds):
        X, Y = gaussian_instance(n, s)
        out[n] = compare(X, Y, gamma_ratio * sigma_min_nonzero(Y), hidden_widths(n, depth, width_ratio),
                         restarts=restarts, steps=steps, seed=s, device=device)
    return out


def gamma_sweep(n: int, ratios: Sequence[float], *, depth: int, width_ratio: float, instance_seed: int, seed: int,
                restarts: int, steps: int, device: Device = "cpu", progress: Progress = _plain
                ) -> dict[float, ThreeWays]:
    """One Gaussian instance (n × n, seeded ``instance_seed``) at γ = r · σ_min(Ỹ) for every r in ``ratios``, past
    Theorem 2's hypothesis γ < σ_min for r ≥ 1."""
    X, Y = gaussian_instance(n, instance_seed)
    smin = sigma_min_nonzero(Y)
    return {r: compare(X, Y, r * smin, hidden_widths(n, depth, width_ratio), restarts=restarts, steps=steps,
                       seed=seed, device=device, outside_theorem=r >= 1) for r in progress(ratios, "gamma")}


def sigma_dmin(Y: np.ndarray, k: int) -> float:
    """σ_k(Y), the k-th largest singular value (k = d_min: the smallest one the rank constraint lets through)."""
    s = np.linalg.svd(np.asarray(Y, float), compute_uv=False)
    if not 1 <= k <= len(s):
        raise ValueError(f"k = {k} must be between 1 and {len(s)}")
    return float(s[k - 1])


def gamma_dmin_sweep(n: int, ratios: Sequence[float], *, depth: int, width_ratio: float, instance_seed: int,
                     seed: int, restarts: int, steps: int, device: Device = "cpu", progress: Progress = _plain
                     ) -> dict[float, ThreeWays]:
    """The instance of :func:`gamma_sweep` at γ = r · σ_{d_min}(Ỹ) (X = I, so Ỹ = Y) for every r in ``ratios``:
    for r > 1 the soft threshold removes some of the top d_min singular values too, so the solution's rank falls
    below d_min. Far outside Theorem 2's hypothesis γ < σ_min(Ỹ)."""
    X, Y = gaussian_instance(n, instance_seed)
    widths = hidden_widths(n, depth, width_ratio)
    s_k = sigma_dmin(Y, min(widths[1:-1]))
    return {r: compare(X, Y, r * s_k, widths, restarts=restarts, steps=steps, seed=seed, device=device,
                       outside_theorem=True) for r in progress(ratios, "gamma / sigma_dmin")}


def depth_sweep(n: int, depths: Sequence[int], *, width_ratio: float, gamma_ratio: float, instance_seed: int,
                seed: int, restarts: int, steps: int, device: Device = "cpu", progress: Progress = _plain
                ) -> dict[int, ThreeWays]:
    """One Gaussian instance (n × n, seeded ``instance_seed``) at γ = gamma_ratio · σ_min(Y), for every depth H."""
    X, Y = gaussian_instance(n, instance_seed)
    gamma = gamma_ratio * sigma_min_nonzero(Y)
    return {H: compare(X, Y, gamma, hidden_widths(n, H, width_ratio), restarts=restarts, steps=steps, seed=seed,
                       device=device) for H in progress(depths, "depth")}


def comparison_table(cases: Mapping[str, ThreeWays], restarts: int) -> pd.DataFrame:
    """For display: one row per labelled instance, its three values, their differences and the timings."""
    rows = [{"": label, "closed form": c.closed, "dual (SDP)": c.dual, "primal (best)": c.primal,
             "rel. primal−closed": c.rel("primal"), "rel. dual−closed": c.rel("dual"), "‖ΔZ‖_F": c.distance,
             "‖ΔZ‖_F rel.": c.distance_rel, "restarts at optimum": f"{c.restarts_at_optimum}/{restarts}",
             "SDP s": c.dual_seconds, "primal s": c.primal_seconds} for label, c in cases.items()]
    return pd.DataFrame(rows).set_index("")


def plot_three_ways(axes: Sequence[Any], cases: Mapping[float, ThreeWays], *, tol: float, xlabel: str,
                    title: str = "", mark: float | None = None, mark_label: str = "") -> None:
    """Two panels of a sweep (``cases``: the swept value → its :class:`ThreeWays`): (left) the closed form (line),
    the dual SDP and the best primal restart against the swept value; (right) |primal − closed| / closed and
    |dual − closed| / closed on a log scale (zeros drawn at 1e-17) with the claim tolerance ``tol`` (dashed).
    ``mark``: a dotted vertical line at that value, labelled ``mark_label`` on the left panel."""
    from companion.core.plotting import COLORS

    ax, ax2 = axes
    xs = np.array(list(cases), dtype=float)
    ax.plot(xs, [cases[x].closed for x in cases], "-", color=COLORS["reference"], label="closed form")
    ax.plot(xs, [cases[x].dual for x in cases], "s", mfc="none", ms=7, color=COLORS["other"], label="dual (5), SDP")
    ax.plot(xs, [cases[x].primal for x in cases], "o", ms=3.5, color=COLORS["measured"], label="primal (4), best restart")
    ax.set(xlabel=xlabel, ylabel="optimal value", title=title)
    for which, style in (("primal", dict(marker="o", color=COLORS["measured"])),
                         ("dual", dict(marker="s", mfc="none", color=COLORS["other"]))):
        ax2.semilogy(xs, [max(cases[x].rel(which), 1e-17) for x in cases], "-", ms=3.5,
                     label=f"|{which} − closed| / closed", **style)
    ax2.axhline(tol, ls="--", color=COLORS["bound"], label="claim tolerance")
    ax2.set(xlabel=xlabel, ylabel="relative difference to closed form", title="the duality gap, to solver precision")
    if mark is not None:
        for a in axes:
            a.axvline(mark, ls=":", color=COLORS["bound"])
        ax.text(mark, ax.get_ylim()[0], " " + mark_label, va="bottom")
    ax.legend()
    ax2.legend()
