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
# # Shapley–Folkman: Minkowski averages become convex (P1, Figure 3)
#
# Theorem 1 of Zhang, Shao & Salakhutdinov (2019) rests on the Shapley–Folkman lemma: the average of
# many copies of a non-convex set is nearly convex. Their Figure 3 shows it with the ℓ½ unit ball
# $A = \{x \in \mathbb{R}^2 : |x_1|^{1/2} + |x_2|^{1/2} \le 1\}$: *"an ℓ1/2 ball. The second and third
# figures: the averaged Minkowski sum of two and ten ℓ1/2 balls. The fourth figure: the convex hull
# of ℓ1/2 ball."* The paper shows pictures only. Here we compute the Minkowski averages
# $\frac1I(A + \dots + A)$ and measure how far they are from the hull, $d_H(\tfrac1I \textstyle\sum A, \operatorname{conv} A)$,
# for every $I$, against the closed form $\frac{\sqrt2}{4I}$ and the Shapley–Folkman–Starr bound
# $\sqrt{\min(2, I)}\,\mathrm{rad}(A)/I$.

# %% tags=["parameters"]
preset = "smoke"
device = "auto"
data_dir = ""
claims_path = "shapley_folkman.claims.json"
run_id = ""
interactive = True
seed = 0
p = 0.5
N = 400
I_max = 20
n_face = 2001
tol = 0.005
n_check = 2000

# %%
from functools import partial

import numpy as np
import pandas as pd
from IPython.display import Markdown, display

from companion.book.runtime import glue_many, start_chapter
from companion.convexity.shapley_folkman import (average_figure, minkowski_study, plot_distances, plot_figure3,
                                                 sampled_outside)
from companion.core.devices import describe_device
from companion.core.plotting import readable, subplots
from companion.core.slider import counts, frame_slider

dev, claims = start_chapter("shapley_folkman", preset=preset, device=device, seed=seed, claims_path=claims_path,
                            run_id=run_id, data="none: exact geometry of the ℓp unit ball (no data set)",
                            p=p, N=N, I_max=I_max)

# %% [markdown]
# ## Method
#
# $A$ is *unconditional*: flipping the sign of a coordinate, or shrinking it, keeps a point in $A$.
# Such a set is fixed by its first-quadrant profile $g(x) = (1-\sqrt{x})^2$, and so is any Minkowski
# sum of such sets: the first-quadrant part of $A + \dots + A$ ($I$ copies) is the region under the
# max-plus convolution
# $G_I(x) = \max\{\sum_j g(x_j) : \sum_j x_j = x,\ 0 \le x_j \le 1\}$.
# We compute $G_I$ for every $I \le I_{\max}$ by dynamic programming on the grid $x = k/N$ (one
# vectorised max-plus step per added copy), take the hull as the least concave majorant of the
# sampled profile, and measure the Hausdorff distance from the hull's boundary to the sampled
# boundary of the average. The sampling error of that distance is bounded and reported
# (see `companion.convexity.shapley_folkman`). Nothing here assumes the answer: the closed form is only compared with.

# %%
study = minkowski_study(p, N, I_max, n_face=n_face, device=dev)
x, profiles, hull_x, hull_y, Is = study.x, study.profiles, study.hull_x, study.hull_y, study.Is
dH, res, closed, starr, t_dp, t_all = (study.distance, study.resolution, study.closed, study.starr, study.dp_seconds,
                                      study.seconds)
claims.add_timing("max-plus DP for all I", t_dp)
claims.add_timing("DP + Hausdorff distances", t_all)
print(f"DP for I = 1..{I_max}: {t_dp:.2f} s; with distances: {t_all:.2f} s")
print("hull vertices:", list(zip(hull_x.round(6), hull_y.round(6))))
display(readable(pd.DataFrame({"d_H": dH, "closed form √2/(4I)": closed, "resolution": res}, index=pd.Index(Is, name="I")),
                 agreement=["d_H", "closed form √2/(4I)"]))

# %% [markdown]
# ## A brute-force cross-check
#
# Independently of the dynamic programme, draw points of $A$ uniformly, average $I$ of them at a time,
# and check that every such average lies in the computed set (up to its stated resolution); then every average of
# two points of a 150-point sample, exhaustively.

# %%
worst_outside = sampled_outside(p, profiles, n_check, seed, Is=(2, 10), n_small=150)
print(f"largest distance of a sampled average outside the computed set: {worst_outside:.2e}")

# %% [markdown]
# ## Claims

