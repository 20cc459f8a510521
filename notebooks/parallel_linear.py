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
# # P2 on deep linear networks: weight decay's gap, parallel networks' zero gap, and P1 beside P2
#
# Wang, Ergen & Pilanci (ICLR 2023) state (abstract): *"for deeper linear networks with vector outputs
# the duality gap is non-zero … stacking standard deep networks in parallel … and modifying the
# regularisation gives zero gap"*, and that *"weight decay explicitly encourages low-rank solutions via
# closed-form expressions"*. We found no numerical section in P2: we checked its abstracts (v1 and v3) and the
# public record (secondary accounts, no released code), not its full text, which was not available to us. So
# the formulas below are **our derivation** (stated in `companion.duality.parallel_linear` and checked here three
# ways: closed form, convex program in cvxpy, non-convex training with batched restarts), and each statement
# below says whether it is P2's (its abstract), derived from the definitions, or our reading of what P2's
# theorem must say; findings on our reading hold *under our definitions*.
#
# Setting (P2's convention): $X \in \mathbb R^{n\times d}$ (rows are samples), $Y \in \mathbb R^{n\times k}$,
# minimum-norm interpolation $\min R(W)$ subject to $\sum_{j=1}^m XW_{1j}\cdots W_{Lj} = Y$, with $W^* = X^\dagger Y$
# and its singular values $\sigma_i$.
#
# | regulariser $R$ | primal (our derivation) | dual (our derivation) |
# |---|---|---|
# | weight decay $\tfrac12\sum_{l}\|W_l\|_F^2$, standard net ($m = 1$) | $\tfrac L2\sum_i\sigma_i^{2/L}$ | $\tfrac L2\big(\sum_i\sigma_i\big)^{2/L}$ |
# | path $\tfrac1L\sum_{j,l}\|W_{lj}\|_F^L$, parallel net, $m$ branches | $\min_{\text{partitions into}\le m}\sum_g\big(\sum_{i\in g}\sigma_i^{2/L}\big)^{L/2}$ $= \sum_i\sigma_i$ once $m\ge\operatorname{rank}W^*$ | $\sum_i \sigma_i = \|W^*\|_*$ |
# | P1's Schatten $\tfrac1L\sum_l \|W_l\|_{S_L}^L$, standard net | $\sum_i\sigma_i$ | $\sum_i\sigma_i$ |
#
# The last row is **P1's** Schatten-$H$ regulariser (the one `companion.duality.deep_linear` and the chapter on
# P1's Theorem 2 implement, and the `"schatten"` option here), not anything of P2: it stands beside P2's rows
# only to show where the two papers meet (section 3).
#
# **Two gap measures.** P2 (as secondary accounts state it) compares $P(t)$ with $D(t)$ at a fixed rescaling
# $t$: $P(t) = t^{-(L-2)}(\sum_i\sigma_i^{2/L})^{L/2}$ and $D(t) = t^{-(L-2)}\sum_i\sigma_i$, whose ratio does
# not depend on $t$. The table above minimises over $t$ on both sides; that ratio $P/D$ is the fixed-$t$ ratio to
# the power $2/L$. Both vanish in the same cases, but differ in size; the tables show both.
#
# The dual of weight decay is the Lagrangian dual of the *rescaled* problem (P2's device): keep
# $\|W_l\|_F\le t$ for $l\le L-2$, dualise the interpolation constraint, then minimise over $t$:
# $D = \min_t\ \tfrac{L-2}2t^2 + t^{-(L-2)}\max\{\langle\Lambda,Y\rangle : \|X^\top\Lambda\|_2\le1\}$.
# (The plain Lagrangian dual is $-\infty$-trivial for $L \ge 3$: scaling all layers by $s$ makes the
# bilinear term grow like $s^L$.)

# %% tags=["parameters"]
preset = "smoke"
device = "auto"
data_dir = ""
claims_path = "parallel_linear.claims.json"
run_id = ""
interactive = True
seed = 0
sigma = [3.0, 2.0, 1.0]
depths = [2, 3, 4, 5, 6, 8]
train_depths = [2, 3]
ms = [1, 2, 3]
rank_one_ms = [3, 4]
restarts = 4
outer = 20
inner = 150
spreads = [0.0, 0.25, 0.5, 0.75, 1.0]
betas = [0.3, 0.6]
tol = 0.0001

