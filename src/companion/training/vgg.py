"""Multi-branch VGG-9 (P1 Appendix A.1, Figure 5): I branches whose logits are averaged, as one network.

A branch is the VGG-9 of the authors' ``VGG.py`` (github.com/hongyanz/multibranch; P1 Table 2) at width w:
conv3×3 (pad 1, no bias) + BatchNorm + ReLU with channels w, w, max-pool; 2w, 2w, max-pool; 4w, 4w, 4w,
max-pool; FC 64w→4w (no bias) + BatchNorm1d + ReLU; FC 4w→10 with bias.

:class:`BranchVGG9` holds S independent networks of I branches each as **one** network of grouped
convolutions (G = S·I groups): channel block g = s·I + i is branch i of network s; per-channel BatchNorm is
per-branch BatchNorm; FC1 is a grouped 4×4 convolution on the 4×4 map (its weight is the Linear weight
reshaped, the flatten order (c, h, w) is kept); FC2 a grouped 1×1 convolution. :class:`BranchLoop` is the
authors' form (a ``ModuleList`` of :class:`VGG9` and a Python loop), kept as the reference and baseline.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Callable, Iterable, Literal, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from companion.core import fanout
from companion.core.data import Dataset, load_cifar10
from companion.core.devices import resolve_device
from companion.core.files import atomic_write

#: channels of the seven convolutions, in units of w (P1 Table 2); max-pool after convs 2, 4 and 7
CONV_CHANNELS: tuple[int, ...] = (1, 1, 2, 2, 4, 4, 4)
POOL_AFTER: tuple[int, ...] = (1, 3, 6)
N_CLASSES = 10


def vgg9_parameters(w: int) -> int:
    """Parameters of one branch at width w (closed form): 679w² + 111w + 10."""
    return 679 * w * w + 111 * w + 10


def vgg9_macs(w: int) -> int:
    """Multiply-accumulates of one branch's forward pass on one 32×32 image (convolutions and FCs; BN,
    ReLU and pooling are not counted): 46336w² + 27688w.

    Convs at 32×32: 3·w·9 + w·w·9; at 16×16: w·2w·9 + 2w·2w·9; at 8×8: 2w·4w·9 + 2·(4w·4w·9);
    FC: 64w·4w + 4w·10.
    """
    return 1024 * (27 * w + 9 * w * w) + 256 * (18 + 36) * w * w + 64 * (72 + 288) * w * w + 256 * w * w + 40 * w


def train_flops_per_image(w: int, I: int) -> float:
    """FLOPs of one training step per image for a network of I branches: 3 × forward (backward ≈ 2 forward),
    2 FLOPs per multiply-accumulate."""
    return 3.0 * 2.0 * I * vgg9_macs(w)


class VGG9(nn.Module):
    """One branch, as in the authors' ``Vgg9`` (modern idiom). Input (B, 3, 32, 32) → logits (B, 10)."""

    def __init__(self, w: int):
        super().__init__()
        chans = [3] + [c * w for c in CONV_CHANNELS]
        self.convs = nn.ModuleList(nn.Conv2d(chans[k], chans[k + 1], 3, padding=1, bias=False) for k in range(7))
        self.bns = nn.ModuleList(nn.BatchNorm2d(c) for c in chans[1:])
        self.fc1 = nn.Linear(64 * w, 4 * w, bias=False)
        self.bn_fc = nn.BatchNorm1d(4 * w)
        self.fc2 = nn.Linear(4 * w, N_CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for k, (conv, bn) in enumerate(zip(self.convs, self.bns)):
            x = F.relu(bn(conv(x)))
            if k in POOL_AFTER:
                x = F.max_pool2d(x, 2)
        x = F.relu(self.bn_fc(self.fc1(x.flatten(1))))
        return self.fc2(x)


def _streams(x: torch.Tensor, S: int) -> torch.Tensor:
    """Input (B, 3, H, W) shared by S networks, or (B, 3S, H, W) one stream each → (B, 3S, H, W)."""
    if x.shape[1] == 3 * S:
        return x
    if x.shape[1] == 3:
        return x.repeat(1, S, 1, 1)
    raise ValueError(f"input has {x.shape[1]} channels: give 3 (shared) or 3·S = {3 * S} (one stream per network)")


class BranchLoop(nn.Module):
    """The authors' form: S·I separate :class:`VGG9` (branch i of network s at s·I + i) and a Python loop.
    Input as :class:`BranchVGG9`; output (B, S, 10), each network's logits averaged over its branches."""

    def __init__(self, branches: Sequence[VGG9], S: int = 1):
        super().__init__()
        if len(branches) % S:
            raise ValueError(f"{len(branches)} branches do not split into S = {S} networks")
        self.paths = nn.ModuleList(branches)
        self.S, self.I = S, len(branches) // S

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = _streams(x, self.S)
        out = [torch.stack([p(x[:, 3 * s:3 * s + 3]) for p in self.paths[s * self.I:(s + 1) * self.I]], 1).mean(1)
               for s in range(self.S)]
        return torch.stack(out, 1)


class BranchVGG9(nn.Module):
    """S independent networks of I VGG-9 branches (width w) as one network of grouped convolutions.

    Input: (B, 3, 32, 32), shared by all networks, or (B, 3S, 32, 32): network s reads channels 3s … 3s+2.
    Output: (B, S, 10), each network's logits averaged over its I branches.
    """

    def __init__(self, I: int, w: int, S: int = 1):
        super().__init__()
        if I < 1 or w < 1 or S < 1:
            raise ValueError(f"need I ≥ 1, w ≥ 1 and S ≥ 1, got I={I}, w={w}, S={S}")
        self.I, self.w, self.S = I, w, S
        G = S * I
        chans = [c * w for c in CONV_CHANNELS]
        convs = [nn.Conv2d(3 * S, G * chans[0], 3, padding=1, groups=S, bias=False)]
        convs += [nn.Conv2d(G * chans[k], G * chans[k + 1], 3, padding=1, groups=G, bias=False) for k in range(6)]
        self.convs = nn.ModuleList(convs)
        self.bns = nn.ModuleList(nn.BatchNorm2d(G * c) for c in chans)
        self.fc1 = nn.Conv2d(G * 4 * w, G * 4 * w, 4, groups=G, bias=False)     # = Linear(64w, 4w) per branch
        self.bn_fc = nn.BatchNorm2d(G * 4 * w)                                  # on 1×1 maps: BatchNorm1d
        self.fc2 = nn.Conv2d(G * 4 * w, G * N_CLASSES, 1, groups=G)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B = x.shape[0]
        x = _streams(x, self.S)
        for k, (conv, bn) in enumerate(zip(self.convs, self.bns)):
            x = F.relu(bn(conv(x)))
            if k in POOL_AFTER:
                x = F.max_pool2d(x, 2)
        x = F.relu(self.bn_fc(self.fc1(x)))
        return self.fc2(x).view(B, self.S, self.I, N_CLASSES).mean(2)


def _cat_into(dst: torch.Tensor, parts: Sequence[torch.Tensor]) -> None:
    with torch.no_grad():
        dst.copy_(torch.cat([p.reshape(-1, *dst.shape[1:]) for p in parts]))


def copy_branches(model: BranchVGG9, branches: Sequence[VGG9]) -> BranchVGG9:
    """Load the weights and BatchNorm statistics of S·I branches (branch i of network s at s·I + i) into
    ``model``; returns it."""
    if len(branches) != model.S * model.I:
        raise ValueError(f"{len(branches)} branches for S·I = {model.S * model.I}")
    pairs = list(zip(model.convs, [[b.convs[k] for b in branches] for k in range(7)]))
    pairs += [(model.fc1, [b.fc1 for b in branches]), (model.fc2, [b.fc2 for b in branches])]
    for dst, srcs in pairs:
        _cat_into(dst.weight, [s.weight for s in srcs])
        if dst.bias is not None:
            _cat_into(dst.bias, [s.bias for s in srcs])
    for dst, srcs in zip([*model.bns, model.bn_fc], [*([b.bns[k] for b in branches] for k in range(7)),
                                                     [b.bn_fc for b in branches]]):
        for name in ("weight", "bias", "running_mean", "running_var"):
            _cat_into(getattr(dst, name), [getattr(s, name) for s in srcs])
        dst.num_batches_tracked.copy_(srcs[0].num_batches_tracked)
    return model


def branch_seed(seed: int, i: int) -> int:
    """The initialisation seed of branch i of the network with seed ``seed``."""
    return int(seed) * 10_007 + i


def init_branch(w: int, seed: int) -> VGG9:
    """One branch with PyTorch's default initialisation (as the authors' code), drawn from ``seed`` without
    touching the caller's global random state."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return VGG9(w)


def make_networks(I: int, w: int, seeds: Sequence[int], *, form: Literal["grouped", "loop"] = "grouped",
                  device: torch.device | str = "cpu") -> BranchVGG9 | BranchLoop:
    """S = len(seeds) networks of I branches, as one :class:`BranchVGG9` (``form="grouped"``) or a
    :class:`BranchLoop`; network s is initialised from ``seeds[s]`` alone, so it is the same network whether
    it is built alone or beside others, in either form."""
    branches = [init_branch(w, branch_seed(s, i)) for s in seeds for i in range(I)]
    if form == "loop":
        return BranchLoop(branches, len(seeds)).to(device)
    if form != "grouped":
        raise ValueError(f"unknown form {form!r}: choose 'grouped' or 'loop'")
    return copy_branches(BranchVGG9(I, w, len(seeds)), branches).to(device)


def count_macs(model: nn.Module, x: torch.Tensor) -> int:
    """Multiply-accumulates of ``model(x)`` counted from the shapes of its conv and linear layers (forward
    hooks), per image."""
    total = [0]

    def conv_hook(m: nn.Conv2d, inp, out):
        k = m.kernel_size[0] * m.kernel_size[1]
        total[0] += out.numel() // out.shape[0] * (m.in_channels // m.groups) * k

    def lin_hook(m: nn.Linear, inp, out):
        total[0] += out.numel() // out.shape[0] * m.in_features

    hooks = [m.register_forward_hook(conv_hook if isinstance(m, nn.Conv2d) else lin_hook)
             for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in hooks:
            h.remove()
    return total[0]


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


def device_settings(device: torch.device, form: Form = "auto", amp: Amp = "auto") -> Settings:
    """``auto``: the grouped form; on CUDA with bf16 autocast and ``channels_last``, on CPU in float32 and
    contiguous NCHW (bf16 is slow on CPUs without bf16 matrix units)."""
    if form not in ("auto", "grouped", "loop") or amp not in ("auto", "off", "bf16"):
        raise ValueError(f"form {form!r} / amp {amp!r}: choose form auto|grouped|loop and amp auto|off|bf16")
    cuda = device.type == "cuda"
    chosen = form if form != "auto" else "grouped"
    dtype = torch.bfloat16 if amp == "bf16" or (amp == "auto" and cuda) else None
    return Settings(chosen, dtype, cuda and chosen == "grouped")


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
            device: torch.device) -> tuple[TrainRun, int] | None:
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
                 device: torch.device) -> tuple[list[torch.Tensor], list[torch.Generator]]:
    """Each network's data order (n,) and augmentation generator for ``epoch``, from its seed and the epoch."""
    perms = [torch.randperm(n, generator=torch.Generator().manual_seed(sd * 1_000_003 + epoch)).to(device)
             for sd in seeds]
    gens = [torch.Generator(device=device).manual_seed(sd * 1_000_003 + epoch + 500_009) for sd in seeds]
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
                   w: int, seeds: Sequence[int], recipe: Recipe, device: torch.device, form: Form = "auto",
                   amp: Amp = "auto", dtype: torch.dtype = torch.float32, checkpoint: str | Path | None = None,
                   progress: Callable | None = None,
                   on_epoch: Callable[[int, TrainRun], None] | None = None) -> TrainRun:
    """Train S = len(seeds) networks of I VGG-9 branches (width w) together, each on its own data order.

    train / test: (uint8 images (n, 3, 32, 32), int64 labels (n,)); the training images are held on the
    device and augmented there. Network s draws its initialisation, its epoch permutations and its
    augmentation from ``seeds[s]`` and the epoch number only. Each network's loss is the cross-entropy of its
    averaged logits; their sum is minimised (the networks share no parameter, so this is S separate SGD runs).
    ``dtype``: of the weights (float64 for tests; autocast, where on, computes in bf16 regardless).
    ``checkpoint``: a file written atomically after every epoch; an interrupted call resumes from it (a
    finished one returns at once). ``progress(iterable, desc=, total=)``: a progress bar per epoch.
    ``on_epoch(epoch, run)`` is called after each epoch's checkpoint.
    """
    _check_training_input(train, recipe)
    st = device_settings(device, form, amp)
    S, n = len(seeds), len(train[1])
    config = {"I": I, "w": w, "seeds": list(seeds), "recipe": asdict(recipe), "n_train": n, "form": st.form,
              "dtype": str(dtype), "label_sum": int(train[1].sum())}
    model = make_networks(I, w, seeds, form=st.form, device=device).to(dtype)
    if st.channels_last:
        model = model.to(memory_format=torch.channels_last)
    opt, sched = _optimizer(model, recipe)
    path = Path(checkpoint) if checkpoint else None
    fresh = TrainRun(I, w, list(seeds), [], [float("nan")] * S, 0.0, 0)
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
        test_acc = evaluate(model, *test, settings=st)
        run.history.append({"epoch": epoch + 1, "lr": lr, "train_loss": (tot_loss / seen).tolist(),
                            "train_acc": (tot_hit / seen).tolist(), "test_acc": test_acc.tolist(), "seconds": secs})
        run.test_acc, run.seconds, run.images = test_acc.tolist(), run.seconds + secs, run.images + S * seen
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
    with seeds ``seed`` and ``seed + 1``: the same arrays wherever it is called."""
    tr = load_cifar10("train", data_dir or None, limit=n_train if n_train < CIFAR_TRAIN else None, seed=seed)
    te = load_cifar10("test", data_dir or None, limit=n_test if n_test < CIFAR_TEST else None, seed=seed + 1)
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
    device: str = "auto"
    form: Form = "auto"
    amp: Amp = "auto"
    checkpoint: str | None = None


def train_grid_point(point: GridPoint, data: tuple[Dataset, Dataset] | None = None,
                     progress: Callable | None = None) -> TrainRun:
    """Train one grid point (:func:`train_networks`); ``data``: the loaded (train, test) pair, else loaded here
    with :func:`load_train_test` (on a Dask worker)."""
    tr, te = data or load_train_test(point.data_dir, point.n_train, point.n_test, point.data_seed)
    return train_networks((tr.images, tr.labels), (te.images, te.labels), I=point.I, w=point.w,
                          seeds=list(point.seeds), recipe=point.recipe, device=resolve_device(point.device),
                          form=point.form, amp=point.amp, checkpoint=point.checkpoint, progress=progress)


def train_grid(points: Sequence[GridPoint], *, data: tuple[Dataset, Dataset] | None = None,
               scheduler: str | None = None, store: str | Path | None = None,
               progress: Callable | None = None) -> list[TrainRun]:
    """Every grid point through :func:`companion.core.fanout.map`: in this process by default (with the already
    loaded ``data`` and the ``progress`` bars), or one Dask task per point with ``scheduler`` (each worker loads
    the data itself). With ``store``, finished points are kept there atomically and a rerun resumes."""
    local = fanout.resolve_scheduler(scheduler) is None
    fn = partial(train_grid_point, data=data if local else None, progress=progress if local else None)
    return fanout.map(fn, points, scheduler=scheduler, store=store)


def benchmark_forms(Is: Sequence[int], w: int, *, batch: int, repeats: int, device: torch.device,
                    seed: int = 0) -> list[dict]:
    """Training-step throughput (forward + backward, float32) of the grouped form (NCHW and channels_last)
    against the branch loop, for each I, measured side by side: the forms take turns in every repeat.

    Returns per I: images/s of each form (batch / median step time), ``speedup`` (median over repeats of
    loop time / grouped time, the better grouped layout) and ``max_diff`` (largest |logit| difference).
    """
    g = torch.Generator().manual_seed(seed)
    x = normalize(torch.randint(0, 256, (batch, 3, 32, 32), generator=g, dtype=torch.uint8)).to(device)
    y = torch.randint(0, N_CLASSES, (batch,), generator=g).to(device)
    rows = []
    for I in Is:
        branches = [init_branch(w, branch_seed(seed, i)) for i in range(I)]
        loop = BranchLoop(branches).to(device)
        forms = {"loop": (loop, x), "grouped": (copy_branches(BranchVGG9(I, w), branches).to(device), x),
                 "grouped, channels_last": (copy_branches(BranchVGG9(I, w), branches).to(device).to(
                     memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last))}
        with torch.no_grad():
            diff = max(float((m(xx) - loop(x)).abs().max()) for m, xx in list(forms.values())[1:])
        times: dict[str, list[float]] = {k: [] for k in forms}
        for _ in range(repeats + 1):                    # the first round warms up and is dropped
            for k, (m, xx) in forms.items():
                m.zero_grad(set_to_none=True)
                times[k] += step_seconds(m, xx, y, 1)
        med = {k: sorted(v[1:])[len(v[1:]) // 2] for k, v in times.items()}
        ratios = [max(lp / a, lp / b) for lp, a, b in zip(times["loop"][1:], times["grouped"][1:],
                                                         times["grouped, channels_last"][1:])]
        rows.append({"I": I, **{f"{k} (img/s)": batch / t for k, t in med.items()},
                     "speedup": sorted(ratios)[len(ratios) // 2], "max_diff": diff})
    return rows


# ---- checks and summaries for the chapter ----------------------------------------------------------------

def compare_forms(I: int, w: int, *, S: int = 1, batch: int = 8, seed: int = 0,
                  dtype: torch.dtype = torch.float64) -> dict[str, float]:
    """Largest relative differences between :class:`BranchVGG9` and :class:`BranchLoop` holding the same
    weights: logits in train mode, logits in eval mode, and the gradients of every parameter."""
    import copy

    g = torch.Generator().manual_seed(seed)
    branches = [init_branch(w, branch_seed(seed + s, i)).to(dtype) for s in range(S) for i in range(I)]
    for b in branches:                                   # non-trivial BatchNorm parameters and statistics
        for bn in [*b.bns, b.bn_fc]:
            with torch.no_grad():
                bn.weight.copy_(torch.rand(bn.weight.shape, generator=g, dtype=dtype) + 0.5)
                bn.running_var.copy_(torch.rand(bn.running_var.shape, generator=g, dtype=dtype) + 0.5)
    grouped, loop = copy_branches(BranchVGG9(I, w, S).to(dtype), branches), BranchLoop(branches, S)
    x = torch.randn(batch, 3 * S, 32, 32, generator=g, dtype=dtype)
    y = torch.randint(0, N_CLASSES, (batch * S,), generator=g)

    def rel(a: torch.Tensor, b: torch.Tensor) -> float:
        a, b = a.detach(), b.detach()
        return float((a - b).abs().max() / b.abs().max().clamp_min(1e-30))

    out_g, out_l = grouped(x), loop(x)
    train = rel(out_g, out_l)
    for out in (out_g, out_l):
        F.cross_entropy(out.reshape(-1, N_CLASSES), y).backward()
    grads = [copy.deepcopy(b) for b in branches]        # branches holding their gradients as weights
    for gb, b in zip(grads, branches):
        for p, q in zip(gb.parameters(), b.parameters()):
            p.data = q.grad.clone()
    expect = dict(copy_branches(BranchVGG9(I, w, S).to(dtype), grads).named_parameters())
    grad = max(rel(p.grad, expect[name]) for name, p in grouped.named_parameters())
    grouped.eval(), loop.eval()
    with torch.no_grad():
        ev = rel(grouped(x), loop(x))
    return {"train": train, "eval": ev, "grad": grad}


def grid_flops(widths: Sequence[int], Is: Sequence[int], *, epochs: int, n_train: int, n_test: int,
               seeds: int = 1) -> float:
    """FLOPs of training every (w, I) for ``epochs`` on ``n_train`` images and testing on ``n_test`` after
    each epoch (forward only), ``seeds`` networks each."""
    per_epoch = sum(train_flops_per_image(w, I) * n_train + 2.0 * I * vgg9_macs(w) * n_test
                    for w in widths for I in Is)
    return float(seeds * epochs * per_epoch)


def trend_per_doubling(I: Sequence[int], acc: Sequence[float], confidence: float = 0.95) -> tuple[float, float, float]:
    """Least-squares slope of accuracy on log₂ I over all runs (one point per network), with its
    t-interval: (slope, low, high) in accuracy per doubling of I. NaN interval if fewer than 3 runs or
    one I only."""
    import numpy as np
    from scipy import stats

    x, y = np.log2(np.asarray(I, float)), np.asarray(acc, float)
    if len(x) < 3 or np.ptp(x) == 0:
        return float("nan"), float("nan"), float("nan")
    r = stats.linregress(x, y)
    half = stats.t.ppf(0.5 + confidence / 2, len(x) - 2) * r.stderr
    return float(r.slope), float(r.slope - half), float(r.slope + half)
