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
# # How often does training hit the global minimum? (P1, Table 1)
#
# P1 §5.2 (quoted): *"we consider various one-hidden-layer networks, where each network was trained 100
# times using different initialization seeds under the setting discussed in our synthetic experiments …
# we record the frequency that SGD hits the global minimum up to a small error 1 × 10⁻⁵ after 100,000
# iterations. … increasing the number of hidden neurons results in higher hitting rate."* Table 1 reports
# 2, 9, 21, 24, 24, 29, 30, 32, 35, 52, 64, 75 hits out of 100 for 10 … 21 hidden units.
#
# This page runs that protocol at its own scale (100 seeds × 12 widths, up to 100,000 SGD steps, the
# authors' learning-rate rule from their `fully_connected.py`), then varies one choice at a time to see
# which of the choices the paper leaves open move the rates towards P1's.

# %% tags=["parameters"]
preset = "smoke"
device = "auto"
data_dir = ""
claims_path = "hitting_rate.claims.json"
run_id = ""
interactive = True
seed = 0
widths = [10, 16, 21]
S = 10
protocol = {"n": 1000, "d": 10, "teacher_hidden": 11, "teacher_weights": "gaussian", "labels": "sign", "output": "sum",
            "init_scale": 1.0, "tau": 1.0, "lr": 0.1, "batch_size": 100, "steps": 20000, "check_every": 100,
            "hit_loss": 0.00001}
ablation = {"lr 1": {"lr": 1.0}, "full batch, lr 2": {"batch_size": 1000, "lr": 2.0}, "1/I output": {"output": "mean"}}
ablation_S = 6
ablation_steps = 5000
bench_S = 4
bench_steps = 30
bench_loop_S = 1
equiv_steps = 200
confidence = 0.95
trend_region_low = 0.0
scheduler = None

# %%
import time
from pathlib import Path

import numpy as np
from IPython.display import Markdown, display

from companion.book import plan, statements
from companion.book.claims import gate_from, two_sample_rule
from companion.book.runtime import glue_many, progress, start_chapter
from companion.core import stats
from companion.core.data import synthetic_teacher
from companion.core.plotting import COLORS, subplots
from companion.training.hitting import (PAPER_HITS, Protocol, benchmark, check_trainer, protocol_rows, rates_frame,
                                        regime_totals, run_protocols, summary_frame)

t_start = time.perf_counter()
P = Protocol(**protocol)
dev, claims = start_chapter("hitting_rate", preset=preset, device=device, seed=seed, claims_path=claims_path,
                            run_id=run_id, data="synthetic: " + synthetic_teacher(n=P.n, d=P.d, hidden=P.teacher_hidden,
                                                                                  seed=seed).record.note + f", n = {P.n}",
                            widths=widths, S=S, steps=P.steps)

# %% [markdown]
# ## The protocol
#
# Data: P1 §5.1's synthetic set (1,000 points in ℝ¹⁰, labels from a one-hidden-layer ReLU teacher with 11
# units; the teacher's weights and labelling rule are our choices, stated in the data line above).
# Student: $f(x) = \sum_{i=1}^{I} a_i\,\mathrm{relu}(w_i^\top x)$, no biases, hinge loss (τ = 1),
# $w_i \sim \mathcal N(0, I_d/d)$, $a_i \sim \mathcal N(0, 1/I)$. SGD with minibatches of
# {glue:text}`hr_B` (the paper does not state its batch size) at rate {glue:text}`hr_lr`, for at most
# {glue:text}`hr_steps` steps, with **the authors' rule**: after each step, stop if that step's minibatch loss
# is < 10⁻⁵; every 100 steps, cut the rate ×0.1 if the minibatch loss rose above the one remembered at the
# first check or last cut, and stop when it rises after 3 cuts. A seed **hits** when its *full-data* loss is
# ≤ 10⁻⁵ when it stops. All networks see the same minibatches (one shuffle per epoch): the randomness that
# differs between seeds is the initialisation, which is what P1 varies. Each width of each row below, with all its
# seeds, is one configuration of `companion.core.fanout.map`: set `scheduler` to fan them out to Dask; each result is
# kept in `hitting_rate.sweep/` beside the claims, so a rerun resumes where a lost worker stopped.

