"""Multi-branch VGG-9 (P1 Appendix A.1, Figure 5): the networks and their counts.

A branch is the VGG-9 of the authors' ``VGG.py`` (github.com/hongyanz/multibranch; P1 Table 2) at width w:
conv3×3 (pad 1, no bias) + BatchNorm + ReLU with channels w, w, max-pool; 2w, 2w, max-pool; 4w, 4w, 4w,
max-pool; FC 64w→4w (no bias) + BatchNorm1d + ReLU; FC 4w→10 with bias.

:class:`BranchVGG9` holds S independent networks of I branches each as **one** network of grouped
convolutions (G = S·I groups): channel block g = s·I + i is branch i of network s; per-channel BatchNorm is
per-branch BatchNorm; FC1 is a grouped 4×4 convolution on the 4×4 map (its weight is the Linear weight
reshaped, the flatten order (c, h, w) is kept); FC2 a grouped 1×1 convolution. :class:`BranchLoop` is the
authors' form (a ``ModuleList`` of :class:`VGG9` and a Python loop), kept as the reference and baseline.

Two controls (:func:`figure5_configs`) separate "more branches" from "more parameters": the
parameter-matched single branch (:func:`matched_width`) and the fixed budget split (:func:`split_width`).

Counts in closed form (parameters, multiply-accumulates, training FLOPs, a grid's FLOPs) beside the counts
read off the modules (:func:`count_macs`, :func:`count_table`). Training: :mod:`companion.training.vgg`.
"""

from __future__ import annotations

import copy
import math
import threading
from dataclasses import dataclass
from typing import Literal, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from companion.core import seeds as seedlib
from companion.core.devices import Device

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


# ---- the controls: parameter-matched single branch, fixed budget split ----------------------------------

Arm = Literal["multi-branch", "matched", "split"]
ARMS: tuple[str, ...] = ("multi-branch", "matched", "split")


def nearest_width(parameters: float) -> int:
    """The integer width w ≥ 1 whose branch count :func:`vgg9_parameters` (w) is nearest to ``parameters``
    (the smaller width on a tie): the positive root of 679w² + 111w + 10 = parameters, then the better of
    its floor and ceiling."""
    if parameters <= 0:
        raise ValueError(f"need a positive parameter count, got {parameters}")
    root = (-111 + math.sqrt(111 * 111 - 4 * 679 * (10 - parameters))) / (2 * 679) if parameters > 10 else 1.0
    cands = sorted({max(1, math.floor(root)), max(1, math.ceil(root))})
    return min(cands, key=lambda w: (abs(vgg9_parameters(w) - parameters), w))


def matched_width(I: int, w: int) -> int:
    """The width of the **parameter-matched single branch** for I branches of width w: the one VGG-9 whose
    count is nearest I · vgg9_parameters(w) (about w·√I)."""
    return nearest_width(I * vgg9_parameters(w))


def split_width(total: int, I: int) -> int:
    """The branch width of the **fixed budget split**: ``total`` parameters divided into I branches, the
    width whose count is nearest total / I."""
    return nearest_width(total / I)


@dataclass(frozen=True)
class Config:
    """One network of Figure 5's experiment and its controls: the point at I on the curve of ``arm`` for
    branch width ``w``, trained as ``branches`` branches of width ``width``; ``target`` is the parameter count
    the arm aims at (I · vgg9_parameters(w) for multi-branch and matched, the fixed total for split)."""

    arm: Arm
    w: int
    I: int
    branches: int
    width: int
    target: int

    @property
    def parameters(self) -> int:
        return self.branches * vgg9_parameters(self.width)

    @property
    def mismatch(self) -> float:
        """parameters ÷ target − 1 (0 for multi-branch; widths are integers, so a control misses a little)."""
        return self.parameters / self.target - 1.0

    @property
    def point(self) -> tuple[int, int]:
        """(width, branches): the network that is trained (several configs can share one)."""
        return self.width, self.branches


def figure5_configs(widths: Sequence[int], Is: Sequence[int], *, split_I: int | None = None,
                    arms: Sequence[str] = ARMS) -> list[Config]:
    """Per width w (outer) and arm, per I (inner): **multi-branch**, I branches of width w; **matched**, one
    branch of :func:`matched_width` (I, w); **split**, a fixed total of split_I · vgg9_parameters(w)
    parameters (split_I: the smallest I by default) in I branches of :func:`split_width`. At I = split_I the
    split is the multi-branch network itself."""
    s_I = min(Is) if split_I is None else split_I
    out = []
    for w in widths:
        total = s_I * vgg9_parameters(w)
        for arm in arms:
            for I in Is:
                if arm == "multi-branch":
                    out.append(Config(arm, w, I, I, w, I * vgg9_parameters(w)))
                elif arm == "matched":
                    out.append(Config(arm, w, I, 1, matched_width(I, w), I * vgg9_parameters(w)))
                elif arm == "split":
                    out.append(Config(arm, w, I, I, split_width(total, I), total))
                else:
                    raise ValueError(f"unknown arm {arm!r}: choose from {ARMS}")
    return out