# %%
import time

import numpy as np
from IPython.display import Markdown, display

from companion.duality import linear_study as study
from companion.duality import parallel_linear as pl
from companion.core.devices import describe_device
from companion.core.plotting import readable, subplots
from companion.book.runtime import glue_many, progress, start_chapter

dev, claims = start_chapter("parallel_linear", preset=preset, device=device, seed=seed, claims_path=claims_path,
                            run_id=run_id, data="synthetic: X = I, Y = U diag(σ) Vᵀ with random orthogonal U, V",
                            sigma=sigma, restarts=restarts)
t_start = time.perf_counter()
X, Y = pl.spectrum_instance(sigma, seed)
s = pl.singular_values(X, Y)
rank = len(s)
train_kw = dict(restarts=restarts, outer=outer, inner=inner, seed=seed, device=dev)
print(f"σ(W*) = {np.round(s, 6)}")

# %% [markdown]
# ## 1. Standard deep linear networks with weight decay: a gap at depth ≥ 3
#
# The worked case $\sigma = (3, 2, 1)$: our closed forms against the numbers quoted in our notes
# (7.0012 and 4.9529 at $L = 3$; 8.2925 and 4.8990 at $L = 4$), the dual computed by cvxpy (the convex
# problem $\max\{\langle\Lambda,Y\rangle : \|X^\top\Lambda\|_2\le 1\}$, then the scalar minimisation over $t$),
# and the best of the batched training runs (augmented Lagrangian for the interpolation constraint).

# %%
wd = study.weight_decay_study(X, Y, depths, train_depths, progress=progress, **train_kw)
wd_train, nuc_cvx = wd.trained, wd.nuclear_cvx
display(readable(wd.table()))

GAP, CF = "P2.linear_gap:gap", "P2.linear_gap:closed_form"
if sigma == [3.0, 2.0, 1.0]:
    for L, (p_ref, d_ref) in {3: (7.0012, 4.9529), 4: (8.2925, 4.8990)}.items():
        claims.close(f"worked_L{L}_primal", f"σ = (3,2,1), L = {L}: primal closed form = quoted value (4 decimals)",
                     pl.weight_decay_primal(s, L), p_ref, 5e-5, kind="sanity")
        claims.close(f"worked_L{L}_dual", f"σ = (3,2,1), L = {L}: dual closed form = quoted value (4 decimals)",
                     pl.weight_decay_dual(s, L), d_ref, 5e-5, kind="sanity")
for L, d_cvx, d in zip(wd.depths, wd.dual_cvx, wd.dual):
    claims.close(f"wd_dual_cvx_L{L}", f"weight decay, L = {L}: dual by cvxpy = closed form (rel.)", d_cvx, d, tol,
                 relative=True, part=CF)
for L, r in wd_train.items():
    claims.close(f"wd_train_L{L}", f"weight decay, L = {L}: best training = primal closed form (rel.)", r.value,
                 pl.weight_decay_primal(s, L), tol, relative=True, part=GAP if L >= 3 and rank >= 2 else CF)
    if L >= 3 and rank >= 2:
        claims.at_least(f"wd_train_above_dual_L{L}", f"weight decay, L = {L}: training stays above the dual "
                        "(relative excess over D, must exceed 100·tol; weak duality given wd_train)",
                        (r.value - pl.weight_decay_dual(s, L)) / pl.weight_decay_dual(s, L), 100 * tol, kind="sanity")
for L, r in wd.rescaled.items():
    claims.close(f"fixed_t_train_L{L}", f"fixed t = 1, L = {L}: P(1) trained directly = t^-(L-2)(Σσ^(2/L))^(L/2) "
                 "(rel.)", r.value, pl.fixed_t_primal(s, L), tol, relative=True, part=CF)
    claims.close(f"fixed_t_dual_cvx_L{L}", f"fixed t = 1, L = {L}: D(1) by cvxpy = t^-(L-2)Σσ (rel.)",
                 wd.rescaled_dual_cvx[wd.depths.index(L)], pl.fixed_t_dual(s, L), tol, relative=True, part=CF)

# %% [markdown]
# ### The gap against depth and against the spread of the singular values
#
# For $\sigma = (1, r, r^2)$: $r = 0$ is a rank-1 target (no gap at any depth), $r = 1$ equal singular values
# (the gap does **not** close there, contrary to a secondary note we were given).

