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
# # Multi-branch VGG-9 on CIFAR-10: test accuracy against the number of branches (P1, Figure 5)
#
# P1 Appendix A.1 (quoted): *"We use a 9-layer VGG network as our sub-network in each branch … The detailed
# network setup of VGG-9 is in Table 2, where the width of VGG-9 is either 16 or 32. We test the performance of
# varying numbers of branches in the overall architecture from 4 to 32, with cross-entropy loss. Figure 5
# presents the test accuracy on CIFAR-10 as the number of branches increases. It shows that the test accuracy
# improves monotonously with the increasing number of parallel branches/paths."* Figure 5 gives no numbers in
# the text. Two parts of this statement are registered (`statements.yaml`, `P1.fig5`): the **trend** (accuracy
# rises with I over 4–32, judged by the slope against log₂ I with an interval over seeds) and **monotone**
# (every step 4 → 8 → 16 → 32 rises), each with a training gate: a setting whose networks did not reach the
# registered training accuracy is untrained and does not vote.
#
# A network of I branches averages the logits of I VGG-9s, $f(x) = \frac1I\sum_{i=1}^I f_i(x)$, trained with one
# cross-entropy loss on $f$. At a fixed branch width, more branches also means more parameters, so two
# **controls** separate the two: a **parameter-matched single branch** (one VGG-9 as wide as gives the
# parameters of I branches) and a **fixed budget split** (a fixed total of parameters divided into I narrower
# branches). All three are trained with one recipe and one budget.

# %% tags=["parameters"]
preset = "smoke"
device = "auto"
data_dir = ""
claims_path = "vgg_branches.claims.json"
run_id = ""
interactive = True
seed = 0
n_seeds = 2
widths = [4]
Is = [2, 4]
split_I = None
weight_decays = [0.0005]
n_train = 512
n_test = 500
epochs = 1
lr = 0.1
batch_size = 128
milestones = []
form = "auto"
amp = "auto"
bench_w = 4
bench_Is = [4]
bench_batch = 32
bench_repeats = 2
checkpoint_dir = None
scheduler = None
workers = 2
test_every = 1
bn_refresh = 512

# %%
import time
from pathlib import Path

import numpy as np
import pandas as pd
from IPython.display import Markdown, display

from companion.book import plan
from companion.book.chapters import get_chapter, resolve_parameters
from companion.book.claims import gate_from
from companion.book.runtime import glue_many, progress, start_chapter
from companion.core import seeds as seedlib
from companion.core.devices import describe_device
from companion.core.plotting import subplots
from companion.training.vgg import (Recipe, arm_trends, benchmark_forms, device_settings, figure5_rows, load_train_test,
                                    plot_figure5, points_for, train_grid, trend_rows, worker_threads)
from companion.training.vgg_model import compare_forms, config_rows, control_checks, count_table, figure5_configs

paper = resolve_parameters(get_chapter("vgg_branches"), "paper")      # the paper's grid (presets.yaml)
t_start = time.perf_counter()
tr, te = load_train_test(data_dir, n_train, n_test, seed)
dev, claims = start_chapter("vgg_branches", preset=preset, device=device, seed=seed, claims_path=claims_path,
                            run_id=run_id, data=tr.record.describe(), widths=widths, Is=Is, n_seeds=n_seeds,
                            epochs=epochs)
claims.add_data(te.record.describe())
settings = device_settings(dev, form, amp)
recipes = [Recipe(epochs=epochs, lr=lr, batch_size=batch_size, milestones=tuple(milestones), weight_decay=wd)
           for wd in weight_decays]
seeds = seedlib.derive_many(seed, "replicate", "k", n_seeds, offset=0)
ck_dir = Path(claims_path).resolve().parent / checkpoint_dir if checkpoint_dir else None
here, host, _ = plan.machines("cpu", None)
proxy = "" if preset == "paper" else "cpu proxy: "

# %% [markdown]
# ## The network, counted
#
# One branch (P1 Table 2, the authors' `VGG.py`): conv3×3 + BatchNorm + ReLU with w, w channels, max-pool; 2w, 2w,
# max-pool; 4w, 4w, 4w, max-pool; FC 64w → 4w + BatchNorm + ReLU; FC 4w → 10. Its parameters are
# 679w² + 111w + 10 and its forward pass costs 46,336w² + 27,688w multiply-accumulates per image; training costs
# about 3 × 2 × that in FLOPs per image and branch (backward ≈ 2 forward). Both closed forms are checked below
# against the modules themselves (the parameter tensors; forward hooks on every convolution and linear layer).

