"""One figure style for every chapter."""

from __future__ import annotations

from typing import Any

import matplotlib as mpl
import matplotlib.pyplot as plt

STYLE: dict[str, Any] = {
    "figure.dpi": 110,
    "savefig.dpi": 110,
    "font.size": 10,
    "axes.titlesize": 10,
    "axes.labelsize": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.25,
    "legend.frameon": False,
    "lines.linewidth": 1.6,
}

#: colours used consistently: measured, paper/closed form, bound, secondary
COLORS = {"measured": "#1f77b4", "reference": "#d62728", "bound": "#7f7f7f", "other": "#2ca02c"}


def apply_style() -> None:
    """Set the book's matplotlib style (call once per notebook)."""
    mpl.rcParams.update(STYLE)


def subplots(ncols: int = 1, nrows: int = 1, *, width: float = 3.2, height: float = 3.0, **kw: Any):
    """``plt.subplots`` with the book's panel size (width × height inches per panel)."""
    apply_style()
    return plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows), constrained_layout=True, **kw)


def surface_figure(grid: Any, surface: Any, *, title: str = "", xlabel: str = "α", ylabel: str = "β",
                   zlabel: str = "loss", width: float = 4.4, height: float = 3.6):
    """A 3-D view of ``surface`` (G × G, row j = ``grid[j]`` on the second axis) over ``grid`` (G,) × ``grid``.
    Returns the figure."""
    import numpy as np

    apply_style()
    A, B = np.meshgrid(np.asarray(grid), np.asarray(grid))
    fig = plt.figure(figsize=(width, height))
    ax = fig.add_subplot(projection="3d")
    ax.plot_surface(A, B, np.asarray(surface), cmap="viridis", linewidth=0)
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel, zlabel=zlabel)
    return fig
