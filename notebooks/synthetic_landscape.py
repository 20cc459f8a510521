# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Loss landscapes on the synthetic teacher set (P1, Figure 1)
#
# P1 §5.1 (quoted): *"we project the high-dimensional hinge loss (τ = 1) landscape onto a 2-d plane spanned by
# three points. These points are found by running the SGD algorithm with three different initializations until
# the algorithm converges. … the landscape exhibits strong non-convexity with lots of local minima in the
# under-parameterized case I = 10. But as I increases, the landscape becomes more convex. In the extreme case,
# when there are 1,000 hidden neurons in the network, no non-convexity can be observed."*
#
# We redraw the four panels and put a number on each: the **non-convexity score**, the largest distance
# between the surface and its lower convex envelope on the plotted grid, as a fraction of the loss range
# (0 for a convex surface; `companion.landscape.nonconvexity_score`).

# %% tags=["parameters"]
preset = "smoke"
device = "auto"
data_dir = ""
claims_path = "synthetic_landscape.claims.json"
run_id = ""
interactive = True
seed = 0
n = 1000
Is = [10, 100, 1000]
steps = 1500
lr0 = 0.5
G = 21
margin = 0.5
bench_G = 7
near_zero = 0.1

# %%
import time

import numpy as np
import pandas as pd
import torch
from IPython.display import Markdown, display

from companion.data import synthetic_teacher
from companion.devices import describe_device
from companion.losses import tau_hinge
from companion.nets import n_parameters
from companion.panels import landscape_panel
from companion.plotting import COLORS, subplots
from companion.book.runtime import glue_many, progress, start_chapter
from companion.stats import spearman

t_start = time.perf_counter()
ds = synthetic_teacher(n=n, d=10, hidden=11, seed=seed)
dev, claims = start_chapter("synthetic_landscape", preset=preset, device=device, seed=seed, claims_path=claims_path,
                            run_id=run_id, data="synthetic: " + ds.record.note + f", n = {n}", Is=Is, G=G)
x, y = ds.x.to(dev, torch.float32), ds.y.to(dev, torch.float32)

# %% [markdown]
# ## Three solutions per width, one plane each
#
# Network: P1's multi-branch form $f(x) = \frac1I\sum_{i=1}^I a_i\,\mathrm{relu}(w_i^\top x)$ (one hidden unit per
# branch), $w_i\sim\mathcal N(0, I_d/10)$, $a_i\sim\mathcal N(0,1)$; hinge loss; the three networks of a panel are
# trained as one batch by full-batch gradient descent, learning rate `lr0`·I (the mean-field scaling that keeps
# the 1/I parametrisation moving at the same speed for every I), cut ×0.1 when the loss rose, for at most
# `steps` steps or until the loss is ≤ 10⁻⁵. The plane has centre = the mean of the three solutions and axes
# θ₁ − θ₂, θ₁ − θ₃ (unit norm), as in the authors' code; the grid spans the solutions with a margin of
# `margin` of their extent.

# %%
panels = {}
for I in progress(Is, "widths I"):
    panels[I] = landscape_panel(x, y, tau_hinge, I=I, widths=(10, 1, 1), seeds=[seed * 1000 + 100 + k for k in range(3)],
                                steps=steps, lr=lr0 * I, G=G, margin=margin, scale="mean", parametrization="mean",
                                bench_G=bench_G, device=device)

rows = [{"I": I, "parameters": n_parameters(I, (10, 1, 1)), "train losses": np.round(p.train.loss.cpu().numpy(), 5),
         "train accuracy": np.round(p.accuracy_train, 3), "train s": p.train.seconds, "score (max)": p.score.max,
         "score (mean)": p.score.mean, f"{G}×{G} grid s": p.eval_seconds, "fast/naive rel. diff": p.bench.max_rel_diff,
         f"speed-up on {bench_G}×{bench_G}": p.bench.speedup} for I, p in panels.items()]
summary = pd.DataFrame(rows).set_index("I")
display(summary.style.format({"train s": "{:.1f}", "score (max)": "{:.3f}", "score (mean)": "{:.4f}", f"{G}×{G} grid s": "{:.2f}",
                              "fast/naive rel. diff": "{:.1e}", f"speed-up on {bench_G}×{bench_G}": "{:.1f}×"}))