# %%
counts = pd.DataFrame(count_table(sorted(set(widths) | set(paper["widths"]) | {bench_w}))).set_index("w")
display(counts.style.format("{:,.0f}").format({"training GFLOP per image, I = 32": "{:.2f}"}))
_ = claims.true("counts_closed_forms", "parameters (679w² + 111w + 10) and MACs (46,336w² + 27,688w) in closed form equal "
                f"the modules' own counts at every w in {list(counts.index)}", kind="sanity", statement=bool(
                    (counts["parameters per branch"] == counts["counted"]).all() and (counts.iloc[:, 2] == counts.iloc[:, 3]).all()))

# %% [markdown]
# ## The controls, in closed form
#
# For each branch width w and each I: the **multi-branch** network (I branches of width w, I · (679w² + 111w + 10)
# parameters); the **parameter-matched single branch**, one VGG-9 whose integer width gives the count nearest to
# the multi-branch one (about w√I); the **fixed budget split**, the parameters of the multi-branch network at the
# smallest I (or `split_I`) divided into I branches of the integer width nearest to it (about w√(I₀/I)). Widths
# are integers, so a control's count misses its target a little (column *mismatch*); at I = I₀ the split is the
# multi-branch network itself, trained once.

# %%
configs = figure5_configs(widths, Is, split_I=split_I)
display(pd.DataFrame(config_rows(configs)).set_index(["w", "arm", "I"]).style.format({"parameters": "{:,}", "target": "{:,}", "mismatch": "{:+.1%}"}))
ok = control_checks(configs)
_ = claims.true("control_counts", "every control's parameter count by the closed form equals its module's",
                ok["counts"], kind="sanity")
_ = claims.true("control_widths_nearest", "every control's width gives the count nearest its target (width ± 1 "
                "misses it by at least as much)", ok["nearest"], kind="sanity")

# %% [markdown]
# ## Grouped convolutions against the authors' loop, and the speed of a training step
#
# `BranchVGG9` puts the branches in the channel dimension: the first convolution maps the shared input to I·w
# channels, the others are `groups = I` convolutions, per-channel BatchNorm is per-branch BatchNorm, FC1 is a
# grouped 4×4 convolution on the 4×4 map and FC2 a grouped 1×1 convolution; the logits are reshaped to (B, I, 10)
# and averaged. The authors' form is a `ModuleList` of I VGG-9s and a Python loop. With the same weights
# copied into both, in float64, the largest relative differences of the logits (train and eval mode) and of
# every parameter's gradient must be at rounding level. Then one training step (forward + backward, float32,
# `n_seeds` networks side by side, batch `bench_batch`) of each form in NCHW and `channels_last`, at the
# thread count each grid point trains with here, beside this machine's calibrated GEMM rate (`companion plan`):

# %%
same = compare_forms(2, 2, S=2, batch=4, device=dev)
for key, what in (("train", "logits, train mode"), ("eval", "logits, eval mode"), ("grad", "every gradient")):
    claims.close(f"grouped_equals_loop_{key}", f"grouped network = branch loop ({what}; I = 2, w = 2, two "
                 "networks, float64): largest relative difference", same[key], 0.0, 1e-10, kind="sanity")
threads = None if dev.type == "cuda" or scheduler else worker_threads(workers)
bench = pd.DataFrame(benchmark_forms(bench_Is, bench_w, batch=bench_batch, repeats=bench_repeats, device=dev,
                                     seed=seed, S=n_seeds, threads=threads, gemm=here.gemm if dev.type == "cpu" else None))
display(bench.set_index(["I", "form"]).style.format({"img/s": "{:,.0f}", "GFLOP/s": "{:.1f}", "time ÷ loop's": "{:.2f}",
                                                     "max_diff": "{:.1e}", "of GEMM rate": "{:.0%}"}))
_ = claims.close("bench_forms_agree", f"benchmark (float32, w = {bench_w}): every form's logits agree with the loop's "
                 "(largest absolute difference)", bench["max_diff"].max(), 0.0, 1e-3, kind="sanity")

