"""The landscape chapters' figures, in the book's style (:mod:`companion.core.plotting`): the planes of P1's
Figures 1 and 4, and the landscape sweep's measures against the width I and the window."""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from companion.core.plotting import MIN_FONT, subplots
from companion.landscapes.pipeline import FIG4_ROWS, Panel, View
from companion.landscapes.verdict import Setting


def fig1_planes(panels: Mapping[int, Panel]):
    """Figure 1: the loss on each panel's plane (contours), the three solutions (white stars), one panel per
    width I, titled with its largest barrier ÷ the zero function's loss."""
    Is = list(panels)
    fig, axes = subplots(len(Is), width=3.1, height=3.0)
    for ax, (I, p) in zip(np.atleast_1d(axes), panels.items()):
        g = p.grid
        cs = ax.contourf(g, g, p.surface, levels=25, cmap="viridis")
        ax.contour(g, g, p.surface, levels=25, colors="k", linewidths=0.25, alpha=0.5)
        ax.plot(p.plane.points[:, 0], p.plane.points[:, 1], "w*", ms=9, mec="k", mew=0.5)
        ax.set(title=f"I = {I}: barrier {p.barriers().max():.3f}", xlabel="α", ylabel="β" if I == Is[0] else "",
               aspect="equal")
    fig.colorbar(cs, ax=np.atleast_1d(axes)[-1], shrink=0.8, label="hinge loss")
    return fig


def fig4_planes(panels: Mapping[tuple[str, int], Panel], widths: Mapping[str, Sequence[int]], view: View):
    """Figure 4: one row of panels per data row of ``widths``, one panel per I: the loss on ``view``'s plane,
    coloured from its lowest value to twice the zero function's loss, the solutions (white stars) and the
    centre (red cross), titled with I and the Jensen gap ÷ the zero function's loss."""
    ncol = max(len(Is) for Is in widths.values())
    fig, axes = subplots(ncol, len(widths), width=2.5, height=2.4, squeeze=False)
    for r, (key, Is) in enumerate(widths.items()):
        for c in range(ncol):
            ax = axes[r, c]
            if c >= len(Is):
                ax.axis("off")
                continue
            p = panels[key, Is[c]]
            v = p.views[view]
            top = min(float(v.surface.max()), 2 * p.zero_loss)     # far corners of deep nets would swamp the scale
            ax.contourf(v.grid, v.grid, np.minimum(v.surface, top), levels=np.linspace(v.surface.min(), top, 21),
                        cmap="viridis")
            ax.plot(v.points[:, 0], v.points[:, 1], "w*", ms=7, mec="k", mew=0.5)
            ax.plot([0], [0], "r+", ms=7)
            ax.set(title=f"I = {Is[c]:,}: gap {p.gap(view):.2f}", xticks=[], yticks=[], aspect="equal")
            if c == 0:
                ax.set_ylabel(FIG4_ROWS[key][0].replace(", ", ",\n"), fontsize=MIN_FONT)
    return fig


def sweep_curves(summaries: Mapping[str, pd.DataFrame], settings: Sequence[Setting], *, near_zero: float,
                 collapse: float) -> list:
    """Per summary (:func:`companion.landscapes.verdict.summarise`, titled by its key), a 2×2 figure: Jensen gap
    (top) and largest barrier (bottom) ÷ zero loss against I, one curve per setting with its interval band, as
    trained (left) and aligned (right); markers hollow where the loss interval lies at or above ``collapse``;
    a dashed line at ``near_zero``."""
    figs = []
    for title, s in summaries.items():
        fig, axes = subplots(2, 2, width=4.2, height=2.9, squeeze=False)
        for c, view in enumerate(("none", "aligned")):
            for r, m in enumerate(("gap", "barrier")):
                ax = axes[r, c]
                for k, st in enumerate(settings):
                    q = s[(s.setting == st.name) & (s.view == view)].sort_values("I")
                    col = f"C{k}"
                    ax.plot(q.I, q[m], "-", color=col, label=st.name, lw=1.2)
                    ax.fill_between(q.I, q[m + "_lo"], q[m + "_hi"], color=col, alpha=0.15)
                    hollow = q.loss_rel_lo >= collapse
                    ax.plot(q.I[~hollow], q[m][~hollow], "o", color=col, ms=4)
                    ax.plot(q.I[hollow], q[m][hollow], "o", mfc="none", color=col, ms=5)
                ax.axhline(near_zero, color="0.5", lw=0.8, ls="--")
                ax.set(xscale="log", xlabel="I", ylabel=("Jensen gap" if m == "gap" else "largest barrier") + " / L(0)",
                       title=f"{title}: {'as trained' if view == 'none' else 'aligned'}")
        axes[0, 1].legend(fontsize=MIN_FONT, loc="upper left", bbox_to_anchor=(1, 1))
        figs.append(fig)
    return figs


