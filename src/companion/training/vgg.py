"""Training multi-branch VGG-9s on CIFAR-10 (P1 Appendix A.1, Figure 5): augmentation on the device, the
recipe, S networks trained side by side with checkpoints, Figure 5's grid fanned out by
:func:`companion.core.fanout.map`, the benchmark of the two forms, and the trend statistic.

The networks and their closed-form counts are in :mod:`companion.training.vgg_model`.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, replace
from functools import partial
from pathlib import Path
from typing import Callable, Iterable, Literal, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from companion.core import fanout, stats
from companion.core import seeds as seedlib
from companion.core.data import Dataset, load_cifar10
from companion.core.devices import Device, resolve_device
from companion.core.files import atomic_write
from companion.training.vgg_model import (N_CLASSES, BranchLoop, BranchVGG9, Config, branch_seed, copy_branches,
                                          init_branch, make_networks, train_flops_per_image, vgg9_parameters)

# ---- data on the device: normalisation and augmentation ----------------------------------------------

#: the authors' normalisation (``VGG.py``: transforms.Normalize)
CIFAR_MEAN: tuple[float, ...] = (0.4914, 0.4822, 0.4465)
CIFAR_STD: tuple[float, ...] = (0.2023, 0.1994, 0.2010)


def normalize(images: torch.Tensor) -> torch.Tensor:
    """uint8 images (..., 3, H, W) → float32 scaled to [0, 1] and standardised with the authors' constants."""
    mean = torch.tensor(CIFAR_MEAN, device=images.device).view(3, 1, 1)
    std = torch.tensor(CIFAR_STD, device=images.device).view(3, 1, 1)
    return (images.float() / 255 - mean) / std


def crop_flip(images: torch.Tensor, *, pad: int, flip: bool, generator: torch.Generator) -> torch.Tensor:
    """torchvision's RandomCrop(H, padding=pad) + RandomHorizontalFlip on a batch, on its device.

    images: (B, C, H, W), any dtype; zero padding (black, as torchvision pads the raw image). One crop offset
    and one coin per image, drawn from ``generator`` (which must live on the images' device).
    """
    B, C, H, W = images.shape
    dev = images.device
    if pad:
        padded = F.pad(images, (pad, pad, pad, pad))
        oy = torch.randint(0, 2 * pad + 1, (B,), generator=generator, device=dev)
        ox = torch.randint(0, 2 * pad + 1, (B,), generator=generator, device=dev)
        rows = (oy[:, None] + torch.arange(H, device=dev))[:, None, :, None]      # (B, 1, H, 1)
        cols = (ox[:, None] + torch.arange(W, device=dev))[:, None, None, :]      # (B, 1, 1, W)
        images = padded[torch.arange(B, device=dev)[:, None, None, None], torch.arange(C, device=dev)[None, :, None, None],
                        rows, cols]
    if flip:
        coin = torch.rand(B, generator=generator, device=dev) < 0.5
        images = torch.where(coin[:, None, None, None], images.flip(-1), images)
    return images


# ---- training: the recipe, device settings, checkpoints ----------------------------------------------

Form = Literal["auto", "grouped", "loop"]
Amp = Literal["auto", "off", "bf16"]


@dataclass(frozen=True)
class Recipe:
    """The training recipe. Defaults: ``tomgoldstein/loss-landscape`` ``cifar10/main.py`` (P1 states none):
    SGD lr 0.1, Nesterov momentum 0.9, weight decay 5e-4 (on every parameter), batch 128, lr ×``gamma`` at
    ``milestones`` (epochs), random crop with ``crop_pad`` zero padding and horizontal flips."""

    epochs: int = 300
    lr: float = 0.1
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4
    batch_size: int = 128
    milestones: tuple[int, ...] = (150, 225, 275)
    gamma: float = 0.1
    crop_pad: int = 4
    flip: bool = True


@dataclass(frozen=True)
class Settings:
    """How a device runs the networks: the form, autocast dtype (None: float32) and memory format."""

    form: Literal["grouped", "loop"]
    amp: torch.dtype | None
    channels_last: bool