# %% [markdown]
# ## Training
#
# Every network is trained for its `n_seeds` seeds at once (each network has its own initialisation, data order
# and augmentation, drawn from its seed alone). Recipe, which P1 does not state, from `tomgoldstein/loss-landscape`
# (`cifar10/main.py`), whose VGG-9 this is with 64 replaced by w: SGD, Nesterov momentum 0.9, batch `batch_size`,
# learning rate `lr` cut ×0.1 at the `milestones` (the paper preset: 150, 225, 275 of 300 epochs), random crops
# (zero padding 4) and horizontal flips done on the device, the authors' normalisation; initialisation
# PyTorch's default, as the authors' code. **Weight decay**: that recipe's 5 × 10⁻⁴; the authors' `VGG.py` parses
# a weight decay but never passes it to its optimiser (`torch.optim.SGD(model.parameters(), lr=…, momentum=…,
# nesterov=True)`), so the networks of P1's Figure 5 were most likely trained with none. The `paper` preset
# runs the whole grid at both; this page ran weight decay {glue:text}`vgg_wds`. On a CPU, `workers` grid
# points train side by side in threads, each with its share of the cores; the `paper` preset checkpoints every
# point after every epoch and resumes from what exists.

# %%
points = points_for([c.point for c in configs], seeds, recipes, data_dir=data_dir, n_train=n_train, n_test=n_test,
                    data_seed=seed, device=dev, form=form, amp=amp, checkpoint_dir=ck_dir, test_every=test_every,
                    bn_refresh=bn_refresh)
trained = train_grid(points, data=(tr, te), scheduler=scheduler, store=ck_dir / "results" if ck_dir else None,
                     progress=progress, workers=1 if dev.type == "cuda" else workers)
table = pd.DataFrame(figure5_rows(configs, trained))
trends = arm_trends(table.to_dict("records"))
display(table.pivot_table(index=["w", "weight decay", "I", "seed"], columns="arm",
                          values=["test acc.", "train acc."]).style.format("{:.3f}"))
budget = (f"{proxy}{n_train:,} training images, {epochs} epoch{'s' * (epochs > 1)}, {n_seeds} seeds; final "
          f"training accuracy {table['train acc.'].min():.2f}–{table['train acc.'].max():.2f}")
print(budget, f"; {sum(r.seconds for r in trained):.0f} s of training over the grid points")

# %% [markdown]
# ## Figure 5, with its controls
#
# Left: test accuracy against I (log scale) for the multi-branch networks and both controls, seed mean with its
# 95% t-interval over seeds (bars) and each seed (dots). Right: their final training accuracy, with the
# registered training gate (dashed): points below it are untrained and do not vote.

# %% mystnb={"figure": {"caption": "P1's Figure 5 setting: test accuracy (left) and final training accuracy (right) against the number of branches $I$ (log scale) for the multi-branch networks and both controls; seed means with 95% $t$-intervals, one dot per seed, and the registered training gate (dashed, right).", "name": "fig-vgg-accuracy"}, "image": {"alt": "Two panels against I on a log scale: test accuracy (left) and final training accuracy (right), one line per arm with error bars and faint dots per seed; a dashed horizontal line on the right marks the training gate."}}
gate_level = gate_from("P1.fig5:trend", 0.0).value
plot_figure5(subplots(2, width=3.8, height=3.2)[1], trends, Is, gate_level=gate_level, weight_decays=weight_decays,
             title=budget)

# %% [markdown]
# ## Does accuracy rise with I?
#
# Per width and weight decay, for each arm: each seed's least-squares slope of test accuracy on log₂ I (accuracy
# per doubling of I), and the mean over seeds with its 95% t-interval (the seeds are the independent
# replicates). **Trend** (`P1.fig5:trend`, multi-branch): reproduced if the interval lies above the registered
# threshold, not reproduced if below, inconclusive if it straddles it. **Monotone** (`P1.fig5:monotone`,
# multi-branch): per step of I the mean change over seeds with its t-interval (seed s at both I shares its data
# order and augmentation); reproduced if every step's interval lies above the threshold, not reproduced if one
# lies below. The **gate** (registered with both parts): the smallest seed-mean final training accuracy over
# the curve's I, against the registered level; an untrained curve is inconclusive whatever its slope. The
# controls' trends are not statements of P1: they are recorded beside them (never voting) so that a reader can
# see whether the multi-branch rise is the parameters' or the branches'.

