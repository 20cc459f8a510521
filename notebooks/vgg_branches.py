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
# the text; the statement tested here is "accuracy rises with I".
#
# A network of I branches averages the logits of I VGG-9s, $f(x) = \frac1I\sum_{i=1}^I f_i(x)$, trained with one
# cross-entropy loss on $f$. We hold all branches (and several seeds) as **one network of grouped convolutions**
# (`companion.training.vgg_model.BranchVGG9`), check it against the authors' loop over branches, and train at this page's
# preset; the `paper` preset is the paper's grid, for a GPU.

# %% tags=["parameters"]
preset = "smoke"
device = "auto"
data_dir = ""
claims_path = "vgg_branches.claims.json"
run_id = ""
interactive = True
seed = 0
n_seeds = 2
widths = [8]
Is = [1, 4]
n_train = 2000
n_test = 1000
epochs = 2
lr = 0.1
batch_size = 128
milestones = []
form = "auto"
amp = "auto"
bench_w = 8
bench_Is = [1, 4]
bench_batch = 64
bench_repeats = 3
checkpoint_dir = None
scheduler = None
rise_min = 0.0

# %%
import time
from pathlib import Path

import numpy as np
import pandas as pd
from IPython.display import Markdown, display

from companion.book import plan
from companion.book.chapters import get_chapter, resolve_parameters
from companion.book.runtime import glue_many, progress, start_chapter
from companion.core import seeds as seedlib
from companion.core.devices import describe_device
from companion.core.plotting import COLORS, subplots
from companion.training.vgg import (Recipe, benchmark_forms, device_settings, grid_points, load_train_test, run_rows,
                                    train_grid, trend_by_width)
from companion.training.vgg_model import compare_forms, count_table, grid_flops

paper = resolve_parameters(get_chapter("vgg_branches"), "paper")      # the paper's grid (presets.yaml)
t_start = time.perf_counter()
tr, te = load_train_test(data_dir, n_train, n_test, seed)
dev, claims = start_chapter("vgg_branches", preset=preset, device=device, seed=seed, claims_path=claims_path,
                            run_id=run_id, data=tr.record.describe(), widths=widths, Is=Is, n_seeds=n_seeds,
                            epochs=epochs)
claims.add_data(te.record.describe())
print("data:", te.record.describe())
settings = device_settings(dev, form, amp)
recipe = Recipe(epochs=epochs, lr=lr, batch_size=batch_size, milestones=tuple(milestones))
seeds = seedlib.derive_many(seed, "replicate", "k", n_seeds, offset=0)
ck_dir = Path(claims_path).resolve().parent / checkpoint_dir if checkpoint_dir else None
print(f"form: {settings.form}, autocast: {settings.amp}, channels_last: {settings.channels_last}; {recipe}")

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
_ = claims.close("params_w16", "parameters of one VGG-9 branch at w = 16 (module) = 175,610 (the issue's closed form)",
             counts.loc[16, "counted"], 175_610, 0)
claims.close("params_w32", "parameters of one VGG-9 branch at w = 32 (module) = 698,858",
             counts.loc[32, "counted"], 698_858, 0)
_ = claims.true("counts_closed_forms", "parameters (679w² + 111w + 10) and MACs (46,336w² + 27,688w) in closed form equal "
            f"the modules' own counts at every w in {list(counts.index)}",
            bool((counts["parameters per branch"] == counts["counted"]).all()
                 and (counts["MACs per image and branch"] == counts["counted by hooks"]).all()))

# %% [markdown]
# ## Grouped convolutions against the authors' loop
#
# `BranchVGG9` puts the branches in the channel dimension: the first convolution maps the shared input to I·w
# channels, the others are `groups = I` convolutions, per-channel BatchNorm is per-branch BatchNorm, FC1 is a
# grouped 4×4 convolution on the 4×4 map and FC2 a grouped 1×1 convolution; the logits are reshaped to (B, I, 10)
# and averaged. The authors' form is a `ModuleList` of I VGG-9s and a Python loop. With the same weights
# copied into both, in float64, the largest relative differences of the logits (train and eval mode) and of
# every parameter's gradient must be at rounding level. Then the speed of one training step (forward + backward,
# float32, batch `bench_batch`) of each form, side by side (the forms take turns in every repeat):

# %%
same = compare_forms(2, 2, S=2, batch=4, device=dev)
for key, what in (("train", "logits, train mode"), ("eval", "logits, eval mode"), ("grad", "every gradient")):
    claims.close(f"grouped_equals_loop_{key}", f"grouped network = branch loop ({what}; I = 2, w = 2, two "
                 "networks, float64): largest relative difference", same[key], 0.0, 1e-10)