# %%
protocols = protocol_rows(P, S, ablation, steps=ablation_steps, S_ablation=ablation_S)
rows = run_protocols(protocols, widths, seed=seed, device=dev, scheduler=scheduler,
                     store=Path(claims_path).with_name("hitting_rate.sweep"),
                     progress=lambda it: progress(it, "rows × widths", len(protocols) * len(widths)))
claims.add_timing(f"headline: {S * len(widths)} networks, ≤ {P.steps} steps", rows["headline"].seconds)
claims.add_timing("ablation rows", sum(rows[k].seconds for k in ablation))
table = rates_frame(rows, confidence)
head = table[table.row == "headline"].set_index("width")
display(head[["hits", "rate", "low", "high", "paper", "paper_inside", "rule_stop_rate", "median_steps"]].style.format(
    {"rate": "{:.2f}", "low": "{:.2f}", "high": "{:.2f}", "paper": "{:.2f}", "rule_stop_rate": "{:.2f}",
     "median_steps": "{:.0f}"}))

# %% [markdown]
# `rule_stop_rate` is the fraction of seeds that the rule stopped on a minibatch loss below 10⁻⁵: a "hit" as
# the rule sees it, judged on one minibatch rather than on all the data.

# %%
fig, axes = subplots(2, width=5.0, height=3.6)
ax = axes[0]
r = head
ax.errorbar(r.index, r.rate, yerr=np.maximum(0, [r.rate - r.low, r.high - r.rate]), fmt="o-", ms=4, capsize=3,
            color=COLORS["measured"], label=f"ours: full-data loss ≤ 1e-5 ({S} seeds)")
ax.plot(r.index, r.rule_stop_rate, "^:", ms=4, color=COLORS["measured"], alpha=0.6, label="ours: the rule's minibatch stop")
ax.plot(list(PAPER_HITS), [v / 100 for v in PAPER_HITS.values()], "s--", ms=4, mfc="none", color=COLORS["reference"],
        label="P1 Table 1")
ax.set(xlabel="hidden units I", ylabel="hitting rate", ylim=(-0.03, 1.03), title="the paper's protocol")
ax.legend(fontsize=7)
ax = axes[1]
for name in ablation:
    t = table[table.row == name]
    ax.plot(t.width, t.rate, "o-", ms=3, label=name)
ax.plot(list(PAPER_HITS), [v / 100 for v in PAPER_HITS.values()], "s--", ms=4, mfc="none", color=COLORS["reference"],
        label="P1 Table 1")
ax.set(xlabel="hidden units I", ylabel="hitting rate", ylim=(-0.03, 1.03),
       title=f"one change at a time ({ablation_S} seeds, ≤ {ablation_steps} steps)")
ax.legend(fontsize=6, ncol=2);

# %% [markdown]
# ## The ablation: one change at a time
#
# Each row changes the headline protocol in the named way only (with {glue:text}`hr_abl_S` seeds per width
# and at most {glue:text}`hr_abl_steps` steps, to fit the budget; the full-batch rows also change the rate,
# since at rate 0.1 full-batch descent needs far more steps). "inside" counts the widths at which P1's rate
# lies in our {glue:text}`hr_conf_pct` Wilson interval: a description only, which ignores P1's own binomial
# noise; the headline's findings use two-sample exact tests instead.

# %%
summary = summary_frame(rows, table, protocols)
display(summary.style.format({"mean_rate": "{:.2f}", "rule_stop_rate": "{:.2f}", "median_steps": "{:.0f}"}))
display(table.pivot(index="row", columns="width", values="rate").loc[list(rows)].style.format("{:.2f}"))

# %% [markdown]
# ## The trainer: exact, and how fast
#
# The fast trainer (`companion.training.onehidden`) stacks the hidden units of every network into one block, so the
# first-layer products of all networks are one matrix product, the per-network sums one sparse product, and
# the backward pass is written out by hand. Below: the same networks, minibatches and rule trained by it and by
# autograd one network at a time, in float64; then the same work timed for the fast trainer, today's batched
# autograd trainer (`train_sgd`, padded to the widest) and a loop over networks (`train_sequential`), all
# with one torch thread (the fast trainer's default: its passes are too short to share between two threads).