# %%
tag = lambda t: f"w{t.w}" + (f"_wd{t.weight_decay:g}" if len(weight_decays) > 1 else "")  # noqa: E731
primary = (max(widths), 0.0 if 0.0 in weight_decays else weight_decays[0])
for t in trends:
    where = (f"{proxy}w = {t.w}, weight decay {t.weight_decay:g}, I in {list(t.Is)}, {t.replicates} seeds, "
             f"{n_train:,} images, {epochs} epochs; lowest seed-mean final training accuracy {t.gate:.3f}")
    gate = gate_from("P1.fig5:trend", t.gate)
    if t.arm == "multi-branch":
        claims.judge(f"trend_{tag(t)}", f"multi-branch: test accuracy rises with I (slope per doubling; {where})",
                     statement="P1.fig5:trend", estimate=t.slope, low=t.low, high=t.high, side="above", gate=gate,
                     replicates=t.replicates, primary=(t.w, t.weight_decay) == primary)
        claims.judge(f"monotone_{tag(t)}", f"multi-branch: every step of I raises test accuracy (smallest mean step; "
                     f"{where})", statement="P1.fig5:monotone", estimate=t.min_step[0], low=t.min_step[1],
                     high=t.min_step[2], side="above", gate=gate_from("P1.fig5:monotone", t.gate),
                     replicates=t.replicates, primary=(t.w, t.weight_decay) == primary)
    else:
        claims.judge(f"control_{t.arm}_{tag(t)}", f"control ({t.arm}; not a statement of P1: shown, never votes): "
                     f"test accuracy rises against I (slope per doubling; {where})", statement="P1.fig5:trend",
                     estimate=t.slope, low=t.low, high=t.high, side="above", gate=gate, replicates=t.replicates,
                     votes=False)
display(pd.DataFrame(trend_rows(trends)).set_index(["w", "weight decay", "arm"]).style.format("{:+.4f}").format(
    {"gate": "{:.3f}", "seeds": "{:d}"}))

# %% [markdown]
# ## What the paper's grid costs
#
# FLOPs of the `paper` preset from the per-image count above (every network of the grid and both controls, at
# both weight decays, {glue:text}`vgg_paper_seeds` seeds, {glue:text}`vgg_paper_epochs` epochs of
# {glue:text}`vgg_paper_n_train` images and a test pass over {glue:text}`vgg_paper_n_test` after each), and
# `companion plan`'s estimate of its time and memory on one H100 (`companion plan --preset paper --device cuda`:
# an extrapolation from the datasheet, not a measurement).

# %%
stages = plan.chapter_stages("vgg_branches", paper, "cuda")
h100 = plan.estimate(stages, plan.gpu_machine("h100", host), host)
flops_all = sum(w.flops for w in stages)
claims.save()
glue_many("vgg", total=time.perf_counter() - t_start, preset=preset, device=describe_device(dev),
          n_train=f"{len(tr.labels):,}", n_test=f"{len(te.labels):,}", epochs=epochs, n_seeds=n_seeds, budget=budget,
          form=settings.form + (", channels_last" if settings.channels_last else "") + (f", {settings.amp} autocast" if settings.amp else ", float32"),
          Is=", ".join(map(str, Is)), widths=", ".join(map(str, widths)), wds=", ".join(f"{w:g}" for w in weight_decays),
          flops=f"{flops_all:.2e}", h100=plan.human_seconds(h100.total),
          h100_gib=h100.peak / 2**30, paper_seeds=paper["n_seeds"], paper_epochs=paper["epochs"],
          paper_n_train=f"{paper['n_train']:,}", paper_n_test=f"{paper['n_test']:,}", same=max(same.values()),
          gemm=here.gemm / 1e9, best_rate=bench["GFLOP/s"].max(), best_form=bench.loc[bench["GFLOP/s"].idxmax(), "form"],
          best_frac=bench.get("of GEMM rate", pd.Series([np.nan])).max(), grouped_ratio=bench[bench.form == "grouped"]["time ÷ loop's"].max(),
          outcome="; ".join(f"{c.id} {c.outcome}{' (untrained)' if c.gate == 'untrained' else ''}"
                            for c in claims.findings() if c.statement), gate=gate_level,
          acc_lo=table.groupby(["arm", "w", "I"])["test acc."].mean().min(),
          acc_hi=table.groupby(["arm", "w", "I"])["test acc."].mean().max())
Markdown(claims.table())