bench = pd.DataFrame(benchmark_forms(bench_Is, bench_w, batch=bench_batch, repeats=bench_repeats, device=dev,
                                     seed=seed)).set_index("I")
bench["device"] = describe_device(dev)
display(bench.style.format({c: "{:,.0f}" for c in bench.columns if "img/s" in c}).format(
    {"speedup": "{:.2f}×", "max_diff": "{:.1e}"}))
_ = claims.close("bench_forms_agree", f"benchmark (float32, w = {bench_w}): grouped and loop logits agree (largest "
             "absolute difference)", bench["max_diff"].max(), 0.0, 1e-3)

# %% [markdown]
# ## Training
#
# Every (w, I) is trained for its `n_seeds` seeds at once (the seeds are more groups of the same network; each
# network has its own initialisation, data order and augmentation, drawn from its seed alone). Recipe, which P1
# does not state, from `tomgoldstein/loss-landscape` (`cifar10/main.py`), whose VGG-9 this is with 64 replaced by
# w: SGD, Nesterov momentum 0.9, weight decay 5 × 10⁻⁴, batch `batch_size`, learning rate `lr` cut ×0.1 at the
# `milestones` (the paper preset: 150, 225, 275 of 300 epochs), random crops (zero padding 4) and horizontal
# flips done on the device, the authors' normalisation; initialisation PyTorch's default, as the authors' code.
# Each (w, I) is one task of `companion.core.fanout.map`: run here one after the other, or, with the `scheduler`
# parameter (`local:N` or a Dask address), one task per worker, each worker loading the same data subsample.

# %%
points = grid_points(widths, Is, seeds, recipe, data_dir=data_dir, n_train=n_train, n_test=n_test, data_seed=seed,
                     device=dev, form=form, amp=amp, checkpoint_dir=ck_dir)
trained = train_grid(points, data=(tr, te), scheduler=scheduler, store=ck_dir / "results" if ck_dir else None,
                     progress=progress)
runs = {(run.w, run.I): run for run in trained}
table = pd.DataFrame(run_rows(trained))
display(table.set_index(["w", "I", "seed"]).style.format(
    {"parameters": "{:,}", "train loss": "{:.3f}", "train acc.": "{:.3f}", "test acc.": "{:.3f}",
     "images/s": "{:.0f}", "GFLOP/s": "{:.1f}", "train s": "{:.0f}"}))

# %% [markdown]
# ## Figure 5, at this page's scale
#
# Left: test accuracy against I (log scale), one curve per width; dots are seeds, the line their mean, bars ±
# one standard deviation over seeds. Right: test accuracy after every epoch, seed mean, for each (w, I).

# %%
fig, (ax, ax2) = subplots(2, width=3.6, height=3.0)
palette = [COLORS["measured"], COLORS["reference"], COLORS["other"], COLORS["bound"]]
for c, w in enumerate(widths):
    t = table[table.w == w].groupby("I")["test acc."]
    ax.errorbar(t.mean().index, t.mean(), yerr=t.std().fillna(0), color=palette[c % 4], marker="o", capsize=3,
                label=f"w = {w}")
    ax.plot(table[table.w == w]["I"], table[table.w == w]["test acc."], ".", color=palette[c % 4], alpha=0.5)
    for k, I in enumerate(Is):
        curve = np.mean([h["test_acc"] for h in runs[w, I].history], 1)
        ax2.plot(range(1, len(curve) + 1), curve, color=palette[c % 4], alpha=0.4 + 0.6 * k / max(len(Is) - 1, 1),
                 label=f"w = {w}, I = {I}")
ax.set(xscale="log", xticks=Is, xticklabels=[str(i) for i in Is], xlabel="branches I", ylabel="test accuracy")
ax.minorticks_off()
ax2.set(xlabel="epoch", ylabel="test accuracy (seed mean)")
if epochs <= 10:
    ax2.set_xticks(range(1, epochs + 1))
ax.legend()
ax2.legend(fontsize=7);

# %% [markdown]
# ## Does accuracy rise with I?
#
# Per width: the least-squares slope of test accuracy on log₂ I over every trained network (accuracy per
# doubling of I), with its 95% t-interval. P1's statement predicts a slope above `rise_min` (fixed in the presets
# before any run: any rise counts, 0). Reproduced if the interval lies above it, not reproduced if below,
# inconclusive if it straddles it.