# %%
fig, axes = subplots(len(Is), width=3.1, height=3.0)
for ax, (I, p) in zip(np.atleast_1d(axes), panels.items()):
    g = p.grid
    cs = ax.contourf(g, g, p.surface, levels=25, cmap="viridis")
    ax.contour(g, g, p.surface, levels=25, colors="k", linewidths=0.25, alpha=0.5)
    ax.plot(p.plane.points[:, 0], p.plane.points[:, 1], "w*", ms=9, mec="k", mew=0.5)
    ax.set(title=f"I = {I}: score {p.score.max:.3f}", xlabel="α", ylabel="β" if I == Is[0] else "", aspect="equal")
fig.colorbar(cs, ax=np.atleast_1d(axes)[-1], shrink=0.8, label="hinge loss");

# %% [markdown]
# For interactive readers, a 3-D view of any panel:

# %%
if interactive:
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    def _show(I: int = Is[0]) -> None:
        p = panels[I]
        A, B = np.meshgrid(p.grid, p.grid)
        fig = plt.figure(figsize=(5, 4))
        ax = fig.add_subplot(projection="3d")
        ax.plot_surface(A, B, p.surface, cmap="viridis", linewidth=0)
        ax.set(title=f"I = {I}, score {p.score.max:.3f}", xlabel="α", ylabel="β", zlabel="loss")
        plt.show()

    widgets.interact(_show, I=widgets.Dropdown(options=list(panels), value=Is[0]))

# %% [markdown]
# ## Claims

# %%
scores = np.array([panels[I].score.max for I in Is])
rho, _ = spearman(np.array(Is), scores)
for I, p in panels.items():
    claims.close(f"fast_equals_naive_I{I}", f"I = {I}: fast plane evaluator = per-point forward (largest relative "
                 "difference, float64)", p.bench.max_rel_diff, 0.0, 1e-5)
claims.at_most("score_trend", f"Spearman ρ between I and the score over I ∈ {Is} (the score falls as I grows)", rho, -0.5)
claims.at_most("score_falls", f"score at I = {Is[-1]} divided by the score at I = {Is[0]}", scores[-1] / scores[0], 1.0)
claims.at_most("score_near_zero", f"score at I = {Is[-1]} (near zero: at most {near_zero} of the loss range)",
               scores[-1], near_zero)
claims.save()
glue_many("sl", Imin=Is[0], Imax=Is[-1], s_first=scores[0], s_last=scores[-1], rho=rho,
          monotone="strictly decreasing" if np.all(np.diff(scores) < 0) else "not monotone",
          speed_max=max(p.bench.speedup for p in panels.values()),
          speed_min=min(p.bench.speedup for p in panels.values()),
          total=time.perf_counter() - t_start, preset=preset, device=describe_device(dev), G=G, steps=steps)
Markdown(claims.table())

# %% [markdown]
# ## What this shows
#
# The non-convexity score falls from {glue:text}`sl_s_first:.3f` at $I$ = {glue:text}`sl_Imin` to
# {glue:text}`sl_s_last:.3f` at $I$ = {glue:text}`sl_Imax` (Spearman ρ = {glue:text}`sl_rho:.2f`; the sequence is
# {glue:text}`sl_monotone`): wider networks have flatter, more convex planes through their solutions, as P1's
# Figure 1 shows. The score is not zero at the widest network: the plane through three solutions from different
# initialisations still crosses a low ridge between them, which P1's pictures do not resolve.
#
# **The engines.** The plane evaluator computes the first layer's three products once and evaluates grid points
# in batches; it agrees with a per-point forward to float64 rounding. Its speed-up over the per-point forward was
# {glue:text}`sl_speed_min:.1f`× to {glue:text}`sl_speed_max:.1f`× here, smallest at the widest network. The
# trick replaces d multiply-adds per pre-activation by 3 memory reads: with d = 10 inputs that saves little, and
# once the three stored products (I·n values each) no longer fit in cache, recomputing the 10-term products per
# grid point is cheaper than reading them, so at I = 1000 it is slower. It pays off where d ≫ 3, on inputs of
# MNIST and CIFAR-10 size (d = 784, 3072), which the real-data landscapes will use.
#
# ## How this differs from the paper
#
# - The paper's parametrisation, initialisation, optimiser settings and plot range are not stated; ours are given
#   above ({glue:text}`sl_steps` steps at most, a {glue:text}`sl_G`×{glue:text}`sl_G` grid; preset
#   **{glue:text}`sl_preset`**, device {glue:text}`sl_device`, {glue:text}`sl_total:.0f` s in all).
# - The score is our addition; "near zero" is our threshold (a tenth of the loss range), fixed before the run.
# - Data: synthetic only.