def device_settings(device: Device = "cpu", form: Form = "auto", amp: Amp = "auto") -> Settings:
    """``auto``: on CUDA the grouped form (one kernel per layer instead of I launches) with bf16 autocast; on
    CPU the branch loop in float32 (oneDNN's grouped convolutions with few channels per group run at a
    fraction of its dense ones' rate, and bf16 is slow on CPUs without bf16 matrix units). ``channels_last``
    everywhere: faster for both forms on both devices (measured on this project's CPU and by cuDNN)."""
    if form not in ("auto", "grouped", "loop") or amp not in ("auto", "off", "bf16"):
        raise ValueError(f"form {form!r} / amp {amp!r}: choose form auto|grouped|loop and amp auto|off|bf16")
    cuda = torch.device(device).type == "cuda"
    chosen = form if form != "auto" else ("grouped" if cuda else "loop")
    dtype = torch.bfloat16 if amp == "bf16" or (amp == "auto" and cuda) else None
    return Settings(chosen, dtype, True)


@dataclass
class TrainRun:
    """S networks of I branches at width w, trained with one recipe. Per-network arrays have length S."""

    I: int
    w: int
    seeds: list[int]
    history: list[dict]            # per epoch: epoch, lr, train_loss, train_acc, test_acc (lists of S), seconds
    test_acc: list[float]
    seconds: float                 # training wall time, test evaluations excluded (resumed runs included)
    images: int                    # network·images trained on (S · n · epochs)
    weight_decay: float = 5e-4     # the recipe's

    @property
    def images_per_s(self) -> float:
        return self.images / self.seconds if self.seconds else float("nan")


def _batches(n: int, B: int) -> list[tuple[int, int]]:
    """Batch bounds over n examples; a last batch of one example is dropped (BatchNorm needs two)."""
    return [(a, min(a + B, n)) for a in range(0, n, B) if min(a + B, n) - a >= 2]


def evaluate(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, *, settings: Settings,
             chunk: int = 1000) -> torch.Tensor:
    """Accuracy (S,) of every network on uint8 ``images`` (n, 3, 32, 32), labels (n,), in eval mode."""
    model.eval()
    dev = next(model.parameters()).device
    correct = None
    with torch.no_grad(), torch.autocast(dev.type, dtype=settings.amp or torch.float32,
                                         enabled=settings.amp is not None):
        for a in range(0, len(labels), chunk):
            x = normalize(images[a:a + chunk].to(dev)).to(next(model.parameters()).dtype)
            if settings.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            hit = (model(x).argmax(-1) == labels[a:a + chunk].to(dev)[:, None]).sum(0)
            correct = hit if correct is None else correct + hit
    model.train()
    return correct.double().cpu() / len(labels)


def refresh_batchnorm(model: nn.Module, images: torch.Tensor, *, settings: Settings, chunk: int = 128) -> None:
    """Recompute every BatchNorm's running mean and variance as the plain average over the batches of
    ``images`` (uint8 (n, 3, 32, 32), unaugmented, in chunks of ``chunk``), the weights unchanged ("precise
    BN"). The running averages of a short run lag behind its weights, which move fast at a high learning
    rate; this measures the network the weights are. Training in train mode never reads them, so it is
    unchanged."""
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    momenta = [m.momentum for m in bns]
    dev, dtype = next(model.parameters()).device, next(model.parameters()).dtype
    for m in bns:
        m.reset_running_stats()
        m.momentum = None                                 # a cumulative average
    model.train()
    with torch.no_grad(), torch.autocast(dev.type, dtype=settings.amp or torch.float32, enabled=settings.amp is not None):
        for a, b in _batches(len(images), chunk):
            x = normalize(images[a:b].to(dev)).to(dtype)
            model(x.contiguous(memory_format=torch.channels_last) if settings.channels_last else x)
    for m, mom in zip(bns, momenta):
        m.momentum = mom


def _save_checkpoint(path: Path, state: dict) -> None:
    atomic_write(path, lambda fh: torch.save(state, fh))


def _check_training_input(train: tuple[torch.Tensor, torch.Tensor], recipe: Recipe) -> None:
    """Refuse training images that are not uint8 (n ≥ 2, 3, 32, 32) with n labels, or a recipe without a step."""
    x_tr, y_tr = train
    if x_tr.dtype != torch.uint8 or x_tr.shape[1:] != (3, 32, 32) or len(x_tr) != len(y_tr) or len(y_tr) < 2:
        raise ValueError(f"train images must be uint8 (n ≥ 2, 3, 32, 32) with n labels, got {tuple(x_tr.shape)} "
                         f"{x_tr.dtype} and {len(y_tr)} labels: pass companion.core.data.load_cifar10(...).images")
    if recipe.epochs < 1 or recipe.batch_size < 2:
        raise ValueError(f"need epochs ≥ 1 and batch_size ≥ 2, got {recipe.epochs} and {recipe.batch_size}")


