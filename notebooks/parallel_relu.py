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
# # P2 on three-layer ReLU networks: the gap on whitened data, and rank-one data
#
# Wang, Ergen & Pilanci state (abstract v3) that *"strong duality holds for three-layer standard ReLU networks
# given rank-1 data matrices"*, and (abstract v1) that the gap is non-zero for whitened data. The full text
# was not available to us: every formula below is **our derivation** (in `companion.relu_duality`), checked
# here against batched non-convex training. Data: synthetic only.
#
# Standard net $f = ((XW_1)_+W_2)_+w_3$, minimum-norm interpolation with weight decay
# $\tfrac12(\|W_1\|_F^2+\|W_2\|_F^2+\|w_3\|^2)$. Dual: P2's rescaling device ($\|W_1\|_F\le t$, dualise, minimise
# over $t$) gives $D = \min_t t^2/2 + \gamma(y)/t = \tfrac32\gamma(y)^{2/3}$, with $\gamma(y)$ the gauge of $y$ over
# $\{((XW_1)_+w)_+ : \|W_1\|_F\le1, \|w\|\le1\}$. For whitened $X$ ($XX^\top = I$) that set is $\{v\ge0, \|v\|\le1\}$,
# so $\gamma = p + q$ ($p = \|y_+\|$, $q = \|y_-\|$), while one chain per sign gives $P = \tfrac32(p^{2/3}+q^{2/3})$.
# For $X = ca^\top$ ($\|a\| = 1$) outputs lie in span$\{c_+, c_-\}$, $y = y_a c_+ + y_b c_-$, $\gamma = |y_a|+|y_b|$.

# %% tags=["parameters"]
preset = "smoke"
device = "auto"
data_dir = ""
claims_path = "parallel_relu.claims.json"
run_id = ""
interactive = True
seed = 0
n = 4
ratios = [0.0, 0.5, 1.0]
restarts = 8
outer = 20
inner = 150
rank_one = [[1.0, 0.5], [1.0, -0.5]]
tol = 0.001

# %%
import time

import numpy as np
import pandas as pd
from IPython.display import Markdown, display

from companion import relu_duality as rd
from companion.devices import describe_device
from companion.plotting import COLORS, subplots
from companion.book.runtime import glue_many, start_chapter

dev, claims = start_chapter("parallel_relu", preset=preset, device=device, seed=seed, claims_path=claims_path,
                            run_id=run_id, data="synthetic: whitened X (random orthogonal), rank-one X = c aᵀ",
                            n=n, restarts=restarts)
t_start = time.perf_counter()
kw = dict(restarts=restarts, outer=outer, inner=inner, seed=seed, device=device)

# %% [markdown]
# ## A. Whitened data: $P = \tfrac32(p^{2/3}+q^{2/3}) > D = \tfrac32(p+q)^{2/3}$

# %%
inst = [rd.whitened_instance(n, r, seed) for r in ratios]
X = inst[0][0]
Y = np.stack([y for _, y in inst])
pq = [rd.split_signs(y) for y in Y]
std = rd.train_nets(X, Y, [1], kind="weight_decay", h1=n, h2=n, **kw).best()[:, 0]
par = rd.train_nets(X, Y, [2], kind="path", h1=n, **kw).best()[:, 0]
rows = []
for i, (r, (p, q)) in enumerate(zip(ratios, pq)):
    P, D = rd.whitened_primal(p, q), rd.whitened_dual(p, q)
    rows.append({"q/p": r, "P closed": P, "D closed": D, "standard, trained": std[i],
                 "parallel m=2 (P2 reg.), trained": par[i], "γ = p + q": p + q})
    claims.close(f"white_std_r{i}", f"whitened, q/p = {r:g}: best trained standard net = P closed form (rel.)",
                 std[i], P, tol, relative=True)
    claims.close(f"white_par_r{i}", f"whitened, q/p = {r:g}: parallel m = 2, P2's regulariser: trained = p + q (rel.)",
                 par[i], p + q, tol, relative=True)
    if q > 0:
        claims.at_least(f"white_gap_r{i}", f"whitened, q/p = {r:g}: trained standard net stays above D "
                        "(relative excess, must exceed 10·tol)", (std[i] - D) / D, 10 * tol)