# %%
t_bench = time.perf_counter()
eq_diff, eq_steps = check_trainer(P, seed=seed, steps=equiv_steps, device=dev)
bench = benchmark(widths, bench_S, bench_steps, batch_size=P.batch_size, lr=P.lr, n=P.n, d=P.d, loop_S=bench_loop_S,
                  device=dev)
claims.add_timing("equivalence check and benchmark", time.perf_counter() - t_bench)
here, host, _ = plan.machines("cuda" if dev.type == "cuda" else "cpu", None)
roof = (here or host).gemm / 1e9                   # this machine's calibrated fp32 GEMM rate (companion plan)
print({k: f"{v:,.1f}" for k, v in bench.items()}, f"roofline fraction {bench['fast_gflops'] / roof:.1%} of {roof:.0f} GFLOP/s")

# %% [markdown]
# ## Claims

# %%
claims.close("fast_equals_autograd", "fast trainer = autograd, one network at a time (largest weight difference "
             f"after ≤ {equiv_steps} steps with the rule, float64)", eq_diff, 0.0, 1e-10, kind="sanity")
claims.true("fast_same_stops", "fast trainer and autograd stop every network at the same step", eq_steps, kind="sanity")
H = rows["headline"]
lo, hi = H.interval(confidence)
rate, paper_k = H.hits / S, np.array([PAPER_HITS[w] for w in widths])
_, p_holm = stats.exact_tests_holm(H.hits, S, paper_k, 100)            # two-sided exact tests, Holm across widths
alpha = statements.part("P1.table1:rates")[1].alpha.value
b, b_lo, b_hi = stats.logistic_slope(np.array(widths), H.hits, S)
b_paper = stats.logistic_slope(np.array(list(PAPER_HITS)), np.array(list(PAPER_HITS.values())), 100)[0]
claims.judge("trend", f"the rate rises with width: logistic-regression slope of hits against width I = {widths[0]}–"
             f"{widths[-1]} (log-odds per unit; {confidence:.0%} Wald interval; P1's own Table 1 gives {b_paper:.2f})",
             statement="P1.table1:trend", estimate=b, low=b_lo, high=b_hi, side="above",
             gate=gate_from("P1.table1:trend", H.at_cap_share), replicates=S * len(widths), paper=b_paper, primary=True)
for i, w in enumerate(widths):
    claims.judge(f"rate_I{w}", f"hitting rate at I = {w} ({S} seeds, {confidence:.0%} Wilson interval) against P1's "
                 f"{PAPER_HITS[w]}/100: two-sided exact test, Holm-adjusted p = {p_holm[i]:.3g}", statement="P1.table1:rates",
                 estimate=float(rate[i]), low=float(lo[i]), high=float(hi[i]),
                 side=two_sample_rule(p_holm[i], lo[i], hi[i], alpha=alpha),
                 gate=gate_from("P1.table1:rates", H.at_cap_share), replicates=S, paper=PAPER_HITS[w] / 100,
                 primary=(i == len(widths) - 1))
claims.save()
glue_many("hr", B=P.batch_size, lr=P.lr, steps=P.steps, nnets=S * len(widths),
          hits=int(H.hits.sum()), n_sig=int((p_holm <= alpha).sum()), nw=len(widths),
          stop_rate=float(H.batch_hits.sum() / (S * len(widths))), med_steps=float(np.median(H.median_steps)),
          t_head=H.seconds, net_steps=H.net_steps, frac_budget=H.net_steps / (S * len(widths) * P.steps),
          abl_S=ablation_S, abl_steps=ablation_steps, conf_pct=f"{confidence:.0%}",
          **regime_totals(summary, table), max_inside=int(summary["inside"].max()),
          eq_diff=eq_diff, fast=bench["fast"], auto=bench["batched_autograd"], loop=bench["loop"],
          r_auto=bench["fast"] / bench["batched_autograd"], r_loop=bench["fast"] / bench["loop"],
          gflops=bench["fast_gflops"], roof=bench["fast_gflops"] / roof, roof_gflops=roof, bench_S=bench_S, bench_steps=bench_steps,
          total=time.perf_counter() - t_start, preset=preset, device=claims.device)
Markdown(claims.table())