def _optimizer(model: nn.Module, recipe: Recipe) -> tuple[torch.optim.SGD, torch.optim.lr_scheduler.MultiStepLR]:
    """The recipe's SGD (Nesterov momentum, coupled weight decay) and its step schedule."""
    opt = torch.optim.SGD(model.parameters(), lr=recipe.lr, momentum=recipe.momentum, nesterov=recipe.nesterov,
                          weight_decay=recipe.weight_decay)
    return opt, torch.optim.lr_scheduler.MultiStepLR(opt, milestones=list(recipe.milestones), gamma=recipe.gamma)


def _resume(path: Path | None, config: dict, model: nn.Module, opt: torch.optim.Optimizer, sched,
            device: Device) -> tuple[TrainRun, int] | None:
    """Load a checkpoint written for exactly ``config`` into model, optimiser and schedule: (run, epochs done),
    or None where there is none. A checkpoint of another configuration is refused, naming the fix."""
    if path is None or not path.is_file():
        return None
    ck = torch.load(path, map_location=device, weights_only=False)
    if ck["config"] != config:
        raise ValueError(f"checkpoint {path} was written for {ck['config']}, not {config}: delete it or give "
                         "another checkpoint path")
    model.load_state_dict(ck["model"])
    opt.load_state_dict(ck["optim"])
    sched.load_state_dict(ck["sched"])
    return ck["run"], ck["epoch"]


def _epoch_draws(seeds: Sequence[int], epoch: int, n: int,
                 device: Device) -> tuple[list[torch.Tensor], list[torch.Generator]]:
    """Each network's data order (n,) and augmentation generator for ``epoch``, from its seed and the epoch
    (seed layout ``vgg_epoch``: stream 0 the order, stream 1 the augmentation)."""
    perms = [torch.randperm(n, generator=torch.Generator().manual_seed(
        seedlib.derive(sd, "vgg_epoch", epoch=epoch, stream=0))).to(device) for sd in seeds]
    gens = [torch.Generator(device=device).manual_seed(seedlib.derive(sd, "vgg_epoch", epoch=epoch, stream=1))
            for sd in seeds]
    return perms, gens