# %%
trend = trend_by_width(trained)
for w in widths:
    claims.finding(f"accuracy_rises_w{w}", f"w = {w}: test accuracy rises with I (slope per doubling of I, "
                   f"I in {Is}, {n_seeds} seeds, {n_train} training images, {epochs} epochs)",
                   estimate=trend[w][0], low=trend[w][1], high=trend[w][2], region=(rise_min, None))
steps = table.groupby(["w", "I"])["test acc."].mean().groupby("w").diff().dropna()
display(steps.rename("mean change of test accuracy from the previous I").to_frame().style.format("{:+.3f}"))

# %% [markdown]
# ## What the paper's grid costs
#
# FLOPs of the `paper` preset from the per-image count above: w ∈ {glue:text}`vgg_paper_widths`, I ∈
# {glue:text}`vgg_paper_Is`, {glue:text}`vgg_paper_epochs` epochs of {glue:text}`vgg_paper_n_train` training
# images and a test pass over {glue:text}`vgg_paper_n_test` after each epoch, per seed. The time on this device
# uses the best FLOP rate its training runs reached here (small networks use a device worse than large ones, so
# on a GPU this is an upper bound on the time); the time on an H100 is `companion plan`'s estimate of the whole
# `paper` preset from the datasheet (an extrapolation: no chapter has been timed on one).

# %%
grid = dict(epochs=paper["epochs"], n_train=paper["n_train"])
flops = grid_flops(paper["widths"], paper["Is"], **grid, n_test=paper["n_test"])
flops_train = grid_flops(paper["widths"], paper["Is"], **grid, n_test=0)
best_rate = float(table["GFLOP/s"].max()) * 1e9
hours_here = flops / best_rate / 3600
host = plan.calibrate("cpu")
h100 = plan.estimate(plan.chapter_stages("vgg_branches", paper, "cuda"), plan.gpu_machine("h100", host), host)
print(f"paper grid: {flops:.3g} FLOP per seed ({flops_train:.3g} training); at {best_rate / 1e9:.1f} GFLOP/s "
      f"({describe_device(dev)}): {hours_here:,.0f} h per seed; paper preset on an H100 (companion plan): "
      f"{plan.human_seconds(h100.total)}")
claims.close("paper_flops_vs_issue", "the paper grid's FLOPs (training and per-epoch test passes, one seed) by our "
             "per-image count, relative to the issue's estimate of 4 × 10¹⁷", flops / 4e17, 1.0, 0.25)
claims.save()
best = table.loc[table["GFLOP/s"].idxmax()]
glue_many("vgg", total=time.perf_counter() - t_start, preset=preset, device=describe_device(dev),
          n_train=len(tr.labels), n_test=len(te.labels), epochs=epochs, n_seeds=n_seeds,
          form=settings.form + (", channels_last" if settings.channels_last else "") + (f", {settings.amp} autocast" if settings.amp else ", float32"),
          Is=", ".join(map(str, Is)), widths=", ".join(map(str, widths)), flops=f"{flops:.2e}",
          flops_train=f"{flops_train:.2e}", flops_ratio=flops / 4e17, hours_here=hours_here,
          rate=best_rate / 1e9, rate_w=int(best["w"]), rate_I=int(best["I"]), rate_img=best["images/s"],
          h100_h=h100.total / 3600, h100_tflops=paper["n_seeds"] * flops / h100.total / 1e12,
          paper_widths=", ".join(map(str, paper["widths"])), paper_Is=", ".join(map(str, paper["Is"])),
          paper_epochs=paper["epochs"], paper_n_train=f"{paper['n_train']:,}", paper_n_test=f"{paper['n_test']:,}",
          speed_min=bench["speedup"].min(), speed_max=bench["speedup"].max(), bench_w=bench_w,
          bench_Imax=max(bench_Is), same=max(same.values()),
          acc_lo=table.groupby(["w", "I"])["test acc."].mean().min(),
          acc_hi=table.groupby(["w", "I"])["test acc."].mean().max(),
          outcome="; ".join(f"w = {w}: {c.outcome} (slope {c.measured:+.3f} per doubling, 95% interval "
                            f"[{c.low:+.3f}, {c.high:+.3f}])" if c.low is not None else f"w = {w}: {c.outcome}"
                            for w, c in zip(widths, claims.findings())),
          steps_min=steps.min() if len(steps) else float("nan"), steps_max=steps.max() if len(steps) else float("nan"))
Markdown(claims.table())