# %% mystnb={"figure": {"caption": "Deep linear networks with weight decay. Left: primal value $\\frac L2\\sum\\sigma_i^{2/L}$, dual value $\\frac L2(\\sum\\sigma_i)^{2/L}$ and the best trained network against depth $L$. Right: the relative gap $(P-D)/P$ against the spread $r$ of the singular values $\\sigma=(1,r,r^2)$, one line per depth.", "name": "fig-pl-depth"}, "image": {"alt": "Two panels. Left: primal, dual and best-trained values (markers and lines) against depth L. Right: the relative duality gap against the spread r, one line per depth."}}
gap_depths = [2, 3, 4, 6]
rel_gaps, sign_ok = pl.relative_gap_sweep(gap_depths, spreads)
study.plot_weight_decay(subplots(2, width=4.2, height=3.2)[1], wd, gap_depths, spreads, rel_gaps)
claims.true("gap_sign_pattern", "gap > 0 exactly when L ≥ 3 and rank W* ≥ 2 (and never negative), over the "
            "plotted depths and spreads", sign_ok, kind="sanity");

# %% [markdown]
# ### Weight decay's low-rank bias
#
# With the penalty instead of the constraint, $\min \tfrac12\|W_1\cdots W_L - Y\|_F^2 + \tfrac\beta2\sum_l\|W_l\|_F^2$
# ($X = I$) reduces per singular value $s$ of $Y$ to $\min_{w\ge0}\tfrac12(s-w)^2 + \beta\tfrac L2 w^{2/L}$,
# which for $L\ge3$ jumps to $w = 0$ below a threshold: small singular values are switched off, not shrunk.
# We compare the singular values of the trained end-to-end map with this 1-D global minimisation.

# %%
lr = study.low_rank_study(Y, 3, betas, restarts=restarts, steps=inner * 10, seed=seed, device=dev, progress=progress)
for beta, obj_tr, obj_cf, sv_err in zip(betas, lr.trained, lr.closed, lr.sv_error()):
    claims.close(f"lowrank_obj_beta{beta:g}".replace(".", "p"), f"regularised weight decay, L = 3, β = {beta:g}: "
                 "trained objective = 1-D global minimum (rel.)", obj_tr, obj_cf, tol, relative=True,
                 part="P2.low_rank:closed_form")
    claims.close(f"lowrank_sv_beta{beta:g}".replace(".", "p"), f"β = {beta:g}: largest difference of trained and "
                 "closed-form singular values of W_1⋯W_L (relative to σ_max)", sv_err / s.max(), 0.0, 1e-3,
                 part="P2.low_rank:closed_form")
display(readable(lr.table()))

# %% [markdown]
# ## 2. Parallel networks with the path regulariser: zero gap once $m \ge \operatorname{rank}W^*$
#
# Two branch shapes. **P2's**, as secondary accounts describe its parallel net: $m$ scalar-output branches
# (each branch's last hidden layer has width one) combined by the last layer $W_L\in\mathbb R^{m\times k}$, so
# each linear branch has rank $\le 1$ and the net needs $m \ge \operatorname{rank}W^*$ to interpolate at all.
# **Ours**, full-width vector-output branches: a branch of rank $r$ costs its Schatten-$2/L$ quasi-norm (AM–GM
# over its layers), which equals the nuclear norm only for rank 1, so with $m$ branches the primal is the best
# grouping of the singular values into $m$ branches. For $m \ge \operatorname{rank}W^*$ both give
# $\|W^*\|_*$, the dual for every $m$; our $m < \operatorname{rank}$ formula has no counterpart in P2. The rank-one
# branches are the ones that match P2's description. The convex problem is $\min\{\|W\|_* : XW = Y\}$.

# %%
nuc_primal_cvx = pl.nuclear_primal_cvx(X, Y)
L_par = 3
path = study.path_study(X, Y, L_par, ms, progress=progress, **train_kw)
par = path.trained
display(readable(path.table()))
r1b = study.path_study(X, Y, L_par, [m for m in rank_one_ms if m >= rank], branch="rank_one", **train_kw)
display(readable(r1b.table()))
claims.close("nuclear_cvx_primal_dual", "min ‖W‖_* s.t. XW = Y (cvxpy) = max ⟨Λ,Y⟩ s.t. ‖XᵀΛ‖₂ ≤ 1 (cvxpy) (rel.)",
             nuc_primal_cvx, nuc_cvx, tol, relative=True, kind="sanity")