def config_rows(configs: Sequence[Config]) -> list[dict]:
    """The widths and counts of every config (one dict each, in order): arm, w, I, branches, branch width,
    parameters (closed form), target and the mismatch."""
    return [{"arm": c.arm, "w": c.w, "I": c.I, "branches": c.branches, "branch width": c.width,
             "parameters": c.parameters, "target": c.target, "mismatch": c.mismatch} for c in configs]


def control_checks(configs: Sequence[Config]) -> dict[str, bool]:
    """``counts``: every config's closed-form count equals the parameter tensors of its module
    (:class:`BranchVGG9` of its branches and width); ``nearest``: every control's width gives the count nearest
    its target (width ± 1 misses it by at least as much)."""
    counted = {c.point: sum(p.numel() for p in BranchVGG9(c.branches, c.width).parameters()) for c in configs}
    return {"counts": all(counted[c.point] == c.parameters for c in configs),
            "nearest": all(abs(c.branches * vgg9_parameters(v) - c.target) >= abs(c.parameters - c.target)
                           for c in configs if c.arm != "multi-branch" for v in (c.width - 1, c.width + 1) if v >= 1)}


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
    """The initialisation seed of branch i of the network with seed ``seed`` (seed layout ``vgg_branch``)."""
    return seedlib.derive(seed, "vgg_branch", branch=i)


#: PyTorch's default initialisation draws from the global generator: one branch at a time, so that threads
#: building networks side by side (``vgg.train_grid(workers=...)``) draw what each would draw alone.
_INIT_LOCK = threading.Lock()


def init_branch(w: int, seed: int) -> VGG9:
    """One branch with PyTorch's default initialisation (as the authors' code), drawn from ``seed`` without
    touching the caller's global random state (thread-safe)."""
    with _INIT_LOCK, torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return VGG9(w)


def make_networks(I: int, w: int, seeds: Sequence[int], *, form: Literal["grouped", "loop"] = "grouped",
                  device: Device = "cpu") -> BranchVGG9 | BranchLoop:
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


# ---- checks: the grouped form against the loop, closed forms against the modules ------------------

def compare_forms(I: int, w: int, *, S: int = 1, batch: int = 8, seed: int = 0, dtype: torch.dtype = torch.float64,
                  device: Device = "cpu") -> dict[str, float]:
    """Largest relative differences between :class:`BranchVGG9` and :class:`BranchLoop` holding the same
    weights: logits in train mode, logits in eval mode, and the gradients of every parameter. Network s is
    seeded ``derive(seed, "replicate", offset=0, k=s)``; inputs (batch, 3S, 32, 32) drawn from ``seed``."""
    g = torch.Generator().manual_seed(seed)
    branches = [init_branch(w, branch_seed(seedlib.derive(seed, "replicate", offset=0, k=s), i)).to(dtype)
                for s in range(S) for i in range(I)]
    for b in branches:                                   # non-trivial BatchNorm parameters and statistics
        for bn in [*b.bns, b.bn_fc]:
            with torch.no_grad():
                bn.weight.copy_(torch.rand(bn.weight.shape, generator=g, dtype=dtype) + 0.5)
                bn.running_var.copy_(torch.rand(bn.running_var.shape, generator=g, dtype=dtype) + 0.5)
    grouped = copy_branches(BranchVGG9(I, w, S).to(dtype), branches).to(device)
    loop = BranchLoop(branches, S).to(device)
    x = torch.randn(batch, 3 * S, 32, 32, generator=g, dtype=dtype).to(device)
    y = torch.randint(0, N_CLASSES, (batch * S,), generator=g).to(device)

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
    expect = dict(copy_branches(BranchVGG9(I, w, S).to(dtype).to(device), grads).named_parameters())
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


def count_table(widths: Sequence[int], *, I: int = 32) -> list[dict[str, float]]:
    """Per width w: the closed forms (:func:`vgg9_parameters`, :func:`vgg9_macs`) beside the counts read off
    the modules (parameter tensors of a :class:`VGG9`; forward hooks on a two-branch :class:`BranchVGG9`, per
    branch), and the training GFLOP per image of a network of ``I`` branches. One dict per w, in order."""
    x = torch.zeros(2, 3, 32, 32)
    return [{"w": w, "parameters per branch": vgg9_parameters(w),
             "counted": sum(p.numel() for p in VGG9(w).parameters()),
             "MACs per image and branch": vgg9_macs(w),
             "counted by hooks": count_macs(BranchVGG9(2, w).eval(), x) // 2,
             f"training GFLOP per image, I = {I}": train_flops_per_image(w, I) / 1e9} for w in widths]
