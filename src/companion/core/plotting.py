"""One figure style for every chapter."""

from __future__ import annotations

from typing import Any

import matplotlib as mpl
import matplotlib.pyplot as plt

from companion.core.tables import readable  # noqa: F401  (the tables' number style, beside the figures' style)

#: the widest figure in inches: at ``figure.dpi`` it fits the book's content column (about 800 px), so it is shown
#: unscaled and 9 pt stays 9 pt on the page
MAX_WIDTH = 7.2
#: the smallest text on a figure (legends, tick labels, annotations), in points
MIN_FONT = 9

STYLE: dict[str, Any] = {
    "figure.dpi": 110,
    "savefig.dpi": 110,
    "font.size": 10,
    "axes.titlesize": 10,
    "axes.labelsize": 10,
    "legend.fontsize": MIN_FONT,
    "xtick.labelsize": MIN_FONT,
    "ytick.labelsize": MIN_FONT,
    "figure.titlesize": 10,
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
    """``plt.subplots`` with the book's panel size (width × height inches per panel); a row of panels wider
    than :data:`MAX_WIDTH` is narrowed to it (heights kept), so no figure is scaled down on the page."""
    apply_style()
    total = min(width * ncols, MAX_WIDTH)
    return plt.subplots(nrows, ncols, figsize=(total, height * nrows), constrained_layout=True, **kw)


def figure_texts(fig) -> list:
    """Every visible piece of text on ``fig`` that carries words or numbers (titles, labels, tick labels,
    legends, annotations): for checking that none is smaller than :data:`MIN_FONT`."""
    from matplotlib.text import Text

    return [t for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]


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