claims.close("nuclear_cvx_closed", "the convex programs equal Σσ_i (rel.)", nuc_cvx, pl.path_dual(s), tol, relative=True,
             kind="sanity")
ZG = "P2.parallel_linear:zero_gap"
for m, r, P in zip(path.ms, par.values(), path.primal):
    if m < rank:      # our own formula for fewer branches than the rank: no counterpart in P2, so no part
        claims.close(f"path_train_m{m}", f"full-width branches, path regulariser, L = 3, m = {m} < rank: best "
                     "training = our closed form (rel.)", r.value, P, tol, relative=True)
    else:
        claims.close(f"path_zero_gap_m{m}", f"full-width branches, m = {m} ≥ rank: trained primal = dual ‖W*‖_* "
                     "(zero gap, rel.)", r.value, pl.path_dual(s), tol, relative=True, part=ZG)
for m, r in r1b.trained.items():
    claims.close(f"rank1_branches_zero_gap_m{m}", f"P2's rank-one branches, m = {m} ≥ rank: trained primal = dual "
                 "‖W*‖_* (zero gap, rel.)", r.value, pl.path_dual(s), tol, relative=True, part=ZG)
# the same parallel net with plain weight decay: the gap does not close
m_big = max(max(ms), rank)
wd_par = pl.train_interpolation(X, Y, L_par, kind="weight_decay", m=m_big, **train_kw)
claims.close("wd_parallel_train", f"parallel net (m = {m_big}) with plain weight decay, L = 3: best training = "
             "(L/2)Σσ^{2/L} (rel.)", wd_par.value, pl.weight_decay_primal(s, L_par), tol, relative=True,
             part="P2.parallel_linear:weight_decay_stays")
if rank >= 2:
    claims.at_least("wd_parallel_gap", f"parallel net (m = {m_big}) with weight decay keeps a gap: (P − D)/D "
                    "must exceed 100·tol (weak duality given wd_parallel_train)",
                    (wd_par.value - pl.weight_decay_dual(s, L_par)) / pl.weight_decay_dual(s, L_par), 100 * tol,
                    kind="sanity")

# %% mystnb={"figure": {"caption": "Parallel deep linear network with the path regulariser: primal − dual against the number of branches $m$, closed form (line) and best trained networks (full-width and P2's rank-one branches); the dotted line marks $m = \\operatorname{rank} W^*$.", "name": "fig-pl-path"}, "image": {"alt": "Primal minus dual against the number of branches m: a closed-form line, dots for full-width training, crosses for rank-one branches, and a dotted vertical line at m equal to the rank."}}
study.plot_path(subplots(1, width=4.6, height=3.3)[1], path, r1b, rank)

# %% [markdown]
# ## 3. P1 meets P2 on the same data
#
# Three regularisers of the same depth-3 network on the same $Y$ (the σ of the parameters cell). The first
# row is P1's Schatten-$H$ regulariser (as in `companion.duality.deep_linear`), not P2's:

# %%
sch = pl.train_interpolation(X, Y, L_par, kind="schatten", m=1, **train_kw)
wd3 = wd_train[3] if 3 in wd_train else pl.train_interpolation(X, Y, 3, kind="weight_decay", m=1, **train_kw)
claims.close("schatten_train", "P1's Schatten-3 regulariser (P1's, not P2's), standard net: best training = ‖W*‖_* "
             "(rel.)", sch.value, pl.path_dual(s), tol, relative=True)
meet = study.meeting(s, L_par, schatten=sch.value, weight_decay=wd3.value, parallel_wd=(m_big, wd_par.value),
                     parallel_path=(max(par), par[max(par)].value))
display(readable(meet.table()))

# %% mystnb={"figure": {"caption": "The same data at depth 3 under four regularisers: primal (best training) beside dual, bar by bar; where the bars differ there is a duality gap.", "name": "fig-pl-meet"}, "image": {"alt": "Bar chart: for each of four regularisers, a bar for the primal (best training) beside a bar for the dual."}}
study.plot_meeting(subplots(1, width=6.0, height=3.0)[1], meet)