def _augmented_batch(x_dev: torch.Tensor, y_dev: torch.Tensor, idx: Sequence[torch.Tensor],
                     gens: Sequence[torch.Generator], recipe: Recipe, dtype: torch.dtype,
                     channels_last: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Every network's augmented, normalised minibatch side by side: images (B, 3S, 32, 32), labels (B, S)."""
    B, S = len(idx[0]), len(idx)
    x = torch.cat([crop_flip(x_dev[i], pad=recipe.crop_pad, flip=recipe.flip, generator=g)
                   for i, g in zip(idx, gens)], 1)                                  # (B, 3S, 32, 32) uint8
    x = normalize(x.view(B, S, 3, 32, 32)).view(B, 3 * S, 32, 32).to(dtype)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    return x, torch.stack([y_dev[i] for i in idx], 1)


def _train_epoch(model: nn.Module, opt: torch.optim.Optimizer, data: tuple[torch.Tensor, torch.Tensor],
                 seeds: Sequence[int], epoch: int, recipe: Recipe, st: Settings, dtype: torch.dtype,
                 batches: Iterable[tuple[int, int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """One epoch of S networks on data (uint8 images, labels) held on the device: per-network summed loss
    and correct predictions, each (S,)."""
    x_dev, y_dev = data
    device, S = x_dev.device, len(seeds)
    perms, gens = _epoch_draws(seeds, epoch, len(y_dev), device)
    tot_loss, tot_hit = torch.zeros(S, device=device), torch.zeros(S, device=device)
    for a, b in batches:
        x, y = _augmented_batch(x_dev, y_dev, [p[a:b] for p in perms], gens, recipe, dtype, st.channels_last)
        with torch.autocast(device.type, dtype=st.amp or torch.float32, enabled=st.amp is not None):
            logits = model(x)
        per = F.cross_entropy(logits.float().reshape(-1, N_CLASSES), y.reshape(-1), reduction="none").view(b - a, S)
        opt.zero_grad(set_to_none=True)
        per.mean(0).sum().backward()
        opt.step()
        with torch.no_grad():
            tot_loss += per.sum(0)
            tot_hit += (logits.argmax(-1) == y).sum(0)
    return tot_loss, tot_hit


def train_networks(train: tuple[torch.Tensor, torch.Tensor], test: tuple[torch.Tensor, torch.Tensor], *, I: int,
                   w: int, seeds: Sequence[int], recipe: Recipe, device: Device = "cpu", form: Form = "auto",
                   amp: Amp = "auto", dtype: torch.dtype = torch.float32, checkpoint: str | Path | None = None,
                   progress: Callable | None = None, test_every: int = 1, bn_refresh: int = 0,
                   on_epoch: Callable[[int, TrainRun], None] | None = None) -> TrainRun:
    """Train S = len(seeds) networks of I VGG-9 branches (width w) together, each on its own data order.

    train / test: (uint8 images (n, 3, 32, 32), int64 labels (n,)); the training images are held on the
    device and augmented there. Network s draws its initialisation, its epoch permutations and its
    augmentation from ``seeds[s]`` and the epoch number only. Each network's loss is the cross-entropy of its
    averaged logits; their sum is minimised (the networks share no parameter, so this is S separate SGD runs).
    ``dtype``: of the weights (float64 for tests; autocast, where on, computes in bf16 regardless).
    ``checkpoint``: a file written atomically after every epoch; an interrupted call resumes from it (a
    finished one returns at once). ``progress(iterable, desc=, total=)``: a progress bar per epoch.
    ``test_every``: test after every that many epochs and after the last (0: after the last only; the
    history's ``test_acc`` is None for the others). ``bn_refresh``: before each test, recompute the BatchNorm
    statistics over the first that many training images (:func:`refresh_batchnorm`; 0: the running averages,
    as the authors' code). ``on_epoch(epoch, run)`` is called after each epoch's
    checkpoint.
    """
    _check_training_input(train, recipe)
    device = torch.device(device)
    st = device_settings(device, form, amp)
    S, n = len(seeds), len(train[1])
    config = {"I": I, "w": w, "seeds": list(seeds), "recipe": asdict(recipe), "n_train": n, "form": st.form,
              "dtype": str(dtype), "label_sum": int(train[1].sum()), "bn_refresh": bn_refresh}
    model = make_networks(I, w, seeds, form=st.form, device=device).to(dtype)
    if st.channels_last:
        model = model.to(memory_format=torch.channels_last)
    opt, sched = _optimizer(model, recipe)
    path = Path(checkpoint) if checkpoint else None
    fresh = TrainRun(I, w, list(seeds), [], [float("nan")] * S, 0.0, 0, recipe.weight_decay)
    run, start = _resume(path, config, model, opt, sched, device) or (fresh, 0)
    data = (train[0].to(device), train[1].to(device))
    bounds = _batches(n, recipe.batch_size)
    seen = sum(b - a for a, b in bounds)
    model.train()
    for epoch in range(start, recipe.epochs):
        t0 = time.perf_counter()
        batches = progress(bounds, desc=f"w={w} I={I} epoch {epoch + 1}/{recipe.epochs}", total=len(bounds)) \
            if progress else bounds
        tot_loss, tot_hit = _train_epoch(model, opt, data, seeds, epoch, recipe, st, dtype, batches)
        lr = opt.param_groups[0]["lr"]
        sched.step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        secs = time.perf_counter() - t0
        tested = epoch + 1 == recipe.epochs or (test_every > 0 and (epoch + 1) % test_every == 0)
        if tested and bn_refresh:
            refresh_batchnorm(model, train[0][:bn_refresh], settings=st)
        test_acc = evaluate(model, *test, settings=st).tolist() if tested else None
        run.history.append({"epoch": epoch + 1, "lr": lr, "train_loss": (tot_loss / seen).tolist(),
                            "train_acc": (tot_hit / seen).tolist(), "test_acc": test_acc, "seconds": secs})
        run.test_acc = test_acc or run.test_acc
        run.seconds, run.images = run.seconds + secs, run.images + S * seen
        if path is not None:
            _save_checkpoint(path, {"config": config, "epoch": epoch + 1, "model": model.state_dict(),
                                    "optim": opt.state_dict(), "sched": sched.state_dict(), "run": run})
        if on_epoch is not None:
            on_epoch(epoch + 1, run)
    return run


# ---- Figure 5's grid: one task per (w, I), fanned out by companion.core.fanout -------------------------------

CIFAR_TRAIN, CIFAR_TEST = 50_000, 10_000


def load_train_test(data_dir: str | None, n_train: int, n_test: int, seed: int) -> tuple[Dataset, Dataset]:
    """CIFAR-10 train and test, subsampled to n_train / n_test (the whole split where that is its size or more)
    with seeds ``seed`` and ``derive(seed, "replicate", offset=1, k=0)`` (= seed + 1): the same arrays wherever
    it is called."""
    tr = load_cifar10("train", data_dir or None, limit=n_train if n_train < CIFAR_TRAIN else None, seed=seed)
    te = load_cifar10("test", data_dir or None, limit=n_test if n_test < CIFAR_TEST else None,
                      seed=seedlib.derive(seed, "replicate", offset=1, k=0))
    return tr, te


@dataclass(frozen=True)
class GridPoint:
    """One (w, I) of the grid with all its seeds, and everything needed to train it on any worker: the data
    (directory, sizes, subsampling seed), the recipe, the device name (resolved where it runs) and settings."""

    w: int
    I: int
    seeds: tuple[int, ...]
    recipe: Recipe
    data_dir: str | None
    n_train: int
    n_test: int
    data_seed: int
    device: str = "cpu"
    form: Form = "auto"
    amp: Amp = "auto"
    checkpoint: str | None = None
    threads: int | None = None       # torch threads while training it (None: as the caller has them)
    test_every: int = 1
    bn_refresh: int = 0

    @property
    def cost(self) -> float:
        """Its training FLOPs per image, all seeds: what orders the points for parallel workers."""
        return len(self.seeds) * train_flops_per_image(self.w, self.I)


def checkpoint_name(w: int, I: int, seeds: Sequence[int], weight_decay: float) -> str:
    """The checkpoint file of a grid point: ``w{w}_I{I}_wd{weight_decay:g}_seeds{first}-{last}.pt``."""
    return f"w{w}_I{I}_wd{weight_decay:g}_seeds{seeds[0]}-{seeds[-1]}.pt"


def points_for(pairs: Sequence[tuple[int, int]], seeds: Sequence[int], recipes: Sequence[Recipe], *,
               data_dir: str | None, n_train: int, n_test: int, data_seed: int, device: Device = "cpu",
               form: Form = "auto", amp: Amp = "auto", checkpoint_dir: str | Path | None = None,
               test_every: int = 1, bn_refresh: int = 0) -> list[GridPoint]:
    """One :class:`GridPoint` per recipe (outer) and (width, branches) pair (inner, duplicates dropped), each
    with all ``seeds``; with ``checkpoint_dir`` each checkpoints to :func:`checkpoint_name` there (the recipes
    must then differ in weight decay alone, or their checkpoints would collide)."""
    ck = Path(checkpoint_dir) if checkpoint_dir else None
    if ck and len({r.weight_decay for r in recipes}) != len(recipes):
        raise ValueError("recipes that share a weight decay would share checkpoints: give distinct weight decays")
    return [GridPoint(w=w, I=I, seeds=tuple(seeds), recipe=r, data_dir=data_dir or None, n_train=n_train,
                      n_test=n_test, data_seed=data_seed, device=str(device), form=form, amp=amp,
                      checkpoint=str(ck / checkpoint_name(w, I, seeds, r.weight_decay)) if ck else None,
                      test_every=test_every, bn_refresh=bn_refresh)
            for r in recipes for w, I in dict.fromkeys(pairs)]


def grid_points(widths: Sequence[int], Is: Sequence[int], seeds: Sequence[int], recipe: Recipe, *,
                data_dir: str | None, n_train: int, n_test: int, data_seed: int, device: Device = "cpu",
                form: Form = "auto", amp: Amp = "auto", checkpoint_dir: str | Path | None = None) -> list[GridPoint]:
    """A product grid: one :class:`GridPoint` per (w, I), widths outer, each with all ``seeds``
    (:func:`points_for` with one recipe)."""
    return points_for([(w, I) for w in widths for I in Is], seeds, [recipe], data_dir=data_dir, n_train=n_train,
                      n_test=n_test, data_seed=data_seed, device=device, form=form, amp=amp,
                      checkpoint_dir=checkpoint_dir)


def train_grid_point(point: GridPoint, data: tuple[Dataset, Dataset] | None = None,
                     progress: Callable | None = None) -> TrainRun:
    """Train one grid point (:func:`train_networks`); ``data``: the loaded (train, test) pair, else loaded here
    with :func:`load_train_test` (on a Dask worker)."""
    tr, te = data or load_train_test(point.data_dir, point.n_train, point.n_test, point.data_seed)
    before = torch.get_num_threads()
    if point.threads:
        torch.set_num_threads(point.threads)
    try:
        return train_networks((tr.images, tr.labels), (te.images, te.labels), I=point.I, w=point.w,
                              seeds=list(point.seeds), recipe=point.recipe, device=resolve_device(point.device),
                              form=point.form, amp=point.amp, checkpoint=point.checkpoint, progress=progress,
                              test_every=point.test_every, bn_refresh=point.bn_refresh)
    finally:
        torch.set_num_threads(before)


def train_grid(points: Sequence[GridPoint], *, data: tuple[Dataset, Dataset] | None = None,
               scheduler: str | None = None, store: str | Path | None = None,
               progress: Callable | None = None, workers: int = 1) -> list[TrainRun]:
    """Every grid point through :func:`companion.core.fanout.map`, results in the order of ``points``: in
    this process by default (with the already loaded ``data`` and the ``progress`` bars), or one Dask task
    per point with ``scheduler`` (each worker loads the data itself). With ``store``, finished points are kept
    there atomically and a rerun resumes (and each point resumes from its checkpoint, if it has one).

    ``workers`` > 1 (in this process only): that many threads train points side by side, costliest first,
    each with torch threads = this process's ÷ workers (at least 1), so the cores are shared, not
    oversubscribed; a point then computes the same numbers as it does alone at that thread count.
    ``progress`` then counts finished points instead of batches."""
    local = fanout.resolve_scheduler(scheduler) is None
    if workers < 1:
        raise ValueError(f"need workers ≥ 1, got {workers}")
    if not local or workers == 1:
        fn = partial(train_grid_point, data=data if local else None, progress=progress if local else None)
        return fanout.map(fn, points, scheduler=scheduler, store=store)
    from concurrent.futures import ThreadPoolExecutor, as_completed

    mine = [replace(p, threads=worker_threads(workers)) for p in points]
    fn = partial(train_grid_point, data=data)
    order = sorted(range(len(mine)), key=lambda k: -mine[k].cost)
    before = torch.get_num_threads()
    try:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = {pool.submit(fanout.map, fn, [mine[k]], store=store): k for k in order}
            done = as_completed(futures)
            for _ in (progress(done, desc="grid points", total=len(futures)) if progress else done):
                pass
            return [f.result()[0] for f in sorted(futures, key=futures.get)]
    finally:
        torch.set_num_threads(before)


def step_seconds(model: nn.Module, x: torch.Tensor, y: torch.Tensor, repeats: int) -> list[float]:
    """Wall times of ``repeats`` training forward+backward passes (cross-entropy on the averaged logits)."""
    model.train()
    out = []
    for _ in range(repeats):
        if x.device.type == "cuda":
            torch.cuda.synchronize(x.device)
        t0 = time.perf_counter()
        logits = model(x).reshape(-1, N_CLASSES)
        F.cross_entropy(logits, y).backward()
        if x.device.type == "cuda":
            torch.cuda.synchronize(x.device)
        out.append(time.perf_counter() - t0)
    return out


#: the forms :func:`benchmark_forms` times: (form, channels_last)
BENCH_FORMS: dict[str, tuple[str, bool]] = {"loop": ("loop", False), "loop, channels_last": ("loop", True),
                                            "grouped": ("grouped", False),
                                            "grouped, channels_last": ("grouped", True)}


def benchmark_forms(Is: Sequence[int], w: int, *, batch: int, repeats: int, device: Device = "cpu", seed: int = 0,
                    S: int = 1, threads: int | None = None, gemm: float | None = None) -> list[dict]:
    """Training-step throughput (forward + backward, float32) of :data:`BENCH_FORMS` (the branch loop and the
    grouped network, each in NCHW and ``channels_last``) for S networks of I branches at width w, measured
    side by side: the forms take turns in every repeat (the first round warms up and is dropped).
    ``threads``: torch threads while timing (restored after; None: as they are).

    Returns one row per (I, form): network·images/s (S · batch / median step time), training GFLOP/s by the
    closed form (:func:`train_flops_per_image`), ``time ÷ loop's`` (median over repeats of this form's time
    over the NCHW loop's, measured in the same round: steadier than either rate on a busy machine) and
    ``max_diff`` (largest |logit| difference from the loop); with ``gemm`` (a machine's GEMM rate, FLOP/s, e.g.
    ``companion.book.plan.machines``' calibration) also ``of GEMM rate``: GFLOP/s ÷ that rate.
    """
    g = torch.Generator().manual_seed(seed)
    x = normalize(torch.randint(0, 256, (batch, 3 * S, 32, 32), generator=g, dtype=torch.uint8).view(
        batch, S, 3, 32, 32)).view(batch, 3 * S, 32, 32).to(device)
    y = torch.randint(0, N_CLASSES, (batch * S,), generator=g).to(device)
    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    rows = []
    try:
        for I in Is:
            forms = {}
            for name, (form, cl) in BENCH_FORMS.items():
                m = make_networks(I, w, list(range(seed, seed + S)), form=form, device=device)
                forms[name] = (m.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)) \
                    if cl else (m, x)
            with torch.no_grad():
                ref = forms["loop"][0](x)
                diff = {k: float((m(xx) - ref).abs().max()) for k, (m, xx) in forms.items()}
            times: dict[str, list[float]] = {k: [] for k in forms}
            for _ in range(repeats + 1):
                for k, (m, xx) in forms.items():
                    m.zero_grad(set_to_none=True)
                    times[k] += step_seconds(m, xx, y, 1)
            for k, v in times.items():
                med = float(np.median(v[1:]))
                rate = S * batch / med
                rows.append({"I": I, "form": k, "threads": torch.get_num_threads(), "img/s": rate,
                             "GFLOP/s": rate * train_flops_per_image(w, I) / 1e9,
                             "time ÷ loop's": float(np.median([a / b for a, b in zip(v[1:], times["loop"][1:])])),
                             "max_diff": diff[k], **({"of GEMM rate": rate * train_flops_per_image(w, I) / gemm}
                                                     if gemm else {})})
    finally:
        torch.set_num_threads(before)
    return rows


# ---- summaries for the chapter -----------------------------------------------------------------------------

def run_rows(runs: Sequence[TrainRun]) -> list[dict[str, float]]:
    """One row per trained network (runs in order, then seeds): w, I, weight decay, seed, parameters, last
    epoch's train loss and accuracy, test accuracy, and the run's images/s, training GFLOP/s and seconds."""
    return [{"w": run.w, "I": run.I, "weight decay": run.weight_decay, "seed": sd,
             "parameters": run.I * vgg9_parameters(run.w),
             "train loss": run.history[-1]["train_loss"][s], "train acc.": run.history[-1]["train_acc"][s],
             "test acc.": run.test_acc[s], "images/s": run.images_per_s,
             "GFLOP/s": run.images_per_s * train_flops_per_image(run.w, run.I) / 1e9, "train s": run.seconds}
            for run in runs for s, sd in enumerate(run.seeds)]


def figure5_rows(configs: Sequence[Config], runs: Sequence[TrainRun]) -> list[dict]:
    """One row per config (in order), weight decay (in the order of the runs) and seed: arm, w, I, weight
    decay, seed, branches, branch width, parameters, final training accuracy (the last epoch's, on its
    augmented batches) and test accuracy, read from the run of (branch width, branches, weight decay)."""
    by = {(r.w, r.I, r.weight_decay): r for r in runs}
    wds = list(dict.fromkeys(r.weight_decay for r in runs))
    out = []
    for c in configs:
        for wd in wds:
            run = by[(c.width, c.branches, wd)]
            for s, sd in enumerate(run.seeds):
                out.append({"arm": c.arm, "w": c.w, "I": c.I, "weight decay": wd, "seed": sd, "branches": c.branches,
                            "branch width": c.width, "parameters": c.parameters,
                            "train acc.": run.history[-1]["train_acc"][s], "test acc.": run.test_acc[s]})
    return out


@dataclass(frozen=True)
class ArmTrend:
    """Test accuracy against I for one arm, width and weight decay, over its seeds (independent replicates).

    ``test``, ``train``: (seeds, len(Is)) accuracies. ``slope``, ``low``, ``high``: the mean over seeds of each
    seed's least-squares slope of test accuracy on log₂ I (per doubling of I) with its t-interval
    (:func:`companion.core.stats.log_slope`). ``steps``: per neighbouring pair of I, the mean over seeds of the
    change of test accuracy with its t-interval (seed s at both I: the same data order and augmentation), rows
    (mean, low, high). ``gate``: the smallest, over I, seed-mean final training accuracy (every point of the
    curve must be trained for the curve to be)."""

    arm: str
    w: int
    weight_decay: float
    Is: tuple[int, ...]
    seeds: tuple[int, ...]
    test: np.ndarray
    train: np.ndarray
    slope: float
    low: float
    high: float
    steps: np.ndarray

    @property
    def replicates(self) -> int:
        return len(self.seeds)

    @property
    def gate(self) -> float:
        return float(self.train.mean(0).min())

    @property
    def min_step(self) -> tuple[float, float, float]:
        """(smallest mean step, smallest low, smallest high): wholly above 0 iff every step's interval is,
        wholly below 0 iff some step's interval is."""
        return float(self.steps[:, 0].min()), float(self.steps[:, 1].min()), float(self.steps[:, 2].min())


def arm_trends(rows: Sequence[Mapping], confidence: float = 0.95) -> list[ArmTrend]:
    """One :class:`ArmTrend` per (w, weight decay, arm) of :func:`figure5_rows`' rows, in their order."""
    keys = list(dict.fromkeys((r["w"], r["weight decay"], r["arm"]) for r in rows))
    out = []
    for w, wd, arm in keys:
        mine = [r for r in rows if (r["w"], r["weight decay"], r["arm"]) == (w, wd, arm)]
        Is, seeds = tuple(dict.fromkeys(r["I"] for r in mine)), tuple(dict.fromkeys(r["seed"] for r in mine))
        cell = {(r["seed"], r["I"]): r for r in mine}
        test = np.array([[cell[s, I]["test acc."] for I in Is] for s in seeds], float)
        train = np.array([[cell[s, I]["train acc."] for I in Is] for s in seeds], float)
        slope, lo, hi, _ = stats.log_slope(Is, test, base=2.0, confidence=confidence) if len(Is) > 1 else (
            math.nan, -math.inf, math.inf, len(seeds))
        steps = np.array([stats.mean_interval(test[:, k + 1] - test[:, k], confidence) for k in range(len(Is) - 1)],
                         float).reshape(-1, 3)
        out.append(ArmTrend(arm, w, wd, Is, seeds, test, train, float(slope), float(lo), float(hi), steps))
    return out


def trend_rows(trends: Sequence[ArmTrend]) -> list[dict]:
    """One row per :class:`ArmTrend`: w, weight decay, arm, seeds, slope per doubling with its interval, the
    smallest mean step with its interval's ends, and the gate (smallest seed-mean training accuracy)."""
    return [{"w": t.w, "weight decay": t.weight_decay, "arm": t.arm, "seeds": t.replicates,
             "slope per doubling": t.slope, "low": t.low, "high": t.high, "smallest step": t.min_step[0],
             "step low": t.min_step[1], "step high": t.min_step[2], "gate": t.gate} for t in trends]


def worker_threads(workers: int) -> int:
    """The torch threads each of ``workers`` side-by-side grid points gets: this process's ÷ workers, ≥ 1."""
    return max(1, torch.get_num_threads() // workers)


# ---- figures -----------------------------------------------------------------------------------------------

def plot_figure5(axes: Sequence, trends: Sequence[ArmTrend], Is: Sequence[int], *, gate_level: float,
                 weight_decays: Sequence[float], title: str = "") -> None:
    """Two panels against I (log scale): test accuracy (left) and final training accuracy (right), one line per
    :class:`ArmTrend` (colour: arm; dotted: a weight decay other than the first) with its seed mean and
    t-interval, a dot per seed, and the training gate ``gate_level`` (dashed, right)."""
    from companion.core.plotting import COLORS

    ax, ax2 = axes
    palette = {"multi-branch": COLORS["measured"], "matched": COLORS["reference"], "split": COLORS["other"]}
    for t in trends:
        style = dict(color=palette[t.arm], ls="-" if t.weight_decay == weight_decays[0] else ":", marker="o", capsize=3)
        label = f"{t.arm}, w = {t.w}" + (f", wd {t.weight_decay:g}" if len(weight_decays) > 1 else "")
        for a, acc in ((ax, t.test), (ax2, t.train)):
            m, lo, hi = stats.mean_interval(acc, axis=0)
            a.errorbar(t.Is, m, yerr=np.nan_to_num([m - lo, hi - m], posinf=0), label=label, **style)
            a.plot(np.repeat(t.Is, len(t.seeds)), acc.T.ravel(), ".", color=palette[t.arm], alpha=0.4)
    ax2.axhline(gate_level, color=COLORS["bound"], ls="--", label=f"training gate {gate_level:.2f}")
    for a, what in ((ax, "test accuracy"), (ax2, "final training accuracy")):
        a.set(xscale="log", xticks=Is, xticklabels=Is, xlabel="branches I (controls: the I they stand for)", ylabel=what)
        a.minorticks_off()
    ax.set_title(title)
    ax2.legend()