def score_by_window(summary: pd.DataFrame, settings: Sequence[Setting], radii: Sequence[float]):
    """The score (÷ range) against the window radius (units of ‖θ₃‖) at the widest I, as trained, one curve
    per setting run there (a setting trained only at narrower widths has none)."""
    I = summary.I.max()
    fig, ax = subplots(1, width=5.0, height=3.0)
    top = summary[(summary.I == I) & (summary.view == "none")]
    for k, st in enumerate(settings):
        q = top[top.setting == st.name]
        if q.empty:
            continue
        q = q.iloc[0]
        ax.plot(radii, [q[f"score@{r:g}"] for r in radii], "o-", color=f"C{k}", label=st.name, ms=3)
    ax.set(xscale="log", xlabel="window radius (units of ‖θ₃‖)", ylabel="score (÷ range)", title=f"I = {I}")
    ax.legend(fontsize=MIN_FONT, loc="upper left", bbox_to_anchor=(1, 1))
    return fig


#: the I P1's figures show, per row of the verdict figure (Figure 1; Figure 4's panels)
P1_IS = {"synthetic": (10, 30, 70, 1000), "mnist": (1, 3, 5, 100), "cifar": (1, 3, 5, 100),
         "cifar_deep": (1, 3, 5, 50_000)}


def verdict_figure(summaries: Mapping[str, pd.DataFrame], protocols: Sequence[Setting], *, gate: float,
                   near_zero: float):
    """The landscape verdict at a glance: one column per row (``summaries``: row key → :func:`companion.
    landscapes.verdict.summarise`; ``"synthetic"`` is Figure 1's, the others :data:`FIG4_ROWS`'), the largest
    segment barrier (top) and the Jensen gap (bottom) ÷ the zero function's loss against I on a log axis; one
    colour per setting in ``protocols`` (one per protocol), solid as trained, dashed aligned, with its
    interval band over seed triples (clipped at 0 for the barrier, which cannot be negative); a point is grey
    where the setting is untrained at that I (mean training loss above ``gate`` of the zero function's), a
    whole curve grey where it is untrained at every I; a dotted line at ``near_zero``; P1's I values
    (:data:`P1_IS`) marked as ticks on the axis (those beyond the widest I run named in the title)."""
    keys = list(summaries)
    fig, axes = subplots(len(keys), 2, width=3.2, height=2.6, squeeze=False)
    for c, key in enumerate(keys):
        s = summaries[key]
        name = "synthetic (Fig 1)" if key == "synthetic" else FIG4_ROWS[key][0].replace(", ", ",\n")
        for r, m in enumerate(("barrier", "gap")):
            ax = axes[r, c]
            for k, st in enumerate(protocols):
                for view, ls in (("none", "-"), ("aligned", "--")):
                    q = s[(s.setting == st.name) & (s.view == view)].sort_values("I")
                    if q.empty:
                        continue
                    untrained = (q.loss_rel > gate).to_numpy()
                    col = "0.6" if untrained.all() else f"C{k}"
                    lo = np.maximum(q[m + "_lo"], 0) if m == "barrier" else q[m + "_lo"]
                    ax.plot(q.I, q[m], ls, color=col, lw=1.3)
                    ax.fill_between(q.I, lo, q[m + "_hi"], color=col, alpha=0.12 if view == "none" else 0.06)
                    ax.plot(q.I[~untrained], q[m][~untrained], "o", color=col, ms=3.5)
                    ax.plot(q.I[untrained], q[m][untrained], "o", color="0.6", mfc="white", ms=4)
            ax.axhline(near_zero, color="0.4", lw=0.8, ls=":")
            ax.axhline(0, color="0.8", lw=0.6)
            I_max = s.I.max()
            shown_p1 = [i for i in P1_IS[key] if i <= I_max]
            if shown_p1:
                ax.plot(shown_p1, np.zeros(len(shown_p1)), "^", color="k", ms=5, clip_on=False,
                        transform=ax.get_xaxis_transform())
            beyond = [f"{i:,}" for i in P1_IS[key] if i > I_max]
            ax.set(xscale="log", xlabel="I" if r == 1 else "", ylabel=("largest barrier" if m == "barrier"
                                                                         else "Jensen gap") + " / L(0)" if c == 0 else "")
            if r == 0:
                ax.set_title(name + (f"\n(P1 also at I = {', '.join(beyond)})" if beyond else ""), fontsize=MIN_FONT)
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color=f"C{k}", ls=ls, marker="o", ms=3.5, label=f"{st.name}, {words}")
               for k, st in enumerate(protocols) for ls, words in (("-", "as trained"), ("--", "aligned"))]
    handles.append(Line2D([], [], color="0.6", marker="o", mfc="white", ls="", label=f"untrained (loss > {gate:g}·L(0))"))
    handles.append(Line2D([], [], color="k", marker="^", ls="", label="I shown in P1"))
    fig.legend(handles=handles, loc="outside lower center", ncol=3, fontsize=MIN_FONT)
    return fig