table = pd.DataFrame(rows).set_index("q/p")
display(table.style.format(precision=6))
fig, ax = subplots(1, width=4.6, height=3.2)
rr = np.linspace(0, 1, 101)
ax.plot(rr, [rd.whitened_primal(1, x) / rd.whitened_dual(1, x) for x in rr], color=COLORS["reference"], label="P/D closed form")
ax.plot(ratios, table["standard, trained"] / table["D closed"], "o", color=COLORS["measured"], label="trained / D")
ax.set(xlabel="q/p", ylabel="P / D", title="whitened data, standard three-layer ReLU net")
ax.legend();

# %% [markdown]
# ## C. Rank-one data: both sign cases

# %%
r1 = []
for i, (ya, yb) in enumerate(rank_one):
    Xr, yr, c = rd.rank_one_instance(6, 3, ya, yb, seed)
    best = rd.train_nets(Xr, yr, [1], kind="weight_decay", h1=6, h2=6, **kw).best()[0, 0]
    D = rd.standard_dual(rd.rank_one_gauge(ya, yb))
    r1.append({"(y_a, y_b)": f"({ya:g}, {yb:g})", "trained": best, "P (our closed form)": rd.rank_one_primal(ya, yb),
               "D": D, "(trained − D)/D": (best - D) / D})
    claims.close(f"rank1_primal_{i}", f"rank one, (y_a, y_b) = ({ya:g}, {yb:g}): trained = our closed-form P (rel.)",
                 best, rd.rank_one_primal(ya, yb), tol, relative=True)
    claims.finding(f"rank1_zero_gap_{i}", f"rank one, {'same' if ya * yb > 0 else 'opposite'} signs: P2 says zero "
                   "gap; relative gap (trained − D)/D", estimate=(best - D) / D, low=(best - D) / D - tol,
                   high=(best - D) / D + tol, region=(None, 10 * tol))
display(pd.DataFrame(r1).set_index("(y_a, y_b)").style.format(precision=6))

# %% [markdown]
# ## Claims

# %%
claims.save()
glue_many("pr", ratio_max=rd.whitened_primal(1, 1) / rd.whitened_dual(1, 1), gap_same=r1[0]["(trained − D)/D"],
          gap_opp=r1[-1]["(trained − D)/D"], n_claims=len(claims.claims), preset=preset,
          device=describe_device(dev), total=time.perf_counter() - t_start)
Markdown(claims.table())

# %% [markdown]
# ## What this shows
#
# On whitened data the standard net's primal exceeds the dual (ratio {glue:text}`pr_ratio_max:.4f` at $p = q$),
# and a parallel net with P2's regulariser ($\tfrac13\sum_{j,l}\|W_{lj}\|^3$, our reading) reaches the gauge
# $p+q$ with two branches. On rank-one data the gap is zero when $y_a, y_b$ have the same sign
# ({glue:text}`pr_gap_same:.2e`) and not when they have opposite signs ({glue:text}`pr_gap_opp:.3f`): P2's
# rank-one statement, with our dual, needs a sign hypothesis we cannot read in the abstract.
#
# ## How this differs from the paper
#
# - P2 has no experiments; all formulas are ours, checked by {glue:text}`pr_n_claims` claims. Experiment B
#   (general data, the convex program against parallel nets as $m$ grows) is in `companion.relu_duality` and its
#   tests but not yet on this page.
# - Preset **{glue:text}`pr_preset`**, device {glue:text}`pr_device`, {glue:text}`pr_total:.0f` s in all.