# %% [markdown]
# ## What this shows
#
# - **At the paper's protocol, the rule stops SGD before the full data are fitted.** Of
#   {glue:text}`hr_nnets` networks, {glue:text}`hr_hits` reach full-data loss ≤ 10⁻⁵, while the rule's own
#   stop (a minibatch of {glue:text}`hr_B` examples with loss < 10⁻⁵) ends {glue:text}`hr_stop_rate:.0%` of
#   them, typically after {glue:text}`hr_med_steps:.0f` steps. A hinge loss is exactly zero on a minibatch long
#   before it is zero on all the data, so the authors' stopping test, read literally with minibatches, counts
#   the wrong thing or stops too early. Treating P1's counts as samples too (two-sided exact tests of ours
#   against P1's k/100, Holm-corrected across widths), our rate differs significantly from P1's at
#   {glue:text}`hr_n_sig` of {glue:text}`hr_nw` widths.
# - **Which choices move the rates.** The SGD rows that change the rate, the initialisation scale, τ, the
#   output scaling, the teacher's weights or the labels hit {glue:text}`hr_sgd_hits` times in all, out of
#   {glue:text}`hr_sgd_nets` networks. These rows ran under the authors' stopping rule only, which ends SGD on
#   a minibatch long before the full data are fitted, so they could hardly hit whatever the choice: they do
#   **not** show that the rates are independent of those choices. The protocol that would tell (a fixed
#   100,000 iterations, no stopping test) is not among these rows yet.
#   Full-batch descent, where the rule's test is the full-data loss, does hit: at a mean rate of
#   {glue:text}`hr_fb_rate:.2f`, from {glue:text}`hr_fb_min:.2f` to {glue:text}`hr_fb_max:.2f` across widths,
#   much like the book's earlier full-batch table and above P1's at most widths. No row puts P1's rate inside
#   our interval at more than {glue:text}`hr_max_inside` of {glue:text}`hr_nw` widths. P1's rates lie between
#   the two regimes (no hits under SGD with the rule; most seeds with full batches): the optimiser and its
#   stopping test move the rates; which unstated detail of P1's run (batch size, how a hit was counted, a fixed
#   iteration count) gives its numbers, these rows cannot tell.
# - The headline keeps the paper's protocol as stated, not the row closest to P1: choosing a row by its
#   agreement with the paper would make the agreement meaningless.
# - **The trainer.** It equals autograd to {glue:text}`hr_eq_diff:.1e` (float64, same minibatches and rule).
#   On the same work ({glue:text}`hr_bench_S` seeds × {glue:text}`hr_nw` widths, {glue:text}`hr_bench_steps`
#   steps) it ran {glue:text}`hr_fast:,.0f` network·steps/s against {glue:text}`hr_auto:,.0f` for today's
#   batched autograd trainer (**{glue:text}`hr_r_auto:.0f`×**) and {glue:text}`hr_loop:,.0f` for a loop over
#   networks (**{glue:text}`hr_r_loop:.0f`×**), at {glue:text}`hr_gflops:.1f` GFLOP/s, {glue:text}`hr_roof:.1%`
#   of this machine's fp32 matmul rate, {glue:text}`hr_roof_gflops:.0f` GFLOP/s (the calibration of `companion
#   plan`: a 1024² GEMM): its passes over the (units × batch) array are memory-bound, and
#   the two matrix products (d = 10 deep) are a small part of the time. The headline took {glue:text}`hr_t_head:.0f` s
#   for {glue:text}`hr_net_steps:,` network·steps, {glue:text}`hr_frac_budget:.1%` of the 100,000-step budget,
#   because the rule stops networks early and stopped networks leave the batch.
#
# ## How this differs from the paper
#
# - Data: synthetic only (the line at the top). P1 gives 1,000 points in ℝ¹⁰ and a teacher of 11 ReLUs citing
#   Safran & Shamir, and nothing of the teacher's weights, output weights, biases or labelling rule; ours are
#   stated, and two of them are ablation rows.
# - Unstated in P1 and chosen here: batch size {glue:text}`hr_B`, rate {glue:text}`hr_lr`, the initialisation,
#   no biases, and shared minibatches across seeds. The rule is transcribed from the authors' code (written for
#   MNIST); that they used it for Table 1 is our assumption.
# - Preset **{glue:text}`hr_preset`** on {glue:text}`hr_device`, {glue:text}`hr_total:.0f` s in all; the ablation
#   rows use fewer seeds and steps than the headline (above).