# %% [markdown]
# ## What this shows
#
# - **The trend.** At this preset (w = {glue:text}`vgg_widths`, I ∈ {{glue:text}`vgg_Is`}, {glue:text}`vgg_n_seeds`
#   seeds, {glue:text}`vgg_n_train` training images, {glue:text}`vgg_epochs` epochs) the seed-mean test accuracy
#   ranges from {glue:text}`vgg_acc_lo:.3f` to {glue:text}`vgg_acc_hi:.3f`. The finding "accuracy rises with I":
#   {glue:text}`vgg_outcome`. The change from one I to the next was between {glue:text}`vgg_steps_min:+.3f` and
#   {glue:text}`vgg_steps_max:+.3f`. These are networks trained for a few epochs on a subset, far from
#   convergence: a wider ensemble has more parameters to fit in the same number of steps, so this tests the
#   early-training regime, not P1's converged networks.
# - **Context.** ResNeXt's cardinality ablations found small, saturating gains from more branches at fixed width
#   per branch; joint training of averaged ensembles has been found to generalise worse than the same members
#   trained independently in some settings. At this scale the step table above is the evidence for saturation;
#   we did not train independent members to compare with joint training, so this page says nothing on the second.
# - **The implementation.** The grouped network equals the authors' branch loop to float64 rounding
#   (largest relative difference {glue:text}`vgg_same:.1e`: logits, train and eval mode, and every gradient). Its
#   training step ran at {glue:text}`vgg_speed_min:.2f`× to {glue:text}`vgg_speed_max:.2f`× the loop's speed on
#   this device (w = {glue:text}`vgg_bench_w`, I up to {glue:text}`vgg_bench_Imax`; the best of its NCHW and
#   `channels_last` layouts; a ratio of times measured in turn, so it holds better than either rate on a busy
#   machine). Training here used the **{glue:text}`vgg_form`** form. On a CPU small grouped convolutions gain
#   little over a loop of dense ones; the grouped form is meant for a GPU, where one kernel per layer replaces I
#   launches (not measured for this page unless its device is a GPU).
# - **The paper's cost.** The full grid is {glue:text}`vgg_flops` FLOP per seed
#   ({glue:text}`vgg_flops_train` of it training), {glue:text}`vgg_flops_ratio:.2f` times the issue's
#   "about 4 × 10¹⁷". The best training rate here was {glue:text}`vgg_rate:.1f` GFLOP/s
#   ({glue:text}`vgg_rate_img:.0f` network-images/s at w = {glue:text}`vgg_rate_w`, I = {glue:text}`vgg_rate_I`), i.e.
#   {glue:text}`vgg_hours_here:,.0f` hours per seed on this device. `companion plan` puts the whole `paper` preset
#   (every seed, the benchmark and the checks) at {glue:text}`vgg_h100_h:.1f` h on one H100 SXM, a sustained
#   {glue:text}`vgg_h100_tflops:.0f` TFLOP/s on the grid's FLOPs: an extrapolation from the datasheet, which
#   this page has not measured.
#
# ## How this differs from the paper
#
# - **Data.** Offline, CIFAR-10 comes from the JPEG copy in the shared data folder (its train split for training,
#   its test split for accuracy): a lossy re-encoding whose pixels differ slightly from the official batches, so
#   accuracies are not comparable to the last digit with runs on the official files (which `companion.core.data` uses
#   where they are present or can be downloaded). Seeded subsets: {glue:text}`vgg_n_train` training and
#   {glue:text}`vgg_n_test` test images.
# - **Scale.** Preset **{glue:text}`vgg_preset`** on {glue:text}`vgg_device` ({glue:text}`vgg_total:.0f` s in all).
#   The paper's grid (w = 16 and 32, I = 4 … 32, 300 epochs, all 50,000 images) is the `paper` preset; it resumes
#   from per-configuration checkpoints written after every epoch.
# - **Recipe.** P1 states none; we use the loss-landscape repository's (above). The authors' `VGG.py` agrees where
#   it says anything: Nesterov SGD, cuts ×0.1 at epochs 150, 225 and 275, crops and flips; its learning rate,
#   momentum, batch size and epochs are command-line arguments whose values are not published. Our cuts are at
#   `milestones`; at the small presets they are scaled down.
# - **What we fixed in the authors' `VGG.py`.** It does not run as published: `n_workers` is undefined; the
#   parsed `--width` is never passed on (every branch gets the default width 32); the parsed weight decay is never
#   given to the optimiser; the model is never moved to the GPU; it uses PyTorch 0.3 idioms (`Variable`,
#   `volatile`, `loss.data[0]`, the scheduler stepped at the start of each epoch). Here the width, the weight
#   decay and the device are honoured; the data are held as one tensor on the device and augmented there (no
#   DataLoader workers); on CUDA training uses bf16 autocast and `channels_last` (not run for this page unless
#   the device above is a GPU).
# - Figure 5's own numbers are not in the text, so we compare with its stated trend only.