# %%
claims.close("hull_is_l1_ball", "the convex hull of the ℓ½ ball is the ℓ1 ball (largest deviation of the "
             "computed hull from x + y = 1)", float(np.max(np.abs(hull_y - (1 - hull_x)))), 0.0, 1e-12,
             kind="sanity")
for I in (1, 2, 10):
    if I <= I_max:
        claims.close(f"dH_I{I}", f"d_H(average of {I} ℓ½ balls, ℓ1 ball) = √2/(4I)", dH[I - 1], closed[I - 1], tol,
                     part="P1.fig3:bound")
claims.close("dH_times_I", f"max over I ≤ {I_max} of |I·d_H − √2/4| (the distance decays exactly like 1/I)",
             float(np.max(np.abs(Is * dH - np.sqrt(2) / 4))), 0.0, tol, part="P1.fig3:bound")
claims.at_most("starr_bound", f"max over I ≤ {I_max} of d_H / Starr bound √min(2,I)/I", float(np.max(dH / starr)), 1.0,
               kind="sanity")
claims.at_most("resolution", "largest stated resolution of the computed distances", float(res.max()), tol, kind="sanity")
claims.close("bruteforce_inside", "sampled Minkowski averages lie in the computed set (largest distance outside)",
             worst_outside, 0.0, float(res.max()), kind="sanity")
claims.save()
glue_many("sf", dH1=dH[0], dH2=dH[1], dH10=dH[9] if I_max >= 10 else float("nan"), res=res.max(),
          tdp=t_dp, tall=t_all, N=N, Imax=I_max, preset=preset, device=describe_device(dev))
Markdown(claims.table())

# %% [markdown]
# ## Figure 3, recomputed

# %% mystnb={"figure": {"caption": "P1's Figure 3 recomputed: the $\\ell_{1/2}$ unit ball $A$, the averages $\\frac12(A+A)$ and $\\frac1{10}(A+\\dots+A)$, and the convex hull $\\operatorname{conv}A$ (the $\\ell_1$ ball).", "name": "fig-sf-balls"}, "image": {"alt": "Four filled shapes in the square from -1 to 1: the star-shaped l one-half ball, the average of two copies, the average of ten copies, and the diamond-shaped l1 ball."}}
plot_figure3(subplots(4, width=2.6, height=2.6)[1], study)

# %% mystnb={"figure": {"caption": "Hausdorff distance between the average of $I$ copies of $A$ and $\\operatorname{conv}A$ against $I$ (log–log): measured, the closed form $\\sqrt2/(4I)$ and the Starr bound $\\sqrt{\\min(2,I)}/I$.", "name": "fig-sf-distance"}, "image": {"alt": "Log-log plot against I: measured distances as dots, the closed form as a solid line and the Starr bound as a dashed line."}}
plot_distances(subplots(1, width=4.6, height=3.4)[1], study)

# %% [markdown]
# Move the slider to see the average of $I$ copies (filled) close in on the hull (outlined). The frames are drawn
# in advance, so the slider works on this static page; run the notebook with `interactive = True` (Binder, Colab,
# local Jupyter) for a live slider as well.

# %%
frame_slider(partial(average_figure, study), counts(I_max), name="I", default=2, interactive=interactive,
             caption="The average of I copies of the ℓ½ ball (filled) and its convex hull (outlined).")

# %% [markdown]
# ## What this shows
#
# The Hausdorff distance from the average of $I$ ℓ½ balls to their convex hull is
# {glue:text}`sf_dH1:.4f` at $I = 1$, {glue:text}`sf_dH2:.4f` at $I = 2$ and {glue:text}`sf_dH10:.4f`
# at $I = 10$: it decays exactly like $\frac{\sqrt2}{4I}$, well inside the Shapley–Folkman–Starr bound.
# The non-convexity of a multi-branch network's epigraph is controlled the same way (Theorem 1):
# averaging $I$ branches shrinks it like $1/I$.
#
# ## How this differs from the paper
#
# - The paper draws the sets; it gives no numbers. Every number here is computed (preset
#   **{glue:text}`sf_preset`**, device {glue:text}`sf_device`), on a grid of $N$ = {glue:text}`sf_N`
#   points per copy, for $I \le$ {glue:text}`sf_Imax`; the largest resolution of a reported distance is
#   {glue:text}`sf_res:.1e`. The dynamic programme took {glue:text}`sf_tdp:.2f` s, everything
#   {glue:text}`sf_tall:.2f` s.
# - Data: none; this chapter is exact geometry.