# %% [markdown]
# ## Claims

# %%
claims.save()
glue_many("pl", P3=pl.weight_decay_primal(s, 3), D3=pl.weight_decay_dual(s, 3), nuc=pl.path_dual(s),
          sch=sch.value, wd3=wd3.value, par=par[max(par)].value, mbig=m_big,
          n_claims=len(claims.claims), n_hold=sum(c.holds for c in claims.claims), n_checks=len(claims.checks()),
          n_sanity=len(claims.sanity()),
          total=time.perf_counter() - t_start, preset=preset, device=describe_device(dev), restarts=restarts,
          sigma=str(tuple(sigma)))
Markdown(claims.table())

# %% [markdown]
# ## Why the two papers do not contradict each other
#
# Every regulariser here is a function of the layers, but the training problem only sees what it induces on
# the end-to-end map $W = W_1\cdots W_L$. P1's Schatten-$H$ regulariser with $H = L$ induces exactly the nuclear
# norm $\|W\|_*$ (AM–GM across layers), a convex function: the problem is a convex problem in disguise, and the
# trained value {glue:text}`pl_sch:.5f` equals the dual {glue:text}`pl_nuc:.5f`. P2's path regulariser on a
# parallel network induces the same nuclear norm once each singular direction can live in its own branch
# ({glue:text}`pl_par:.5f` against {glue:text}`pl_nuc:.5f`). Weight decay instead induces
# $\tfrac L2\sum_i\sigma_i^{2/L}$, a Schatten quasi-norm that is **concave** in the singular values for
# $L \ge 3$; the Lagrangian dual only sees its convex envelope, so training reaches
# {glue:text}`pl_wd3:.5f` (the primal {glue:text}`pl_P3:.5f`) while the dual is {glue:text}`pl_D3:.5f`.
#
# (All on $W^*$ with singular values σ = {glue:text}`pl_sigma`.)
#
# So P1's "zero gap" (Theorem 2) and P2's "non-zero gap" are statements about different regularisers of the
# same deep linear network, and they meet at $L = H = 2$, where the Schatten-2 norm is the Frobenius norm and
# all three rows of the table coincide. The lesson both papers share: the gap is zero exactly when the
# regulariser, pushed through the factorisation, is convex in the network's output; parallel branches make the
# path regulariser do that, and the quasi-norm of weight decay never does. P2's statement that weight decay
# "encourages low-rank solutions" is the same concavity seen from the primal side: the trained maps above
# switch small singular values off instead of shrinking them.
#
# ## How this differs from the paper
#
# - We found no numerical section in P2 (we checked its abstracts and the public record, not its full text, which
#   was not available to us): the closed forms are ours (derived in `companion.duality.parallel_linear`) and
#   checked by {glue:text}`pl_n_checks` checks and {glue:text}`pl_n_sanity` sanity checks ({glue:text}`pl_n_hold`
#   of {glue:text}`pl_n_claims` hold). Which regulariser P2 modifies to is not confirmed; we implement the path
#   regulariser $\frac1L\sum_{j,l}\|W_{lj}\|_F^L$ and state it. Its zero gap is therefore judged *under our
#   definitions*; the weight-decay gap is P2's own statement.
# - Branches: P2's rank-one shape (scalar-output branches combined by the last layer) and our full-width one
#   both reach $\|W^*\|_*$ at $m\ge\operatorname{rank}W^*$; only the first matches P2's description.
# - The Schatten rows (`deep_linear`, the `"schatten"` option) are P1's regulariser, not P2's.
# - Training: L-BFGS inside an augmented Lagrangian for the interpolation constraint, {glue:text}`pl_restarts`
#   restarts as one batch, float64; a restart counts only if its constraint violation is below $10^{-6}\|Y\|_F$.
#   Each run first fits the constraint alone (a homotopy): for $L \ge 3$ weight decay makes $0$ a strict local
#   minimum of every singular direction, and without that warm start no restart reached the optimum at
#   $L \ge 4$ in our tests (see `train_interpolation`).
# - Preset **{glue:text}`pl_preset`**, device {glue:text}`pl_device`, {glue:text}`pl_total:.0f` s in all.
#   Data: synthetic only (no data set).