# %% [markdown]
# ## What this shows
#
# - **The budget.** This page: {glue:text}`vgg_budget` (w = {glue:text}`vgg_widths`, I ∈ {{glue:text}`vgg_Is`},
#   weight decay {glue:text}`vgg_wds`). The registered gate asks for a final training accuracy of at least
#   {glue:text}`vgg_gate:.2f`; below it a network is in early training, where accuracy against I measures how
#   fast each architecture learns in the budget, not P1's trained networks. Below `paper` the chapter is a
#   **cpu proxy**: its findings are inconclusive wherever the gate fails, whatever their slopes say.
# - **The findings.** {glue:text}`vgg_outcome`. Seed-mean test accuracy ranges from {glue:text}`vgg_acc_lo:.3f` to
#   {glue:text}`vgg_acc_hi:.3f` across arms and I.
# - **The controls.** The parameter-matched single branch has the multi-branch network's parameters in one
#   wide VGG-9; the fixed budget split holds the parameters fixed and adds branches. If the multi-branch curve
#   rises and the split's does not, the rise is the parameters'; if the split rises too, branching itself helps.
#   The figure shows the three side by side at the same budget.
# - **The implementation.** The grouped network equals the authors' branch loop to float64 rounding (largest
#   relative difference {glue:text}`vgg_same:.1e`). On this device the fastest training step was the
#   **{glue:text}`vgg_best_form`** form at {glue:text}`vgg_best_rate:.1f` GFLOP/s, {glue:text}`vgg_best_frac:.0%` of
#   the calibrated GEMM rate ({glue:text}`vgg_gemm:.0f` GFLOP/s); the grouped NCHW form took up to
#   {glue:text}`vgg_grouped_ratio:.1f`× the loop's time (oneDNN's grouped convolutions with few channels per group).
#   Training here used **{glue:text}`vgg_form`**; on a GPU `auto` picks the grouped form with bf16 autocast.
# - **The paper's cost.** The `paper` grid with both controls and both weight decays is {glue:text}`vgg_flops`
#   FLOP; `companion plan` puts it at {glue:text}`vgg_h100` on one H100 with a peak of {glue:text}`vgg_h100_gib:.1f` GiB
#   (an extrapolation; no GPU has run this chapter).
#
# ## How this differs from the paper
#
# - **Data.** Offline, CIFAR-10 comes from the JPEG copy in the shared data folder (its train split for training,
#   its test split for accuracy): a lossy re-encoding whose pixels differ slightly from the official batches, so
#   accuracies are not comparable to the last digit with runs on the official files (which `companion.core.data` uses
#   where they are present or can be downloaded). Seeded subsets: {glue:text}`vgg_n_train` training and
#   {glue:text}`vgg_n_test` test images.
# - **Scale.** Preset **{glue:text}`vgg_preset`** on {glue:text}`vgg_device` ({glue:text}`vgg_total:.0f` s in all).
#   The paper's grid (w = 16 and 32, I = 4 … 32, 300 epochs, all 50,000 images, both weight decays, both
#   controls) is the `paper` preset; it resumes from per-network checkpoints written after every epoch.
# - **Recipe.** P1 states none; we use the loss-landscape repository's (above). The authors' `VGG.py` agrees where
#   it says anything: Nesterov SGD, cuts ×0.1 at epochs 150, 225 and 275, crops and flips; its learning rate,
#   momentum, batch size and epochs are command-line arguments whose values are not published. Our cuts are at
#   `milestones`; at the small presets there are none.
# - **Training accuracy** is the running accuracy over the last epoch's augmented batches, in train mode (a
#   little below the accuracy of the final weights on the unaugmented training set).
# - **BatchNorm statistics at test time.** With `bn_refresh` > 0 (the small presets) the BatchNorm statistics
#   are recomputed over that many training images before testing. The running averages of a run of a few dozen
#   steps at learning rate 0.1 lag behind its weights: at the `cpu` budget they put 8-wide branches near chance
#   on the test set while the same weights with recomputed statistics score about their training accuracy.
#   The `paper` preset tests with the running averages, as the authors' code does.
# - **What we fixed in the authors' `VGG.py`.** It does not run as published: `n_workers` is undefined; the
#   parsed `--width` is never passed on (every branch gets the default width 32); the parsed weight decay is never
#   given to the optimiser; the model is never moved to the GPU; it uses PyTorch 0.3 idioms (`Variable`,
#   `volatile`, `loss.data[0]`, the scheduler stepped at the start of each epoch). Here the width and the device
#   are honoured and the weight decay is run both ways; the data are held as one tensor on the device and
#   augmented there (no DataLoader workers).
# - Figure 5's own numbers are not in the text, so we compare with its stated trend only.
